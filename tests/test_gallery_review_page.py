"""AppTest: the Gallery review page: what the review loop gets, and the events it sends.

AppTest runs no JavaScript: the selection, the keys and the badges are the component's
(tests/e2e/test_fast_typing_e2e.py presses real keys); here the events it sends are sent
the way it sends them (tests/loop_helpers.py) and the page's answer is checked.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.loop_helpers import (
    cells_of,
    event,
    label_of,
    loop_data,
    reply_bytes,
    send,
    send_large,
    vote_of,
)
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "pages/11_Gallery_review.py"
ADMIN = Reviewer("Root", "Admins", "admin")


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


def test_the_page_of_tiles_votes_sign_off_and_undo_through_the_loop(db_url, cells):
    ids = list(cells["cell_id"][:60])
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    make_queue(db_url, ids)
    app = App()
    data = loop_data(app.at)
    assert data["mode"] == "gallery" and data["pages_total"] == 2
    assert cells_of(data) == ids[:48] and set(data["pages"]) == {"0", "1"}  # next page ahead
    assert set(data["images"]) == set(ids)  # thumbnails of this page and the next, once
    assert all(label_of(data, c) == label[c] for c in ids)
    assert [k[1] for k in data["keys"]["remove"]][0] == "smudge"

    # two tiles to LY (one event, a batch), one tile removed as a smudge
    two = [c for c in ids[:48] if label[c] != "LY"][:2]
    smudge = next(c for c in ids[:48] if c not in two)
    answer = send(app.at, [event(cells=two, code="LY")])
    assert answer["images"] == {}  # nothing the browser has is sent again
    answer = send(app.at, [event(cells=[smudge], action="remove", reason="smudge")])
    # the answer to a vote: ids, the page's votes; no page, image, script or CSS again
    assert answer["reply_pages"] == [] and "code" not in answer and answer["acked"]
    assert reply_bytes(app.at) < 5000
    votes = current(db_url)
    assert {votes[c][:2] for c in two} == {("correct", "LY")}
    assert votes[smudge][0] == "remove" and len(votes) == 3
    assert vote_of(answer, smudge) == ["remove", None, "smudge"]

    # sign-off of the first page: 45 retains, and once only
    signing = event("sign_off", cells=ids[:48])
    send(app.at, [signing])
    send(app.at, [signing])
    votes = current(db_url)
    assert len(votes) == 48 and sum(v == ("retain", None, "signoff") for v in votes.values()) == 45

    # undo takes back the whole sign-off, then the removal, then the two-tile batch
    send(app.at, [event("undo")])
    assert len(current(db_url)) == 3
    send(app.at, [event("undo"), event("undo")])
    assert current(db_url) == {}

    # the browser turns to page 2: the window moves, and only new thumbnails come
    answer = send(app.at, [], page=1)
    assert answer["page"] == 1 and set(answer["pages"]) == {"0", "1"}
    assert answer["images"] == {}  # page 2 was sent ahead already


def test_a_blind_queue_sends_no_label_before_the_vote(db_url, cells):
    ids = list(cells["cell_id"][:6])
    make_queue(db_url, ids, hide_label=True)
    app = App()
    data = loop_data(app.at)
    assert data["hidden"] and all(label_of(data, c) is None for c in ids)
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    answer = send(app.at, [event(cells=[ids[0]], code=label[ids[0]])])
    assert label_of(answer, ids[0]) == label[ids[0]]  # shown once voted: a retain
    assert vote_of(answer, ids[0]) == ["retain", None, None]
    assert all(label_of(answer, c) is None for c in ids[1:])


def test_the_enlarged_tile_gets_the_degraded_and_pristine_images(db_url, cells):
    ids = list(cells["cell_id"][:6])
    make_queue(db_url, ids)
    app = App()
    found = [e for e in app.at.get("bidi_component") if "review_loop" in e.proto.component_name]
    assert found
    answer = send_large(app.at, ids[1])
    assert answer["large"]["cell"] == ids[1]
    captions = [c for _, c in answer["large"]["images"]]
    assert captions[-1].startswith("Pristine") and all(
        uri.startswith("data:image/jpeg;base64,") for uri, _ in answer["large"]["images"]
    )
    assert answer["cell_link"].startswith("Cell?cell=pristine")
    assert send(app.at, [])["large"] is None  # sent once, not with every answer
