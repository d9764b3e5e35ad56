"""Adjudication never decides for the expert: no default in a tie, Fit zoom by default."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from wbcreview.data import catalog
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
ADJUDICATION = "pages/7_Adjudication.py"


def test_the_default_is_the_leading_decision_only_with_a_strict_majority():
    tie = {"action": "correct", "leading_label": "BL", "share": 1 / 3, "reason": None}
    assert review.adjudication_default(tie) is None
    assert review.adjudication_default({**tie, "share": 0.5}) is None  # 2 against 2
    assert review.adjudication_default({**tie, "share": float("nan")}) is None
    assert review.adjudication_default({**tie, "share": 2 / 3}) == ("correct", "BL", None)
    removal = {"action": "remove", "reason": "smudge", "share": 1.0, "leading_label": None}
    assert review.adjudication_default(removal) == ("remove", None, "smudge")
    assert review.missing_choice(None, None, None).startswith("choose a decision")
    assert "class" in review.missing_choice("correct", None, None)
    assert "reason" in review.missing_choice("remove", None, None)
    assert review.missing_choice("retain", None, None) is None


def _app(demo_root, tmp_path, monkeypatch) -> tuple[AppTest, str]:
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(ADJUDICATION)
    at.run()
    at.toggle(key="id_demo_store").set_value(False).run()
    at.text_input(key="id_name").input("Eve")
    at.selectbox(key="id_role").select("adjudicator")
    at.run()
    return at, url


def test_a_tie_has_no_default_and_ctrl_enter_asks_for_a_choice(demo_root, tmp_path, monkeypatch):
    with catalog.open_catalog(demo_root) as cat:
        cells = review.catalog_cells(cat.cursor())
    row = cells[~cells["label"].isin(["BNE", "BL"])].iloc[0]
    cell = str(row["cell_id"])
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with Store.open(url) as store:  # one vote each: BNE, BL and keep
        for name, action, label in (("Ann", "correct", "BNE"), ("Ben", "correct", "BL"),
                                    ("Cat", "retain", None)):  # fmt: skip
            store.add_vote(Reviewer(name, name, "annotator"), cell, action, label=label)
    at, url = _app(demo_root, tmp_path, monkeypatch)
    assert not at.exception
    assert at.markdown and any(cell in m.value for m in at.markdown)
    assert at.segmented_control(key=f"aj_action_{cell}").value is None
    assert any("nothing is pre-selected" in c.value for c in at.caption)
    assert at.session_state["aj_zoom"] in (0, 0.0)  # Fit
    at.button(key="aj_decide").click().run()  # what Ctrl+Enter presses
    assert any("choose a decision" in w.value for w in at.warning)
    with Store.open(url) as store:
        assert store.current_adjudications().empty
    at.segmented_control(key=f"aj_action_{cell}").set_value("correct").run()
    assert at.selectbox(key=f"aj_label_{cell}").value is None  # no class chosen for her
    at.button(key="aj_decide").click().run()
    assert any("class to correct to" in w.value for w in at.warning)
    at.selectbox(key=f"aj_label_{cell}").select("BL").run()
    at.button(key="aj_decide").click().run()
    with Store.open(url) as store:
        decided = store.current_adjudications()
    assert list(decided["label"]) == ["BL"]
