"""In a real browser: open every page, filter, page, open a cell, see its pristine source.

Screenshots of every step are saved under test-artifacts/e2e/ (git-ignored).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import no_exception, open_page, screenshot, settle

pytestmark = pytest.mark.e2e

PAGES = [
    ("home", ""),
    ("browse", "Browse"),
    ("cell", "Cell"),
    ("patient", "Patient"),
    ("atlas", "Class_atlas"),
]
GRID_PAINTED = """() => {
  const imgs = [...document.querySelectorAll('.wbc-grid img')];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
FIGURES_PAINTED = """() => {
  const imgs = [...document.querySelectorAll('figure.wbc-fig img')];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""


def params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def match_count(page) -> int:
    text = page.get_by_text(re.compile(r"rows match")).first.inner_text()
    return int(re.search(r"([\d,]+) rows match", text).group(1).replace(",", ""))


def choose(page, key: str, option: str) -> None:
    """Pick the first option starting with `option` in the multiselect with widget key `key`."""
    page.locator(f".st-key-{key} input").first.click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}\b")).first.click()
    page.keyboard.press("Escape")
    # A focused multiselect is taller: leave it, so later clicks do not land on a moving page.
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    settle(page)


def grid_ids(page) -> list[str]:
    """The image ids of the grid's tiles, once all its thumbnails are painted."""
    page.wait_for_function(GRID_PAINTED)
    return page.locator(".wbc-grid a.wbc-tile").evaluate_all(
        "tiles => tiles.map(t => t.dataset.imageId)"
    )


def test_every_page_opens_without_an_exception(page, app_server):
    for name, path in PAGES:
        open_page(page, app_server, path)
        if path in ("Browse", "Class_atlas"):
            page.wait_for_function(GRID_PAINTED)
        screenshot(page, f"demo-{name}")


def test_filter_page_open_a_cell_and_see_its_source(page, app_server):
    open_page(page, app_server, "Browse")
    total = match_count(page)
    assert len(grid_ids(page)) == min(48, total)

    choose(page, "bf_configs", "degraded")
    assert params(page)["configs"] == "degraded"
    degraded = match_count(page)
    assert 0 < degraded < total
    choose(page, "bf_labels", "SNE")
    assert params(page)["labels"] == "SNE"
    sne = match_count(page)
    assert 48 < sne < degraded
    page.wait_for_function(GRID_PAINTED)
    screenshot(page, "demo-browse-filtered")

    first_page = grid_ids(page)
    page.locator(".st-key-bf_next button:visible").first.click()
    settle(page)
    assert params(page)["page"] == "2"
    page.wait_for_function(GRID_PAINTED)
    second_page = grid_ids(page)
    assert second_page and not set(first_page) & set(second_page)

    tile = page.locator(".wbc-grid a.wbc-tile").nth(2)
    image_id = tile.get_attribute("data-image-id")
    tile.click()
    page.wait_for_url(re.compile(r"/Cell\?"))
    settle(page)
    no_exception(page, app_server)
    assert params(page)["cell"] == f"degraded:{image_id}"
    assert params(page)["labels"] == "SNE"
    expect(page.locator("figure.wbc-fig", has_text="Pristine source")).to_be_visible()
    expect(page.locator("figure.wbc-difference")).to_be_visible()
    page.wait_for_function(FIGURES_PAINTED)
    screenshot(page, "demo-cell")

    page.keyboard.press("ArrowRight")
    settle(page)
    stepped = params(page)["cell"]
    assert stepped != f"degraded:{image_id}" and stepped.startswith("degraded:")
    expect(page.locator("figure.wbc-fig", has_text="Pristine source")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    settle(page)
    assert params(page)["cell"] == f"degraded:{image_id}"

    page.get_by_role("link", name="Back to the grid").click()
    page.wait_for_url(re.compile(r"/Browse\?"))
    settle(page)
    assert params(page)["page"] == "2" and params(page)["labels"] == "SNE"
    expect(page.locator(".wbc-grid .wbc-current")).to_have_attribute("data-image-id", image_id)
    no_exception(page, app_server)


def test_a_link_reproduces_the_view_after_a_reload(page, app_server):
    open_page(page, app_server, "Browse?labels=LY,MO&sort=class&size=24&page=2")
    count, ids = match_count(page), grid_ids(page)
    assert len(ids) == 24
    page.reload()
    settle(page)
    assert (match_count(page), grid_ids(page)) == (count, ids)
    # a cell link opened in a fresh page shows the cell with its filter
    tile_href = page.locator(".wbc-grid a.wbc-tile").first.get_attribute("href")
    open_page(page, app_server, tile_href)
    expect(page.get_by_role("heading", name=re.compile(r"^(LY|MO) · "))).to_be_visible()
    assert params(page)["labels"] == "LY,MO"


def test_keyboard_pages_the_grid(page, app_server):
    open_page(page, app_server, "Browse")
    first = grid_ids(page)
    # Focus the document first: a key press right after load can land before the
    # page has focus on a loaded machine. Then wait for the URL, not a fixed delay.
    page.get_by_role("heading", name="Browse").click()
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"[?&]page=2"), timeout=30_000)
    settle(page)
    assert params(page).get("page") == "2" and grid_ids(page) != first
    page.keyboard.press("ArrowLeft")
    settle(page)
    assert grid_ids(page) == first


def test_bad_links_show_a_message_not_an_exception(page, app_server):
    open_page(page, app_server, "Browse?labels=NOPE&sort=sideways&page=abc")
    expect(page.get_by_text("Ignored in the link")).to_be_visible()
    open_page(page, app_server, "Cell?cell=degraded:99999999")
    expect(page.get_by_text(re.compile("No cell"))).to_be_visible()
    open_page(page, app_server, "Patient?patient=nobody")
    expect(page.get_by_text(re.compile("No patient"))).to_be_visible()


def test_patient_and_atlas_link_to_cells(page, app_server):
    open_page(page, app_server, "Patient")
    page.locator(".st-key-pv_patient input").first.click()
    page.get_by_role("option").first.click()
    settle(page)
    assert params(page).get("patient")
    page.wait_for_function(GRID_PAINTED)
    page.wait_for_selector(".stPlotlyChart .main-svg")
    screenshot(page, "demo-patient")
    open_page(page, app_server, "Class_atlas")
    page.wait_for_function(GRID_PAINTED)
    page.locator(".wbc-grid a.wbc-tile").first.click()
    page.wait_for_url(re.compile(r"/Cell\?"))
    settle(page)
    no_exception(page, app_server)
    page.wait_for_function(FIGURES_PAINTED)


def test_real_pbc_images_on_every_page(page, pbc_server):
    for name, path in PAGES:
        open_page(page, pbc_server, path)
        screenshot(page, f"pbc-{name}")
    open_page(page, pbc_server, "Browse?configs=degraded&severities=moderate")
    page.wait_for_function(GRID_PAINTED)
    screenshot(page, "pbc-browse-moderate")
    page.locator(".wbc-grid a.wbc-tile").first.click()
    page.wait_for_url(re.compile(r"/Cell\?"))
    settle(page)
    no_exception(page, pbc_server)
    expect(page.locator("figure.wbc-fig", has_text="Pristine source")).to_be_visible()
    page.wait_for_function(FIGURES_PAINTED)
    screenshot(page, "pbc-cell")


# --- the grid in the browser (issue 13) -------------------------------------------------------

GRID_STATS = "() => Object.assign({}, window.__wbcGridStats, {painted: null})"
# The pages around page `p` are in the browser with all their thumbnails.
AHEAD_OF = """(p) => {
  const g = window.__wbcGrid;
  if (!g || !g.ahead || g.ahead.base !== p) return false;
  return Object.values(g.ahead.pages).every((tiles) => tiles.every((t) => g.images.has(t.k)));
}"""
# Clicks Next and reads the grid in the same task: whatever it shows then came from the
# browser, since no answer of the server can be handled before the task ends.
CLICK_AND_READ = """(sel) => {
  document.querySelector(sel).click();
  return [...document.querySelectorAll('.wbc-grid a.wbc-tile')].map((t) => t.dataset.imageId);
}"""


def fresh_grid(browser, server, url: str) -> list[str]:
    """The tiles a new session shows for `url` (no thumbnail held in the browser)."""
    other = browser.new_page()
    try:
        other.goto(url if url.startswith("http") else f"{server.url}/{url}")
        settle(other)
        return grid_ids(other)
    finally:
        other.close()


def test_next_paints_the_page_sent_ahead_and_no_thumbnail_travels_twice(page, app_server):
    open_page(page, app_server, "Browse")
    first = grid_ids(page)
    page.wait_for_function(AHEAD_OF, arg=1)
    before = page.evaluate(GRID_STATS)
    shown = page.evaluate(CLICK_AND_READ, ".st-key-bf_next button")
    settle(page)
    assert params(page)["page"] == "2"
    second = grid_ids(page)
    assert shown == second and not set(first) & set(second)
    page.wait_for_function(AHEAD_OF, arg=2)
    after = page.evaluate(GRID_STATS)
    assert after["ahead"] == before["ahead"] + 1
    assert after["repaints"] == before["repaints"] + 1  # the rerun that followed did not repaint
    assert after["images"] - before["images"] == 48  # page 3's thumbnails, nothing else

    # the ← key goes back from the browser too: every thumbnail around page 1 is held
    page.get_by_role("heading", name="Browse").click()
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(lambda url: "page=" not in url, timeout=30_000)
    settle(page)
    page.wait_for_function(AHEAD_OF, arg=1)
    back = page.evaluate(GRID_STATS)
    assert grid_ids(page) == first
    assert back["ahead"] == after["ahead"] + 1 and back["images"] == after["images"]
    no_exception(page, app_server)


def test_a_filter_change_right_after_next_shows_the_filters_page(page, app_server, browser):
    open_page(page, app_server, "Browse")
    grid_ids(page)
    page.wait_for_function(AHEAD_OF, arg=1)
    page.evaluate(CLICK_AND_READ, ".st-key-bf_next button")  # no settle: the rerun is running
    choose(page, "bf_labels", "SNE")
    settle(page)
    assert params(page)["labels"] == "SNE" and "page" not in params(page)
    shown = grid_ids(page)
    assert shown == fresh_grid(browser, app_server, page.url)
    # and paging on from the new filter pages through the new filter
    page.wait_for_function(AHEAD_OF, arg=1)
    paged = page.evaluate(CLICK_AND_READ, ".st-key-bf_next button")
    settle(page)
    assert paged == grid_ids(page) == fresh_grid(browser, app_server, page.url)
    no_exception(page, app_server)


def test_a_thumbnail_the_browser_lost_is_sent_again(page, app_server):
    open_page(page, app_server, "Browse")
    grid_ids(page)
    page.wait_for_function(AHEAD_OF, arg=1)
    page.evaluate(
        """() => { const g = window.__wbcGrid; const key = g.ahead.pages['2'][0].k;
                   g.images.delete(key); g.els.delete(key); return key; }"""
    )
    page.locator(".st-key-bf_next button:visible").first.click()  # not paintable ahead now
    settle(page)
    assert params(page)["page"] == "2"
    page.wait_for_function(GRID_PAINTED, timeout=30_000)
    assert len(grid_ids(page)) == 48
    assert page.evaluate(GRID_STATS)["asked"] >= 1
    no_exception(page, app_server)
