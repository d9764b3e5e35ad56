"""Issue 19, process start: `streamlit run app.py` serves app.py's `st.App`, whose lifespan
warms the process up at start (imports, the catalog built, Browse's first page) before any
browser asks; the app then serves as before, in local mode and in server mode."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import no_exception, open_page, screenshot
from tests.e2e.conftest import start_server, stop_server
from wbcreview.data import catalog
from wbcreview.demo.build import build_demo
from wbcreview.review import auth

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def uncatalogued(tmp_path_factory):
    """A demo copy whose catalog nobody has built yet."""
    out = tmp_path_factory.mktemp("e2e-startup") / "wbcbench"
    build_demo(out, cells=200, seed=19)
    return out


def _warmed_up(server, timeout: float = 120) -> str:
    """The server's log line that says the warm-up is done (fails with the log if never)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.output(100_000).splitlines():
            if "warm-up done" in line:
                return line
        assert "warm-up stopped" not in server.output(100_000), server.output()
        time.sleep(0.2)
    pytest.fail(f"no warm-up within {timeout:.0f} s:\n{server.output()}")


def test_the_server_builds_the_catalog_at_start_and_serves_browse(
    page, uncatalogued, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("WBCREVIEW_HOME", str(home))
    assert catalog.needs_build(uncatalogued)
    server = start_server(uncatalogued, home, tmp_path / "streamlit.log")
    try:
        _warmed_up(server)  # no browser has connected yet
        assert not catalog.needs_build(uncatalogued)
        open_page(page, server, "Browse")
        images = page.locator(".wbc-grid a.wbc-tile img")
        expect(images).to_have_count(48, timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.wbc-grid a.wbc-tile img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)"
        )
        assert page.locator("[data-testid='stSidebarNav']").count() == 0  # the top bar's menus
        no_exception(page, server)
    finally:
        stop_server(server)


def test_server_mode_warms_up_and_asks_for_sign_in(page, uncatalogued, tmp_path, monkeypatch):
    users = tmp_path / "users.yaml"
    auth.add_user(users, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    monkeypatch.setenv("WBCREVIEW_DB", f"sqlite:///{tmp_path / 'reviews.sqlite'}")
    server = start_server(uncatalogued, tmp_path / "home", tmp_path / "streamlit.log")
    try:
        _warmed_up(server)
        open_page(page, server, "Browse")
        page.get_by_role("textbox", name="Name").fill("Ann")
        page.get_by_role("textbox", name="Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".wbc-grid a.wbc-tile img")).to_have_count(48, timeout=60_000)
        no_exception(page, server)
        screenshot(page, "startup-server-mode-browse")
    finally:
        stop_server(server)
