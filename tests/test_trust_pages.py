"""Issue 14 on the pages (AppTest): what each role is offered, the blind Corrections export,
a retry that carries its own identity, the outage banner with the pending vote, sign-in
limits, clearing the session on sign-in and sign-out, and a demotion that applies at once."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.loop_helpers import event, loop_data, send
from tests.test_review_pages import REVIEW, App
from wbcreview.review import auth, permissions
from wbcreview.review.store import Reviewer, Store, StoreUnavailable
from wbcreview.ui import session as session_ui

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CORRECTIONS, TRIAGE, ADJUDICATION = (
    "pages/12_Corrections.py",
    "pages/9_Triage.py",
    "pages/7_Adjudication.py",
)
JUDGE = Reviewer("Dr Judge", "Experts", "adjudicator")
VOTERS = [Reviewer(f"voter{i}", "T", "annotator") for i in range(3)]

# Each page-level action of the permission table: the page and the widget that offers it.
PAGE_WIDGETS: dict[str, tuple[str, str, str]] = {
    "see_all_votes": (CORRECTIONS, "toggle", "cx_agreed"),
    "save_export": (CORRECTIONS, "text_input", "cx_name"),
    "import_votes": (CORRECTIONS, "text_input", "cx_team"),
    "import_labels": (CORRECTIONS, "form_submit_button", "Import label files"),
    "run_baseline": (TRIAGE, "button", "tr_baseline"),
    "import_predictions": (TRIAGE, "text_input", "tr_name"),
}
# Actions the store refuses itself (tests/test_trust.py calls them as each role) or that
# every role has, and user management (the add-user command, on the server's own shell).
ELSEWHERE = {
    "vote", "adjudicate", "accept_consensus", "manage_queues", "manage_calibration",
    "see_own_votes", "see_final_labels", "manage_users",
}  # fmt: skip


def test_every_action_of_the_table_is_tested_somewhere():
    assert {a.name for a in permissions.ACTIONS} == set(PAGE_WIDGETS) | ELSEWHERE


@pytest.fixture
def decided(db_url, cells):  # noqa: F811
    """Three voters and the expert's decision on one cell; a second cell only agreed."""
    a, b = list(cells["cell_id"][:2])
    with Store.open(db_url) as store:
        for who in VOTERS:
            store.add_vote(who, a, "correct", label="LY", comment="voter comment")
            store.add_vote(who, b, "retain")
        store.adjudicate(JUDGE, a, "correct", label="LY", note="the expert's private note")
    return db_url, a, b


def _page(script: str, role: str, name: str = "Someone") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["wbc_demo_store"] = False
    at.session_state["wbc_identity"] = {"name": name, "team": "", "role": role}
    at.switch_page(script)
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def _offered(at: AppTest, kind: str, key: str) -> bool:
    elements = at.get(kind)
    return any(getattr(e, "key", None) == key or getattr(e, "label", None) == key for e in elements)


@pytest.mark.parametrize("role", permissions.ROLES)
def test_each_page_action_is_offered_exactly_to_the_roles_the_table_allows(decided, role):
    """Finding 2: imports, the baseline and Save were offered to annotators."""
    pages = {page: _page(page, role) for page in {p for p, _, _ in PAGE_WIDGETS.values()}}
    for action, (page, kind, key) in PAGE_WIDGETS.items():
        allowed = role in permissions.BY_NAME[action].roles
        assert _offered(pages[page], kind, key) is allowed, (action, role)


def test_an_annotator_exports_final_labels_only(decided):
    """Finding 1: the Corrections CSV gave an annotator every tally and the expert's notes."""
    _, a, b = decided
    at = _page(CORRECTIONS, "annotator", "Nosy")
    frame = next(df.value for df in at.dataframe if "final_label" in df.value.columns)
    assert frame["image_id"].tolist() == [a]  # b is agreed but not decided by the expert
    assert frame["note"].isna().all() and frame["tally"].isna().all()
    assert frame["adjudicator"].isna().all() and frame["votes"].isna().all()
    judge = _page(CORRECTIONS, "adjudicator", "Dr Judge")
    judge.toggle(key="cx_agreed").set_value(True).run()
    full = next(df.value for df in judge.dataframe if "final_label" in df.value.columns)
    assert set(full["image_id"]) == {a, b}
    assert "the expert's private note" in set(full["note"])


def _store_down(monkeypatch, down: dict) -> None:
    for method in ("_read", "_write"):
        real = getattr(Store, method)

        def flaky(self, *args, _real=real, **kwargs):
            if down["on"]:
                raise StoreUnavailable("the review database is unreachable (test): retry")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Store, method, flaky)


def _votes_down(monkeypatch, down: dict) -> None:
    real = Store.add_votes

    def flaky(self, *args, **kwargs):
        if down["on"]:
            raise StoreUnavailable("the review database is unreachable (test): retry")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "add_votes", flaky)


def test_a_retry_is_refused_for_anyone_but_the_voter(db_url, cells, monkeypatch):  # noqa: F811
    """Finding 4: B pressed Retry on A's failed vote and the store recorded A's vote. In the
    review loop the unsent decisions wait in the tab under a key of the voter and the store,
    so another reviewer in the same tab never sends them; B's own events are B's."""
    chosen = list(cells["cell_id"][:2])
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen)
    app.be("Ann", "Team 1")
    down = {"on": True}
    _votes_down(monkeypatch, down)
    ann = loop_data(app.at)
    answer = send(app.at, [event(cells=[chosen[0]], code="MO")])
    assert answer["unsaved"] and answer["acked"] == {}  # kept in Ann's tab, not stored
    down["on"] = False
    app.be("Bob", "Team 2")
    bob = loop_data(app.at)
    assert bob["storage"] != ann["storage"]  # Bob's tab never resends Ann's decisions
    with Store.open(db_url) as store:
        assert store.votes_frame().empty


def test_while_the_database_is_down_one_banner_and_the_pending_vote_stay(
    db_url,  # noqa: F811
    cells,  # noqa: F811
    monkeypatch,
):
    """Finding 10: while the database is down the loop keeps every decision unacknowledged
    and says so; once it is back the same events are stored, once each, in order."""
    chosen = list(cells["cell_id"][:2])
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen)
    app.be("Ann", "Team 1")
    down = {"on": True}
    _votes_down(monkeypatch, down)
    first = event(cells=[chosen[0]], code="MO")
    answer = send(app.at, [first])
    assert "unreachable" in answer["unsaved"] and answer["acked"] == {}
    answer = send(app.at, [first])  # still down: still kept
    assert answer["unsaved"] and answer["acked"] == {}
    down["on"] = False
    answer = send(app.at, [first])
    assert answer["unsaved"] is None and first["id"] in answer["acked"]
    with Store.open(db_url) as store:
        assert store.votes_frame()["cell_id"].tolist() == [chosen[0]]


# --- password mode ---------------------------------------------------------------------------

PAGE = textwrap.dedent(
    """
    import streamlit as st
    from wbcreview.ui import auth as ui_auth

    who = ui_auth.require_sign_in()
    st.session_state.setdefault("left_behind", "state of " + who.name)
    st.write("PAGE BODY", f"as {who.name} {who.role}")
    """
)


@pytest.fixture
def server_mode(tmp_path, monkeypatch):
    users = tmp_path / "users.yaml"
    auth.add_user(users, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    auth.add_user(users, "Eve", "Experts", "adjudicator", "battery staple", rounds=4)
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    monkeypatch.setenv("WBCREVIEW_DB", f"sqlite:///{tmp_path / 'reviews.sqlite'}")
    script = tmp_path / "page.py"
    script.write_text(PAGE)
    return str(script), users


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="auth_name").input(name)
    at.text_input(key="auth_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def _body(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_the_sign_in_page_locks_a_name_after_ten_failures(server_mode):
    """Finding 3: 25 wrong passwords, then the right one signed in."""
    page, _ = server_mode
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    with Store.open() as store:  # nine earlier failures, from other browser sessions
        for _ in range(auth.LOCK_AFTER - 1):
            store.record_sign_in("Ann", "elsewhere", False, at=earlier)
    at = AppTest.from_file(page).run()
    _sign_in(at, "Ann", "wrong password")
    assert [e.value for e in at.error] == ["Wrong name or password."]
    _sign_in(at, "Ann", "correct horse")
    assert "Too many failed sign-ins" in at.error[0].value and "PAGE BODY" not in _body(at)
    assert "locked" in at.error[0].value and "try again in 15 min" in at.error[0].value
    # a new browser session is held back too: the count is in the store
    other = _sign_in(AppTest.from_file(page).run(), "Ann", "correct horse")
    assert "Too many failed sign-ins" in other.error[0].value
    # another name is not
    third = _sign_in(AppTest.from_file(page).run(), "Eve", "battery staple")
    assert "PAGE BODY as Eve adjudicator" in _body(third)


def test_sign_in_and_sign_out_clear_every_piece_of_session_state(server_mode):
    """Finding 4: a vote kept for Retry stayed in the tab for the next user."""
    page, _ = server_mode
    at = AppTest.from_file(page).run()
    at.session_state[session_ui.PENDING] = {"cell_id": "00000001", "reviewer": "someone"}
    _sign_in(at, "Ann", "correct horse")
    assert session_ui.PENDING not in at.session_state
    assert at.session_state["left_behind"] == "state of Ann"
    at.button(key="auth_sign_out").click().run()
    assert "left_behind" not in at.session_state and "PAGE BODY" not in _body(at)
    _sign_in(at, "Eve", "battery staple")
    assert at.session_state["left_behind"] == "state of Eve"


def test_a_demotion_takes_effect_at_the_next_action(server_mode):
    """Finding 4: roles were read once per session."""
    page, users = server_mode
    at = _sign_in(AppTest.from_file(page).run(), "Eve", "battery staple")
    assert "as Eve adjudicator" in _body(at)
    users.write_text(users.read_text().replace("role: adjudicator", "role: annotator"))
    at.run()
    assert "as Eve annotator" in _body(at)


def test_a_password_change_ends_an_open_session(server_mode):
    page, users = server_mode
    at = _sign_in(AppTest.from_file(page).run(), "Ann", "correct horse")
    auth.add_user(users, "Ann", "Team 1", "annotator", "a new password", rounds=4)
    at.run()
    assert "PAGE BODY" not in _body(at) and "Your session has ended" in at.error[0].value


def test_the_adjudication_page_follows_a_demotion(server_mode, demo_root, monkeypatch):
    """The example of finding 4: `add-user ... --role annotator` left the worklist open."""
    _, users = server_mode
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=180).run()
    _sign_in(at, "Eve", "battery staple")
    at.switch_page(ADJUDICATION).run()
    assert not any("is for the adjudicator and admin roles" in e.value for e in at.error)
    users.write_text(users.read_text().replace("role: adjudicator", "role: annotator"))
    at.run()
    assert any("is for the adjudicator and admin roles" in e.value for e in at.error)
