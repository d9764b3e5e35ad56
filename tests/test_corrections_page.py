"""AppTest: the Corrections page exports the decisions and keeps typed file names in their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from wbcreview import config

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def page(demo_root, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=120)
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
    assert (config.data_dir() / "exports" / "mine.csv").read_bytes().startswith(b"image_id,")


def test_save_refuses_an_existing_file_unless_replace_is_ticked(page):
    target = config.data_dir() / "exports" / "taken.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("keep me")
    page.text_input(key="cx_name").set_value("taken.csv")
    page.get("form_submit_button")[0].click().run()
    assert any("exists" in e.value for e in page.error)
    assert target.read_text() == "keep me"
    page.checkbox(key="cx_force").check()
    page.get("form_submit_button")[0].click().run()
    assert target.read_text().startswith("image_id,")


def test_the_challenge_download_names_its_file_in_full(page):
    labels = [b.label for b in page.get("download_button")]
    assert "Download phase1_train.csv" in labels


HOSTILE_UPLOADS = [
    b"",
    b"\xff\xfe\x00",
    b"image_id,annotator,action,label,reason,comment,time,action\n",
    b"image_id,annotator,action,label,reason,comment,time\n00000001,zed,retain,,,,0001-01-01T00:00:00+01:00\n",
    b"image_id,annotator,action,label,reason,comment,time\n00000001,zed,retain,,,"
    + b"x" * 140_000
    + b",\n",
    b'ID,labels,split\r\n"1.jpg,LY,phase1_train\r\n',
    b"ID,labels,labels\r\n1.jpg,LY,LY\r\n",
    b"ID,labels,split\r\n1.jpg,LY,phase9_nope\r\n",
]


def as_admin(page):
    page.text_input(key="id_name").input("Admin")
    page.selectbox(key="id_role").select("admin")
    page.run()
    return page


def upload_errors(
    page, uploader: str, button: int, data: bytes, team: str | None = None
) -> list[str]:
    widget = page.file_uploader(key=uploader)
    if widget.accept_multiple_files:
        widget.set_value([("hostile.csv", data, "text/csv")])
    else:
        widget.set_value(("hostile.csv", data, "text/csv"))
    if team is not None:
        page.text_input(key="cx_team").input(team)
    page.get("form_submit_button")[button].click().run()
    assert not page.exception, page.exception
    return [e.value for e in page.error]


@given(data=hs.one_of(hs.sampled_from(HOSTILE_UPLOADS), hs.binary(max_size=120)))
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
def test_hostile_uploads_show_one_clear_line_never_a_traceback(page, data):
    if page.selectbox(key="id_role").value != "admin":
        as_admin(page)
    buttons = [b.label for b in page.get("form_submit_button")]
    for uploader, label, team in (
        ("cx_vote_file", "Import votes", "Team F"),
        ("cx_label_files", "Import label files", None),
    ):
        errors = upload_errors(page, uploader, buttons.index(label), data, team)
        assert len(errors) == 1, errors
        message = errors[0]
        assert message.startswith("Nothing imported. hostile.csv"), message
        assert "\n" not in message and "/tmp" not in message and "Traceback" not in message
