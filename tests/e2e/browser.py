"""Helpers every browser test uses: wait for Streamlit to settle, fail on an exception box,
open a page by URL or through the top bar's menus, save a screenshot under test-artifacts/e2e/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wbcreview.ui.navigation import section_of

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script run an action started is over and nothing on the page is stale."""
    page.wait_for_timeout(250)  # let a rerun that was just triggered start
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout
    )


def no_exception(page, server) -> None:
    """Fail with the server's output if the page shows a Python exception."""
    boxes = page.locator("[data-testid='stException']")
    if boxes.count():
        pytest.fail(f"exception on {page.url}:\n{boxes.first.inner_text()}\n{server.output()}")


def open_page(page, server, path: str) -> None:
    """Go to `path` on the server, wait for it, and check nothing raised."""
    page.goto(f"{server.url}/{path}")
    settle(page)
    no_exception(page, server)


def menu(page, section: str):
    """The top bar's menu button of `section`."""
    return page.locator(
        "[data-testid='stTopNavSection']", has_text=re.compile(rf"^{re.escape(section)}$")
    )


def menu_links(page, section: str) -> list[str]:
    """Open the menu of `section` and return the titles of its links, in order (left open)."""
    menu(page, section).click()
    links = page.locator("[data-testid='stTopNavPopover'] [data-testid='stTopNavDropdownLink']")
    links.first.wait_for()
    return [t.strip() for t in links.all_inner_texts()]


def go_to(page, server, title: str) -> None:
    """Go to the page titled `title` through its section's menu in the top bar, as a person
    does (the session is kept), and wait for it."""
    menu(page, section_of(title)).click()
    page.locator(
        "[data-testid='stTopNavPopover'] [data-testid='stTopNavDropdownLink']",
        has_text=re.compile(rf"^{re.escape(title)}$"),
    ).click()
    page.wait_for_function("t => document.title.startsWith(t + ' · ')", arg=title, timeout=120_000)
    settle(page)
    no_exception(page, server)


def screenshot(page, name: str) -> None:
    """Save a PNG of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
