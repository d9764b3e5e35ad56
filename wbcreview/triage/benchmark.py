"""`bench-triage`: how far ahead of a random order the suspect ranking puts label errors.

A copy is built (from a folder of real labelled images, or painted), a known share of its
pristine cells get a wrong label at random (seeded; each flipped to one of the other
classes of the copy, its degraded rows following it, written as a curated copy by
`curate.apply_decisions`), the baseline is run on that copy, and for several k the share
of flipped cells found in the top k of the ranking is set beside k / cells, the share a
random order finds on average.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wbcreview import config
from wbcreview.curation import apply as curate
from wbcreview.data import catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.demo import build as demo
from wbcreview.errors import WbcreviewError
from wbcreview.triage import baseline, features, predictions
from wbcreview.triage import ranking as triage

PBC_SAMPLE = config.REPO_ROOT.parent / "shared" / "data" / "pbc_sample"
DEFAULT_SHARE = 0.05
DEFAULT_KS = (0.01, 0.02, 0.05, 0.10, 0.20)  # shares of the ranked cells
Progress = Callable[[int, int, str], None]


class BenchError(WbcreviewError):
    """The triage benchmark cannot run as asked."""


@dataclass
class TriageBench:
    """The result of one run: the copy, the flips, the baseline and the found shares."""

    source: str
    cells: int
    flipped: list[str]
    share: float
    seed: int
    macro_f1: float  # baseline, out of fold, pristine rows against the flipped labels
    table: pd.DataFrame  # triage.found_in_top
    seconds: float
    root: Path | None = None  # the flipped copy, when kept

    def format(self) -> str:
        """The figures as a plain-text table."""
        lines = [
            f"copy: {self.cells:,} cells from {self.source}; {len(self.flipped):,} labels "
            f"({self.share:.0%}) flipped at random, seed {self.seed}",
            f"baseline out-of-fold macro-F1 (pristine rows, flipped labels): {self.macro_f1:.3f}",
            "",
            f"{'top k':>8} {'% of cells':>10} {'flips found':>12} {'% of flips':>10} "
            f"{'random order':>13} {'x random':>9}",
        ]
        for r in self.table.itertuples(index=False):
            gain = r.share_found / r.share_random if r.share_random else float("nan")
            lines.append(
                f"{r.k:>8,} {r.share_of_cells:>10.1%} {r.flipped_found:>12,} "
                f"{r.share_found:>10.1%} {r.share_random:>13.1%} {gain:>9.1f}"
            )
        lines.append(f"\n{self.seconds:.1f} s in all")
        return "\n".join(lines)


def flip_decisions(cells: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Pick round(share x cells) cells at random and a wrong label for each.

    `cells` has cell_id and label; the new label is drawn uniformly from the other classes
    present in `cells`. Returns decisions (image_id, action 'correct', final_label,
    current_label) ready for `curate.apply_decisions`.
    """
    if not 0 < share < 1:
        raise BenchError(f"the share of flipped labels must be between 0 and 1 (got {share})")
    present = sorted(set(cells["label"]) & set(CLASS_CODES), key=CLASS_CODES.index)
    if len(present) < 2:
        raise BenchError("the copy needs at least two classes to flip labels")
    rng = np.random.default_rng([seed, 0xF11B])
    n = max(1, round(share * len(cells)))
    picked = cells.iloc[np.sort(rng.choice(len(cells), n, replace=False))]
    new = []
    for label in picked["label"]:
        others = [c for c in present if c != label]
        new.append(others[int(rng.integers(len(others)))])
    return pd.DataFrame(
        {
            "image_id": picked["cell_id"].to_numpy(),
            "action": "correct",
            "final_label": new,
            "current_label": picked["label"].to_numpy(),
        }
    )


def default_folder() -> Path | None:
    """The PBC sample beside the project when it is there, else None (painted demo cells)."""
    return PBC_SAMPLE if PBC_SAMPLE.is_dir() else None


def run(
    from_folder: Path | None = None,
    cells: int | None = None,
    share: float = DEFAULT_SHARE,
    seed: int = 0,
    ks: Sequence[float] = DEFAULT_KS,
    keep: Path | None = None,
    progress: Progress | None = None,
) -> TriageBench:
    """Build a copy, flip `share` of its labels, run the baseline, measure the ranking.

    `from_folder`: real images, one sub-folder per class (None: painted cells, `cells` of
    them, default 2000). `ks`: shares of the ranked cells, each in (0, 1].
    `keep`: a new folder to keep the flipped copy in (default: a temporary folder, removed).
    """
    if not ks or not all(0 < k <= 1 for k in ks):
        raise BenchError(f"top k must be given as shares of the cells in (0, 1], got {list(ks)}")
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="wbcreview-bench-triage-"))
    try:
        clean = work / "clean"
        flipped_root = Path(keep) if keep else work / "flipped"
        if keep and flipped_root.exists() and any(flipped_root.iterdir()):
            raise BenchError(f"{keep}: exists and is not empty; choose a new folder")
        if from_folder is not None and not Path(from_folder).is_dir():
            raise BenchError(f"image folder {from_folder} not found (pass --from-folder DIR)")
        if progress:
            progress(0, 4, "building the copy")
        summary = demo.build_demo(
            clean,
            cells=cells if (cells is not None or from_folder is not None) else None,
            seed=seed,
            from_folder=Path(from_folder) if from_folder is not None else None,
        )
        with catalog.open_catalog(clean) as cat:
            cell_table = (
                cat.cursor()
                .execute(
                    "SELECT cell_id, label FROM cells WHERE config = 'pristine' ORDER BY cell_id"
                )
                .df()
            )
        decisions = flip_decisions(cell_table, share, seed)
        if progress:
            progress(1, 4, f"flipping {len(decisions)} labels")
        curate.apply_decisions(clean, flipped_root, decisions)
        if progress:
            progress(2, 4, "running the baseline")
        with catalog.open_catalog(flipped_root) as cat:
            result = baseline.run_baseline(cat, seed=seed)
            if progress:
                progress(3, 4, "ranking")
            table = triage.ranking(cat, [result.info.name])
        n = len(table)
        counts = sorted({max(1, round(k * n)) for k in ks})
        found = triage.found_in_top(table, decisions["image_id"], counts)
        if progress:
            progress(4, 4, "done")
        return TriageBench(
            source=summary.source,
            cells=summary.cells,
            flipped=decisions["image_id"].tolist(),
            share=share,
            seed=seed,
            macro_f1=result.macro_f1,
            table=found,
            seconds=time.perf_counter() - started,
            root=flipped_root if keep else None,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for root in (work / "clean", work / "flipped"):
            catalog.remove(root)
            features.remove_cache(root)
            predictions.remove_all(root)
