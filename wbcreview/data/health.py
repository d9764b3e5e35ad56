"""The health report of a copy: what `python -m wbcreview check` and the home page show.

Problems make a copy unhealthy (exit 1): folder missing, no shards, a file that is not
parquet or is truncated, a missing or wrongly typed column, an unknown label or severity, a
duplicate image_id within a config, a degraded row whose source has no pristine row, a
patient in more than one split, image bytes that do not decode. Warnings (a slow layout)
do not. Each problem is one line naming the file (and row) and what is wrong.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from wbcreview import config
from wbcreview.data import images, locator
from wbcreview.data.catalog import Catalog, CatalogError, catalog_prefix, open_catalog
from wbcreview.data.release import CLASS_CODES, SEVERITIES
from wbcreview.data.source import SourceError, discover

Progress = Callable[[int, int, str], None]

# At most this many lines per kind of problem; the rest are counted in one line.
MAX_LINES_PER_KIND = 20


@dataclass
class Report:
    """The verdict on a copy: problems (fatal), warnings, and the summary counts."""

    root: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: pd.DataFrame | None = None  # config, split, label, severity, rows
    patients: pd.DataFrame | None = None  # config, split, patients, rows
    images_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def check(
    root: Path | str,
    catalog: Catalog | None = None,
    decode_images: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Check the copy at `root` and return its Report (never raises for a bad copy).

    `catalog`, when given, must be the catalog of `root` (it saves a rebuild).
    `decode_images=False` skips decoding every image (the slowest part); decode results
    are remembered per shard size and mtime, so a second full check is fast.
    """
    root = Path(root)
    report = Report(root=root)
    if not root.is_dir():
        report.problems.append(f"{root}: data folder does not exist")
        return report
    try:
        shards = discover(root)
    except SourceError as exc:
        report.problems.append(str(exc))
        return report
    if not shards:
        report.problems.append(
            f"{root}: no parquet shards found (expected files like "
            "pristine/phase2_train-00000-of-00001.parquet)"
        )
        return report
    try:
        cat = catalog or open_catalog(root, progress=progress)
    except (CatalogError, SourceError) as exc:
        report.problems.append(str(exc))
        return report
    try:
        _check_shards(cat, report)
        _check_rows(cat, report)
        report.counts, report.patients = summary(cat)
        if decode_images:
            _check_images(cat, report, progress)
    finally:
        if catalog is None:
            cat.close()
    return report


def _check_shards(cat: Catalog, report: Report) -> None:
    for skipped in cat.skipped():
        report.problems.append(f"{skipped.relpath}: {skipped.message}")
    report.problems.extend(cat.side_problems())
    for path in cat.shard_paths().values():
        rel = Path(path).relative_to(cat.root).as_posix()
        try:
            lay = locator.layout(path)
        except Exception:
            continue  # unreadable files were reported above
        if lay.slow:
            report.warnings.append(
                f"{rel}: {lay.describe()}. Every page of thumbnails reads whole row groups: "
                "run `python -m wbcreview optimize --out DIR` to write a fast copy"
            )


def _lines(report: Report, kind_lines: list[str], total: int, what: str) -> None:
    report.problems.extend(kind_lines[:MAX_LINES_PER_KIND])
    if total > MAX_LINES_PER_KIND:
        report.problems.append(f"... and {total - MAX_LINES_PER_KIND} more {what}")


def _check_rows(cat: Catalog, report: Report) -> None:
    cur = cat.cursor()
    rel = "(SELECT shard_id, relpath FROM shards) s"
    codes = list(CLASS_CODES)
    rows = cur.execute(
        f"SELECT s.relpath, c.row, c.image_id, c.label FROM cells c JOIN {rel} USING (shard_id) "
        "WHERE c.label IS NULL OR NOT list_contains(?, c.label) ORDER BY s.relpath, c.row",
        [codes],
    ).fetchall()
    _lines(
        report,
        [f"{r} row {n} (image_id {i}): unknown label {lab!r}" for r, n, i, lab in rows],
        len(rows),
        "rows with unknown labels",
    )
    rows = cur.execute(
        f"SELECT s.relpath, c.row, c.image_id, c.severity, c.config FROM cells c "
        f"JOIN {rel} USING (shard_id) WHERE c.severity IS NULL OR NOT list_contains(?, c.severity) "
        "OR (c.config = 'pristine' AND c.severity <> 'pristine') ORDER BY s.relpath, c.row",
        [list(SEVERITIES)],
    ).fetchall()
    _lines(
        report,
        [
            f"{r} row {n} (image_id {i}): "
            + (
                f"severity {sev!r} in the pristine config"
                if sev in SEVERITIES
                else f"unknown severity {sev!r}"
            )
            for r, n, i, sev, _ in rows
        ],
        len(rows),
        "rows with bad severities",
    )
    rows = cur.execute(
        f"SELECT c.config, c.image_id, count(*) AS n, string_agg(s.relpath || ' row ' || c.row, ', ') "
        f"FROM cells c JOIN {rel} USING (shard_id) GROUP BY c.config, c.image_id HAVING n > 1 "
        "ORDER BY c.config, c.image_id"
    ).fetchall()
    _lines(
        report,
        [f"{cfg}: image_id {i} appears {n} times ({where})" for cfg, i, n, where in rows],
        len(rows),
        "duplicate image ids",
    )
    rows = cur.execute(
        f"SELECT s.relpath, c.row, c.image_id, c.original_image_id FROM cells c "
        f"JOIN {rel} USING (shard_id) WHERE c.config <> 'pristine' AND ("
        "coalesce(c.original_image_id, '') = '' OR c.original_image_id NOT IN "
        "(SELECT image_id FROM cells WHERE config = 'pristine')) ORDER BY s.relpath, c.row"
    ).fetchall()
    has_pristine = cur.execute("SELECT count(*) FROM cells WHERE config = 'pristine'").fetchone()[0]
    if has_pristine:
        _lines(
            report,
            [
                f"{r} row {n} (image_id {i}): "
                + (
                    f"original_image_id {o!r} has no pristine row"
                    if o
                    else "original_image_id is empty"
                )
                for r, n, i, o in rows
            ],
            len(rows),
            "degraded rows without a pristine source",
        )
    rows = cur.execute(
        "SELECT patient_hash, string_agg(DISTINCT split, ', ' ORDER BY split) AS splits "
        "FROM cells GROUP BY patient_hash HAVING count(DISTINCT split) > 1 ORDER BY patient_hash"
    ).fetchall()
    _lines(
        report,
        [f"patient {p} is in more than one split ({s})" for p, s in rows],
        len(rows),
        "patients in more than one split",
    )


def summary(cat: Catalog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts per config/split/label/severity, and rows and patients per config/split."""
    cur = cat.cursor()
    counts = cur.execute(
        "SELECT config, split, label, severity, count(*) AS rows FROM cells "
        "GROUP BY ALL ORDER BY ALL"
    ).df()
    patients = cur.execute(
        "SELECT config, split, count(*) AS rows, count(DISTINCT patient_hash) AS patients "
        "FROM cells GROUP BY ALL ORDER BY ALL"
    ).df()
    return counts, patients


def _decode_cache_path(cat: Catalog) -> Path:
    return config.catalog_dir() / f"{catalog_prefix(cat.root)}.decoded.json"


def _check_images(cat: Catalog, report: Report, progress: Progress | None) -> None:
    """Decode every image once per shard version; remember the bad ones per shard."""
    cache_file = _decode_cache_path(cat)
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    cur = cat.cursor()
    shards = cur.execute(
        "SELECT shard_id, relpath, size, mtime_ns, rows FROM shards WHERE problem IS NULL "
        "ORDER BY shard_id"
    ).fetchall()
    total = sum(r[4] for r in shards)
    done = 0
    bad_lines: list[str] = []
    for sid, relpath, size, mtime_ns, nrows in shards:
        key = f"{relpath}|{size}|{mtime_ns}"
        if key not in cache:
            cache[key] = _decode_shard(cat.root / relpath, done, total, progress, relpath)
        ids = (
            dict(
                cur.execute("SELECT row, image_id FROM cells WHERE shard_id = ?", [sid]).fetchall()
            )
            if cache[key]
            else {}
        )
        for row, why in cache[key]:
            bad_lines.append(
                f"{relpath} row {row} (image_id {ids.get(row, '?')}): image bytes do not decode ({why})"
            )
        done += nrows
        report.images_checked += nrows
    _lines(report, bad_lines, len(bad_lines), "images that do not decode")
    try:
        cache_file.write_text(json.dumps(cache))
    except OSError:
        pass  # a cache only
    if progress:
        progress(total, total, "images decoded")


def _decode_shard(path: Path, done: int, total: int, progress, relpath: str) -> list[list]:
    """Return [[row, reason], ...] for the rows of one shard whose image does not decode."""
    bad: list[list] = []
    pf = pq.ParquetFile(path)
    row0 = 0
    with ThreadPoolExecutor(max_workers=2) as pool, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch in pf.iter_batches(batch_size=256, columns=["image.bytes"]):
            values = batch.column(0).field("bytes").to_pylist()
            for offset, why in enumerate(pool.map(images.decode_error, values)):
                if why:
                    bad.append([row0 + offset, why])
            row0 += len(values)
            if progress:
                progress(done + row0, total, f"decoding images of {relpath}")
    return bad


def class_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Rows per class (in release order) and config, with the full cell-type names."""
    from wbcreview.data.release import CELL_TYPES

    table = counts.pivot_table(
        index="label", columns="config", values="rows", aggfunc="sum", fill_value=0
    )
    order = [c for c in CLASS_CODES if c in table.index] + sorted(
        c for c in table.index if c not in CLASS_CODES
    )
    table = table.loc[order]
    table.insert(0, "cell type", [CELL_TYPES.get(c, "unknown label") for c in table.index])
    table.columns.name = None
    return table


def severity_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Rows per severity (rows) and config/split (columns)."""
    table = counts.pivot_table(
        index="severity", columns=["config", "split"], values="rows", aggfunc="sum", fill_value=0
    )
    return table.reindex(
        [s for s in SEVERITIES if s in table.index] + sorted(set(table.index) - set(SEVERITIES))
    )


def format_report(report: Report) -> str:
    """The report as text for a terminal: the verdict, each problem, then the summary."""
    lines = []
    if report.ok:
        lines.append(f"OK: {report.root} is a healthy copy")
    else:
        lines.append(f"PROBLEMS: {len(report.problems)} found in {report.root}")
        lines += [f"  {p}" for p in report.problems]
    for w in report.warnings:
        lines.append(f"  warning: {w}")
    if report.patients is not None and len(report.patients):
        lines += ["", "Rows and patients per config and split:"]
        lines.append(report.patients.to_string(index=False))
    if report.counts is not None and len(report.counts):
        lines += ["", "Rows per class:", class_table(report.counts).to_string()]
        lines += ["", "Rows per severity:", severity_table(report.counts).to_string()]
    if report.images_checked:
        lines += ["", f"Images decoded: {report.images_checked}"]
    return "\n".join(lines)
