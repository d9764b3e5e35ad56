"""In a real browser: three annotators vote with the keyboard, consensus shows the cell agreed,
an expert adjudicates, the audit lists it all, and everything survives a page reload and a
server restart.

Uses the server helpers of tests/e2e/conftest.py (system Chromium; skipped loudly without
it, failed when WBCREVIEW_REQUIRE_E2E=1). Screenshots go to test-artifacts/e2e/review-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.browser import go_to, no_exception, open_page, screenshot, settle
from tests.e2e.conftest import build_copy, start_server, stop_server
from wbcreview.data import catalog
from wbcreview.demo.build import DEMO_MARKER
from wbcreview.review import workflow as review

pytestmark = pytest.mark.e2e

FIGURES_PAINTED = """() => {
  const S = window.__wbcLoop;
  const imgs = S && S.root ? [...S.root.querySelectorAll('figure.rl-fig img')] : [];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
SAVED = "() => window.__wbcLoop && window.__wbcLoop.events.length === 0"


def fill(page, key: str, text: str) -> None:
    """Type `text` into the sidebar box `key` and submit it; again if a rerun that was on its
    way (the name the tab remembers, put back) landed in the middle and left other text."""
    box = page.locator(f".st-key-{key} input")
    for _ in range(3):
        box.fill(text)
        box.press("Enter")
        settle(page)
        if box.input_value() == text:
            return
    assert box.input_value() == text


def be(page, name: str, team: str, role: str) -> None:
    """Choose who reviews in the sidebar, then leave the inputs so that keys reach the page."""
    fill(page, "id_name", name)
    fill(page, "id_team", team)
    for attempt in range(3):  # a rerun landing while the list is open closes it: open again
        page.locator(".st-key-id_role").click()
        try:
            page.get_by_role("option", name=role.capitalize(), exact=True).click(timeout=10_000)
            break
        except PlaywrightError:
            if attempt == 2:
                raise
            settle(page)
    settle(page)
    # an empty spot of the page, under the top bar (which takes the clicks above 60 px)
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 90})


def press(page, key: str) -> None:
    page.keyboard.press(key)
    settle(page)


def cell_shown(page) -> str:
    """The cell of the Adjudication page."""
    heading = page.locator("h4", has_text=re.compile(r"^Cell ")).first
    return heading.inner_text().removeprefix("Cell ").strip()


def loop_cell(page) -> str:
    """The cell the review loop shows (Review page), once it shows one."""
    page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor")
    return page.locator(".rl-cellhead b").inner_text().removeprefix("Cell ").strip()


def key(page, name: str) -> None:
    """Press a key on the review loop and wait until the store acknowledged it."""
    page.keyboard.press(name)
    page.wait_for_function(SAVED, timeout=60_000)


def metric(page, label: str) -> str:
    """The value of the metric whose label is exactly `label`."""
    name = page.locator("[data-testid='stMetricLabel']", has_text=re.compile(rf"^{label}$"))
    box = page.locator("[data-testid='stMetric']", has=name).first
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


@pytest.fixture
def review_copy(tmp_path_factory, monkeypatch):
    """A small copy that is not marked as the demo (so votes go to the real store)."""
    base = tmp_path_factory.mktemp("e2e-review")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=120, seed=21)
    (data / DEMO_MARKER).unlink()
    monkeypatch.setenv("WBCREVIEW_HOME", str(home))
    with catalog.open_catalog(data) as cat:
        cells = review.catalog_cells(cat.cursor())
    return base, data, home, cells


def test_three_annotators_an_expert_a_reload_and_a_restart(page, review_copy):
    base, data, home, cells = review_copy
    chosen = list(cells["cell_id"][:3])
    label = dict(zip(cells["cell_id"], cells["label"], strict=True))
    target = next(c for c in ("LY", "MO", "BL") if c != label[chosen[0]])
    code = review.CLASS_KEYS[target]
    server = start_server(data, home, base / "streamlit-1.log")
    try:
        open_page(page, server, "Review")
        be(page, "Root", "Admins", "admin")
        page.get_by_text("A list of image ids (CSV)").click()
        settle(page)
        area = page.locator(".st-key-rq_paste textarea")
        area.fill("\n".join(chosen))
        area.press("Control+Enter")
        settle(page)
        fill(page, "rq_name", "E2E cycle")
        page.locator(".st-key-rq_create button").click()
        settle(page)
        expect(page.get_by_text("Queue E2E cycle created with 3 cells.")).to_be_visible()

        for name, team in (("Ann", "Team 1"), ("Ben", "Team 2"), ("Cat", "Team 3")):
            be(page, name, team, "annotator")
            assert loop_cell(page) == chosen[0]
            page.wait_for_function(FIGURES_PAINTED)
            key(page, code)  # correct to the target class, with its key
            no_exception(page, server)
            assert loop_cell(page) == chosen[1]
            expect(page.get_by_text("✓ all saved")).to_be_visible()
        screenshot(page, "review-voted")

        # Cat tries the other keys: keep the second cell, undo it, step back and forth.
        key(page, "k")
        assert loop_cell(page) == chosen[2]
        key(page, "z")
        assert loop_cell(page) == chosen[1]
        expect(page.get_by_text("You have not voted on this cell.")).to_be_visible()
        key(page, "ArrowLeft")
        assert loop_cell(page) == chosen[0]
        expect(page.get_by_text(f"Your vote: Correct → {target}")).to_be_visible()
        key(page, "ArrowRight")
        assert loop_cell(page) == chosen[1]

        go_to(page, server, "Consensus")
        assert metric(page, "Agreed") == "1" and metric(page, "Votes") == "3"
        screenshot(page, "review-consensus")

        be(page, "Eve", "Experts", "adjudicator")
        go_to(page, server, "Adjudication")
        assert cell_shown(page) == chosen[0]
        fill(page, f"aj_note_{chosen[0]}", "agree with the three teams")
        screenshot(page, "review-adjudication")
        page.locator(".st-key-aj_decide button").click()
        settle(page)
        no_exception(page, server)
        expect(
            page.get_by_text(re.compile(rf"Decision saved for cell {chosen[0]}"))
        ).to_be_visible()

        go_to(page, server, "Audit")
        # 3 votes, Cat's keep and its undo, the decision
        expect(page.get_by_text("6 of 6 rows")).to_be_visible()
        screenshot(page, "review-audit")

        # A reload loses the session, not the work: the next cell without a vote comes back.
        page.reload()
        settle(page)
        be(page, "Ann", "Team 1", "annotator")
        go_to(page, server, "Review")
        assert loop_cell(page) == chosen[1]
    finally:
        stop_server(server)

    server = start_server(data, home, base / "streamlit-2.log")
    try:
        open_page(page, server, "Review?queue=1")
        be(page, "Ben", "Team 2", "annotator")
        assert loop_cell(page) == chosen[1]
        key(page, "u")
        assert loop_cell(page) == chosen[2]
        page.wait_for_function(FIGURES_PAINTED)
        screenshot(page, "review-after-restart")
        be(page, "Eve", "Experts", "adjudicator")
        go_to(page, server, "Consensus")
        assert metric(page, "Adjudicated") == "1" and metric(page, "Votes") == "4"
        go_to(page, server, "Audit")
        expect(page.get_by_text("7 of 7 rows")).to_be_visible()
    finally:
        stop_server(server)


def test_the_demo_store_shows_on_every_review_page(page, app_server):
    """The demo copy's separate store: seeded on first use and marked DEMO DATA everywhere."""
    open_page(page, app_server, "Review")
    be(page, "Eve", "Experts", "adjudicator")
    expect(page.get_by_text("DEMO DATA").first).to_be_visible()
    page.wait_for_function(FIGURES_PAINTED)
    screenshot(page, "review-demo-review")
    for name in ("Consensus", "Adjudication", "Audit"):
        go_to(page, app_server, name)
        expect(page.get_by_text("DEMO DATA").first).to_be_visible()
        page.wait_for_timeout(800)  # let the tables and charts paint
        screenshot(page, f"review-demo-{name.lower()}")
