"""Unusable images: the checks of each cell's pristine image, scored, with a threshold each.

The measures come from the one scan of `signatures` (cleanvision's image properties for
brightness, blurriness and entropy; sharpness, size, the nucleated cells in the crop). A
check's score grows with the problem; an image is flagged when its score reaches the
check's threshold. Blur, dark, light and low information are scored against the copy
itself (robust z: distance from the copy's median in units of 1.4826 x its median
absolute deviation), so a copy's own stain and microscope set the norm; the others are
plain shares and ratios.

| check | score | threshold | reason to remove |
|---|---|---|---|
| blurry | robust z of log sharpness (Laplacian variance / variance), low side | 6 | low-quality |
| dark | robust z of mean brightness and of the 99th percentile, both low (the lesser) | 6 | low-quality |
| light | robust z of mean brightness, high side | 6 | low-quality |
| low_information | robust z of entropy, low side | 6 | low-quality |
| odd_size | abs log of the pixel area over the copy's median | log 1.5 | low-quality |
| odd_aspect | 1 - short side / long side | 0.2 | low-quality |
| mostly_background | 1 - nucleated cell's share of the crop / 0.01 | 0 (share < 1 %) | not-classable |
| multi_cell | second nucleated cell's area / the first's | 0.35 | multi-cell |
| undecodable | 1 when the bytes do not decode | 1 | low-quality |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbcreview.data.catalog import Catalog
from wbcreview.errors import WbcreviewError
from wbcreview.triage import signatures


class QualityError(WbcreviewError):
    """Image-quality checks cannot run or be queued as asked."""


@dataclass(frozen=True)
class Check:
    """One check: its name, what it means, its threshold and the removal reason it suggests."""

    name: str
    help: str
    threshold: float
    reason: str


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("blurry", "much less sharp than the copy's images", 6.0, "low-quality"),
        Check("dark", "much darker than the copy's images", 6.0, "low-quality"),
        Check("light", "much brighter (overexposed) than the copy's images", 6.0, "low-quality"),
        Check("low_information", "few distinct grey levels (flat, empty)", 6.0, "low-quality"),
        Check(
            "odd_size",
            "pixel area far from the copy's usual size",
            float(np.log(1.5)),
            "low-quality",
        ),  # fmt: skip
        Check("odd_aspect", "far from square", 0.2, "low-quality"),
        Check(
            "mostly_background", "no nucleated cell covers 1 % of the crop", 0.0, "not-classable"
        ),  # fmt: skip
        Check("multi_cell", "a second nucleated cell in the crop", 0.35, "multi-cell"),
        Check("undecodable", "the bytes do not decode as an image", 1.0, "low-quality"),
    )
}
ISSUE_COLUMNS = ("cell_id", "image_id", "check", "score", "threshold", "severity", "reason")


def robust_z(values: np.ndarray) -> np.ndarray:
    """(value - median) / (1.4826 x median absolute deviation), NaN-safe; 0 when flat."""
    values = np.asarray(values, dtype=np.float64)
    med = np.nanmedian(values) if np.isfinite(values).any() else 0.0
    mad = np.nanmedian(np.abs(values - med)) * 1.4826 if np.isfinite(values).any() else 0.0
    if not mad or not np.isfinite(mad):
        spread = np.nanstd(values) if np.isfinite(values).any() else 0.0
        mad = spread or 1.0
    return (values - med) / mad


def scores(sig: pd.DataFrame) -> pd.DataFrame:
    """One row per scanned image: cell_id, image_id and one score column per check."""
    ok = sig["decoded"].to_numpy() == 1
    out = sig[["cell_id", "image_id"]].copy()

    def z(column: str, log: bool = False) -> np.ndarray:
        values = sig[column].to_numpy(np.float64).copy()
        if log:
            values = np.log(np.maximum(values, 1e-9))
        values[~ok] = np.nan
        return robust_z(values)

    out["blurry"] = -z("sharpness", log=True)
    # Dark: the mean and the brightest pixels (background, cleanvision's dark measure) both
    # low, so a crop filled by big dark cells (normal background) is not "dark".
    out["dark"] = np.minimum(-z("brightness"), -z("brightness_perc_99"))
    out["light"] = z("brightness")
    out["low_information"] = -z("entropy")
    area = (sig["width"] * sig["height"]).to_numpy(np.float64)
    med = np.nanmedian(area[ok]) if ok.any() else 1.0
    out["odd_size"] = np.abs(np.log(np.maximum(area, 1) / max(med, 1)))
    out["odd_aspect"] = 1 - sig["aspect_ratio"].to_numpy(np.float64)
    out["mostly_background"] = 1 - sig["nucleus_share"].to_numpy(np.float64) / 0.01
    first = np.maximum(sig["nucleus_share"].to_numpy(np.float64), 1e-9)
    out["multi_cell"] = np.where(
        sig["nucleated_cells"].to_numpy() >= 2,
        sig["second_cell_share"].to_numpy(np.float64) / first,
        0.0,
    )
    for name in CHECKS:
        if name != "undecodable":
            out.loc[~ok, name] = np.nan
    out["undecodable"] = (~ok).astype(float)
    return out


def issues(table: pd.DataFrame, checks: Iterable[str] | None = None) -> pd.DataFrame:
    """The flagged (cell, check) pairs of a `scores` table, worst first (ISSUE_COLUMNS;
    severity = score / threshold, or score + 1 for a threshold of 0)."""
    names = list(checks) if checks is not None else list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise QualityError(f"unknown check(s) {', '.join(unknown)}: use {', '.join(CHECKS)}")
    frames = []
    for name in names:
        check = CHECKS[name]
        score = table[name]
        hit = table[score >= check.threshold] if check.threshold > 0 else table[score > 0]
        if hit.empty:
            continue
        s = hit[name].to_numpy(np.float64)
        frames.append(
            pd.DataFrame(
                {
                    "cell_id": hit["cell_id"].to_numpy(),
                    "image_id": hit["image_id"].to_numpy(),
                    "check": name,
                    "score": s.round(4),
                    "threshold": round(check.threshold, 4),
                    "severity": (s / check.threshold if check.threshold > 0 else s + 1).round(3),
                    "reason": check.reason,
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=list(ISSUE_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(
        ["severity", "cell_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def unusable(
    cat: Catalog,
    reader=None,
    progress: signatures.Progress | None = None,
    checks: Iterable[str] | None = None,
    workers: int = 2,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores of every scanned image, flagged issues worst first) for the copy; the scan is
    cached beside the catalog (see `signatures.cached`)."""
    sig = signatures.cached(cat, reader, progress, workers)
    table = scores(sig)
    return table, issues(table, checks)


def per_cell(found: pd.DataFrame) -> pd.DataFrame:
    """One row per flagged cell: its worst check first, all its checks, the reason to remove."""
    if found.empty:
        return pd.DataFrame(
            columns=["cell_id", "image_id", "worst", "severity", "checks", "reason"]
        )
    rows = []
    for cell, group in found.groupby("cell_id", sort=False):
        worst = group.iloc[0]
        rows.append(
            {
                "cell_id": cell,
                "image_id": worst["image_id"],
                "worst": worst["check"],
                "severity": worst["severity"],
                "checks": ", ".join(group["check"]),
                "reason": worst["reason"],
            }
        )
    return pd.DataFrame(rows)


def make_queue(store, admin, found: pd.DataFrame, top_k: int, name: str = "") -> int:
    """Store the `top_k` worst flagged cells of `found` (an `issues` table) as a review queue
    and return its id. Its definition suggests for each cell: remove, with the reason of its
    worst check (multi-cell, not-classable or low-quality). PermissionDenied for a non-admin."""
    if not isinstance(top_k, int | np.integer) or isinstance(top_k, bool) or top_k < 1:
        raise QualityError(f"top k must be a whole number of cells >= 1 (got {top_k!r})")
    cells = per_cell(found).head(int(top_k))
    if cells.empty:
        raise QualityError("no flagged image to queue")
    definition = {
        "kind": "unusable-images",
        "checks": sorted(set(found["check"])),
        "top_k": int(top_k),
        "suggested": {
            c: {"action": "remove", "reason": r, "note": f"flagged: {checks}"}
            for c, r, checks in zip(cells["cell_id"], cells["reason"], cells["checks"], strict=True)
        },
    }
    title = name.strip() or default_queue_name(found, int(top_k))
    return store.create_queue(admin, title, "manual", list(cells["cell_id"]), definition=definition)


def default_queue_name(found: pd.DataFrame, top_k: int) -> str:
    """`Unusable images: blurry, dark, top 50`."""
    checks = ", ".join(sorted(set(found["check"]))) or "none"
    return f"Unusable images: {checks}, top {top_k:,}"[:120]
