"""The review loop's events: each stored exactly once, in sequence order, on its own cell."""

from __future__ import annotations

import uuid

import pytest

from wbcreview.review import events as ev
from wbcreview.review.store import InvalidVote, Reviewer, StoreUnavailable

pytest_plugins = ["tests.store_fixtures"]

ADMIN = Reviewer("Admin", "", "admin")
ANNA = Reviewer("Anna", "Lab", "annotator")
CELLS = [f"{i:08d}" for i in range(1, 9)]
LABELS = {c: ("SNE" if i % 2 else "LY") for i, c in enumerate(CELLS)}


def _event(seq: int, kind: str = "vote", **fields) -> dict:
    return {"id": str(uuid.uuid4()), "seq": seq, "kind": kind, **fields}


@pytest.fixture
def queue(store):
    return store.create_queue(ADMIN, "Q", "manual", CELLS)


def _rows(store):
    frame = store.votes_frame(ADMIN)
    return frame[frame["reviewer"] == "Anna"].sort_values("id")


def test_events_are_stored_in_sequence_order_and_a_resend_stores_nothing(store, queue):
    raw = [
        _event(3, cells=[CELLS[2]], code="BNE"),
        _event(1, cells=[CELLS[0]], code="BNE"),
        _event(2, cells=[CELLS[1]], action="remove", reason="smudge"),
    ]
    events, problems = ev.parse_events(raw)
    assert not problems and [e.seq for e in events] == [1, 2, 3]
    first = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert first.acked == {e.id: "" for e in events} and first.unsaved is None
    again = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)  # the ack was lost
    assert again.acked == first.acked
    rows = _rows(store)
    assert list(rows["cell_id"]) == CELLS[:3]  # in order, once each
    assert list(rows["uid"]) == [e.id for e in events]
    assert list(rows["action"]) == ["correct", "remove", "correct"]


def test_a_class_key_on_a_cell_of_that_class_is_a_retain(store, queue):
    events, _ = ev.parse_events(
        [_event(1, cells=[CELLS[0]], code=LABELS[CELLS[0]]), _event(2, cells=[CELLS[1]], code="BL")]
    )
    ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert ev.vote_states(store, ANNA, CELLS[:2]) == {
        CELLS[0]: ["retain", None, None],
        CELLS[1]: ["correct", "BL", None],
    }


def test_a_selection_gets_one_uid_per_cell_and_undo_takes_back_the_whole_action(store, queue):
    vote = _event(1, cells=CELLS[:4], code="MO")
    undo = _event(2, kind="undo")
    events, _ = ev.parse_events([vote])
    ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    rows = _rows(store)
    assert len(rows) == 4 and len(set(rows["uid"])) == 4
    assert set(rows["uid"]) == {ev.vote_uid(vote["id"], c, 4) for c in CELLS[:4]}
    events, _ = ev.parse_events([vote, undo])  # the vote sent again with the undo
    for _ in range(2):  # and the whole round trip repeated
        ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert ev.vote_states(store, ANNA, CELLS) == {}
    assert len(_rows(store)) == 8  # four votes, four undo rows


def test_sign_off_keeps_every_unvoted_cell_once(store, queue):
    events, _ = ev.parse_events(
        [_event(1, cells=[CELLS[0]], code="BL"), _event(2, kind="sign_off", cells=CELLS[:4])]
    )
    for _ in range(2):
        ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    states = ev.vote_states(store, ANNA, CELLS)
    assert states[CELLS[0]] == ["correct", "BL", None]
    assert [states[c][0] for c in CELLS[1:4]] == ["retain"] * 3 and len(_rows(store)) == 4


def test_the_votes_of_a_round_trip_are_one_transaction_and_an_undo_ends_the_run(
    store, queue, monkeypatch
):
    events, _ = ev.parse_events(
        [_event(i + 1, cells=[CELLS[i]], code="BL") for i in range(3)]
        + [_event(4, kind="undo"), _event(5, cells=[CELLS[4]], action="unsure")]
    )
    real = store.add_votes
    calls = []

    def counted(reviewer, items):
        calls.append([item["cell_id"] for item in items])
        return real(reviewer, items)

    monkeypatch.setattr(store, "add_votes", counted)
    out = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert out.acked == {e.id: "" for e in events} and out.undid
    assert calls == [CELLS[:3], [CELLS[4]]]
    assert ev.vote_states(store, ANNA, CELLS[:5]) == {
        CELLS[0]: ["correct", "BL", None],
        CELLS[1]: ["correct", "BL", None],
        CELLS[4]: ["unsure", None, None],
    }


def test_a_store_that_does_not_answer_leaves_that_event_and_the_later_ones_unacknowledged(
    store, queue, monkeypatch
):
    events, _ = ev.parse_events(
        [_event(1, cells=[CELLS[0]], code="BL"), _event(2, kind="undo")]
        + [_event(i + 3, cells=[CELLS[i]], code="BL") for i in (1, 2)]
    )
    real = store.add_votes
    calls = []

    def flaky(reviewer, items):
        calls.append([item["cell_id"] for item in items])
        if any(item["cell_id"] == CELLS[1] for item in items):
            raise StoreUnavailable("database is locked")
        return real(reviewer, items)

    monkeypatch.setattr(store, "add_votes", flaky)
    out = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert list(out.acked) == [e.id for e in events[:2]] and "locked" in out.unsaved
    assert calls == [[CELLS[0]], CELLS[1:3]]  # the run of two failed as one transaction
    assert list(_rows(store)["action"]) == ["correct", "undo"]
    monkeypatch.setattr(store, "add_votes", real)
    out = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS, done=out.acked)
    assert list(out.acked) == [e.id for e in events] and out.unsaved is None
    assert list(_rows(store)["cell_id"]) == [CELLS[0], CELLS[0], CELLS[1], CELLS[2]]


def test_one_refused_vote_in_a_run_does_not_hold_back_the_others(store, queue):
    taken = _event(1, cells=[CELLS[0]], code="BL")
    ev.apply_events(store, ANNA, queue, ev.parse_events([taken])[0], LABELS, CELLS)
    reused = {**taken, "seq": 3, "cells": [CELLS[2]]}  # the same uid on another cell
    events, _ = ev.parse_events(
        [_event(2, cells=[CELLS[1]], code="BL"), reused, _event(4, cells=[CELLS[3]], code="BL")]
    )
    out = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert [bool(out.acked[e.id]) for e in events] == [False, True, False]
    assert "already used" in out.acked[reused["id"]]
    assert list(_rows(store)["cell_id"]) == [CELLS[0], CELLS[1], CELLS[3]]


def test_refused_events_are_acknowledged_with_their_reason_and_nothing_is_stored(store, queue):
    events, problems = ev.parse_events(
        [
            _event(1, cells=["99999999"], code="BL"),  # not in the queue
            {"id": "not-a-uuid", "seq": 2, "kind": "vote"},
            _event(3, kind="delete", cells=[CELLS[0]]),
            _event(4, cells=[CELLS[0]], action="remove"),  # no reason
            _event(5, cells=[CELLS[0]], code="XYZ"),
        ]
    )
    assert len(events) == 1 and len(problems) == 4
    assert "not-a-uuid" in problems and any("reason" in p for p in problems.values())
    out = ev.apply_events(store, ANNA, queue, events, LABELS, CELLS)
    assert "not in this queue" in out.acked[events[0].id]
    assert _rows(store).empty


def test_an_event_names_what_is_wrong():
    with pytest.raises(ev.EventError, match="sequence"):
        ev.parse_event({"id": str(uuid.uuid4()), "kind": "vote"})
    with pytest.raises(ev.EventError, match="needs a cell"):
        ev.parse_event(_event(1, cells=[], code="LY"))
    long = _event(1, cells=[CELLS[0]], action="unsure", comment="x" * 5000)
    assert len(ev.parse_event(long).comment) == 2000


def test_add_votes_stores_all_or_nothing(store, queue):
    good = {"cell_id": CELLS[0], "action": "retain", "uid": str(uuid.uuid4())}
    bad = {"cell_id": CELLS[1], "action": "correct", "uid": str(uuid.uuid4())}  # no label
    with pytest.raises(InvalidVote):
        store.add_votes(ANNA, [good, bad])
    assert _rows(store).empty
    assert store.add_votes(ANNA, [good]) == [good["uid"]]
    assert store.add_votes(ANNA, [good]) == []  # a retry writes nothing


def test_outside_a_queue_an_undo_takes_back_the_last_vote_on_its_own_cell(store, queue):
    events, _ = ev.parse_events(
        [_event(1, cells=[CELLS[0]], code="BL"), _event(2, cells=[CELLS[1]], code="BL")]
    )
    ev.apply_events(store, ANNA, None, events, LABELS, CELLS)
    undo, _ = ev.parse_events([_event(3, kind="undo")])
    out = ev.apply_events(store, ANNA, None, undo, LABELS, CELLS, undo_cell=CELLS[0])
    assert out.undid and out.acked == {undo[0].id: ""}
    assert ev.vote_states(store, ANNA, CELLS[:2]) == {CELLS[1]: ["correct", "BL", None]}
