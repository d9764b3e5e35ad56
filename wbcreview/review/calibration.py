"""Calibration cells and hard pairs for the consensus page: pure functions on DataFrames.

Builds on consensus.py (calibration_accuracy, calibration_weights, hard_group_agreement,
consensus_table) and only shapes their results for display and wires the consensus rule:
plain majority, or votes weighted by each annotator's accuracy on calibration cells.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from wbcreview.review import consensus
from wbcreview.review.consensus import Labels
from wbcreview.review.workflow import CLASS_ORDER

RULES: dict[str, str] = {
    "majority": "Plain majority (one vote each)",
    "calibration": "Weighted by calibration accuracy",
}
MIN_CALIBRATION_CELLS = 5  # below this an annotator's accuracy is not used as a weight


def accuracy(votes: pd.DataFrame, calibration: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """consensus.calibration_accuracy, with each 'retain' answer given the cell's label.

    A 'retain' answer is stored without a label; without this its category would be
    'retain' while a reviewer's retain vote counts as the label it keeps (never equal).
    """
    if labels is not None and not calibration.empty:
        current = labels if isinstance(labels, pd.Series) else pd.Series(labels, dtype=object)
        keep = (calibration["action"] == "retain") & calibration["label"].isna()
        filled = calibration["cell_id"].map(current)
        calibration = calibration.assign(
            label=calibration["label"].where(~keep, filled).astype(object)
        )
    return consensus.calibration_accuracy(votes, calibration, labels)


def accuracy_overall(accuracy: pd.DataFrame) -> pd.DataFrame:
    """One row per annotator: reviewer, team, cells, correct, accuracy; best first.

    `accuracy` is the frame of `accuracy()`.
    """
    columns = ["reviewer", "team", "cells", "correct", "accuracy"]
    if accuracy.empty:
        return pd.DataFrame(columns=columns)
    overall = accuracy[accuracy["category"] == "all"][columns]
    return overall.sort_values(["accuracy", "cells", "reviewer"], ascending=[False, False, True])


def accuracy_by_class(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Annotator x answer class: the share right (NaN where the annotator met no such cell).

    Columns are the classes in lineage order, then 'remove' (and any other answer).
    """
    parts = accuracy[accuracy["category"] != "all"] if not accuracy.empty else accuracy
    if parts.empty:
        return pd.DataFrame()
    table = parts.pivot_table(
        index="reviewer", columns="category", values="accuracy", aggfunc="first"
    )
    order = [c for c in CLASS_ORDER if c in table.columns]
    order += sorted(c for c in table.columns if c not in order)
    return table[order].rename_axis(columns=None)


def weights_for(
    rule: str,
    votes: pd.DataFrame,
    calibration: pd.DataFrame,
    labels: Labels = None,
    *,
    min_cells: int = MIN_CALIBRATION_CELLS,
) -> dict[str, float] | None:
    """The `weights` argument of consensus.consensus_table for a rule of RULES.

    'majority' gives None (one vote each). 'calibration' gives reviewer -> accuracy for
    annotators with at least `min_cells` calibration cells (others get the mean weight);
    None when nobody has enough. Raises ValueError for an unknown rule.
    """
    if rule not in RULES:
        raise ValueError(f"consensus rule {rule!r} is not one of {', '.join(RULES)}")
    if rule == "majority" or calibration.empty or votes.empty:
        return None
    table = accuracy(votes, calibration, labels)
    if table.empty:
        return None
    weights = consensus.calibration_weights(table, min_cells=min_cells)
    return weights or None


def consensus_with_rule(
    rule: str,
    votes: pd.DataFrame,
    calibration: pd.DataFrame,
    adjudications: pd.DataFrame | None = None,
    labels: Labels = None,
    **options,
) -> pd.DataFrame:
    """consensus.consensus_table under `rule`, with calibration cells left out of the table
    (they measure the annotators; their answer is known)."""
    weights = weights_for(rule, votes, calibration, labels)
    known = set(calibration["cell_id"]) if not calibration.empty else set()
    scored = votes[~votes["cell_id"].isin(known)] if known else votes
    return consensus.consensus_table(scored, adjudications, labels, weights=weights, **options)


def hard_pairs(votes: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """consensus.hard_group_agreement with a column of what merging gains in agreement."""
    table = consensus.hard_group_agreement(votes, labels)
    table["merge_gain"] = table["agreement_merged"] - table["agreement_fine"]
    return table


def expert_first(table: pd.DataFrame) -> pd.DataFrame:
    """A consensus table's disputed cells, those disputed only inside a hard group first
    (then by how split the vote is), for the expert's worklist."""
    disputed = table[table["status"] == "disputed"].copy()
    disputed["_hard"] = disputed["hard_group"].isna()
    ordered = disputed.sort_values(["_hard", "share", "cell_id"], ascending=[True, True, True])
    return ordered.drop(columns="_hard").reset_index(drop=True)


def weights_table(weights: Mapping[str, float] | None) -> pd.DataFrame:
    """reviewer, weight: what the weighted rule uses (empty for plain majority)."""
    if not weights:
        return pd.DataFrame(columns=["reviewer", "weight"])
    return pd.DataFrame(sorted(weights.items()), columns=["reviewer", "weight"])
