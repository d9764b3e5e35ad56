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
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 8})


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


def test_keys_in_gallery_mode_store_votes_undo_and_sign_off(page, gallery_copy):
    base, data, home, url, ids, labels = gallery_copy
    server = start_server(data, home, base / "streamlit.log")
    try:
        page.goto(f"{server.url}/Gallery_review?queue=1")
        settle(page)
        no_exception(page, server)
        be(page, "Gia")
        assert page.locator("[data-gr-cell]").count() == 24
        assert page.locator(".gr-keys kbd", has_text="S").count() >= 1

        # click one tile, press the key of another class: one correction stored
        first = next(c for c in ids if labels[c] != "LY")
        page.locator(f'[data-gr-cell="{first}"]').click()
        settle(page)
        assert "gr-sel" in page.locator(f'[data-gr-cell="{first}"]').get_attribute("class")
        page.keyboard.press("l")
        settle(page)
        no_exception(page, server)
        assert current(url, "Gia") == {first: ("correct", "LY", None)}
        assert "→ LY" in page.locator(f'[data-gr-cell="{first}"]').inner_text()

        # the whole gallery of the cursor (G), removed as smudge cells (1), then undone (Z)
        page.keyboard.press("g")
        settle(page)
        chosen = page.locator(".gr-tile.gr-sel")
        picked = {chosen.nth(i).get_attribute("data-gr-cell") for i in range(chosen.count())}
        assert picked
        page.keyboard.press("1")
        settle(page)
        votes = current(url, "Gia")
        assert all(votes[c] == ("remove", None, "smudge") for c in picked)
        screenshot(page, "gallery-voted")
        page.keyboard.press("z")
        settle(page)
        assert current(url, "Gia") == {first: ("correct", "LY", None)}

        # sign off: Enter shows the counts, Enter again writes a retain for the 23 others
        page.keyboard.press("Enter")
        settle(page)
        assert (
            "23 without a vote will be recorded"
            in page.locator(".st-key-gr_confirm_box").inner_text()
        )
        page.keyboard.press("Enter")
        settle(page)
        no_exception(page, server)
        votes = current(url, "Gia")
        assert len(votes) == 24
        assert sum(v == ("retain", None, None) for v in votes.values()) == 23
        screenshot(page, "gallery-signed-off")
    finally:
        stop_server(server)
