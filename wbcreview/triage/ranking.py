"""The suspect ranking: cells whose label the models doubt most, first.

Each cell gets cleanlab's label-quality score (`cleanlab.rank.get_label_quality_scores`,
self-confidence by default: the probability the model gives the cell's current label) from
one prediction file, or the ensemble score of several
(`cleanlab.rank.get_label_quality_ensemble_scores`, members weighted by their accuracy).
Lower scores are more suspect; rank 1 is the first cell to review.

A cell's probabilities are its pristine row's when the file has it, else the mean over
the file's degraded rows of that cell. Files of labels only are turned into one-hot
probabilities with label smoothing (`predictions.probabilities`, smoothing 0.1): agreement
scores 0.92, disagreement 0.0077, so such files sort cells into two bands (more with an
ensemble); ties are broken by image id. An ensemble ranks the cells every member covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.triage import predictions

METHODS: dict[str, str] = {
    "self_confidence": "probability of the given label",
    "normalized_margin": "given label's probability minus the best other class's",
    "confidence_weighted_entropy": "self-confidence over the entropy of the probabilities",
}
DEFAULT_METHOD = "self_confidence"
RANKING_COLUMNS = (
    "rank", "cell_id", "score", "given_label", "suggested_label", "suggested_probability",
    "given_probability", "split", "patient_hash",
)  # fmt: skip


class TriageError(WbcreviewError):
    """A ranking or a queue cannot be made as asked."""


def cell_probabilities(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-cell class probabilities of one prediction file joined to the catalog.

    `rows` is `predictions.with_catalog(cur, frame)`; the result is indexed by cell_id with
    the 13 class columns: the pristine row's probabilities, else the mean of the cell's rows.
    """
    probs = pd.DataFrame(
        predictions.probabilities(rows), columns=list(CLASS_CODES), index=rows.index
    )
    probs["cell_id"] = rows["cell_id"].to_numpy()
    pristine = (rows["config"] == "pristine").to_numpy()
    first = probs[pristine].drop_duplicates("cell_id").set_index("cell_id")
    rest = probs[~pristine & ~probs["cell_id"].isin(first.index)]
    mean = rest.groupby("cell_id").mean()
    return pd.concat([first, mean]).sort_index()


def cell_labels(cur) -> pd.DataFrame:
    """One row per labelled cell: cell_id, given_label (the pristine row's), split, patient."""
    return cur.execute(
        "SELECT cell_id, arg_min(label, config <> 'pristine') AS given_label, "
        "arg_min(split, config <> 'pristine') AS split, "
        "arg_min(patient_hash, config <> 'pristine') AS patient_hash "
        "FROM cells GROUP BY cell_id ORDER BY cell_id"
    ).df()


def suspect_scores(
    cur,
    prediction_files: Mapping[str, pd.DataFrame],
    method: str = DEFAULT_METHOD,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rank the cells by cleanlab label-quality score, most suspect (lowest) first.

    `prediction_files` maps a name to a stored prediction frame (`load_predictions`); with
    several, the ensemble score is used over the cells all of them cover. `labels` maps
    cell_id to the label to judge (default: the catalog's current labels). Returns
    RANKING_COLUMNS, one row per ranked cell; `attrs` has predictions, method and cells.
    Raises TriageError for no files, an unknown method, or no cell to rank.
    """
    from cleanlab.rank import get_label_quality_ensemble_scores, get_label_quality_scores

    if not prediction_files:
        raise TriageError("no prediction file chosen: import one or run the baseline")
    if method not in METHODS:
        raise TriageError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    cells = cell_labels(cur).set_index("cell_id")
    if labels is not None:
        cells["given_label"] = pd.Series(dict(labels)).reindex(cells.index)
    cells = cells[cells["given_label"].isin(CLASS_CODES)]
    per_file = {
        name: cell_probabilities(predictions.with_catalog(cur, frame))
        for name, frame in prediction_files.items()
    }
    common = cells.index
    for probs in per_file.values():
        common = common.intersection(probs.index)
    common = common.sort_values()
    if not len(common):
        raise TriageError(
            "no labelled cell is covered by "
            + ("every chosen prediction file" if len(per_file) > 1 else "this prediction file")
        )
    index = {code: k for k, code in enumerate(CLASS_CODES)}
    given = cells.loc[common, "given_label"].map(index).to_numpy(dtype=int)
    matrices = [per_file[name].loc[common, list(CLASS_CODES)].to_numpy() for name in per_file]
    if len(matrices) == 1:
        scores = get_label_quality_scores(given, matrices[0], method=method)
    else:
        scores = get_label_quality_ensemble_scores(given, matrices, method=method, verbose=False)
    mean = np.mean(matrices, axis=0)
    top = mean.argmax(axis=1)
    out = pd.DataFrame(
        {
            "cell_id": common.to_numpy(),
            "score": np.asarray(scores, dtype=float),
            "given_label": cells.loc[common, "given_label"].to_numpy(),
            "suggested_label": np.asarray(CLASS_CODES, dtype=object)[top],
            "suggested_probability": mean[np.arange(len(top)), top],
            "given_probability": mean[np.arange(len(top)), given],
            "split": cells.loc[common, "split"].to_numpy(),
            "patient_hash": cells.loc[common, "patient_hash"].to_numpy(),
        }
    )
    out = out.sort_values(["score", "cell_id"], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.attrs.update(
        predictions=list(prediction_files), method=method, cells=len(cells), ranked=len(out)
    )
    return out[list(RANKING_COLUMNS)]


def load_all(root, names: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The stored prediction files of the copy at `root` (all, or those in `names`)."""
    if names is None:
        names = [info.name for info in predictions.list_predictions(root)]
    return {name: predictions.load_predictions(root, name) for name in names}


def ranking(cat, names: Iterable[str] | None = None, method: str = DEFAULT_METHOD) -> pd.DataFrame:
    """The suspect ranking of a catalog's copy from its stored prediction files (all by
    default); empty (with RANKING_COLUMNS) when there is none."""
    files = load_all(cat.root, names)
    if not files:
        return pd.DataFrame(columns=list(RANKING_COLUMNS))
    return suspect_scores(cat.cursor(), files, method)


def register(cur, table: pd.DataFrame, view: str = "suspects") -> None:
    """Make a ranking queryable on `cur` as the view `view` (cell_id, score, rank), for
    joins such as `LEFT JOIN suspects s USING (cell_id) ORDER BY s.rank NULLS LAST`."""
    frame = table[["cell_id", "score", "rank"]].copy()
    cur.register(view, frame)


def queue_cells(table: pd.DataFrame, top_k: int, skip: Iterable[str] = ()) -> list[str]:
    """The first `top_k` cells of a ranking, leaving out the cells in `skip` (e.g. decided)."""
    if not isinstance(top_k, int | np.integer) or isinstance(top_k, bool) or top_k < 1:
        raise TriageError(f"top k must be a whole number of cells >= 1 (got {top_k!r})")
    skipped = set(skip)
    ordered = table.sort_values("rank", kind="stable")["cell_id"]
    return [c for c in ordered if c not in skipped][: int(top_k)]


def make_queue(
    store,
    admin,
    name: str,
    table: pd.DataFrame,
    top_k: int,
    skip: Iterable[str] = (),
) -> int:
    """Store the top `top_k` cells of a ranking (most suspect first) as a review queue of
    kind 'suspects' and return its id; cells in `skip` are left out.

    The queue's definition records the prediction files, the method and k. Raises
    TriageError for an empty selection; the store raises PermissionDenied for a non-admin.
    """
    cells = queue_cells(table, top_k, skip)
    if not cells:
        raise TriageError("no cell left to queue (every ranked cell is skipped)")
    definition = {
        "kind": "suspects",
        "predictions": list(table.attrs.get("predictions", [])),
        "method": table.attrs.get("method", DEFAULT_METHOD),
        "top_k": int(top_k),
        "skipped": len(set(skip)),
    }
    return store.create_queue(admin, name, "suspects", cells, definition=definition)


def default_queue_name(table: pd.DataFrame, top_k: int) -> str:
    """`Suspects: baseline, top 50 (self_confidence)`."""
    files = ", ".join(table.attrs.get("predictions", [])) or "predictions"
    method = table.attrs.get("method", DEFAULT_METHOD)
    return f"Suspects: {files}, top {top_k:,} ({method})"[:120]


def found_in_top(table: pd.DataFrame, flipped: Iterable[str], ks: Iterable[int]) -> pd.DataFrame:
    """For each k: how many and what share of the `flipped` cells are in the top k, beside
    the share a random order finds on average (k / ranked cells)."""
    flipped = set(flipped)
    ordered = table.sort_values("rank", kind="stable")["cell_id"].to_numpy()
    hits = np.cumsum([c in flipped for c in ordered])
    n, total = len(ordered), len(flipped & set(ordered))
    rows = []
    for k in ks:
        k = int(min(max(k, 1), n))
        found = int(hits[k - 1]) if n else 0
        rows.append(
            {
                "k": k,
                "share_of_cells": k / n if n else 0.0,
                "flipped_found": found,
                "share_found": found / total if total else 0.0,
                "share_random": min(k / n, 1.0) if n else 0.0,
            }
        )
    return pd.DataFrame(rows)
