"""In a real browser, on a server nobody has visited yet: every page answers at its own URL,
and the top bar lists the pages in four section menus, the way the work goes, leaving the
sidebar to each page's own widgets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import go_to, menu, menu_links, no_exception, screenshot, settle
from tests.e2e.conftest import build_copy, start_server, stop_server
from wbcreview.ui.navigation import PAGES

pytestmark = pytest.mark.e2e

SECTIONS = {
    "Explore": ["Home", "Browse", "Cell", "Patient", "Class atlas"],
    "Review": ["Review", "Gallery review"],
    "Decide": ["Consensus", "Adjudication", "Audit"],
    "Results": ["Triage", "Duplicates", "Image quality", "Scores", "Corrections"],
}
# A fresh server imports everything on its first run: minutes on a 2-core machine under load.
SLOW = 240_000
URLS = [(title, url) for _, pages in PAGES for _, title, url in pages]


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """The app on its own server, started for this module and opened by nobody before."""
    base = tmp_path_factory.mktemp("e2e-nav")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=400, seed=5)
    server = start_server(data, home, base / "streamlit.log")
    yield server
    stop_server(server)


def top_bar(page) -> dict[str, list[str]]:
    """Section menus of the top bar and the page titles in each, in order."""
    nav = page.locator("[data-testid='stTopNav']")
    sections = [t.strip() for t in nav.locator("[data-testid='stTopNavSection']").all_inner_texts()]
    found = {}
    for section in sections:
        found[section] = menu_links(page, section)
        page.keyboard.press("Escape")
    return found


BOLD_SECTIONS = """() => [...document.querySelectorAll("[data-testid='stTopNavSection'] p")]
  .filter((e) => getComputedStyle(e).fontWeight === '700').map((e) => e.innerText)"""


def current_section(page) -> list[str]:
    """The section buttons drawn bold (the current page's section), once there is one."""
    page.wait_for_function(f"() => ({BOLD_SECTIONS})().length > 0", timeout=10_000)
    return page.evaluate(BOLD_SECTIONS)


def test_each_page_answers_at_its_own_url_on_a_fresh_server(browser, fresh_server):
    # The very first request of this server is a deep link to a cell.
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    cell = "Cell?cell=pristine:" + _first_pristine_id(fresh_server)
    page.goto(f"{fresh_server.url}/{cell}")
    settle(page, SLOW)
    no_exception(page, fresh_server)
    assert urlsplit(page.url).path == "/Cell"
    assert "Page not found" not in page.inner_text("body")
    assert page.title().startswith("Cell · ")
    page.get_by_text(re.compile(r"^Pristine source · this row")).first.wait_for()
    # The sections hold from this first request on (not the file list of a pages/ folder,
    # which Streamlit shows in the sidebar until app.py's st.navigation has run once).
    assert not page.locator("[data-testid='stSidebarNav']").count()
    assert top_bar(page) == SECTIONS
    page.close()
    # Every page, each in a new session, opened by typing its URL.
    for title, url in URLS:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{fresh_server.url}/{url}")
        settle(page, SLOW)
        no_exception(page, fresh_server)
        assert urlsplit(page.url).path == f"/{url}", title
        assert "Page not found" not in page.inner_text("body"), title
        assert page.title().startswith(f"{title} · "), (title, page.title())
        section = next(name for name, titles in SECTIONS.items() if title in titles)
        assert current_section(page) == [section], title
        menu(page, section).click()
        active = page.locator("[data-testid='stTopNavDropdownLink'][aria-current='page']")
        assert active.inner_text().strip() == title
        page.close()


def test_the_top_bar_lists_every_page_in_four_sections_and_leaves_the_sidebar_to_the_page(
    browser, fresh_server
):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(fresh_server.url)
    settle(page, SLOW)
    no_exception(page, fresh_server)
    assert top_bar(page) == SECTIONS  # no "app", nothing hidden behind "View more"
    assert not page.get_by_text(re.compile(r"View \d+ more")).count()
    # A menu link goes to the page and its URL.
    go_to(page, fresh_server, "Gallery review")
    assert urlsplit(page.url).path == "/Gallery_review"
    go_to(page, fresh_server, "Browse")
    assert urlsplit(page.url).path == "/Browse"
    # At 1366x768 the sidebar starts with the page's own widgets: the last Browse filter is
    # above the fold (under a sidebar of 15 links it was not).
    last = page.get_by_text(re.compile(r"^Label differs from the original"))
    assert last.bounding_box()["y"] + last.bounding_box()["height"] <= 768
    screenshot(page, "navigation-top-bar")
    go_to(page, fresh_server, "Home")
    assert urlsplit(page.url).path == "/"
    assert page.locator("h1", has_text="wbcreview").count() == 1
    page.close()


def _first_pristine_id(server) -> str:
    from wbcreview.data import catalog, query

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(server.data.parent / "home"))
        with catalog.open_catalog(server.data) as cat:
            rows = query.page(cat.cursor(), query.Filter(configs=("pristine",)), "image id", 1, 0)
    return str(rows.image_id.iloc[0])
