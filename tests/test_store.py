"""The decision store on SQLite and PostgreSQL: append-only, undo, roles, blind mode,
idempotent retries, validation, queues, sign-off, consensus acceptance and migrations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbcreview.review import store as st_
from wbcreview.review.store import (
    InvalidVote,
    PermissionDenied,
    Reviewer,
    Store,
    StoreError,
    StoreUnavailable,
)

pytest_plugins = ["tests.store_fixtures"]  # store, store_url, raw_engine (SQLite and PostgreSQL)

ANN = Reviewer("Ann", "Team 1", "annotator")
BOB = Reviewer("Bob", "Team 2", "annotator")
CAT = Reviewer("Cat", "Team 3", "annotator")
JUDGE = Reviewer("Judge", "Experts", "adjudicator")
ROOT = Reviewer("Root", "Admins", "admin")
CELLS = [f"{n:08d}" for n in range(1, 11)]


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def snapshot(engine: sa.Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]


# --- votes, undo, append-only ----------------------------------------------------------


def test_a_vote_is_stored_with_who_when_and_why(store):
    before = datetime.now(UTC)
    uid = store.add_vote(
        ANN, CELLS[0], "remove", reason="multi-cell", comment="  two cells  ", image_id="99999999"
    )
    row = store.votes_frame().iloc[0]
    assert row["uid"] == uid
    assert (row["reviewer"], row["team"], row["role"]) == ("Ann", "Team 1", "annotator")
    assert (row["action"], row["reason"], row["comment"]) == ("remove", "multi-cell", "two cells")
    assert row["label"] is None and row["source"] == "app" and row["image_id"] == "99999999"
    assert str(row["created_at"].tz) == "UTC"
    assert before - timedelta(seconds=5) <= row["created_at"] <= datetime.now(UTC)


def test_times_round_trip_exactly(store):
    at = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
    row = {"cell_id": CELLS[0], "reviewer": "Ann", "team": "T", "role": "annotator",
           "action": "retain", "at": at.astimezone(ZoneInfo("Asia/Tokyo"))}  # fmt: skip
    store.import_votes(ROOT, [row], source="import:old.csv")
    assert store.votes_frame()["created_at"].iloc[0].to_pydatetime() == at


def test_change_of_mind_and_undo_derive_the_current_vote(store):
    first = store.add_vote(ANN, CELLS[0], "retain")
    second = store.add_vote(ANN, CELLS[0], "correct", label="BNE")
    store.add_vote(BOB, CELLS[0], "unsure")
    current = store.current_votes().set_index("reviewer")
    assert current.loc["Ann", "uid"] == second and current.loc["Bob", "action"] == "unsure"

    assert store.undo_last(ANN) == [second]
    assert store.current_votes(reviewer="Ann")["uid"].tolist() == [first]
    assert store.undo_last(ANN) == [first]
    assert store.current_votes(reviewer="Ann").empty
    assert store.undo_last(ANN) == []
    assert len(store.current_votes()) == 1  # Bob's


def test_undo_adds_rows_and_never_changes_old_ones(store, raw_engine):
    store.add_vote(ANN, CELLS[0], "retain")
    vote = store.add_vote(ANN, CELLS[1], "correct", label="LY")
    adjudication = store.adjudicate(JUDGE, CELLS[1], "correct", label="VLY", note="atypical")
    votes_before, adj_before = snapshot(raw_engine, "votes"), snapshot(raw_engine, "adjudications")

    store.undo_vote(ANN, vote)
    store.undo_adjudication(JUDGE, adjudication)
    votes_after, adj_after = snapshot(raw_engine, "votes"), snapshot(raw_engine, "adjudications")
    assert votes_after[: len(votes_before)] == votes_before and len(votes_after) == 3
    assert adj_after[: len(adj_before)] == adj_before and len(adj_after) == 2
    undo = store.votes_frame().iloc[-1]
    assert (undo["action"], undo["undoes"], undo["cell_id"]) == ("undo", vote, CELLS[1])
    assert store.current_adjudications().empty


@pytest.mark.parametrize("table", ["votes", "adjudications", "calibration"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET cell_id = 'x'", "DELETE FROM {t}"])
def test_the_database_refuses_update_and_delete(store, raw_engine, table, statement):
    store.add_vote(ANN, CELLS[0], "retain")
    store.adjudicate(JUDGE, CELLS[0], "retain")
    store.add_calibration(ROOT, CELLS[0], "retain", label="SNE")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw_engine.begin() as conn:
        conn.execute(sa.text(statement.format(t=table)))
    assert count(raw_engine, table) == 1


def test_a_retried_vote_is_stored_once(store, raw_engine):
    uid = store.add_vote(ANN, CELLS[0], "correct", label="MO")
    assert store.add_vote(ANN, CELLS[0], "correct", label="MO", uid=uid) == uid
    assert count(raw_engine, "votes") == 1
    with pytest.raises(InvalidVote, match=f"vote uid '{uid}' is already used by another vote"):
        store.add_vote(BOB, CELLS[0], "correct", label="MO", uid=uid)


def test_a_retried_undo_is_a_no_op(store, raw_engine):
    vote = store.add_vote(ANN, CELLS[0], "retain")
    undo = store.undo_vote(ANN, vote)
    assert store.undo_vote(ANN, vote, uid=undo) == undo
    with pytest.raises(InvalidVote, match="is already undone"):
        store.undo_vote(ANN, vote)
    store.add_vote(ANN, CELLS[1], "retain")
    store.add_vote(ANN, CELLS[2], "retain")
    request = "6c1e4f6e-0a53-4c21-9e3e-2b8f7f3a3c10"
    assert len(store.undo_last(ANN, uid=request)) == 1
    assert len(store.undo_last(ANN, uid=request)) == 1  # the same request, answered again
    assert len(store.current_votes(reviewer="Ann")) == 1


def test_undo_last_can_be_limited_to_a_cell(store):
    on_one = store.add_vote(ANN, CELLS[0], "retain")
    store.add_vote(ANN, CELLS[1], "retain")
    assert store.undo_last(ANN, cell_id=CELLS[0]) == [on_one]
    assert store.current_votes(reviewer="Ann")["cell_id"].tolist() == [CELLS[1]]


def test_a_gallery_action_is_undone_as_a_whole(store):
    batch = "0f0e4a1a-7a43-45d4-9f0c-5a3f3f0b8a01"
    store.add_vote(ANN, CELLS[0], "retain")
    uids = [store.add_vote(ANN, c, "correct", label="BNE", batch=batch) for c in CELLS[1:4]]
    assert sorted(store.undo_last(ANN)) == sorted(uids)
    assert store.current_votes(reviewer="Ann")["cell_id"].tolist() == [CELLS[0]]


def test_undo_of_someone_elses_vote(store):
    vote = store.add_vote(ANN, CELLS[0], "retain")
    with pytest.raises(PermissionDenied, match="may not undo a vote of 'Ann'"):
        store.undo_vote(BOB, vote)
    store.undo_vote(ROOT, vote)  # an admin may
    assert store.votes_frame().iloc[-1]["reviewer"] == "Root"
    assert store.current_votes().empty


# --- roles and blind mode --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "call"),
    [
        (ANN, lambda s, r: s.adjudicate(r, CELLS[0], "retain")),
        (ANN, lambda s, r: s.accept_consensus([{"cell_id": CELLS[0], "action": "retain"}], r)),
        (ANN, lambda s, r: s.undo_adjudication(r, "6c1e4f6e-0a53-4c21-9e3e-2b8f7f3a3c10")),
        (ANN, lambda s, r: s.create_queue(r, "mine", "manual", CELLS)),
        (JUDGE, lambda s, r: s.create_queue(r, "mine", "manual", CELLS)),
        (ANN, lambda s, r: s.add_calibration(r, CELLS[0], "retain", label="SNE")),
        (JUDGE, lambda s, r: s.add_calibration(r, CELLS[0], "retain", label="SNE")),
        (ANN, lambda s, r: s.calibration_frame(r)),
        (ANN, lambda s, r: s.import_votes(r, [], source="demo")),
        (JUDGE, lambda s, r: s.mark_demo(r, 1)),
    ],
)
def test_the_store_refuses_what_the_role_does_not_allow(store, raw_engine, who, call):
    with pytest.raises(PermissionDenied, match=f"{who.role} '{who.name}' may not"):
        call(store, who)
    assert count(raw_engine, "adjudications") == count(raw_engine, "queues") == 0


def test_admins_may_do_everything(store):
    queue = store.create_queue(ROOT, "all", "manual", CELLS)
    store.add_vote(ROOT, CELLS[0], "retain", queue_id=queue)
    store.adjudicate(ROOT, CELLS[0], "retain")
    store.add_calibration(ROOT, CELLS[1], "correct", label="PLY")
    assert len(store.calibration_frame(ROOT)) == 1
    assert len(store.votes_for_cell(CELLS[0], ROOT)) == 1


def test_blind_mode_hides_others_votes_until_the_annotator_votes(store):
    store.add_vote(ANN, CELLS[0], "correct", label="LY", comment="looks like LY")
    store.add_vote(ANN, CELLS[1], "retain")
    assert not store.votes_visible(CELLS[0], BOB)
    with pytest.raises(PermissionDenied, match="must vote on cell '00000001'"):
        store.votes_for_cell(CELLS[0], BOB)
    with pytest.raises(PermissionDenied, match="blind review"):
        store.history(CELLS[0], BOB)
    assert store.votes_frame(BOB).empty and store.current_votes(BOB).empty

    store.add_vote(BOB, CELLS[0], "retain")
    assert sorted(store.votes_for_cell(CELLS[0], BOB)["reviewer"]) == ["Ann", "Bob"]
    assert set(store.votes_frame(BOB)["cell_id"]) == {CELLS[0]}  # not Ann's other cell
    assert len(store.history(CELLS[0], BOB)) == 2
    assert len(store.votes_for_cell(CELLS[1], JUDGE)) == 1  # adjudicators see everything
    assert len(store.votes_frame(JUDGE)) == 3


def test_blind_mode_hides_adjudications_too(store):
    store.adjudicate(JUDGE, CELLS[0], "remove", reason="low-quality")
    assert store.current_adjudications(CAT).empty
    store.add_vote(CAT, CELLS[0], "retain")
    assert len(store.current_adjudications(CAT)) == 1


def test_without_blind_mode_annotators_see_all_votes(store_url):
    with Store.open(store_url, blind=False) as open_store:
        open_store.add_vote(ANN, CELLS[0], "retain")
        assert len(open_store.votes_for_cell(CELLS[0], BOB)) == 1


def test_blind_mode_follows_the_setting(store_url, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_BLIND", "0")
    with Store.open(store_url) as opened:
        assert opened.blind is False
    monkeypatch.setenv("WBCREVIEW_BLIND", "perhaps")
    with pytest.raises(st_.config.SettingError, match="WBCREVIEW_BLIND='perhaps'"):
        Store.open(store_url)


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "maybe"}, "vote action 'maybe' is not one of retain, correct, remove, unsure"),
        ({"action": "correct"}, "a 'correct' vote needs a label, one of SNE, LY"),
        ({"action": "correct", "label": "XX"}, "label 'XX' is not one of the 13 classes"),
        ({"action": "retain", "label": "LY"}, "a 'retain' vote takes no label \\(got 'LY'\\)"),
        ({"action": "remove"}, "a 'remove' vote needs a reason: multi-cell, low-quality"),
        ({"action": "remove", "reason": "ugly"}, "remove reason 'ugly' is not one of"),
        ({"action": "unsure", "reason": "other"}, "an? 'unsure' vote takes no reason"),
        ({"action": "retain", "cell_id": "a b"}, "cell id 'a b' is not an image_id"),
        ({"action": "retain", "cell_id": ""}, "cell id '' is empty"),
        ({"action": "retain", "uid": "nope"}, "vote uid 'nope' is not a UUID"),
        ({"action": "retain", "comment": "x" * 2001}, "comment 'x+… is longer than 2000"),
        ({"action": "retain", "comment": "a\x00b"}, "comment 'a\\\\x00b' contains a NUL"),
        ({"action": "retain", "source": "web"}, "source 'web' is not one of app, demo, signoff"),
        (
            {"action": "retain", "at": datetime(2026, 1, 1, tzinfo=UTC)},
            "only be given for imported",
        ),
    ],
)
def test_bad_votes_are_refused_with_a_message_naming_the_value(sqlite_store, kwargs, message):
    kwargs = {"cell_id": CELLS[0]} | kwargs
    with pytest.raises(InvalidVote, match=message):
        sqlite_store.add_vote(ANN, **kwargs)
    assert sqlite_store.votes_frame().empty


def test_a_vote_for_an_unknown_queue_is_refused(store, raw_engine):
    with pytest.raises(InvalidVote, match="queue 999 does not exist"):
        store.add_vote(ANN, CELLS[0], "retain", queue_id=999)
    assert count(raw_engine, "votes") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("  ", "T", "annotator"), "reviewer name '  ' is empty"),
        (("x" * 81, "T", "annotator"), "reviewer name 'x+… is longer than 80 characters"),
        (("Ann\n", "T\tX", "annotator"), "team name 'T\\\\tX' contains control characters"),
        (("Ann", "T", "boss"), "role 'boss' is not one of annotator, adjudicator, admin"),
        ((None, "T", "annotator"), "reviewer name None is not text"),
    ],
)
def test_bad_reviewers_are_refused(args, message):
    with pytest.raises(InvalidVote, match=message):
        Reviewer(*args)


def test_names_are_trimmed():
    assert Reviewer("  Ann ", " Team 1 ", "annotator") == ANN


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "in-memory SQLite"),
        ("mysql://x@y/z", "neither sqlite:///PATH nor postgresql"),
        ("not a url", "is not a URL"),
    ],
)
def test_bad_urls_are_clear_errors(url, message):
    with pytest.raises(StoreError, match=message):
        Store.open(url)


def test_an_unreachable_server_is_store_unavailable():
    with pytest.raises(StoreUnavailable, match="unreachable or busy"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_the_default_url_is_a_file_under_the_home(monkeypatch, tmp_path):
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path))
    monkeypatch.delenv("WBCREVIEW_DB", raising=False)
    assert st_.default_url() == f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with Store.open() as opened:
        opened.add_vote(ANN, CELLS[0], "retain")
    assert (tmp_path / "reviews.sqlite").is_file()
    monkeypatch.setenv("WBCREVIEW_DB", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert st_.default_url().endswith("other.sqlite")


def test_sqlite_runs_in_wal_mode(tmp_path):
    with (
        Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as opened,
        opened._engine.connect() as conn,
    ):
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=300))
def test_comments_round_trip_as_text(store, text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(InvalidVote, match="is not valid Unicode"):
            store.add_vote(ANN, CELLS[0], "retain", comment=text)
        return
    uid = store.add_vote(ANN, CELLS[0], "retain", comment=text)
    stored = store.votes_frame().set_index("uid").loc[uid, "comment"]
    assert stored == (text.strip() or None)


# --- adjudication ----------------------------------------------------------------------


def test_adjudication_and_its_undo(store):
    first = store.adjudicate(JUDGE, CELLS[0], "correct", label="BNE", note="band")
    store.adjudicate(JUDGE, CELLS[0], "remove", reason="multi-cell", note="two cells after all")
    assert store.current_adjudications()["action"].tolist() == ["remove"]
    latest = store.adjudications_frame().iloc[-1]["uid"]
    store.undo_adjudication(JUDGE, latest)
    current = store.current_adjudications().iloc[0]
    assert (current["uid"], current["label"], current["basis"]) == (first, "BNE", "expert")
    with pytest.raises(InvalidVote, match="adjudication action 'unsure' is not one of"):
        store.adjudicate(JUDGE, CELLS[1], "unsure")


def test_accept_consensus_writes_everything_in_one_transaction(store, raw_engine):
    decisions = pd.DataFrame(
        {
            "cell_id": CELLS[:4],
            "action": ["retain", "correct", "remove", "correct"],
            "label": [None, "LY", None, "PMY"],
            "reason": [None, None, "smudge", None],
        }
    )
    commits = []
    sa.event.listen(store._engine, "commit", lambda conn: commits.append(1))
    written = store.accept_consensus(decisions, JUDGE, note="agreed by 3 teams")
    assert len(written) == 4 and len(commits) == 1
    frame = store.current_adjudications()
    assert set(frame["basis"]) == {"consensus"} and set(frame["note"]) == {"agreed by 3 teams"}
    assert frame.set_index("cell_id").loc[CELLS[3], "label"] == "PMY"
    # Cells already decided are left alone; a retried request writes nothing.
    request = "2f0b3c1e-8e7a-4b7f-a1d2-6f9e8d7c6b5a"
    more = [
        {"cell_id": CELLS[0], "action": "remove", "reason": "other"},
        {"cell_id": CELLS[5], "action": "retain"},
    ]
    assert len(store.accept_consensus(more, JUDGE, uid=request)) == 1
    assert store.accept_consensus(more, JUDGE, uid=request) == []
    assert count(raw_engine, "adjudications") == 5


def test_accept_consensus_is_all_or_nothing(store, raw_engine):
    bad = [{"cell_id": CELLS[0], "action": "retain"}, {"cell_id": CELLS[1], "action": "correct"}]
    with pytest.raises(
        InvalidVote, match="decision 2 \\('00000002'\\): a 'correct' adjudication needs a label"
    ):
        store.accept_consensus(bad, JUDGE)
    # A failure inside the database, on the third row, rolls back the first two.
    with raw_engine.begin() as conn:
        if raw_engine.dialect.name == "sqlite":
            conn.execute(sa.text(
                "CREATE TRIGGER boom BEFORE INSERT ON adjudications WHEN NEW.cell_id = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
            ))  # fmt: skip
        else:
            conn.execute(sa.text(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.cell_id = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; "
                "RETURN NEW; END $$"
            ))  # fmt: skip
            conn.execute(sa.text(
                "CREATE TRIGGER boom BEFORE INSERT ON adjudications FOR EACH ROW "
                "EXECUTE FUNCTION boom()"
            ))  # fmt: skip
    rows = [{"cell_id": c, "action": "retain"} for c in (CELLS[0], CELLS[1], "boom")]
    with pytest.raises(StoreError, match="boom refused"):
        store.accept_consensus(rows, JUDGE)
    assert count(raw_engine, "adjudications") == 0


# --- queues, progress, sign-off, calibration -------------------------------------------


def test_queues_are_stored_in_order(store):
    queue = store.create_queue(
        ROOT, "Differs from original", "differs", [CELLS[2], CELLS[0], CELLS[2], CELLS[1]],
        definition={"split": "phase2_train", "options": {"hide_label": True}},
    )  # fmt: skip
    stored = store.queue(queue)
    assert (stored.name, stored.kind, stored.size, stored.created_by) == (
        "Differs from original", "differs", 3, "Root",
    )  # fmt: skip
    assert stored.options == {"hide_label": True}
    assert store.queue_cells(queue) == [CELLS[2], CELLS[0], CELLS[1]]
    listing = store.list_queues()
    assert listing[["id", "name", "cells"]].values.tolist() == [[queue, "Differs from original", 3]]
    with pytest.raises(StoreError, match="queue 42 does not exist"):
        store.queue(42)


@pytest.mark.parametrize(
    ("kind", "cells", "definition", "message"),
    [
        ("manual", [], None, "queue 'q' has no cells"),
        ("smart", CELLS, None, "queue kind 'smart' is not one of filter, import"),
        ("manual", CELLS, {"options": {"shuffle": True}}, "queue option 'shuffle' is not one of"),
        ("manual", CELLS, {"options": {"calibration_share": 0.9}}, "calibration_share=0.9 is not"),
        ("manual", CELLS, {"when": datetime.now()}, "is not JSON"),
    ],
)
def test_bad_queues_are_refused(store, kind, cells, definition, message):
    with pytest.raises(InvalidVote, match=message):
        store.create_queue(ROOT, "q", kind, cells, definition=definition)


def test_progress_counts_current_votes_in_the_queue(store):
    queue = store.create_queue(ROOT, "q", "manual", CELLS[:5])
    store.add_vote(ANN, CELLS[0], "retain", queue_id=queue)
    store.add_vote(ANN, CELLS[1], "retain")  # a vote made elsewhere counts too
    undone = store.add_vote(ANN, CELLS[2], "retain", queue_id=queue)
    store.undo_vote(ANN, undone)
    progress = store.progress(queue, ANN)
    assert (progress.total, progress.done, progress.next_position) == (5, 2, 2)
    assert progress.share == pytest.approx(0.4)
    assert store.progress(queue, BOB).done == 0


def test_seeded_order_and_calibration_share_per_reviewer(store):
    for cell in ("90000001", "90000002", "90000003"):
        store.add_calibration(ROOT, cell, "correct", label="BL", note="expert agreed")
    options = {"seeded_order": True, "calibration_share": 0.2}
    queue = store.create_queue(ROOT, "q", "manual", CELLS, definition={"options": options})
    ann, bob = store.queue_cells(queue, ANN), store.queue_cells(queue, BOB)
    assert ann == store.queue_cells(queue, ANN)  # stable
    assert ann != bob and set(CELLS) <= set(ann) and len(ann) == 12 == len(bob)
    assert store.queue_cells(queue) == CELLS
    assert store.progress(queue, ANN).total == 12
    store.sign_off(ANN, queue, ann[:6])  # calibration cells are part of the reviewer's queue


def test_sign_off_writes_one_retain_per_unvoted_cell_and_nothing_twice(store, raw_engine):
    queue = store.create_queue(ROOT, "gallery", "manual", CELLS[:6])
    store.add_vote(ANN, CELLS[0], "correct", label="BNE", queue_id=queue)
    store.add_vote(BOB, CELLS[1], "remove", reason="smudge")  # another reviewer's vote: no matter
    page = CELLS[:4]
    request = "9a7d3b5e-1c2f-4e6a-8b9c-0d1e2f3a4b5c"
    written = store.sign_off(ANN, queue, page, uid=request)
    assert len(written) == 3
    retains = store.current_votes(reviewer="Ann").set_index("cell_id")
    assert retains.loc[CELLS[1:4], "action"].tolist() == ["retain"] * 3
    assert set(retains.loc[CELLS[1:4], "source"]) == {"signoff"}
    assert retains.loc[CELLS[0], "action"] == "correct"
    rows = count(raw_engine, "votes")
    assert store.sign_off(ANN, queue, page) == []
    assert store.sign_off(ANN, queue, page, uid=request) == []
    assert count(raw_engine, "votes") == rows
    # One undo takes back the whole sign-off; the same request retried still writes nothing.
    assert sorted(store.undo_last(ANN)) == sorted(written)
    assert store.sign_off(ANN, queue, page, uid=request) == []
    assert len(store.sign_off(ANN, queue, page)) == 3
    with pytest.raises(InvalidVote, match="cell '00000010' is not in queue"):
        store.sign_off(ANN, queue, [CELLS[9]])


def test_calibration_answers(store):
    store.add_calibration(ROOT, CELLS[0], "retain", label="SNE")
    store.add_calibration(ROOT, CELLS[1], "remove", reason="multi-cell")
    store.add_calibration(ROOT, CELLS[0], "correct", label="BNE", note="on second look")
    frame = store.calibration_frame(JUDGE).set_index("cell_id")
    assert frame.loc[CELLS[0], ["action", "label", "added_by"]].tolist() == [
        "correct",
        "BNE",
        "Root",
    ]
    assert len(frame) == 2
    with pytest.raises(InvalidVote, match="'retain' calibration answer needs the label"):
        store.add_calibration(ROOT, CELLS[2], "retain")


def test_history_lists_votes_and_adjudications_in_time_order(store):
    vote = store.add_vote(ANN, CELLS[0], "correct", label="MMY", comment="metamyelocyte?")
    store.add_vote(BOB, CELLS[0], "retain")
    store.undo_vote(ANN, vote)
    store.adjudicate(JUDGE, CELLS[0], "correct", label="MY", note="myelocyte")
    store.add_vote(ANN, CELLS[1], "retain")
    history = store.history(CELLS[0])
    assert history["kind"].tolist() == ["vote", "vote", "vote", "adjudication"]
    assert history["action"].tolist() == ["correct", "retain", "undo", "correct"]
    assert history["who"].tolist() == ["Ann", "Bob", "Ann", "Judge"]
    assert history["text"].tolist() == ["metamyelocyte?", None, None, "myelocyte"]
    assert history["created_at"].is_monotonic_increasing


def test_import_checks_every_row_before_writing(store, raw_engine):
    rows = [
        {"cell_id": CELLS[0], "reviewer": "Eve", "team": "Team 9", "role": "annotator", "action": "retain"},
        {"cell_id": CELLS[1], "reviewer": "Eve", "team": "Team 9", "role": "annotator", "action": "correct", "label": "ZZ"},
    ]  # fmt: skip
    with pytest.raises(InvalidVote, match="row 2: label 'ZZ' is not one of the 13 classes"):
        store.import_votes(ROOT, rows, source="import:votes.csv")
    assert count(raw_engine, "votes") == 0
    rows[1]["label"] = "PC"
    assert len(store.import_votes(ROOT, rows, source="import:votes.csv")) == 2
    assert store.import_votes(ROOT, rows, source="import:votes.csv") == []  # the same file again
    assert len(store.import_votes(ROOT, rows, source="import:other.csv")) == 2
    assert set(store.votes_frame()["source"]) == {"import:votes.csv", "import:other.csv"}


def test_demo_marker(store):
    assert not store.is_demo
    store.mark_demo(ROOT, 7)
    store.mark_demo(ROOT, 7)
    assert store.is_demo and store.demo_seed == 7
    with pytest.raises(StoreError, match="seeded with 7, not 8"):
        store.mark_demo(ROOT, 8)


# --- migrations ------------------------------------------------------------------------


def test_opening_a_version_1_database_migrates_it(store_url, raw_engine):
    assert st_.migrate(store_url, to_version=1) == 1
    with raw_engine.begin() as conn:
        assert not sa.inspect(conn).has_table("calibration")
        conn.execute(
            sa.text(
                "INSERT INTO votes (uid, cell_id, reviewer, team, role, action, label, source, "
                "created_at) VALUES (:uid, :cell, 'Old', 'Team 1', 'annotator', 'correct', 'LY', "
                "'app', :at)"
            ),
            {"uid": "11111111-2222-3333-4444-555555555555", "cell": CELLS[0],
             "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(
                 tzinfo=None if raw_engine.dialect.name == "sqlite" else UTC)},
        )  # fmt: skip
    with Store.open(store_url) as opened:
        assert opened.schema_version == st_.SCHEMA_VERSION == 3
        assert sa.inspect(opened._engine).has_table("sign_in_attempts")
        old = opened.current_votes().iloc[0]
        assert (old["reviewer"], old["label"], old["batch"]) == ("Old", "LY", None)
        assert old["created_at"] == pd.Timestamp("2026-01-02 03:04:05", tz="UTC")
        opened.add_calibration(ROOT, CELLS[1], "retain", label="SNE")
        opened.add_vote(ANN, CELLS[0], "retain", batch="0f0e4a1a-7a43-45d4-9f0c-5a3f3f0b8a01")
    with raw_engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version"))
        assert [v for (v,) in versions] == [1, 2, 3]
    assert st_.migrate(store_url) == st_.SCHEMA_VERSION  # a second open changes nothing


def test_a_newer_database_is_refused(store_url, raw_engine):
    st_.migrate(store_url)
    with raw_engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO schema_version (version, applied_at) VALUES (99, :at)"),
            {"at": datetime(2030, 1, 1)},
        )
    with pytest.raises(StoreError, match="schema version 99, newer than this wbcreview"):
        Store.open(store_url)


def test_permissions_table_is_consistent():
    assert set(st_.PERMISSIONS["vote"]) == set(st_.ROLES)
    assert all("admin" in roles for roles in st_.PERMISSIONS.values())
    assert st_.can(JUDGE, "adjudicate") and not st_.can(ANN, "adjudicate")
    assert {"multi-cell", "low-quality", "other", "smudge", "artefact", "not-classable"} == set(
        st_.REMOVE_REASONS
    )
