"""AppTest: the Corrections page exports the decisions and keeps typed file names in their folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from wbcreview import config

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "12_Corrections.py")


@pytest.fixture
def corrections(demo_root, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    # The page script itself: AppTest does not carry a form's submit across st.navigation's
    # switch_page (Streamlit 1.67), so the app's entry point would lose every Save click.
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["wbc_identity"] = {"name": "Root", "team": "", "role": "admin"}
    at.run()
    assert not at.exception
    return at


def test_page_shows_the_summary_and_every_download(corrections):
    text = " ".join(m.value for m in corrections.markdown)
    assert "corrected" in text and "removed" in text and "retained" in text
    labels = [b.label for b in corrections.get("download_button")]
    assert {"Download CSV", "Download PARQUET", "Download JSON"} <= set(labels)


def test_saving_stays_inside_the_exports_folder(corrections):
    corrections.text_input(key="cx_name").set_value("../../escape.csv")
    corrections.get("form_submit_button")[0].click().run()
    assert not corrections.exception
    assert any("without folders" in e.value for e in corrections.error)
    assert not (config.data_dir().parent / "escape.csv").exists()
    corrections.text_input(key="cx_name").set_value("mine.csv")
    corrections.get("form_submit_button")[0].click().run()
    assert (config.data_dir() / "exports" / "mine.csv").read_bytes().startswith(b"image_id,")


def test_save_refuses_an_existing_file_unless_replace_is_ticked(corrections):
    target = config.data_dir() / "exports" / "taken.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("keep me")
    corrections.text_input(key="cx_name").set_value("taken.csv")
    corrections.get("form_submit_button")[0].click().run()
    assert any("exists" in e.value for e in corrections.error)
    assert target.read_text() == "keep me"
    corrections.checkbox(key="cx_force").check()
    corrections.get("form_submit_button")[0].click().run()
    assert target.read_text().startswith("image_id,")


def test_the_challenge_download_names_its_file_in_full(corrections):
    labels = [b.label for b in corrections.get("download_button")]
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


def as_admin(corrections):
    corrections.text_input(key="id_name").input("Admin")
    corrections.selectbox(key="id_role").select("admin")
    corrections.run()
    return corrections


def upload_errors(
    corrections, uploader: str, button: int, data: bytes, team: str | None = None
) -> list[str]:
    widget = corrections.file_uploader(key=uploader)
    if widget.accept_multiple_files:
        widget.set_value([("hostile.csv", data, "text/csv")])
    else:
        widget.set_value(("hostile.csv", data, "text/csv"))
    if team is not None:
        corrections.text_input(key="cx_team").input(team)
    corrections.get("form_submit_button")[button].click().run()
    assert not corrections.exception, corrections.exception
    return [e.value for e in corrections.error]


@given(data=hs.one_of(hs.sampled_from(HOSTILE_UPLOADS), hs.binary(max_size=120)))
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
def test_hostile_uploads_show_one_clear_line_never_a_traceback(corrections, data):
    if corrections.selectbox(key="id_role").value != "admin":
        as_admin(corrections)
    buttons = [b.label for b in corrections.get("form_submit_button")]
    for uploader, label, team in (
        ("cx_vote_file", "Import votes", "Team F"),
        ("cx_label_files", "Import label files", None),
    ):
        errors = upload_errors(corrections, uploader, buttons.index(label), data, team)
        assert len(errors) == 1, errors
        message = errors[0]
        assert message.startswith("Nothing imported. hostile.csv"), message
        assert "\n" not in message and "/tmp" not in message and "Traceback" not in message
