"""Calibration accuracy tables, the weighted consensus rule and hard-pair tables (pure)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from wbcreview.review import calibration, consensus

LABELS = {"k1": "LY", "k2": "SNE", "k3": "MO", "x1": "SNE", "x2": "BL"}


def frame(rows):
    return pd.DataFrame(rows, columns=["cell_id", "reviewer", "team", "action", "label", "reason"])


def calib():
    return pd.DataFrame(
        [
            ("k1", "retain", None, None),
            ("k2", "correct", "BNE", None),
            ("k3", "remove", None, "smudge"),
        ],
        columns=["cell_id", "action", "label", "reason"],
    )


VOTES = frame(
    [
        # Good gets every calibration cell right, Poor none
        ("k1", "Good", "T1", "retain", None, None),
        ("k2", "Good", "T1", "correct", "BNE", None),
        ("k3", "Good", "T1", "remove", None, "artefact"),
        ("k1", "Poor", "T2", "correct", "VLY", None),
        ("k2", "Poor", "T2", "retain", None, None),
        ("k3", "Poor", "T2", "unsure", None, None),
        # x1: Good says BNE, Poor and Mid keep SNE; x2: a BL/MO dispute
        ("x1", "Good", "T1", "correct", "BNE", None),
        ("x1", "Poor", "T2", "retain", None, None),
        ("x2", "Good", "T1", "correct", "MO", None),
        ("x2", "Poor", "T2", "retain", None, None),
    ]
)


def test_accuracy_overall_and_per_class():
    acc = calibration.accuracy(VOTES, calib(), LABELS)
    overall = calibration.accuracy_overall(acc)
    assert list(overall["reviewer"]) == ["Good", "Poor"]
    assert list(overall["accuracy"]) == [1.0, 0.0] and list(overall["cells"]) == [3, 3]
    by_class = calibration.accuracy_by_class(acc)
    assert list(by_class.columns) == ["BNE", "LY", "remove"]  # lineage order, then remove
    assert by_class.loc["Good"].tolist() == [1.0, 1.0, 1.0]
    assert by_class.loc["Poor"].tolist() == [0.0, 0.0, 0.0]
    empty = calibration.accuracy(VOTES.iloc[:0], calib(), LABELS)
    assert calibration.accuracy_overall(empty).empty and calibration.accuracy_by_class(empty).empty


def test_the_weighted_rule_lets_the_accurate_annotator_decide():
    cal = calib()
    assert calibration.weights_for("majority", VOTES, cal, LABELS) is None
    assert calibration.weights_for("calibration", VOTES, cal, LABELS) is None  # 3 < 5 cells
    weights = calibration.weights_for("calibration", VOTES, cal, LABELS, min_cells=3)
    assert weights == {"Good": 1.0, "Poor": 0.0}
    with pytest.raises(ValueError, match="not one of"):
        calibration.weights_for("loudest", VOTES, cal, LABELS)
    plain = calibration.consensus_with_rule("majority", VOTES, cal, labels=LABELS, min_votes=2)
    assert set(plain["cell_id"]) == {"x1", "x2"}  # calibration cells are not scored
    assert set(plain["status"]) == {"disputed"}  # one vote each: a tie
    weighted = consensus.consensus_table(
        VOTES[VOTES["cell_id"].isin(["x1", "x2"])], None, LABELS, weights=weights, min_votes=2
    )
    x1 = weighted.set_index("cell_id").loc["x1"]
    assert x1["status"] == "agreed" and x1["final_label"] == "BNE"
    assert calibration.weights_table(weights)["reviewer"].tolist() == ["Good", "Poor"]
    assert calibration.weights_table(None).empty


def test_hard_pairs_and_expert_first():
    table = calibration.hard_pairs(VOTES, LABELS)
    assert "merge_gain" in table.columns
    row = table.set_index("group").loc["SNE/BNE"]
    assert row["cells"] >= 1 and row["agreement_merged"] >= row["agreement_fine"]
    assert math.isclose(row["merge_gain"], row["agreement_merged"] - row["agreement_fine"])
    cons = consensus.consensus_table(VOTES, None, LABELS, min_votes=2)
    first = calibration.expert_first(cons)
    assert set(first["status"]) == {"disputed"}
    grouped = first["hard_group"].notna().tolist()
    assert grouped == sorted(grouped, reverse=True)  # hard-group disputes come first
    assert first.iloc[0]["hard_group"] is not None
