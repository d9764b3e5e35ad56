"""Helpers every browser test uses: wait for Streamlit to settle, fail on an exception box,
open a page, save a screenshot under test-artifacts/e2e/."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def screenshot(page, name: str) -> None:
    """Save a PNG of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
