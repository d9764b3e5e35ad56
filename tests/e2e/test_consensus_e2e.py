"""In a real browser: ticking a disputed row of the Consensus table opens that cell (images,
votes, links), and its link opens the same cell in the Adjudication form.

Uses the demo copy of tests/e2e/conftest.py (its separate demo store is seeded with simulated
votes, disputed cells among them). Screenshots go to test-artifacts/e2e/consensus-*.png.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pytest

from tests.e2e.browser import go_to, no_exception, open_page, screenshot, settle
from tests.e2e.test_review_e2e import be, cell_shown

pytestmark = pytest.mark.e2e

HEADER_PX = 35  # the table's header row
ROW_PX = 68  # consensus.THUMB_PX + 4


def tick_row(page, server, row: int) -> str:
    """Tick the box of the table's `row` (0: the first) and return the cell it opens."""
    table = page.locator("[class*='st-key-cs_table_'] [data-testid='stDataFrame']")
    table.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + HEADER_PX + ROW_PX * row + ROW_PX / 2)
    settle(page)
    no_exception(page, server)
    heading = page.get_by_text(re.compile(r"^Cell \S+ · (pending|agreed|disputed|adjudicated) · "))
    heading.wait_for()
    return heading.inner_text()


def test_a_disputed_row_opens_its_cell_and_its_adjudication(page, app_server):
    open_page(page, app_server, "Adjudication")
    be(page, "Eve", "Experts", "adjudicator")
    first_in_form = cell_shown(page)  # the cell the form opens by itself in this session

    go_to(page, app_server, "Consensus")
    text = tick_row(page, app_server, 0)
    if text.split()[1] == first_in_form:  # pick a row the form would not show anyway
        text = tick_row(page, app_server, 1)
    cell = text.split()[1]
    assert " · disputed · " in text, text  # disputed rows come first
    assert cell != first_in_form
    assert page.get_by_text(re.compile(r"^Votes$")).count()
    screenshot(page, "consensus-row-opened")
    to_cell = page.get_by_role("link", name=re.compile("Open on the Cell page"))
    assert unquote(to_cell.get_attribute("href")).endswith(f"Cell?cell=pristine:{cell}")

    page.get_by_role("link", name=re.compile("Adjudicate this cell")).click()
    page.wait_for_url(re.compile(r"/Adjudication"))
    settle(page)
    no_exception(page, app_server)
    assert urlsplit(page.url).path == "/Adjudication"
    assert cell_shown(page) == cell
    screenshot(page, "consensus-row-adjudication")
