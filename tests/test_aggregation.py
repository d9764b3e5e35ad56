"""Probabilistic aggregation, routing by confidence, the bench-aggregation harness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wbcreview.cli import main
from wbcreview.curation import simulation
from wbcreview.review import aggregation
from wbcreview.review.store import Reviewer, Store

ADMIN = Reviewer("Admin", "Experts", "admin")


def _votes(seed: int = 0, n: int = 150):
    """Cells labelled LY; truth LY or VLY; two careful and three careless annotators."""
    rng = np.random.default_rng(seed)
    rows, labels, truth = [], {}, {}
    accuracy = {"good1": 0.95, "good2": 0.95, "bad1": 0.5, "bad2": 0.5, "bad3": 0.5}
    for i in range(n):
        cell = f"c{i:04d}"
        labels[cell] = "LY"
        truth[cell] = "VLY" if rng.random() < 0.4 else "LY"
        for who, acc in accuracy.items():
            right = rng.random() < acc
            vote = truth[cell] if right else ("LY" if truth[cell] == "VLY" else "VLY")
            action = "retain" if vote == "LY" else "correct"
            rows.append(
                {
                    "cell_id": cell,
                    "reviewer": who,
                    "team": who,
                    "action": action,
                    "label": None if action == "retain" else vote,
                    "reason": None,
                }
            )
    return pd.DataFrame(rows), labels, truth


def _accuracy(result: aggregation.Aggregation, truth: dict) -> float:
    lead = result.leading.set_index("cell_id")["outcome"]
    return float(np.mean([lead[c] == t for c, t in truth.items()]))


def test_dawid_skene_trusts_careful_annotators_over_a_careless_majority():
    votes, labels, truth = _votes()
    majority = aggregation.aggregate(votes, labels, method="majority")
    ds = aggregation.aggregate(votes, labels, method="dawid-skene")
    assert _accuracy(ds, truth) > _accuracy(majority, truth) + 0.05
    acc = ds.annotators.set_index("reviewer")["accuracy"]
    assert acc["good1"] > 0.85 and acc["bad1"] < 0.7
    # posteriors are distributions over outcomes; confusion rows sum to 1
    assert np.allclose(ds.posterior.sum(axis=1), 1.0)
    assert np.allclose(ds.confusion["good1"].sum(axis=1), 1.0)
    assert set(ds.leading["decision"]) <= {"retain", "correct:VLY"}


def test_semi_supervised_holds_calibration_cells_to_their_known_answer():
    votes, labels, truth = _votes(seed=1, n=60)
    cells = list(truth)[:10]
    calibration = pd.DataFrame(
        {
            "cell_id": cells,
            "action": ["correct" if truth[c] == "VLY" else "retain" for c in cells],
            "label": ["VLY" if truth[c] == "VLY" else "LY" for c in cells],
            "reason": None,
        }
    )
    result = aggregation.aggregate(votes, labels, method="semi-supervised", calibration=calibration)
    lead = result.leading.set_index("cell_id")
    for cell in cells:
        assert lead.loc[cell, "outcome"] == truth[cell]
        assert lead.loc[cell, "probability"] == pytest.approx(1.0)


def test_a_cell_is_agreed_when_its_posterior_reaches_the_threshold():
    votes, labels, _ = _votes(seed=2, n=80)
    result = aggregation.aggregate(votes, labels, method="dawid-skene")
    low = aggregation.consensus_table(
        votes, None, labels, method="dawid-skene", threshold=0.6, result=result
    )
    high = aggregation.consensus_table(
        votes, None, labels, method="dawid-skene", threshold=0.999, result=result
    )
    assert (low["status"] == "agreed").sum() > (high["status"] == "agreed").sum()
    agreed = high[high["status"] == "agreed"]
    assert (agreed["probability"] >= 0.999).all()
    r = aggregation.routing(high)
    assert r["expected_wrong"] == pytest.approx(float((1 - agreed["probability"]).sum()))
    assert r["agreed"] + r["to_expert"] == len(high)
    assert set(high["method"]) == {"dawid-skene"} and set(high["threshold"]) == {0.999}


def test_expert_queue_puts_the_least_certain_hard_pair_disputes_first():
    table = pd.DataFrame(
        {
            "cell_id": ["a", "b", "c"],
            "status": ["disputed"] * 3,
            "probability": [0.55, 0.7, 0.9],
            "share": [0.55, 0.7, 0.9],
            "hard_group": [None, "LY/VLY/PLY", None],
            "votes": [3, 3, 3],
        }
    )
    assert list(aggregation.expert_queue(table)["cell_id"]) == ["b", "a", "c"]


def test_changing_method_or_threshold_keeps_every_vote_and_adjudication(tmp_path):
    votes, labels, _ = _votes(seed=3, n=20)
    with Store.open(f"sqlite:///{tmp_path / 's.sqlite'}", blind=False) as store:
        for r in votes.to_dict("records"):
            who = Reviewer(r["reviewer"], r["team"], "annotator")
            store.add_vote(who, r["cell_id"], r["action"], label=r["label"])
        store.adjudicate(ADMIN, "c0000", "remove", reason="smudge")
        before = (len(store.votes_frame()), len(store.adjudications_frame()))
        for method in aggregation.METHODS:
            store.set_aggregation(ADMIN, method, 0.9)
            m, t = aggregation.choice(store.aggregation_choice())
            assert (m, t) == (method, 0.9)
            table = aggregation.consensus_table(
                store.current_votes(), store.current_adjudications(), labels, method=m,
                threshold=t,
            )  # fmt: skip
            row = table.set_index("cell_id").loc["c0000"]
            assert (row["status"], row["final_action"]) == ("adjudicated", "remove")
        assert (len(store.votes_frame()), len(store.adjudications_frame())) == before
        with pytest.raises(Exception, match="admin"):
            store.set_aggregation(Reviewer("Ann", "T", "annotator"), "glad", 0.9)


def test_an_unknown_method_or_threshold_is_refused_with_the_choices():
    with pytest.raises(aggregation.AggregationError, match="dawid-skene"):
        aggregation.check_method("mace")
    with pytest.raises(aggregation.AggregationError):
        aggregation.check_threshold(1.5)


def test_an_accepted_consensus_note_names_method_and_threshold():
    note = aggregation.accept_note("glad", 0.95, "spot checked")
    assert aggregation.produced_by(note) == ("glad", 0.95)
    assert aggregation.produced_by("a note") == (None, None)


def test_the_harness_imports_its_vote_files_through_the_importer(tmp_path):
    result = simulation.run(
        n_cells=120, per_cell=(3,), methods=("majority", "dawid-skene"), seed=1, folder=tmp_path
    )
    scenario = result["scenarios"][0]
    assert scenario["imported"] == scenario["vote_rows"] > 360  # changes of mind included
    assert scenario["current_votes"] == 120 * 3
    files = sorted(tmp_path.glob("votes-3-team-*.csv"))
    assert len(files) == 10
    assert (
        files[0].read_text().splitlines()[0]
        == "image_id,annotator,action,label,reason,comment,time"
    )
    for method in ("majority", "dawid-skene"):
        scores = scenario["methods"][method]["scores"]
        assert [s["threshold"] for s in scores] == list(simulation.THRESHOLDS)
        assert all(0 <= s["to_expert"] <= 1 for s in scores)
    again = (
        simulation.run(
            n_cells=120, per_cell=(3,), methods=("majority",), seed=1, folder=tmp_path / "b"
        )
        if (tmp_path / "b").mkdir() is None
        else None
    )
    assert (
        again["scenarios"][0]["methods"]["majority"]["scores"]
        == (scenario["methods"]["majority"]["scores"])
    )


def test_bench_aggregation_prints_one_json_object(capsys):
    code = main(
        ["bench-aggregation", "--cells", "60", "--votes", "3", "--methods", "majority", "--json"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cells"] == 60 and data["scenarios"][0]["votes_per_cell"] == 3
