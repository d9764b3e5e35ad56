"""AppTest: the Duplicates and Image quality pages, from an unscanned copy to a review queue."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import ok, open_as
from wbcreview.review.store import Store

pytest_plugins = ["tests.finder_fixtures"]

DUPLICATES, QUALITY = "pages/13_Duplicates.py", "pages/14_Image_quality.py"
ADMIN = {"name": "Ada", "team": "Core", "role": "admin"}


@pytest.fixture
def env(planted_copy, tmp_path, monkeypatch):
    root, truth = planted_copy
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DATA", str(root))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    return root, truth, url


def page(script: str, identity: dict | None = None) -> AppTest:
    return open_as(script, identity, timeout=240)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info]
    parts += [m.value for m in at.success] + [m.value for m in at.caption]
    return "\n".join(parts)


def test_a_planted_cross_split_duplicate_is_one_click_from_a_review_queue(env):
    root, truth, url = env
    at = page(DUPLICATES, ADMIN)
    assert "have not been scanned yet" in texts(at)
    ok(at.button(key="fd_scan_dup").click().run())
    assert "Group 1" in texts(at) and "crosses **" in texts(at)
    ok(at.button(key="fd_queue_1").click().run())
    assert "created" in texts(at)
    crossing = {frozenset((a, b)) for a, b, _, c in truth.exact + truth.near if c}
    with Store.open(url) as store:
        queues = store.list_queues()
        assert len(queues) == 1 and queues["name"].iloc[0].startswith("Duplicates: group 1")
        cells = frozenset(store.queue_cells(int(queues["id"].iloc[0])))
    assert cells in crossing


def test_the_queue_buttons_need_an_admin(env):
    at = page(DUPLICATES, {"name": "Ann", "team": "", "role": "annotator"})
    ok(at.button(key="fd_scan_dup").click().run())
    assert not [b for b in at.button if b.key and b.key.startswith("fd_queue")]
    assert "needs the admin role" in texts(at)


def test_the_worst_images_become_a_removal_queue(env):
    root, truth, url = env
    at = page(QUALITY, ADMIN)
    ok(at.button(key="fd_scan_q").click().run())
    assert "images flagged, worst first" in texts(at)
    at.number_input(key="fd_q_topk").set_value(3).run()
    ok(at.button(key="fd_q_make").click().run())
    assert "created" in texts(at)
    with Store.open(url) as store:
        queue = store.queue(int(store.list_queues()["id"].iloc[0]))
    assert queue.size == 3
    assert {s["action"] for s in queue.definition["suggested"].values()} == {"remove"}
