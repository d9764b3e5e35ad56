"""The Workspace's review use cases, as the screens and the CLI call them: queues from a filter
or a list, votes and consensus, adjudication with undo, calibration, the aggregation choice,
and who sees what. Seeded demo copy, a fresh SQLite store per test; no Streamlit."""

from __future__ import annotations

import uuid

import pytest

from wbcreview.data import query
from wbcreview.review import workflow
from wbcreview.workspace import PermissionDenied, Reviewer, StoreError, Workspace

ADMIN = Reviewer("Ada", "Lab", "admin")
EXPERT = Reviewer("Eve", "", "adjudicator")
ANN = Reviewer("Ann", "T1", "annotator")
BEN = Reviewer("Ben", "T2", "annotator")


@pytest.fixture
def ws(demo_root, tmp_path):
    with Workspace.open(demo_root, f"sqlite:///{tmp_path / 'reviews.sqlite'}") as opened:
        yield opened


def test_a_queue_from_a_filter_holds_exactly_the_filtered_pristine_cells(ws):
    f = query.Filter(labels=("LY",))
    made = ws.for_user(ADMIN).queue_from_filter(f, hide_label=True)
    expected = set(workflow.cells_for_filter(ws.cursor(), f))
    assert made.cells == len(expected) > 0
    assert set(ws.for_user(ANN).queue_cells(made.id)) == expected
    assert ws.queue(made.id).options["hide_label"] is True
    assert made.title == workflow.default_queue_name(
        "filter", workflow.describe_filter(f), made.cells
    )


def test_a_queue_from_a_list_of_ids_is_named_by_the_caller_and_refused_to_an_annotator(ws):
    ids = list(ws.cells()["cell_id"][:5])
    made = ws.for_user(ADMIN).queue_from_ids("\n".join(ids), "pasted list", name="  five  ")
    assert (made.title, made.cells) == ("five", 5)
    assert list(ws.queues()["id"]) == [made.id]
    with pytest.raises(PermissionDenied):
        ws.for_user(ANN).queue_from_ids("\n".join(ids), "pasted list")


def test_an_empty_browse_filter_makes_no_queue(ws):
    with pytest.raises(workflow.ReviewError, match="no Browse filter"):
        ws.for_user(ADMIN).queue_from_filter(query.Filter())
    assert ws.queues().empty


def test_consensus_follows_the_votes_and_blind_review_hides_others_until_one_votes(ws):
    cell = ws.cells()["cell_id"].iloc[0]
    ws.store.add_vote(ANN, cell, "retain")
    ws.store.add_vote(EXPERT, cell, "retain")
    votes, _adj, table = ws.for_user(EXPERT).consensus()
    assert len(votes) == 2 and table.set_index("cell_id").loc[cell, "votes"] == 2
    assert ws.blind  # the default setting
    ben = ws.for_user(BEN)
    assert not ben.sees_others() and ben.consensus()[0].empty
    with pytest.raises(PermissionDenied, match="must vote"):
        ben.votes_for_cell(cell)
    ws.store.add_vote(BEN, cell, "retain")
    assert len(ben.votes_for_cell(cell)) == 3
    assert ws.for_user(EXPERT).sees_others()


def test_undo_adjudication_makes_the_previous_decision_current_and_says_when_there_is_none(ws):
    cell = ws.cells()["cell_id"].iloc[1]
    expert = ws.for_user(EXPERT)
    assert expert.undo_adjudication(cell, uid=str(uuid.UUID(int=1))) is False
    expert.adjudicate(cell, "retain")
    expert.adjudicate(cell, "remove", reason="smudge")
    assert expert.current_adjudications().set_index("cell_id").loc[cell, "action"] == "remove"
    assert expert.undo_adjudication(cell, uid=str(uuid.UUID(int=2))) is True
    assert expert.current_adjudications().set_index("cell_id").loc[cell, "action"] == "retain"
    assert {"vote", "adjudication"} >= set(expert.audit_log()["kind"])


def test_the_experts_decisions_become_calibration_cells_once(ws):
    cells = list(ws.cells()["cell_id"][:3])
    for cell in cells:
        ws.for_user(EXPERT).adjudicate(cell, "retain")
    admin = ws.for_user(ADMIN)
    todo = admin.calibration_candidates()
    assert sorted(row["cell_id"] for row in todo) == sorted(cells)
    assert admin.add_calibration(todo) == 3
    assert admin.calibration_candidates() == []
    with pytest.raises(PermissionDenied):
        ws.for_user(ANN).calibration()


def test_the_aggregation_choice_is_the_admins_and_the_consensus_uses_it(ws):
    method, threshold = ws.aggregation_choice()
    assert (method, threshold) == ws.aggregation_choice()  # the defaults until an admin chooses
    with pytest.raises(PermissionDenied):
        ws.for_user(EXPERT).set_aggregation("majority", 0.9)
    ws.for_user(ADMIN).set_aggregation("majority", 0.9)
    assert ws.aggregation_choice() == ("majority", 0.9)


def test_a_workspace_without_a_store_refuses_the_store_use_cases(demo_root):
    base = Workspace.open(demo_root).open_catalog()
    try:
        view = base.with_store(None, ANN)
        assert not view.has_store and view.fingerprint == base.fingerprint
        with pytest.raises(StoreError, match="not available"):
            view.queues()
    finally:
        base.close()
