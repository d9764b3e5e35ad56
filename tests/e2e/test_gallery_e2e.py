"""In a real browser: gallery mode with the keyboard: select tiles, press class and remove
keys, undo, sign off with Enter twice; every decision is in the store at once.

Uses the server helpers of tests/e2e/conftest.py (system Chromium; skipped loudly without
it, failed when WBCREVIEW_REQUIRE_E2E=1). Screenshots go to test-artifacts/e2e/gallery-*.png.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import no_exception, screenshot, settle
from tests.e2e.conftest import build_copy, start_server, stop_server
from wbcreview.data import catalog
from wbcreview.demo.build import DEMO_MARKER
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store

pytestmark = pytest.mark.e2e


def be(page, name: str) -> None:
    for key, value in (("id_name", name), ("id_team", "Team 1")):
        box = page.locator(f".st-key-{key} input")
        box.fill(value)
        box.press("Enter")
        settle(page)
    # an empty spot of the page, under the top bar (which takes the clicks above 60 px)
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 90})


def current(url: str, name: str) -> dict[str, tuple]:
    with Store.open(url) as s:
        votes = s.current_votes(reviewer=name)
    return {r["cell_id"]: (r["action"], r["label"], r["reason"]) for r in votes.to_dict("records")}


@pytest.fixture
def gallery_copy(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("e2e-gallery")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=120, seed=23)
    (data / DEMO_MARKER).unlink()
    url = f"sqlite:///{base / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_HOME", str(home))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    with catalog.open_catalog(data) as cat:
        cells = review.catalog_cells(cat.cursor())
    ids = list(cells["cell_id"][:24])
    with Store.open(url) as s:
        s.create_queue(Reviewer("Root", "", "admin"), "Gallery e2e", "manual", ids)
    labels = dict(zip(cells["cell_id"], cells["label"], strict=True))
    return base, data, home, url, ids, labels


SAVED = "() => window.__wbcLoop && window.__wbcLoop.events.length === 0"


def saved(page) -> None:
    """Wait until every decision made in the browser is acknowledged by the store."""
    page.wait_for_function(SAVED, timeout=60_000)


def test_keys_in_gallery_mode_store_votes_undo_and_sign_off(page, gallery_copy):
    base, data, home, url, ids, labels = gallery_copy
    server = start_server(data, home, base / "streamlit.log")
    try:
        page.goto(f"{server.url}/Gallery_review?queue=1")
        settle(page)
        no_exception(page, server)
        be(page, "Gia")
        page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor")
        assert page.locator(".rl-tile[data-cell]").count() == 24
        assert page.locator(".rl-keys kbd", has_text="S").count() >= 1

        # click one tile, press the key of another class: one correction stored
        first = next(c for c in ids if labels[c] != "LY")
        tile = page.locator(f'.rl-tile[data-cell="{first}"]')
        tile.click()
        assert "rl-sel" in tile.get_attribute("class")
        page.keyboard.press("l")
        assert "→ LY" in tile.inner_text()  # painted at once, before the store answers
        saved(page)
        no_exception(page, server)
        assert current(url, "Gia") == {first: ("correct", "LY", None)}
        assert "rl-saved" in tile.locator(".rl-badge").get_attribute("class")

        # the whole gallery of the cursor (G), removed as smudge cells (1), then undone (Z)
        page.keyboard.press("g")
        chosen = page.locator(".rl-tile.rl-sel")
        picked = {chosen.nth(i).get_attribute("data-cell") for i in range(chosen.count())}
        assert picked
        page.keyboard.press("1")
        saved(page)
        votes = current(url, "Gia")
        assert all(votes[c] == ("remove", None, "smudge") for c in picked)
        screenshot(page, "gallery-voted")
        page.keyboard.press("z")
        saved(page)
        assert current(url, "Gia") == {first: ("correct", "LY", None)}

        # enlarge a tile: its degraded and pristine images and a link to the Cell page
        other = page.locator(f'.rl-tile[data-cell="{ids[5]}"]')
        other.hover()
        other.locator(".rl-zoom").click()
        page.wait_for_function(
            "() => window.__wbcLoop.root.querySelectorAll('.rl-card figure img').length >= 2"
        )
        card = page.locator(".rl-card")
        assert "Pristine" in card.inner_text()
        assert card.locator("a.rl-link").get_attribute("href").endswith(ids[5])
        screenshot(page, "gallery-enlarged")
        page.keyboard.press("Escape")
        assert page.locator(".rl-card").count() == 0

        # sign off: Enter shows the counts, Enter again writes a retain for the 23 others
        page.keyboard.press("Enter")
        assert (
            "23 tiles without a vote will be recorded" in page.locator(".rl-confirm").inner_text()
        )
        page.keyboard.press("Enter")
        saved(page)
        no_exception(page, server)
        votes = current(url, "Gia")
        assert len(votes) == 24
        assert sum(v == ("retain", None, None) for v in votes.values()) == 23
        screenshot(page, "gallery-signed-off")
    finally:
        stop_server(server)


TILES_ABOVE = """(height) => {
  const tiles = [...window.__wbcLoop.root.querySelectorAll('.rl-tile')];
  return {
    tiles: tiles.length,
    above: tiles.filter((t) => t.getBoundingClientRect().bottom <= height).length,
    width: Math.min(...tiles.map((t) => t.getBoundingClientRect().width)),
  };
}"""


@pytest.mark.parametrize(("width", "height", "share"), [(1366, 768, 2 / 3), (1920, 1080, 1.0)])
def test_a_page_of_48_tiles_is_mostly_above_the_fold_on_a_laptop_and_all_of_it_on_full_hd(
    browser, tmp_path_factory, monkeypatch, width, height, share
):
    base = tmp_path_factory.mktemp("e2e-fold")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=400, seed=31)
    (data / DEMO_MARKER).unlink()  # a real store: no DEMO DATA banner
    url = f"sqlite:///{base / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_HOME", str(home))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    with catalog.open_catalog(data) as cat:
        cells = list(review.catalog_cells(cat.cursor())["cell_id"][:96])
    with Store.open(url) as s:
        s.create_queue(Reviewer("Root", "", "admin"), "Fold", "manual", cells)
    server = start_server(data, home, base / "streamlit.log")
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(f"{server.url}/Gallery_review?queue=1")
        settle(page)
        no_exception(page, server)
        be(page, "Fay")
        page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor")
        page.wait_for_timeout(500)  # images decoded and laid out
        seen = page.evaluate(TILES_ABOVE, height)
        screenshot(page, f"gallery-fold-{width}")
        assert seen["tiles"] == 48
        assert seen["above"] >= share * 48, seen
        assert seen["width"] >= 72, seen  # still a readable cell, not a dot
    finally:
        page.close()
        stop_server(server)
