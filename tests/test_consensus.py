"""Consensus and agreement on hand-made tallies and on published worked examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from wbcreview.config import SettingError
from wbcreview.review import consensus as cs

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)
# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), nominal data with
# missing values: 4 observers (rows) x 12 units; nominal alpha = 0.743.
NAN = np.nan
KRIPPENDORFF_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
CODES = {1: "SNE", 2: "LY", 3: "MO", 4: "BL", 5: "EO"}


def votes(*rows: tuple) -> pd.DataFrame:
    """Votes from (cell_id, reviewer, action[, label or reason]) tuples."""
    records = []
    for cell, reviewer, action, *extra in rows:
        value = extra[0] if extra else None
        records.append(
            {
                "cell_id": cell,
                "reviewer": reviewer,
                "team": f"Team {reviewer}",
                "action": action,
                "label": value if action == "correct" else None,
                "reason": value if action == "remove" else None,
            }
        )
    return pd.DataFrame(
        records, columns=["cell_id", "reviewer", "team", "action", "label", "reason"]
    )


def labelled(table: np.ndarray) -> pd.DataFrame:
    """'correct' votes reproducing a subjects x categories count table."""
    rows = []
    for subject, counts in enumerate(table):
        rater = 0
        for category, n in enumerate(counts, start=1):
            for _ in range(n):
                rows.append((f"s{subject:02d}", f"r{rater:02d}", "correct", CODES[category]))
                rater += 1
    return votes(*rows)


# --- worked examples -------------------------------------------------------------------


def test_fleiss_kappa_matches_the_worked_example():
    assert cs.fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)
    assert cs.observed_agreement(FLEISS_TABLE) == pytest.approx(0.378, abs=5e-4)


def test_fleiss_kappa_from_votes_matches_the_worked_example():
    stats = cs.agreement(labelled(FLEISS_TABLE)).set_index("category")
    assert stats.loc["all", "fleiss_kappa"] == pytest.approx(0.210, abs=5e-4)
    assert stats.loc["all", "cells"] == 10 and stats.loc["all", "ratings"] == 140


def test_krippendorff_alpha_matches_the_worked_example():
    rows = [
        (f"u{unit:02d}", f"obs{observer}", "correct", CODES[int(value)])
        for observer, values in enumerate(KRIPPENDORFF_DATA)
        for unit, value in enumerate(values)
        if not np.isnan(value)
    ]
    stats = cs.agreement(votes(*rows)).set_index("category")
    assert stats.loc["all", "krippendorff_alpha"] == pytest.approx(0.743, abs=5e-4)
    assert stats.loc["all", "cells"] == 11  # unit 12 has a single value: not pairable


def test_cohen_kappa_matches_the_textbook_two_by_two_example():
    # 50 items; both yes 20, A yes B no 5, A no B yes 10, both no 15: p_o 0.7, p_e 0.5, kappa 0.4
    pairs = [("retain", "retain")] * 20 + [("retain", "remove")] * 5
    pairs += [("remove", "retain")] * 10 + [("remove", "remove")] * 15
    rows = []
    for n, (a, b) in enumerate(pairs):
        rows += [(f"c{n:02d}", "A", a, "other"), (f"c{n:02d}", "B", b, "other")]
    result = cs.pairwise_cohen(votes(*rows)).iloc[0]
    assert (result["reviewer_a"], result["reviewer_b"], result["shared"]) == ("A", "B", 50)
    assert result["agreement"] == pytest.approx(0.7)
    assert result["kappa"] == pytest.approx(0.4)


def test_per_category_kappa_of_two_categories_equals_the_overall_kappa():
    table = FLEISS_TABLE[:, :2] + FLEISS_TABLE[:, 2:4]
    per = cs.fleiss_kappa_by_category(pd.DataFrame(table, columns=["a", "b"]))
    assert per["a"] == pytest.approx(cs.fleiss_kappa(table))
    assert per["b"] == pytest.approx(cs.fleiss_kappa(table))


def test_agreement_is_undefined_for_a_single_category():
    assert np.isnan(cs.fleiss_kappa(np.array([[3], [2]])))
    assert np.isnan(cs.krippendorff_alpha(np.array([[3, 0], [2, 0]])))
    same = votes(
        ("c1", "A", "retain"), ("c1", "B", "retain"), ("c2", "A", "retain"), ("c2", "B", "retain")
    )
    assert np.isnan(cs.pairwise_cohen(same).iloc[0]["kappa"])
    assert cs.pairwise_cohen(same).iloc[0]["agreement"] == 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 6), min_size=3, max_size=3).filter(lambda r: sum(r) >= 2),
        min_size=2,
        max_size=12,
    )
)
def test_agreement_statistics_are_bounded(table):
    counts = np.array(table)
    kappa = cs.fleiss_kappa(counts)
    assert np.isnan(kappa) or kappa <= 1 + 1e-9
    alpha = cs.krippendorff_alpha(counts)
    assert np.isnan(alpha) or alpha <= 1 + 1e-9
    assert 0 <= cs.observed_agreement(counts) <= 1


def test_perfect_agreement_is_one():
    perfect = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 5], [4, 0, 0]])
    assert cs.fleiss_kappa(perfect) == pytest.approx(1.0)
    assert cs.krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert cs.observed_agreement(perfect) == 1.0


def test_pairwise_cohen_uses_scikit_learn_on_shared_cells():
    rows = [
        ("c1", "A", "retain"), ("c1", "B", "retain"), ("c1", "C", "remove", "smudge"),
        ("c2", "A", "correct", "LY"), ("c2", "B", "retain"),
        ("c3", "A", "remove", "other"), ("c3", "B", "remove", "smudge"),
        ("c4", "A", "unsure"), ("c4", "B", "retain"),
    ]  # fmt: skip
    result = cs.pairwise_cohen(votes(*rows)).set_index(["reviewer_a", "reviewer_b"])
    ab = result.loc[("A", "B")]
    assert ab["shared"] == 3  # c4 left out: 'unsure' is not an answer
    expected = cohen_kappa_score(["retain", "LY", "remove"], ["retain", "retain", "remove"])
    assert ab["kappa"] == pytest.approx(expected)
    assert ("A", "C") not in result.index  # one shared cell, below min_shared=2


# --- consensus status ------------------------------------------------------------------


def status_of(frame: pd.DataFrame, **kwargs) -> dict[str, str]:
    table = cs.consensus_table(frame, **{"min_votes": 3, "quorum": 0.6} | kwargs)
    return dict(zip(table["cell_id"], table["status"], strict=True))


def test_statuses_from_hand_made_tallies():
    frame = votes(
        ("agreed", "A", "retain"), ("agreed", "B", "retain"), ("agreed", "C", "retain"),
        ("two-of-three", "A", "correct", "LY"), ("two-of-three", "B", "correct", "LY"),
        ("two-of-three", "C", "retain"),
        ("pending", "A", "retain"), ("pending", "B", "retain"),
        ("split", "A", "retain"), ("split", "B", "correct", "LY"), ("split", "C", "remove", "smudge"),
        ("unsure", "A", "unsure"), ("unsure", "B", "unsure"), ("unsure", "C", "retain"),
    )  # fmt: skip
    assert status_of(frame) == {
        "agreed": "agreed",
        "two-of-three": "agreed",
        "pending": "pending",
        "split": "disputed",
        "unsure": "disputed",  # agreeing to refer it is not a decision
    }
    table = cs.consensus_table(frame, min_votes=3, quorum=0.6).set_index("cell_id")
    row = table.loc["two-of-three"]
    assert (row["decision"], row["action"], row["label"], row["votes"]) == (
        "correct:LY",
        "correct",
        "LY",
        3,
    )
    assert row["share"] == pytest.approx(2 / 3)
    assert row["tally"] == "correct:LY 2, retain 1"
    assert (row["final_action"], row["final_label"]) == ("correct", "LY")
    assert table.loc["split", "final_action"] is None
    assert status_of(frame, quorum=0.7)["two-of-three"] == "disputed"
    assert status_of(frame, min_votes=4)["agreed"] == "pending"


def test_a_tie_is_never_agreed():
    frame = votes(
        ("c", "A", "retain"),
        ("c", "B", "retain"),
        ("c", "C", "remove", "smudge"),
        ("c", "D", "remove", "smudge"),
    )
    assert status_of(frame, quorum=0.5) == {"c": "disputed"}


def test_an_adjudication_wins_even_without_votes():
    frame = votes(("c1", "A", "retain"), ("c1", "B", "retain"), ("c1", "C", "retain"))
    adjudications = pd.DataFrame(
        {
            "cell_id": ["c1", "c2"],
            "action": ["correct", "remove"],
            "label": ["BNE", None],
            "reason": [None, "multi-cell"],
            "adjudicator": ["Judge", "Judge"],
            "basis": ["expert", "expert"],
        }
    )
    table = cs.consensus_table(frame, adjudications, min_votes=3, quorum=0.6).set_index("cell_id")
    assert table["status"].tolist() == ["adjudicated", "adjudicated"]
    assert table.loc["c1", ["decision", "final_action", "final_label"]].tolist() == [
        "retain",
        "correct",
        "BNE",
    ]
    assert table.loc["c2", ["votes", "final_action", "final_reason"]].tolist() == [
        0,
        "remove",
        "multi-cell",
    ]


def test_correct_to_the_current_label_counts_as_retain():
    frame = votes(("c", "A", "retain"), ("c", "B", "correct", "SNE"), ("c", "C", "correct", "BNE"))
    without = cs.consensus_table(frame, min_votes=3, quorum=0.6).iloc[0]
    assert without["status"] == "disputed"
    table = cs.consensus_table(frame, labels={"c": "SNE"}, min_votes=3, quorum=0.6).iloc[0]
    assert (table["decision"], table["status"], table["share"]) == (
        "retain",
        "agreed",
        pytest.approx(2 / 3),
    )


def test_removals_report_their_most_common_reason():
    frame = votes(
        ("c", "A", "remove", "smudge"),
        ("c", "B", "remove", "multi-cell"),
        ("c", "C", "remove", "smudge"),
    )
    row = cs.consensus_table(frame, min_votes=3, quorum=0.6).iloc[0]
    assert (row["decision"], row["reason"], row["final_reason"]) == ("remove", "smudge", "smudge")


def test_weights_tip_the_balance():
    frame = votes(("c", "A", "retain"), ("c", "B", "retain"), ("c", "C", "correct", "PLY"))
    plain = cs.consensus_table(frame, min_votes=3, quorum=0.6).iloc[0]
    assert plain["decision"] == "retain"
    weighted = cs.consensus_table(
        frame, min_votes=3, quorum=0.6, weights={"A": 0.2, "B": 0.2, "C": 1.0}
    ).iloc[0]
    assert (weighted["decision"], weighted["status"]) == ("correct:PLY", "agreed")
    assert weighted["share"] == pytest.approx(1.0 / 1.4)
    # A reviewer without a weight gets the mean weight of the others: here 0.2.
    partial = cs.consensus_table(frame, min_votes=3, quorum=0.6, weights={"A": 0.2, "B": 0.2}).iloc[
        0
    ]
    assert partial["weight"] == pytest.approx(0.6)


def test_disagreement_inside_a_hard_group_is_flagged():
    frame = votes(
        ("band", "A", "retain"), ("band", "B", "correct", "BNE"), ("band", "C", "correct", "BNE"),
        ("far", "A", "correct", "LY"), ("far", "B", "correct", "BNE"),
        ("agree", "A", "correct", "MY"), ("agree", "B", "correct", "MY"),
    )  # fmt: skip
    table = cs.consensus_table(
        frame, labels={"band": "SNE", "far": "SNE", "agree": "PMY"}, min_votes=2, quorum=0.6
    )
    assert dict(zip(table["cell_id"], table["hard_group"], strict=True)) == {
        "agree": None, "band": "SNE/BNE", "far": None,
    }  # fmt: skip


def test_consensus_refuses_raw_vote_rows():
    frame = votes(("c", "A", "retain"), ("c", "A", "remove", "other"))
    with pytest.raises(cs.ConsensusError, match="reviewer 'A' has two votes on cell 'c'"):
        cs.consensus_table(frame)
    undo = votes(("c", "A", "undo"))
    with pytest.raises(cs.ConsensusError, match="undo rows"):
        cs.consensus_table(undo)
    with pytest.raises(cs.ConsensusError, match="no column 'reviewer'"):
        cs.tally(pd.DataFrame({"cell_id": ["c"]}))


def test_empty_votes_give_empty_tables():
    empty = votes()
    assert cs.consensus_table(empty, min_votes=3, quorum=0.6).empty
    assert cs.pairwise_cohen(empty).empty
    assert cs.agreement(empty)["cells"].tolist() == [0]


def test_thresholds_come_from_the_settings(monkeypatch):
    frame = votes(("c", "A", "retain"), ("c", "B", "retain"))
    monkeypatch.setenv("WBCREVIEW_MIN_VOTES", "2")
    monkeypatch.setenv("WBCREVIEW_QUORUM", "1")
    assert cs.consensus_table(frame)["status"].tolist() == ["agreed"]
    monkeypatch.setenv("WBCREVIEW_MIN_VOTES", "3")
    assert cs.consensus_table(frame)["status"].tolist() == ["pending"]
    monkeypatch.setenv("WBCREVIEW_QUORUM", "most")
    with pytest.raises(SettingError, match="WBCREVIEW_QUORUM='most' is not a share"):
        cs.consensus_table(frame)
    with pytest.raises(cs.ConsensusError, match="quorum=1.5"):
        cs.consensus_table(frame, quorum=1.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2", "c3"]),
            st.sampled_from(["A", "B", "C", "D", "E"]),
            st.sampled_from(
                [
                    ("retain",),
                    ("correct", "LY"),
                    ("correct", "SNE"),
                    ("remove", "other"),
                    ("unsure",),
                ]
            ),
        ),
        max_size=15,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_consensus_table_is_well_formed_for_any_votes(rows):
    frame = votes(*[(c, r, *decision) for c, r, decision in rows])
    table = cs.consensus_table(frame, min_votes=2, quorum=0.6)
    assert set(table["status"]) <= set(cs.STATUSES)
    assert table["share"].between(0, 1).all()
    assert table["votes"].sum() == len(frame)
    assert (table.loc[table["status"] == "agreed", "final_action"].notna()).all()


# --- agreement with final decisions, hard groups, calibration --------------------------


def test_each_annotators_agreement_with_the_final_decisions():
    frame = votes(
        ("c1", "A", "retain"), ("c1", "B", "retain"), ("c1", "C", "correct", "BNE"),
        ("c2", "A", "remove", "smudge"), ("c2", "B", "unsure"), ("c2", "C", "remove", "other"),
        ("c3", "A", "retain"),
    )  # fmt: skip
    adjudications = pd.DataFrame(
        {"cell_id": ["c2"], "action": ["remove"], "label": [None], "reason": ["smudge"],
         "adjudicator": ["J"], "basis": ["expert"]}
    )  # fmt: skip
    table = cs.consensus_table(frame, adjudications, min_votes=3, quorum=0.6)
    result = cs.agreement_with_final(frame, table).set_index("reviewer")
    assert result.loc["A", ["cells", "agreed", "share"]].tolist() == [2, 2, 1.0]  # c3 is pending
    assert result.loc["B", ["cells", "agreed", "unsure"]].tolist() == [1, 1, 1]
    assert result.loc["C", ["cells", "agreed", "share"]].tolist() == [2, 1, 0.5]
    assert result.loc["C", "team"] == "Team C"


def test_hard_group_agreement_fine_and_merged():
    frame = votes(
        ("c1", "A", "correct", "SNE"), ("c1", "B", "correct", "BNE"),
        ("c2", "A", "correct", "SNE"), ("c2", "B", "correct", "SNE"),
        ("c3", "A", "correct", "LY"), ("c3", "B", "correct", "EO"),
    )  # fmt: skip
    result = cs.hard_group_agreement(frame).set_index("group")
    sne = result.loc["SNE/BNE"]
    assert (sne["cells"], sne["agreement_fine"], sne["agreement_merged"]) == (2, 0.5, 1.0)
    assert result.loc["BL/MO/PMY", "cells"] == 0
    everything = result.loc["all groups merged"]
    assert everything["cells"] == 3
    assert everything["agreement_fine"] == pytest.approx(1 / 3)
    assert everything["agreement_merged"] == pytest.approx(2 / 3)  # LY vs EO is not a hard pair


def test_merged_groups_join_groups_that_share_a_label():
    merged = cs.merged_groups()
    assert merged["SNE"] == merged["BNE"] == "SNE/BNE"
    assert merged["BL"] == merged["MMY"] == merged["PMY"] == "BL/MO/PMY/MY/MMY"
    assert "EO" not in merged


def test_calibration_accuracy_and_weights():
    calibration = pd.DataFrame(
        {"cell_id": ["k1", "k2", "k3"], "action": ["retain", "correct", "remove"],
         "label": ["SNE", "BNE", None], "reason": [None, None, "multi-cell"]}
    )  # fmt: skip
    frame = votes(
        ("k1", "A", "retain"), ("k2", "A", "correct", "BNE"), ("k3", "A", "remove", "smudge"),
        ("k1", "B", "correct", "BNE"), ("k2", "B", "retain"), ("k3", "B", "unsure"),
        ("other", "B", "retain"),
    )  # fmt: skip
    accuracy = cs.calibration_accuracy(frame, calibration)
    overall = accuracy[accuracy["category"] == "all"].set_index("reviewer")
    assert overall.loc["A", ["cells", "correct", "accuracy"]].tolist() == [3, 3, 1.0]
    assert overall.loc["B", ["cells", "correct", "accuracy"]].tolist() == [3, 0, 0.0]
    per_class = accuracy[accuracy["reviewer"] == "A"].set_index("category")
    assert sorted(per_class.index) == ["BNE", "SNE", "all", "remove"]
    assert cs.calibration_weights(accuracy, min_cells=3) == {"A": 1.0, "B": 0.0}
    assert cs.calibration_weights(accuracy, min_cells=4) == {}
