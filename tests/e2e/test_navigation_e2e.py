"""In a real browser, on a server nobody has visited yet: every page answers at its own URL,
and the sidebar lists the pages in four sections, the way the work goes."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import no_exception, screenshot, settle
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


def sidebar(page) -> dict[str, list[str]]:
    """Section headers and page titles of the sidebar navigation, in order."""
    nav = page.locator("[data-testid='stSidebarNav']")
    items = nav.locator("header, a").evaluate_all(
        "els => els.map(e => [e.tagName, e.innerText.trim()])"
    )
    sections: dict[str, list[str]] = {}
    current = None
    for tag, text in items:
        if tag == "HEADER":
            current = text
            sections[current] = []
        else:
            sections.setdefault(current, []).append(text)
    return sections


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
    # which Streamlit shows until app.py's st.navigation has run once in the process).
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "Explore" in nav and "View" not in nav and "app" not in nav.split(), nav
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
        active = page.locator("[data-testid='stSidebarNav'] a[aria-current='page']")
        assert active.inner_text().strip() == title
        page.close()


def test_the_sidebar_lists_every_page_in_four_sections(browser, fresh_server):
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(fresh_server.url)
    settle(page, SLOW)
    no_exception(page, fresh_server)
    assert sidebar(page) == SECTIONS  # no "app", nothing hidden behind "View more"
    assert not page.get_by_text(re.compile(r"View \d+ more")).count()
    screenshot(page, "navigation-sidebar")
    # A sidebar link goes to the page and its URL.
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.locator("a", has_text=re.compile("^Gallery review$")).click()
    page.wait_for_url(re.compile(r"/Gallery_review"))
    settle(page, SLOW)
    no_exception(page, fresh_server)
    nav.locator("a", has_text=re.compile("^Home$")).click()
    page.wait_for_url(re.compile(r"/$"))
    settle(page, SLOW)
    assert page.locator("h1", has_text="wbcreview").count() == 1
    page.close()


def _first_pristine_id(server) -> str:
    from wbcreview.data import catalog, query

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(server.data.parent / "home"))
        with catalog.open_catalog(server.data) as cat:
            rows = query.page(cat.cursor(), query.Filter(configs=("pristine",)), "image id", 1, 0)
    return str(rows.image_id.iloc[0])
