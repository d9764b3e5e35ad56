"""The hard-group model: a Dawid-Skene with few parameters, the current label as prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbcreview.curation import simulation
from wbcreview.review import aggregation, hard_group_model

CLASSES = ("SNE", "BNE", "LY", "VLY", "EO", "BA")
PARTNER = {"SNE": "BNE", "BNE": "SNE", "LY": "VLY", "VLY": "LY"}
# annotator -> (accuracy on easy classes, inside hard groups, keeps a wrong label)
ANNOTATORS = {
    "a1": (0.97, 0.85, 0.0),
    "a2": (0.96, 0.80, 0.0),
    "a3": (0.98, 0.75, 0.0),
    "a4": (0.95, 0.85, 0.0),
    "careless": (0.45, 0.45, 0.0),
    "keeper": (0.96, 0.80, 0.7),
}


def _simulate(seed: int, n: int = 1500, per_cell: int = 3):
    """Cells whose current label is right 85 % of the time (else a hard partner or another
    class); each voted by `per_cell` annotators of ANNOTATORS. Returns answers, current
    labels, the truth."""
    rng = np.random.default_rng(seed)
    rows, current, truth = [], {}, {}
    names = list(ANNOTATORS)
    for i in range(n):
        cell = f"c{i:05d}"
        t = str(rng.choice(CLASSES, p=[0.3, 0.1, 0.25, 0.1, 0.15, 0.1]))
        label = t
        if rng.random() < 0.15:
            label = PARTNER.get(t) or str(rng.choice([c for c in CLASSES if c != t]))
        current[cell], truth[cell] = label, t
        for who in rng.choice(names, size=per_cell, replace=False):
            easy, hard, keeps = ANNOTATORS[who]
            if label != t and rng.random() < keeps:
                vote = label
            elif rng.random() < (hard if t in PARTNER else easy):
                vote = t
            elif who != "careless" and t in PARTNER and rng.random() < 0.85:
                vote = PARTNER[t]
            else:
                vote = str(rng.choice([c for c in (*CLASSES, "remove") if c != t]))
            rows.append({"cell_id": cell, "reviewer": str(who), "outcome": vote})
    return pd.DataFrame(rows), pd.Series(current), pd.Series(truth)


def test_the_model_recovers_each_annotators_accuracy_and_habits():
    answers, current, truth = _simulate(seed=0)
    known = truth.iloc[:100]
    fit = hard_group_model.fit(answers, current, known)
    est = fit.annotators.set_index("reviewer")
    for who, (easy, hard, _keeps) in ANNOTATORS.items():
        if who == "keeper":  # its right answers when it does not keep are counted alike
            continue
        assert est.loc[who, "accuracy_hard"] == pytest.approx(hard, abs=0.08), who
        assert est.loc[who, "accuracy_easy"] == pytest.approx(easy, abs=0.06), who
    assert est["keeps_wrong_label"].idxmax() == "keeper"
    assert est.loc["keeper", "keeps_wrong_label"] > 0.4
    assert est.loc["careless", "partner_share"] < est.drop("careless")["partner_share"].min()
    right = current == truth
    hard = current.isin(list(PARTNER))
    assert fit.rho["easy"] == pytest.approx(right[~hard].mean(), abs=0.05)
    assert fit.rho["hard"] == pytest.approx(right[hard].mean(), abs=0.08)
    assert np.allclose(fit.posterior.sum(axis=1), 1.0)


def test_the_model_beats_majority_at_the_same_accuracy_with_three_votes():
    answers, current, truth = _simulate(seed=1)
    lead = hard_group_model.fit(answers, current, truth.iloc[:100]).posterior
    scored = truth.index[100:]
    model_right = lead.idxmax(axis=1)[scored] == truth[scored]
    counts = answers.groupby(["cell_id", "outcome"]).size().unstack(fill_value=0)
    unanimous = (counts.max(axis=1) == 3)[scored]
    majority_right = counts.idxmax(axis=1)[scored] == truth[scored]
    # majority's best rule at ~99 %: agree the unanimous cells only
    assert majority_right[unanimous].mean() >= 0.98
    # the model agrees more cells than unanimity, at least as accurately
    p = lead.max(axis=1)[scored]
    agreed = p >= np.sort(p.to_numpy())[::-1][int(unanimous.sum() * 1.3)]
    assert model_right[agreed].mean() >= majority_right[unanimous].mean() - 0.002
    assert agreed.sum() > 1.25 * unanimous.sum()


def test_calibration_cells_hold_their_known_answer_and_set_the_label_prior():
    answers, current, truth = _simulate(seed=2, n=400)
    known = truth.iloc[: hard_group_model.MIN_KNOWN]
    known = known.where(known.index != known.index[0], "remove")  # the expert may disagree
    fit = hard_group_model.fit(answers, current, known)
    lead = fit.posterior.idxmax(axis=1)
    assert (lead[known.index] == known).all()
    assert (fit.posterior.loc[known.index].max(axis=1) == 1.0).all()
    on_known = current[known.index]
    hard = on_known.isin(list(PARTNER))
    right = on_known == known
    for tier, cells in (("easy", ~hard), ("hard", hard)):  # read from the known cells alone
        assert fit.rho[tier] == pytest.approx((right[cells].sum() + 4) / (cells.sum() + 5))
    few = hard_group_model.fit(answers, current, known.iloc[:5])
    assert few.rho["easy"] == few.rho["hard"]  # too few: one rho estimated by EM


def test_the_current_label_breaks_ties_between_two_votes():
    answers, current, truth = _simulate(seed=4, per_cell=2)
    post = hard_group_model.fit(answers, current).posterior
    votes = answers.groupby("cell_id")["outcome"].agg(list)
    split = votes[votes.map(lambda v: v[0] != v[1])].index
    with_label = [c for c in split if current[c] in votes[c]]
    assert len(with_label) > 100
    lead = post.idxmax(axis=1)[with_label]
    assert (lead == current[with_label]).mean() > 0.8  # the label decides most splits
    assert (lead == truth[with_label]).mean() > 0.7  # and that is mostly right (a coin: 0.5)
    assert (post.max(axis=1)[with_label] < 0.99).mean() > 0.5  # without certainty


def test_aggregation_fits_a_model_once_per_state_of_the_votes():
    answers, current, _ = _simulate(seed=3, n=200)
    votes = pd.DataFrame(
        {
            "cell_id": answers["cell_id"],
            "reviewer": answers["reviewer"],
            "team": answers["reviewer"],
            "action": np.where(
                answers["outcome"] == "remove",
                "remove",
                np.where(
                    answers["outcome"] == answers["cell_id"].map(current), "retain", "correct"
                ),
            ),
            "label": answers["outcome"].where(
                (answers["outcome"] != "remove")
                & (answers["outcome"] != answers["cell_id"].map(current))
            ),
            "reason": None,
        }
    )
    labels = current.to_dict()
    aggregation._FITS.clear()
    first = aggregation.aggregate(votes, labels, method="hard-group")
    second = aggregation.aggregate(votes, labels, method="hard-group")
    assert len(aggregation._FITS) == 1
    pd.testing.assert_frame_equal(first.posterior, second.posterior)
    second.posterior.iloc[:, :] = 0.0  # a caller's change does not reach the cache
    third = aggregation.aggregate(votes, labels, method="hard-group")
    pd.testing.assert_frame_equal(first.posterior, third.posterior)
    changed = votes.copy()
    changed.loc[0, ["action", "label"]] = ["remove", None]
    aggregation.aggregate(changed, labels, method="hard-group")
    assert len(aggregation._FITS) == 2  # another state of the votes, another fit


def test_the_harness_meets_both_targets_with_the_hard_group_model():
    result = simulation.run(
        n_cells=1000, per_cell=(3, 10), methods=("majority", "hard-group"), seed=0
    )
    three, ten = result["targets"]["3"], result["targets"]["10"]
    assert three["best_method"] == "hard-group"
    assert three["met"] and three["reduction"] >= 0.30  # README: 49.6 % fewer
    assert ten["met"] and ten["best_to_expert"] <= ten["majority_to_expert"]


def test_an_accepted_decision_records_the_hard_group_method_and_threshold():
    note = aggregation.accept_note("hard-group", 0.93, "batch 4")
    assert note == "batch 4 [method=hard-group threshold=0.93]"
    assert aggregation.produced_by(note) == ("hard-group", 0.93)
