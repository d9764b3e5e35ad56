"""A shared server's guarantees at the store level: roles refused in the core, blind mode on
every read path, and two processes on one database (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
import sqlalchemy as sa

from wbcreview.review.store import PermissionDenied, Reviewer, Store

pytest_plugins = ["tests.store_fixtures"]  # store, store_url, raw_engine (SQLite and PostgreSQL)

ANN = Reviewer("Ann", "Team 1", "annotator")
BOB = Reviewer("Bob", "Team 2", "annotator")
EVE = Reviewer("Eve", "Experts", "adjudicator")
ROOT = Reviewer("Root", "Admins", "admin")
CELLS = ["00000001", "00000002", "00000003"]
ROW = {"cell_id": CELLS[0], "reviewer": "Zed", "team": "T9", "role": "annotator",
       "action": "retain"}  # fmt: skip


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.mark.parametrize(
    ("who", "call"),
    [
        (ANN, lambda s, r: s.adjudicate(r, CELLS[0], "correct", label="LY")),
        (ANN, lambda s, r: s.accept_consensus([{"cell_id": CELLS[0], "action": "retain"}], r)),
        (ANN, lambda s, r: s.create_queue(r, "mine", "manual", CELLS)),
        (ANN, lambda s, r: s.import_votes(r, [ROW], source="import:x.csv")),
        (EVE, lambda s, r: s.create_queue(r, "mine", "filter", CELLS)),
        (EVE, lambda s, r: s.import_votes(r, [ROW], source="import:x.csv")),
        (EVE, lambda s, r: s.mark_demo(r, 3)),
    ],
    ids=[
        "ann-adjudicate",
        "ann-accept",
        "ann-queue",
        "ann-import",
        "eve-queue",
        "eve-import",
        "eve-demo",
    ],  # fmt: skip
)
def test_the_store_refuses_what_a_signed_in_role_does_not_allow(store, raw_engine, who, call):
    with pytest.raises(PermissionDenied, match=f"{who.role} '{who.name}' may not"):
        call(store, who)
    for table in ("votes", "adjudications", "queues"):
        assert count(raw_engine, table) == 0, table


def test_an_annotator_may_not_undo_anothers_vote(store, raw_engine):
    uid = store.add_vote(ANN, CELLS[0], "retain")
    with pytest.raises(PermissionDenied, match="may not undo a vote of 'Ann'"):
        store.undo_vote(BOB, uid)
    assert count(raw_engine, "votes") == 1
    assert len(store.current_votes(ROOT)) == 1


def test_an_adjudicator_adjudicates_and_accepts_consensus(store):
    store.add_vote(ANN, CELLS[0], "retain")
    store.adjudicate(EVE, CELLS[0], "correct", label="LY")
    store.accept_consensus([{"cell_id": CELLS[1], "action": "retain"}], EVE)
    assert set(store.current_adjudications(EVE)["cell_id"]) == {CELLS[0], CELLS[1]}


def test_blind_mode_never_returns_others_votes_before_voting(store):
    store.add_vote(ANN, CELLS[0], "correct", label="LY", comment="Ann's secret")
    store.add_vote(EVE, CELLS[0], "retain")
    store.adjudicate(EVE, CELLS[0], "correct", label="LY", note="Eve's note")
    reads = {
        "votes_frame": lambda: store.votes_frame(BOB),
        "current_votes": lambda: store.current_votes(BOB),
        "current_votes of Ann": lambda: store.current_votes(BOB, reviewer="Ann"),
        "adjudications_frame": lambda: store.adjudications_frame(BOB),
        "current_adjudications": lambda: store.current_adjudications(BOB),
    }
    for what, read in reads.items():
        frame = read()
        assert frame.empty, f"{what} leaked {frame.to_dict('records')}"
    assert not store.votes_visible(CELLS[0], BOB)
    for read in (lambda: store.votes_for_cell(CELLS[0], BOB), lambda: store.history(CELLS[0], BOB)):
        with pytest.raises(PermissionDenied, match="blind review"):
            read()
    store.add_vote(BOB, CELLS[0], "unsure")
    assert sorted(store.votes_for_cell(CELLS[0], BOB)["reviewer"]) == ["Ann", "Bob", "Eve"]
    assert len(store.current_adjudications(BOB)) == 1


def test_reads_without_a_reviewer_object_are_refused(store):
    with pytest.raises(PermissionDenied, match="needs a Reviewer"):
        store.votes_for_cell(CELLS[0], {"name": "Eve", "role": "admin"})


def _vote_in_another_process(url: str, cell: str, uid: str) -> None:
    with Store.open(url, blind=True) as other:
        other.add_vote(Reviewer("Far", "Remote", "annotator"), cell, "retain", uid=uid)


def test_two_processes_on_one_database_see_each_others_votes(store_url):
    """Each process opens (and migrates, once) the same database; a vote of one is read by
    the other at once."""
    here = Store.open(store_url, blind=False)
    try:
        uid = str(uuid.uuid4())
        context = multiprocessing.get_context("spawn")
        child = context.Process(target=_vote_in_another_process, args=(store_url, CELLS[1], uid))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        seen = here.current_votes(ROOT)
        assert list(seen["uid"]) == [uid] and list(seen["reviewer"]) == ["Far"]
        here.add_vote(ANN, CELLS[2], "retain")
        with Store.open(store_url) as again:
            assert len(again.current_votes(ROOT)) == 2
            assert again.schema_version == here.schema_version
    finally:
        here.close()
