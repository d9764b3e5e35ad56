"""AppTest: voting on a cell from its own page and from a Browse tile, through the review
loop's events.

AppTest runs no JavaScript: the events the component sends are sent the way it sends them
(tests/loop_helpers.py) and the page's answer and the store are checked. Blind review holds:
an annotator sees the cell's history (others' votes) only after voting on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.loop_helpers import event, loop_data, reply_bytes, send, vote_of
from wbcreview.review.store import Reviewer, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "pages/2_Cell.py"


@pytest.fixture
def db_url(db_url, monkeypatch) -> str:
    """conftest's store and copy, with blind review on."""
    monkeypatch.setenv("WBCREVIEW_BLIND", "1")
    return db_url


def open_cell(cell: str, name: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.query_params["cell"] = f"pristine:{cell}"
    at.run()
    at.toggle(key="id_demo_store").set_value(False)
    at.run()
    if name:
        at.text_input(key="id_name").input(name)
        at.text_input(key="id_team").input("Team 1")
        at.selectbox(key="id_role").select("annotator")
        at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def texts(at: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "error", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def own(url: str, name: str) -> dict[str, tuple]:
    with Store.open(url) as s:
        frame = s.current_votes(reviewer=name)
    return {
        r["cell_id"]: (r["action"], r["label"], r["queue_id"]) for r in frame.to_dict("records")
    }


def test_a_vote_from_the_cell_page_is_stored_once_and_then_shows_the_history(db_url, cells):
    cell, other = (str(c) for c in cells["cell_id"][:2])
    label = str(cells.set_index("cell_id").loc[cell, "label"])
    target = "LY" if label != "LY" else "MO"
    with Store.open(db_url) as s:
        s.add_vote(Reviewer("Bob", "Team 2", "annotator"), cell, "unsure")
        s.add_vote(Reviewer("Ann", "Team 1", "annotator"), other, "retain")
    at = open_cell(cell, "Ann")
    data = loop_data(at)
    assert data["mode"] == "cell" and data["total"] == 1 and data["images"] == {}
    assert vote_of(data, cell) is None
    assert "must vote on cell" in texts(at)  # blind review: no history before the vote
    assert all("Bob" not in str(d.value) for d in at.dataframe)

    vote = event(cells=[cell], code=target)
    answer = send(at, [vote])
    send(at, [vote])  # the acknowledgement was lost: sent again, stored once
    assert answer["acked"] == {vote["id"]: ""} and vote_of(answer, cell) == [
        "correct",
        target,
        None,
    ]
    assert reply_bytes(at) < 5000
    assert own(db_url, "Ann") == {cell: ("correct", target, None), other: ("retain", None, None)}
    # the first vote reran the page: the history (Bob's vote too) is shown now
    assert "must vote on cell" not in texts(at)
    assert any("Bob" in str(d.value) for d in at.dataframe)

    answer = send(at, [event("undo")])  # undoes Ann's vote on this cell, not her other one
    assert vote_of(answer, cell) is None
    assert own(db_url, "Ann") == {other: ("retain", None, None)}


def test_the_cell_page_says_what_is_missing_to_vote(db_url, cells):
    cell = str(cells["cell_id"][0])
    at = open_cell(cell, None)
    assert "Enter your name in the sidebar to vote on this cell" in texts(at)
    assert not [e for e in at.get("bidi_component") if "review_loop" in e.proto.component_name]


BROWSE = "pages/1_Browse.py"


def open_browse(identity: dict | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if identity:
        at.session_state["wbc_identity"] = identity
    at.switch_page(BROWSE)
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def test_a_vote_from_a_browse_tile_goes_through_the_loop_once_asked_for(db_url, cells):
    at = open_browse({"name": "Ann", "team": "Team 1", "role": "annotator"})
    assert not [e for e in at.get("bidi_component") if "review_loop" in e.proto.component_name]
    at.toggle(key="bv_vote").set_value(True)
    at.run()
    at.toggle(key="id_demo_store").set_value(False)
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    data = loop_data(at)
    assert data["mode"] == "browse" and data["images"] == {}
    on_page = [c for c, _ in data["pages"]["0"]["cells"]]
    assert len(on_page) > 1 and set(data["tiles"].values()) == set(on_page)
    first, second = on_page[:2]
    a, b = event(cells=[first], code="LY"), event(cells=[second], action="unsure")
    answer = send(at, [a, b])
    assert answer["acked"] == {a["id"]: "", b["id"]: ""}
    assert vote_of(answer, first)[0] in ("correct", "retain") and vote_of(answer, second)[0] == (
        "unsure"
    )
    assert own(db_url, "Ann") == {
        first: (vote_of(answer, first)[0], vote_of(answer, first)[1], None),
        second: ("unsure", None, None),
    }
    send(at, [event("undo", cells=[first])])  # Z on the tile pointed at: that tile's vote
    assert own(db_url, "Ann") == {second: ("unsure", None, None)}


def test_browse_offers_no_tile_vote_to_nobody(db_url):
    at = open_browse(None)
    assert not [t for t in at.toggle if t.key == "bv_vote"]
