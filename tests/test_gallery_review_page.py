"""AppTest: the Gallery review page: selection, class keys, sign-off with its counts, undo.

The page's keys arrive through a JavaScript component that AppTest cannot press; the
buttons below the key bar run the same code path (`apply_event`) as the keys, and the
selection is set the way a click sets it (gallery_review.click).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wbcreview.data import catalog
from wbcreview.review import gallery as gr
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "pages/11_Gallery_review.py"
ADMIN = Reviewer("Root", "Admins", "admin")


@pytest.fixture(autouse=True)
def keep_main_module():
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def cells(demo_root):
    with catalog.open_catalog(demo_root) as cat:
        return review.catalog_cells(cat.cursor())


@pytest.fixture
def db_url(demo_root, tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    return url


def make_queue(url: str, ids: list[str], **options) -> int:
    with Store.open(url) as s:
        definition = review.queue_definition("manual", **options)
        return s.create_queue(ADMIN, "Gallery", "manual", ids, definition=definition)


class App:
    def __init__(self, name: str = "Ann") -> None:
        self.at = AppTest.from_file(APP, default_timeout=120)
        self.run()
        self.at.switch_page(PAGE)
        self.run()
        self.at.toggle(key="id_demo_store").set_value(False)
        self.run()
        self.at.text_input(key="id_name").input(name)
        self.at.text_input(key="id_team").input("Team 1")
        self.at.selectbox(key="id_role").select("annotator")
        self.run()

    def run(self) -> App:
        self.at.run()
        assert not self.at.exception, self.at.exception[0].message if self.at.exception else ""
        return self

    def click(self, key: str) -> App:
        self.at.button(key=key).click()
        return self.run()

    def select(self, queue_id: int, ids: list[str]) -> App:
        self.at.session_state[f"gr_sel:{queue_id}"] = gr.Selection(frozenset(ids), ids[0], ids[0])
        return self.run()

    def text(self) -> str:
        parts = []
        for kind in ("markdown", "caption", "info", "error", "success", "warning"):
            parts += [str(e.value) for e in self.at.get(kind)]
        return "\n".join(parts)

    def html(self) -> str:
        return "\n".join(h.value for h in self.at.get("html"))


def current(url: str, name: str = "Ann") -> dict[str, tuple]:
    with Store.open(url) as s:
        votes = s.current_votes(reviewer=name)
    return {r["cell_id"]: (r["action"], r["label"], r["source"]) for r in votes.to_dict("records")}


def test_galleries_votes_sign_off_and_undo(db_url, cells):
    ids = list(cells["cell_id"][:20])
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    queue = make_queue(db_url, ids)
    app = App()
    page = app.html()
    assert all(f'data-gr-cell="{c}"' in page for c in ids)
    assert "<kbd>S</kbd>SNE" in page and "<kbd>1</kbd>✗ smudge cell" in page
    for code in {label[c] for c in ids}:
        assert f'data-gr-gallery="{code}"' in page

    # two tiles to LY (a batch), one tile removed as a smudge
    two = [c for c in ids if label[c] != "LY"][:2]
    app.select(queue, two).click("gr_class_LY")
    assert "Saved: 2 cells · class LY" in app.text()
    smudge = next(c for c in ids if c not in two)
    app.select(queue, [smudge]).click("gr_remove_smudge")
    votes = current(db_url)
    assert {votes[c][:2] for c in two} == {("correct", "LY")}
    assert votes[smudge][0] == "remove" and len(votes) == 3

    # sign-off: the confirmation shows the counts, then 17 retains are written
    app.click("gr_signoff")
    assert "17 without a vote will be recorded as 'keep label'" in app.text()
    assert "3 already voted (0 kept, 2 corrected, 1 removed, 0 unsure)" in app.text()
    assert len(current(db_url)) == 3  # nothing written before the confirmation
    app.click("gr_confirm_yes")
    votes = current(db_url)
    assert len(votes) == 20
    assert sum(v == ("retain", None, "signoff") for v in votes.values()) == 17
    assert "Queue complete" in app.text()

    # signing off again writes nothing
    app.click("gr_signoff").click("gr_confirm_yes")
    with Store.open(db_url) as s:
        rows = s.votes_frame()
    assert (rows["source"] == "signoff").sum() == 17

    # undo takes back the whole sign-off, then the removal, then the two-tile batch
    app.click("gr_undo")
    assert len(current(db_url)) == 3
    app.click("gr_undo")
    assert set(current(db_url)) == set(two)
    app.click("gr_undo")
    assert current(db_url) == {}
    assert app.at.session_state[f"gr_sel:{queue}"].selected == set(two)


def test_shift_range_and_whole_gallery_buttons(db_url, cells):
    ids = list(cells["cell_id"][:30])
    queue = make_queue(db_url, ids)
    app = App()
    sel = app.at.session_state[f"gr_sel:{queue}"]
    assert sel.cursor is not None and not sel.selected
    app.click("gr_all")
    sel = app.at.session_state[f"gr_sel:{queue}"]
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    assert sel.selected == {c for c in ids if label[c] == label[sel.cursor]}
    app.click("gr_keep")
    votes = current(db_url)
    assert set(votes) == set(sel.selected) and {v[0] for v in votes.values()} == {"retain"}
    app.click("gr_clear")
    assert not app.at.session_state[f"gr_sel:{queue}"].selected


def test_blind_queue_hides_labels_and_blocks_sign_off(db_url, cells):
    ids = list(cells["cell_id"][:6])
    make_queue(db_url, ids, hide_label=True)
    app = App()
    assert 'data-gr-gallery="?"' in app.html()
    app.click("gr_signoff")
    assert "Blind first read: 6 tiles have no vote yet" in app.text()
    assert current(db_url) == {}
    app.click("gr_keep")
    assert "press the key of the class you see" in app.text()
    assert current(db_url) == {}
