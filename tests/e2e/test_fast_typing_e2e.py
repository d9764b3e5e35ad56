"""In a real browser: decisions typed at 80 ms intervals on Review and on Gallery review are
all stored, in order, each on the cell the screen showed when its key was pressed; keys
typed just before a reload are stored after it.

Runs the app on a generated copy (not the demo store: votes go to a fresh SQLite store) with
the scripted reviewer of bench/typist.py. Skipped without Chromium (failed when
WBCREVIEW_REQUIRE_E2E=1). Screenshots: test-artifacts/e2e/fast-*.png.
"""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import go_to, no_exception, screenshot, settle
from tests.e2e.conftest import REPO, build_copy, start_server, stop_server

sys.path.insert(0, str(REPO))

from bench import typist  # noqa: E402

pytestmark = pytest.mark.e2e
DECISIONS = 120  # per screen: more than two gallery pages and 12 single-cell pages


@pytest.fixture(scope="module")
def typing_app(tmp_path_factory):
    from wbcreview.data import catalog
    from wbcreview.demo.build import DEMO_MARKER
    from wbcreview.review import workflow as review
    from wbcreview.review.store import Reviewer, Store

    base = tmp_path_factory.mktemp("e2e-typing")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=300, seed=3)
    (data / DEMO_MARKER).unlink(missing_ok=True)
    url = f"sqlite:///{base / 'reviews.sqlite'}"
    with catalog.open_catalog(data) as cat:
        frame = review.catalog_cells(cat.cursor())
    labels = dict(zip(frame["cell_id"].astype(str), frame["label"].astype(str), strict=True))
    ids = list(labels)[:240]
    with Store.open(url) as store:
        admin = Reviewer("Admin", "", "admin")
        queues = {n: store.create_queue(admin, n, "manual", ids) for n in ("single", "gallery")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_DB", url)
        server = start_server(data, home, base / "streamlit.log")
    yield server, url, labels, queues
    stop_server(server)


def _open(page, server, path: str, name: str) -> None:
    page.goto(f"{server.url}/{path}")
    settle(page)
    box = page.locator(".st-key-id_name input")
    box.fill(name)
    box.press("Enter")
    settle(page)
    page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor")
    # an empty spot of the page, under the top bar (which takes the clicks above 60 px)
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 90})
    no_exception(page, server)


@pytest.mark.parametrize(("path", "queue"), [("Review", "single"), ("Gallery_review", "gallery")])
def test_decisions_typed_at_80_ms_are_all_stored_in_order_on_the_right_cell(
    page, typing_app, path, queue
):
    server, url, labels, queues = typing_app
    name = f"Fast {queue}"
    _open(page, server, f"{path}?queue={queues[queue]}", name)
    typed = typist.type_decisions(page, DECISIONS, labels, interval_ms=80, seed=13)
    page.wait_for_function(typist.SAVED_JS, timeout=120_000)
    screenshot(page, f"fast-{queue}")
    no_exception(page, server)
    stored = typist.stored_in_order(url, name)
    assert typist.problems(typed.expected, stored) == []
    assert len(stored) == DECISIONS
    assert "all saved" in page.locator(".rl-save").inner_text()


def test_keys_typed_just_before_a_reload_are_stored_after_it(page, typing_app):
    server, url, labels, queues = typing_app
    name = "Reloader"
    _open(page, server, f"Review?queue={queues['single']}", name)
    typed = typist.type_decisions(page, 8, labels, interval_ms=40, seed=5)
    page.reload()  # before most acknowledgements came back
    settle(page)
    box = page.locator(".st-key-id_name input")
    if box.input_value() != name:  # the name may already be restored from the browser
        box.fill(name)
        box.press("Enter")
        settle(page)
    page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor")
    page.wait_for_function(typist.SAVED_JS, timeout=60_000)
    assert typist.problems(typed.expected, typist.stored_in_order(url, name)) == []


def test_the_reviewer_and_the_queue_are_kept_across_a_reload_and_a_new_tab(page, typing_app):
    server, _url, _labels, queues = typing_app
    _open(page, server, f"Review?queue={queues['single']}", "Remembered")
    page.reload()
    settle(page)
    expect(page.locator(".st-key-id_name input")).to_have_value("Remembered", timeout=60_000)
    other = page.context.new_page()
    other.goto(f"{server.url}/Gallery_review?queue={queues['gallery']}")
    settle(other)
    expect(other.locator(".st-key-id_name input")).to_have_value("Remembered", timeout=60_000)
    other.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.data.mode === 'gallery'")
    # the link to the other review screen keeps the queue
    link = other.get_by_role("link", name="Single-cell mode", exact=True)
    assert f"queue={queues['gallery']}" in link.get_attribute("href")
    other.close()


def test_a_vote_from_a_browse_tile_and_one_from_the_cell_page_are_stored(page, typing_app):
    import re

    server, url, _labels, queues = typing_app
    name = "Pointer"
    _open(page, server, f"Review?queue={queues['single']}", name)
    go_to(page, server, "Browse")  # the top bar's menu: the session (and reviewer) is kept
    # Browse's first run on this server can be slow while the other worker's tests load the
    # machine (seen once over 30 s): wait for the toggle as long as for the loop itself.
    expect(page.locator(".st-key-bv_vote label").first).to_be_visible(timeout=120_000)
    page.locator(".st-key-bv_vote label").first.click()
    settle(page)
    page.wait_for_function(
        "() => window.__wbcLoop && window.__wbcLoop.data.mode === 'browse'", timeout=120_000
    )
    page.locator(".wbc-grid a.wbc-tile").nth(2).hover()
    page.wait_for_function("() => window.__wbcLoop.cursor !== null")
    cell = page.evaluate("() => window.__wbcLoop.cursor")
    page.keyboard.press("u")
    page.wait_for_function(typist.SAVED_JS, timeout=60_000)
    no_exception(page, server)
    screenshot(page, "browse-tile-vote")
    assert typist.stored_in_order(url, name) == [(cell, "unsure", None, None)]
    outline = page.locator(".wbc-grid a.wbc-tile").nth(2).evaluate("a => a.style.outline")
    assert "rgb(46, 125, 50)" in outline  # green: your vote on it is saved

    page.locator(".wbc-grid a.wbc-tile").nth(2).click()  # open it: the Cell page
    page.wait_for_url(re.compile(r"/Cell"))
    settle(page)
    screenshot(page, "cell-page-opened")
    page.wait_for_function(
        "() => window.__wbcLoop && window.__wbcLoop.data.mode === 'cell'", timeout=120_000
    )
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 90})
    page.keyboard.press("k")
    page.wait_for_function(typist.SAVED_JS, timeout=60_000)
    settle(page)
    no_exception(page, server)
    screenshot(page, "cell-page-vote")
    assert typist.stored_in_order(url, name)[-1] == (cell, "retain", None, None)


def test_shift_enter_keeps_the_rest_of_a_gallery_page_after_the_wrong_tiles(page, typing_app):
    server, url, labels, queues = typing_app
    name = "Sweeper"
    _open(page, server, f"Gallery_review?queue={queues['gallery']}", name)
    typed = typist.type_gallery_pages(page, 2, labels, interval_ms=80, seed=7)
    page.wait_for_function(typist.SAVED_JS, timeout=120_000)
    no_exception(page, server)
    stored = typist.stored_in_order(url, name)
    assert typist.problems(typed.expected, stored) == []
    assert len(stored) == 96 and typed.keys < 40  # two pages of 48 decisions, few keys
