"""AppTest: the Review, Consensus, Adjudication and Audit pages, through a full review cycle.

Each test has its own WBCREVIEW_HOME (so its own demo store) and its own review store
(WBCREVIEW_DB); identities are switched through the sidebar widgets, as a person would.
"""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.loop_helpers import event, label_of, loop_data, send, vote_of
from wbcreview.data import catalog, query
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store, StoreUnavailable

APP = str(Path(__file__).resolve().parent.parent / "app.py")
REVIEW, CONSENSUS, ADJUDICATION, AUDIT = (
    "pages/5_Review.py",
    "pages/6_Consensus.py",
    "pages/7_Adjudication.py",
    "pages/8_Audit.py",
)


class App:
    """An AppTest session: one browser tab of one person."""

    def __init__(self) -> None:
        self.at = AppTest.from_file(APP, default_timeout=120)
        self.run()

    def run(self) -> App:
        self.at.run()
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""
        return self

    def goto(self, page: str, **params) -> App:
        self.at.switch_page(page)
        self.at.query_params.clear()
        self.at.query_params.update(params)
        return self.run()

    def be(self, name: str, team: str = "", role: str = "annotator") -> App:
        self.at.text_input(key="id_name").input(name)
        self.at.text_input(key="id_team").input(team)
        self.at.selectbox(key="id_role").select(role)
        return self.run()

    def real_store(self) -> App:
        self.at.toggle(key="id_demo_store").set_value(False)
        return self.run()

    def click(self, key: str) -> App:
        self.at.button(key=key).click()
        return self.run()

    def text(self) -> str:
        parts = []
        for kind in ("markdown", "caption", "info", "error", "success", "warning", "text"):
            parts += [str(e.value) for e in self.at.get(kind)]
        return "\n".join(parts)

    def html(self) -> str:
        return "\n".join(h.value for h in self.at.get("html"))

    def cell_shown(self) -> str:
        for m in self.at.markdown:
            hit = re.match(r"#### Cell `([^`]+)`", m.value)
            if hit:
                return hit.group(1)
        raise AssertionError(f"no cell shown:\n{self.text()}")

    def loop(self) -> dict:
        return loop_data(self.at)

    def vote(self, cell: str, **fields) -> dict:
        """Press a decision key on `cell` (what the review loop sends); return its answer."""
        sent = event(cells=[cell], **fields)
        answer = send(self.at, [sent])
        assert answer["acked"].get(sent["id"]) == "", answer["acked"]
        return answer

    def create_queue(self, ids: list[str], name: str = "Cycle", **options) -> App:
        self.at.radio(key="rq_kind").set_value("import")
        self.run()
        self.at.text_area(key="rq_paste").input("\n".join(ids))
        self.at.text_input(key="rq_name").input(name)
        for key, value in options.items():
            self.at.checkbox(key=key).set_value(value)
        return self.click("rq_create")


def test_a_full_cycle_three_votes_agreed_adjudicated_and_audited(db_url, cells):
    chosen = list(cells["cell_id"][:3])
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    target = next(c for c in ("LY", "MO", "BL") if c != label[chosen[0]])

    app = App().goto(REVIEW).real_store().be("Root", "Admins", "admin")
    assert "Review store: `sqlite+pysqlite:///" in app.text() and "DEMO DATA" not in app.text()
    app.create_queue(chosen)
    assert "Queue `Cycle` created with 3 cells." in app.text()
    assert app.at.query_params["queue"] == ["1"] or app.at.query_params["queue"] == "1"

    for name, team in (("Ann", "Team 1"), ("Ben", "Team 2"), ("Cat", "Team 3")):
        app.be(name, team, "annotator")
        assert app.loop()["cursor"] == chosen[0] and vote_of(app.loop(), chosen[0]) is None
        answer = app.vote(chosen[0], code=target, comment=f"{name}: looks like {target}")
        assert vote_of(answer, chosen[0]) == ["correct", target, None]
        assert answer["cursor"] == chosen[1]  # the next cell without a vote

    with Store.open(db_url) as store:
        votes = store.current_votes()
    assert sorted(votes["reviewer"]) == ["Ann", "Ben", "Cat"]
    assert set(votes["label"]) == {target} and set(votes["queue_id"]) == {1}

    app.goto(CONSENSUS)  # still Cat, an annotator: sees the cell she voted on
    table = next(d.value for d in app.at.dataframe if "cell_id" in d.value.columns)
    row = table[table["cell_id"] == chosen[0]].iloc[0]
    assert row["status"] == "agreed" and row["votes"] == 3
    assert row["leading"] == review.describe_decision("correct", target)
    assert {m.label: m.value for m in app.at.metric}["Agreed"] == "1"

    app.be("Eve", "Experts", "adjudicator").goto(ADJUDICATION)
    assert app.cell_shown() == chosen[0]
    votes_table = app.at.dataframe[1].value
    assert sorted(votes_table["comment"]) == [
        f"{n}: looks like {target}" for n in ("Ann", "Ben", "Cat")
    ]
    app.at.text_input(key=f"aj_note_{chosen[0]}").input("agree with the teams")
    app.click("aj_decide")
    assert f"Decision saved for cell `{chosen[0]}`" in app.text()

    app.goto(CONSENSUS)
    table = next(d.value for d in app.at.dataframe if "cell_id" in d.value.columns)
    row = table[table["cell_id"] == chosen[0]].iloc[0]
    assert row["status"] == "adjudicated" and row["adjudicated_by"] == "Eve"

    app.goto(AUDIT)
    log = app.at.dataframe[0].value
    assert sorted(log["who"]) == ["Ann", "Ben", "Cat", "Eve"]
    assert list(log["kind"]).count("adjudication") == 1
    assert "agree with the teams" in set(log["text"])
    assert app.at.selectbox(key="au_history_cell").value == chosen[0]
    history = app.at.dataframe[1].value
    assert list(history["who"]) == ["Ann", "Ben", "Cat", "Eve"]
    assert history["decision"].iloc[-1] == review.describe_decision("correct", target)


def test_roles_decide_what_a_page_offers(db_url, cells):
    app = App().goto(REVIEW).real_store()
    assert "Enter your name in the sidebar to start reviewing." in app.text()
    app.be("Ann", "Team 1", "annotator")
    assert not app.at.expander  # no "New queue" for an annotator
    assert "an admin creates one" in app.text()
    app.goto(REVIEW, labels="PLY")
    assert "an admin makes it a queue" in app.text()
    app.goto(ADJUDICATION)
    assert app.at.error and "Adjudication is for the adjudicator and admin roles" in app.text()
    assert not app.at.dataframe
    app.be("Eve", "", "adjudicator")
    assert not app.at.error
    app.goto(REVIEW)
    assert not app.at.expander  # adjudicators vote and adjudicate; admins make queues
    for page in (CONSENSUS, AUDIT):
        app.be("", "", "annotator").goto(page)
        assert not app.at.dataframe and "Enter your name" in app.text()


def test_a_queue_from_the_browse_filter(db_url, demo_root):
    app = App().goto(REVIEW, labels="PLY", splits="phase2_train").real_store()
    app.be("Root", "", "admin")
    assert "Browse filter: **class PLY · split phase2\\_train**" in app.text()
    app.click("rq_create")
    assert "created with" in app.text()
    with Store.open(db_url) as store:
        queue = store.queue(1)
        cells = store.queue_cells(1)
    assert queue.kind == "filter" and queue.definition["filter"] == {
        "labels": "PLY",
        "splits": "phase2_train",
    }
    assert queue.name.startswith("Filter: class PLY · split phase2_train")
    with catalog.open_catalog(demo_root) as cat:
        f = query.Filter(labels=("PLY",), splits=("phase2_train",))
        assert cells == review.cells_for_filter(cat.cursor(), f) and cells


def test_an_import_with_unknown_ids_names_them_by_line_and_makes_no_queue(db_url, cells):
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue([cells["cell_id"][0], "nope", "<b>x</b>"])
    assert "The queue was not created" in app.text()
    assert "line 2: 'nope'" in app.text() and "line 3:" in app.text()
    with Store.open(db_url) as store:
        assert store.list_queues().empty


def test_a_reload_resumes_at_the_next_cell_without_a_vote(db_url, cells):
    chosen = list(cells["cell_id"][:3])
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen)
    app.be("Ann", "Team 1")
    app.vote(chosen[0], action="retain")
    assert app.vote(chosen[1], action="unsure")["cursor"] == chosen[2]

    again = App().goto(REVIEW, queue="1").real_store().be("Ann", "Team 1")
    assert again.loop()["cursor"] == chosen[2]
    assert vote_of(again.loop(), chosen[1]) == ["unsure", None, None]
    answer = send(again.at, [event("undo")])  # undoes the last vote in the queue
    assert vote_of(answer, chosen[1]) is None and answer["cursor"] == chosen[1]
    again.vote(chosen[1], code="PC")
    with Store.open(db_url) as store:
        mine = store.current_votes(reviewer="Ann").set_index("cell_id")
    assert mine.loc[chosen[0], "action"] == "retain"
    assert (
        mine.loc[chosen[1], "label"] == "PC"
        or cells.set_index("cell_id").loc[chosen[1], "label"] == "PC"
    )


def test_hide_label_keeps_the_label_back_until_the_vote(db_url, cells):
    chosen = list(cells["cell_id"][:2])
    label = cells.set_index("cell_id").loc[chosen[0], "label"]
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen, rq_hide=True)
    app.be("Ann")
    data = app.loop()
    assert data["hidden"] and label_of(data, chosen[0]) is None and not data.get("original")
    answer = app.vote(chosen[0], code=label)  # the class the cell has: stored as a retain
    assert label_of(answer, chosen[0]) == label  # shown once voted
    assert vote_of(answer, chosen[0]) == ["retain", None, None]
    assert label_of(answer, chosen[1]) is None


def test_an_unreachable_database_keeps_the_vote_for_retry(db_url, cells, monkeypatch):
    chosen = list(cells["cell_id"][:2])
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen)
    app.be("Ann", "Team 1")

    real = Store.add_votes
    down = {"on": True}

    def flaky(self, *args, **kwargs):
        if down["on"]:
            raise StoreUnavailable("the review database is unreachable (test): retry")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "add_votes", flaky)
    first, second = event(cells=[chosen[0]], code="MO"), event(cells=[chosen[1]], code="LY")
    answer = send(app.at, [first, second])
    assert "unreachable" in answer["unsaved"] and answer["acked"] == {}  # both kept, unsent
    answer = send(app.at, [first, second])  # the browser sends them again: still down
    assert answer["unsaved"] and answer["acked"] == {}

    down["on"] = False
    answer = send(app.at, [first, second])
    assert answer["unsaved"] is None and answer["acked"] == {first["id"]: "", second["id"]: ""}
    send(app.at, [first, second])  # an acknowledgement lost: sent once more
    with Store.open(db_url) as store:
        votes = store.votes_frame()
    assert list(votes["uid"]) == [first["id"], second["id"]]  # once each, in order


def test_a_database_that_cannot_be_reached_is_one_clear_message(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WBCREVIEW_DB", "postgresql+psycopg://u@127.0.0.1:1/x")
    app = App().goto(REVIEW).real_store()
    assert app.at.error and "The review database cannot be reached" in app.text()


def test_accepting_agreed_decisions_asks_for_confirmation(db_url, cells):
    chosen = list(cells["cell_id"][:3])
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen)
    for name in ("Ann", "Ben", "Cat"):
        app.be(name)
        app.vote(chosen[0], action="retain")  # two agreed cells; the third stays pending
        app.vote(chosen[1], action="retain")
    app.be("Eve", "", "adjudicator").goto(ADJUDICATION)
    assert "**2** agreed cells in this list have no final decision yet" in app.text()
    app.click("aj_accept")
    counts = app.at.dataframe[0].value
    assert dict(zip(counts["decision"], counts["cells"], strict=True)) == {"Keep label": 2}
    app.click("aj_accept_cancel")
    with Store.open(db_url) as store:
        assert store.current_adjudications().empty
    app.click("aj_accept")
    app.at.text_input(key="aj_accept_note").input("spot-checked")
    app.click("aj_accept_confirm")
    assert "Accepted 2 agreed decisions." in app.text()
    with Store.open(db_url) as store:
        decided = store.current_adjudications()
    assert sorted(decided["cell_id"]) == sorted(chosen[:2])
    assert set(decided["basis"]) == {"consensus"}
    # the note records what agreed the decisions (issue 18: method and threshold)
    assert set(decided["note"]) == {"spot-checked [method=majority threshold=0.6]"}

    app.at.multiselect(key="aj_status").set_value(["adjudicated"])
    app.run()
    first = app.cell_shown()
    assert "Final decision: **Keep label** by Eve" in app.text()
    app.click("aj_undo")  # an undo row; the cell is agreed again, not decided
    assert f"Decision on cell `{first}` undone." in app.text()
    with Store.open(db_url) as store:
        assert list(store.current_adjudications()["cell_id"]) == [
            c for c in chosen[:2] if c != first
        ]
        assert len(store.adjudications_frame()) == 3


def test_the_demo_store_is_seeded_and_marked_on_every_page(demo_root, tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WBCREVIEW_DB", raising=False)
    app = App().goto(REVIEW).be("Eve", "", "adjudicator")
    for page in (REVIEW, CONSENSUS, ADJUDICATION, AUDIT):
        app.goto(page)
        assert "**DEMO DATA**" in app.text(), page
    assert "demo-reviews.sqlite" in app.text()
    app.goto(CONSENSUS)
    metrics = {m.label: m.value for m in app.at.metric}
    assert int(metrics["Cells with votes"].replace(",", "")) > 100
    app.goto(REVIEW)
    assert app.at.selectbox(key="rv_queue").value == 1
    app.real_store()
    assert "DEMO DATA" not in app.text()


def test_user_text_is_shown_as_text_never_as_html(db_url, cells):
    chosen = list(cells["cell_id"][:1])
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    app = App().goto(REVIEW).real_store().be("Root", "", "admin")
    app.create_queue(chosen, name=f"queue {payload}")
    app.be(f"Mallory {payload}"[:80], "Team <b>x</b>")
    app.vote(chosen[0], action="retain", comment=payload)  # the component sets text only
    for page in (REVIEW, CONSENSUS, AUDIT):
        app.goto(page)
        assert "<script>" not in app.html() and "onerror" not in app.html(), page
        for m in app.at.markdown:
            assert "<script>" not in m.value and "<img" not in m.value, page
    log = app.at.dataframe[0].value
    assert payload in set(log["text"])


def test_the_reviewer_comes_from_the_session_and_blank_names_are_nobody(db_url):
    app = App().goto(REVIEW).real_store().be("   ")
    assert "Enter your name to review." in app.text()
    app.be("Ann", "Team 1", "admin")
    assert app.at.session_state["wbc_identity"] == {
        "name": "Ann",
        "team": "Team 1",
        "role": "admin",
    }
    assert Reviewer("Ann", "Team 1", "admin") == Reviewer(
        *app.at.session_state["wbc_identity"].values()
    )


def _cell_page(cell_id: str) -> None:
    """What the Cell page will do: show a cell's review history (run by AppTest)."""
    import streamlit as st

    from wbcreview.ui import audit as audit_ui  # noqa: F811 (AppTest runs this source alone)

    if st.session_state.get("as"):
        st.session_state["wbc_identity"] = dict(st.session_state["as"])
    audit_ui.cell_history(cell_id)


def test_cell_history_for_the_cell_page_follows_blind_review(db_url, cells):
    cell = cells["cell_id"][0]
    with Store.open(db_url) as store:
        store.add_vote(Reviewer("Ann", "Team 1", "annotator"), cell, "retain", comment="<b>x</b>")
        store.adjudicate(Reviewer("Eve", "", "adjudicator"), cell, "retain", note="fine")
    at = AppTest.from_function(_cell_page, args=(cell,), default_timeout=60)
    at.session_state["wbc_demo_store"] = False  # the real store, as chosen on a review page
    at.run()
    assert not at.exception
    assert any("Choose who you are" in c.value for c in at.caption)
    at.session_state["as"] = {"name": "Ben", "team": "", "role": "annotator"}
    at.run()
    assert not at.dataframe and "must vote on cell" in at.info[0].value  # blind: vote first
    at.session_state["as"] = {"name": "Eve", "team": "", "role": "adjudicator"}
    at.run()
    history = at.dataframe[0].value
    assert list(history["who"]) == ["Ann", "Eve"] and list(history["text"]) == ["<b>x</b>", "fine"]


def test_consensus_page_shows_calibration_accuracy_and_the_weighted_rule(db_url, cells):
    from wbcreview.review.store import Reviewer, Store

    admin = Reviewer("Admin", "Lab", "admin")
    good, bad = Reviewer("good", "T1", "annotator"), Reviewer("bad", "T2", "annotator")
    third = Reviewer("third", "T3", "annotator")
    picked = cells.head(6)
    with Store.open(db_url) as store:
        for cell, label in zip(picked["cell_id"], picked["label"], strict=True):
            store.add_calibration(admin, cell, "retain", label=label)
            store.add_vote(good, cell, "retain")
            store.add_vote(bad, cell, "correct", label="PLY" if label != "PLY" else "PC")
            store.add_vote(third, cell, "retain")
    app = App().goto(CONSENSUS).be("Expert", "Lab", "adjudicator").real_store()
    text = app.text()
    assert "Calibration cells: each annotator's accuracy" in text
    frames = [f.value for f in app.at.dataframe]
    overall = next(f for f in frames if "reviewer" in f.columns and "accuracy" in f.columns)
    by_name = dict(zip(overall["reviewer"], overall["accuracy"], strict=True))
    assert by_name["good"] == 1.0 and by_name["bad"] == 0.0


def test_admin_turns_expert_decisions_into_calibration_cells(db_url, cells):
    from wbcreview.review.store import Reviewer, Store

    expert = Reviewer("Expert", "Lab", "adjudicator")
    picked = cells.head(3)
    with Store.open(db_url) as store:
        a, b, c = picked["cell_id"]
        store.adjudicate(expert, a, "retain", note="fine")
        store.adjudicate(expert, b, "correct", label="PLY", note="nucleolus")
        store.adjudicate(expert, c, "remove", reason="multi-cell", note="two cells")
    app = App().goto(REVIEW).be("Admin", "Lab", "admin").real_store()
    app.click("rq_calibrate")
    with Store.open(db_url) as store:
        calib = store.calibration_frame(Reviewer("Admin", "Lab", "admin")).set_index("cell_id")
    assert set(calib.index) == {a, b, c}
    assert calib.loc[a, "label"] == picked["label"].iloc[0] and calib.loc[b, "label"] == "PLY"
    assert calib.loc[c, "action"] == "remove"
    assert "(0 new)" in app.at.button(key="rq_calibrate").label


def test_admin_switches_the_aggregation_method_and_the_votes_stay(db_url, cells):
    teams = [Reviewer(f"a{i}", f"T{i}", "annotator") for i in range(4)]
    picked = cells.head(8)
    with Store.open(db_url) as store:
        for n, (cell, label) in enumerate(zip(picked["cell_id"], picked["label"], strict=True)):
            for i, who in enumerate(teams):
                if i == 3 and n % 2:
                    store.add_vote(who, cell, "correct", label="PLY" if label != "PLY" else "PC")
                else:
                    store.add_vote(who, cell, "retain")
        before = len(store.votes_frame())
    app = App().goto(CONSENSUS).be("Admin", "Lab", "admin").real_store()
    assert "Expected wrong agreed decisions" in [m.label for m in app.at.metric]
    app.at.selectbox(key="cs_method").select("dawid-skene")
    app.run()
    assert app.at.number_input(key="cs_threshold_dawid-skene").value == 0.95
    assert "posterior probability reaches 0.95" in app.text()
    app.click("cs_save_method")
    assert "The project now uses" in app.text()
    with Store.open(db_url) as store:
        assert store.aggregation_choice() == {"method": "dawid-skene", "threshold": "0.95"}
        assert len(store.votes_frame()) == before
    heat = [c for c in app.at.get("plotly_chart")]
    assert len(heat) >= 3  # confusion heat maps beside the calibration figures
    # a consensus row's "Adjudicate this cell" link opens that cell on the Adjudication page
    cell = picked["cell_id"].iloc[1]
    app.goto(ADJUDICATION, cell=cell)
    assert app.cell_shown() == cell
