"""`bench-finders`: precision and recall of the three finders on planted faults, and their
time at the release's size.

1. A copy of real cells is built (the PBC sample by default) and `plant` adds 50 exact
   and 50 near duplicates (half across splits) and 50 blurred, darkened or overexposed
   images, with code independent of the finders.
2. The duplicate finder's pairs and the unusable-image finder's flags (blurry, dark,
   light) are scored against what was planted; the look-alike embeddings are scored by
   how often a cell's nearest cells of other patients have its class.
3. With `scale_cells`, the demo copy of that many cells (the `bench` command's, built once)
   is scanned cold (caches removed) and again (cached), and both times are reported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wbcreview.data import catalog
from wbcreview.demo import build as demo
from wbcreview.errors import WbcreviewError
from wbcreview.triage import duplicates, features, plant, quality, signatures, similar

Progress = Callable[[int, int, str], None]
PLANTED_CHECKS = {"blurred": "blurry", "darkened": "dark", "overexposed": "light"}


class FindersBenchError(WbcreviewError):
    """The finders benchmark cannot run as asked."""


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def score_duplicates(pairs, truth: plant.Planted) -> dict:
    """Precision and recall of duplicate pairs against the planted ones (unordered pairs)."""
    found = {frozenset((a, b)): (k, c) for a, b, k, c in
             zip(pairs["cell_a"], pairs["cell_b"], pairs["kind"], pairs["crosses"], strict=True)}  # fmt: skip
    exact = {frozenset((a, b)) for a, b, _, _ in truth.exact}
    near = {frozenset((a, b)) for a, b, _, _ in truth.near}
    crossing = {frozenset((a, b)) for a, b, _, c in truth.exact + truth.near if c}
    true = exact | near
    hits = true & set(found)
    found_exact = {p for p, (k, _) in found.items() if k == "exact"}
    return {
        "planted_exact": len(exact),
        "planted_near": len(near),
        "found_pairs": len(found),
        "recall": _ratio(len(hits), len(true)),
        "precision": _ratio(len(hits), len(found)),
        "exact_recall": _ratio(len(exact & found_exact), len(exact)),
        "exact_precision": _ratio(len(found_exact & exact), len(found_exact)),
        "near_recall": _ratio(len(near & set(found)), len(near)),
        "near_precision": _ratio(
            len((set(found) - found_exact) & near), len(set(found) - found_exact)
        ),  # fmt: skip
        "cross_split_planted": len(crossing),
        "cross_split_found_as_leakage": sum(
            1 for p in crossing if p in found and "split" in found[p][1]
        ),
        "missed": sorted("/".join(sorted(p)) for p in true - set(found)),
    }


def score_unusable(found, truth: plant.Planted) -> dict:
    """Precision and recall of the blurry / dark / light flags against the planted images."""
    flagged = found[found["check"].isin(PLANTED_CHECKS.values())]
    flagged_cells = set(flagged["cell_id"])
    planted = {c for c, _ in truth.unusable}
    out = {
        "planted": len(planted),
        "flagged": len(flagged_cells),
        "recall": _ratio(len(planted & flagged_cells), len(planted)),
        "precision": _ratio(len(planted & flagged_cells), len(flagged_cells)),
    }
    for how, check in PLANTED_CHECKS.items():
        cells = {c for c, h in truth.unusable if h == how}
        right = set(flagged.loc[flagged["check"] == check, "cell_id"])
        out[f"{how}_found_by_{check}"] = _ratio(len(cells & right), len(cells))
    others = found[~found["check"].isin(PLANTED_CHECKS.values())]
    out["other_flags"] = {k: int(v) for k, v in others["check"].value_counts().items()}
    return out


def score_lookalikes(cat) -> dict:
    """Share of cells whose nearest cells (other patients) have their class, per embedding."""
    feats = features.cached_features(cat)
    rows = similar._pristine(cat, feats)
    values = rows[list(features.FEATURE_NAMES)].to_numpy(np.float64)
    labels, groups = rows["label"].to_numpy(), rows["patient_hash"].to_numpy()
    out = {}
    for method in similar.EMBEDDINGS:
        out[method] = {k: round(v, 4) for k, v in
                       similar.honest_hit_rate(values, labels, groups, method).items()}  # fmt: skip
    counts = np.unique(labels, return_counts=True)[1]
    out["majority_class_share"] = round(float(counts.max() / counts.sum()), 4)
    return out


def time_at_scale(root: Path, progress: Progress | None = None) -> dict:
    """Cold and cached times of the duplicate and unusable-image finders on the copy at
    `root` (its finder caches are removed first)."""
    with catalog.open_catalog(root) as cat:
        signatures.remove_caches(cat.root)
        rows = len(signatures.scanned_rows(cat))
        started = time.perf_counter()
        pairs = duplicates.duplicates(cat, progress=progress)
        scan_s = time.perf_counter() - started
        _, found = quality.unusable(cat)
        first = time.perf_counter() - started
        started = time.perf_counter()
        duplicates.duplicates(cat)
        quality.unusable(cat)
        second = time.perf_counter() - started
    return {
        "scale_root": str(root),
        "scale_rows_scanned": rows,
        "scale_first_run_s": round(first, 2),
        "scale_duplicates_first_run_s": round(scan_s, 2),
        "scale_second_run_s": round(second, 3),
        "scale_pairs_found": len(pairs),
        "scale_images_flagged": int(found["cell_id"].nunique()) if len(found) else 0,
    }


def scan_cost(cat, images: int = 200) -> dict:
    """Per-image cost of the scan: wall and CPU milliseconds to decode and describe `images`
    of the copy's images in this one process (the scan runs two such processes)."""
    from wbcreview.data import query
    from wbcreview.data.images import ImageReader

    rows = signatures.scanned_rows(cat).head(images)
    with ImageReader() as reader:
        data = reader.read(query.image_requests(cat.shard_paths(), rows))
    signatures.signatures_of(data[:4])  # imports and first-call costs out of the figure
    wall, cpu = time.perf_counter(), time.process_time()
    signatures.signatures_of(data)
    return {
        "scan_images_timed": len(data),
        "scan_wall_ms_per_image": round((time.perf_counter() - wall) * 1000 / len(data), 2),
        "scan_cpu_ms_per_image": round((time.process_time() - cpu) * 1000 / len(data), 2),
    }


def synthetic_scale(sig, cells: int, seed: int = 0) -> dict:
    """Time what follows the scan at `cells` rows, on a signature table grown from the copy's
    own rows: each row's measures repeated and its 16 x 16 thumbnail turned, flipped and
    shifted (a different cell to the eye, 8 x 225 variants of each), each pHash with 12 to
    20 bits flipped. Times (wall and CPU) the pair search, the quality scores, and a cached
    second run (read the table back, score)."""
    import pandas as pd

    rng = np.random.default_rng([seed, 0x5CA1E])
    picks = rng.integers(0, len(sig), cells)
    big = sig.iloc[picks].reset_index(drop=True).copy()
    big["cell_id"] = [f"{i:08d}" for i in range(cells)]
    big["image_id"] = big["cell_id"]
    big["pixel_hash"] = rng.integers(-(2**62), 2**62, cells)
    flips = np.zeros(cells, np.uint64)
    for i, n in enumerate(rng.integers(12, 21, cells)):
        for bit in rng.choice(64, n, replace=False):
            flips[i] |= np.uint64(1) << np.uint64(bit)
    big["phash"] = (big["phash"].to_numpy().view(np.uint64) ^ flips).view(np.int64)
    side = signatures.THUMB_PX
    thumbs = np.frombuffer(b"".join(big["thumb"]), np.int8).reshape(cells, side, side)
    turns, mirror = rng.integers(0, 4, cells), rng.integers(0, 2, cells)
    shifts = rng.integers(-7, 8, (cells, 2))
    out = []
    for t, k, m, (dy, dx) in zip(thumbs, turns, mirror, shifts, strict=True):
        t = np.rot90(t, k)
        t = t[:, ::-1] if m else t
        out.append(np.roll(t, (dy, dx), axis=(0, 1)).tobytes())
    big["thumb"] = out
    wall, cpu = time.perf_counter(), time.process_time()
    pairs = duplicates.find_pairs(big)
    search, search_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    quality.issues(quality.scores(big))
    scoring, scoring_cpu = time.perf_counter() - wall, time.process_time() - cpu
    path = Path(tempfile.mkdtemp(prefix="wbcreview-scale-")) / "sig.parquet"
    try:
        signatures.write_cache(big, path)
        started = time.perf_counter()
        again = pd.read_parquet(path)
        quality.issues(quality.scores(again))
        second = time.perf_counter() - started
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return {
        "synthetic_rows": cells,
        "synthetic_pair_search_s": round(search, 2),
        "synthetic_pair_search_cpu_s": round(search_cpu, 2),
        "synthetic_candidate_pairs": int(len(pairs)),
        "synthetic_quality_scores_s": round(scoring, 2),
        "synthetic_quality_scores_cpu_s": round(scoring_cpu, 2),
        "synthetic_second_run_s": round(second, 2),
    }


def run(
    from_folder: Path | None,
    seed: int = 0,
    scale_root: Path | None = None,
    progress: Progress | None = None,
    synthetic_cells: int = 100_000,
) -> dict:
    """Plant, find, score; optionally time the finders on the copy at `scale_root`."""
    if from_folder is not None and not Path(from_folder).is_dir():
        raise FindersBenchError(f"image folder {from_folder} not found (pass --from-folder DIR)")
    result: dict = {"load_average_start": os.getloadavg()[0]}
    work = Path(tempfile.mkdtemp(prefix="wbcreview-bench-finders-"))
    root = work / "planted"
    try:
        if progress:
            progress(0, 4, "building the copy of real cells")
        summary = demo.build_demo(root, seed=seed, from_folder=from_folder)
        truth = plant.plant(root, seed=seed)
        with catalog.open_catalog(root) as cat:
            if progress:
                progress(1, 4, "finding duplicates and unusable images")
            started = time.perf_counter()
            pairs = duplicates.duplicates(cat)
            _, found = quality.unusable(cat)
            result["copy"] = {
                "source": summary.source,
                "cells": len(signatures.scanned_rows(cat)),
                "first_run_s": round(time.perf_counter() - started, 2),
            }
            started = time.perf_counter()
            duplicates.duplicates(cat)
            quality.unusable(cat)
            result["copy"]["second_run_s"] = round(time.perf_counter() - started, 3)
            result["duplicates"] = score_duplicates(pairs, truth)
            result["unusable"] = score_unusable(found, truth)
            if progress:
                progress(2, 4, "scoring the look-alike embeddings")
            result["lookalikes"] = score_lookalikes(cat)
            if synthetic_cells:
                if progress:
                    progress(3, 4, f"timing the steps after the scan at {synthetic_cells:,} rows")
                cost = scan_cost(cat)
                result["at_scale"] = {
                    **cost,
                    **synthetic_scale(signatures.cached(cat), synthetic_cells, seed),
                }
                scale = result["at_scale"]
                # On 2 cores: the scan runs in 2 processes; faiss uses both cores itself.
                scale["estimated_first_run_s"] = round(
                    synthetic_cells * cost["scan_cpu_ms_per_image"] / 1000 / 2
                    + scale["synthetic_pair_search_cpu_s"] / 2
                    + scale["synthetic_quality_scores_cpu_s"],
                    1,
                )
        if scale_root is not None:
            if progress:
                progress(3, 4, f"timing the finders on {scale_root}")
            result.update(time_at_scale(Path(scale_root), progress))
        result["load_average_end"] = os.getloadavg()[0]
        if progress:
            progress(4, 4, "done")
        return result
    finally:
        catalog.remove(root)
        signatures.remove_caches(root)
        features.remove_cache(root)
        shutil.rmtree(work, ignore_errors=True)


def format_table(result: dict) -> str:
    """The figures as plain text."""
    d, u, look = result["duplicates"], result["unusable"], result["lookalikes"]
    lines = [
        f"copy: {result['copy']['cells']:,} cells of {result['copy']['source']} with planted "
        f"faults; first run {result['copy']['first_run_s']} s, second {result['copy']['second_run_s']} s",
        "",
        f"{'finder':<28} {'recall':>7} {'precision':>9}",
        f"{'duplicates (all)':<28} {d['recall']:>7.3f} {d['precision']:>9.3f}",
        f"{'  exact':<28} {d['exact_recall']:>7.3f} {d['exact_precision']:>9.3f}",
        f"{'  near':<28} {d['near_recall']:>7.3f} {d['near_precision']:>9.3f}",
        f"{'unusable (blurry/dark/light)':<28} {u['recall']:>7.3f} {u['precision']:>9.3f}",
        f"cross-split planted pairs reported as split leakage: "
        f"{d['cross_split_found_as_leakage']} of {d['cross_split_planted']}",
        f"other image flags on the copy: {u['other_flags'] or 'none'}",
        "",
        "look-alikes: share of cells whose nearest cell (top1) / 5 nearest (majority) of other "
        "patients have their class",
    ]
    for method in similar.EMBEDDINGS:
        lines.append(
            f"  {method:<10} top1 {look[method]['top1']:.3f}  majority {look[method]['majority']:.3f}"
        )
    lines.append(f"  (the largest class is {look['majority_class_share']:.1%} of the cells)")
    if "at_scale" in result:
        a = result["at_scale"]
        lines += [
            "",
            f"at {a['synthetic_rows']:,} cells (scan cost measured per image, steps after the "
            "scan measured on a grown signature table):",
            f"  scan: {a['scan_cpu_ms_per_image']} ms CPU ({a['scan_wall_ms_per_image']} ms wall) "
            f"an image, {a['scan_images_timed']} images timed",
            f"  pair search {a['synthetic_pair_search_s']} s, quality scores "
            f"{a['synthetic_quality_scores_s']} s, cached second run {a['synthetic_second_run_s']} s",
            f"  estimated first run on 2 cores: {a['estimated_first_run_s']} s",
        ]
    if "scale_first_run_s" in result:
        lines += [
            "",
            f"at scale ({result['scale_rows_scanned']:,} images scanned, {result['scale_root']}):",
            f"  first run {result['scale_first_run_s']} s (duplicates incl. the scan "
            f"{result['scale_duplicates_first_run_s']} s), second run {result['scale_second_run_s']} s",
        ]
    lines.append(
        f"load average: {result['load_average_start']:.1f} at start, {result['load_average_end']:.1f} at end"
    )
    return "\n".join(lines)
