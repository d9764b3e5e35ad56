"""AppTest: every page runs on the demo copy without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(demo_root, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=60)
    return at


def test_home_page_shows_source_health_and_counts(app, demo_root):
    app.run()
    assert not app.exception
    text = " ".join(m.value for m in app.markdown)
    assert str(demo_root) in text
    assert app.success and "Healthy copy" in app.success[0].value
    assert len(app.get("plotly_chart")) == 3


def test_home_page_decodes_images_on_request(app):
    app.run()
    app.button(key="decode_images_button").click().run()
    assert not app.exception
    assert "images decoded" in app.success[0].value


def test_home_page_lists_problems_of_a_broken_copy(demo_copy, monkeypatch):
    (demo_copy / "pristine" / "phase2_eval-00000-of-00001.parquet").write_bytes(b"junk")
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.error and "problem" in at.error[0].value
    assert "not a readable parquet file" in at.code[0].value


def test_missing_data_folder_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(tmp_path / "missing"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "does not exist" in at.error[0].value


PAGES = sorted(
    p.relative_to(Path(APP).parent).as_posix() for p in (Path(APP).parent / "pages").glob("*.py")
)


@pytest.mark.parametrize("page_file", PAGES)
def test_every_page_runs_on_the_demo_without_an_exception(app, page_file):
    app.switch_page(page_file).run()
    assert not app.exception, f"{page_file}: {app.exception}"


def test_browse_sorted_by_suspicion_without_predictions_falls_back(app):
    app.switch_page("pages/1_Browse.py")
    app.query_params["sort"] = "suspicion"
    app.run()
    assert not app.exception
    assert any("No suspect ranking yet" in i.value for i in app.info)
