"""AppTest: the Corrections page exports the decisions and keeps typed file names in their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wbcreview import config

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def page(demo_root, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["wbc_identity"] = {"name": "Root", "team": "", "role": "admin"}
    at.switch_page("pages/12_Corrections.py").run()
    assert not at.exception
    return at


def test_page_shows_the_summary_and_every_download(page):
    text = " ".join(m.value for m in page.markdown)
    assert "corrected" in text and "removed" in text and "retained" in text
    labels = [b.label for b in page.get("download_button")]
    assert {"Download CSV", "Download PARQUET", "Download JSON"} <= set(labels)


def test_saving_stays_inside_the_exports_folder(page):
    page.text_input(key="cx_name").set_value("../../escape.csv")
    page.get("form_submit_button")[0].click().run()
    assert not page.exception
    assert any("without folders" in e.value for e in page.error)
    assert not (config.data_dir().parent / "escape.csv").exists()
    page.text_input(key="cx_name").set_value("mine.csv")
    page.get("form_submit_button")[0].click().run()
    assert (config.data_dir() / "exports" / "mine.csv").read_bytes().startswith(b"# ")
