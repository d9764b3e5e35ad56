"""Hostile input without a browser: exports neutralise formulas, typed paths stay inside their
folder, every importer fails only with its own clear error, and XSRF protection stays on."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from wbcreview.curation import export as decisions
from wbcreview.curation import imports
from wbcreview.data import catalog, labels
from wbcreview.files import UnsafePath, safe_child
from wbcreview.review.store import Reviewer, Store
from wbcreview.triage import predictions

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "=cmd|' /C calc'!A0",
]


# --- exports ---------------------------------------------------------------------------------


def test_export_through_the_cli_neutralises_formulas_and_keeps_html_as_text(demo_copy, tmp_path):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with catalog.open_catalog(demo_copy) as cat:
        ids = [r[0] for r in cat.cursor().execute(
            "SELECT image_id FROM cells WHERE config = 'pristine' ORDER BY image_id LIMIT 6"
        ).fetchall()]  # fmt: skip
    expert = Reviewer('=HYPERLINK("x")', SCRIPT, "adjudicator")
    with Store.open(url) as store:
        for cell, note in zip(ids, [*FORMULAS, IMG], strict=True):
            store.adjudicate(expert, cell, "retain", note=note)
    out = tmp_path / "decisions.csv"
    done = subprocess.run(
        [sys.executable, "-m", "wbcreview", "export", "--data", str(demo_copy), "--db", url,
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    rows = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines()
                                                  if not line.startswith("#")))))  # fmt: skip
    cells = [value for row in rows for value in row]
    for formula in FORMULAS:
        assert formula not in cells, f"{formula!r} exported as a live formula"
        assert "'" + formula in cells
    assert not any(value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in cells)
    assert IMG in cells  # HTML is data in a CSV, kept as typed
    back = decisions.read_decisions(out)
    assert set(FORMULAS) <= set(back["note"])  # reading back restores the text


# --- typed paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x.csv", "../../etc/passwd", "/etc/passwd", "a/b.csv", "..\\x.csv", "..", ".", "",
     "x\x00.csv", "  ", "C:\\temp\\x.csv"],
)  # fmt: skip
def test_typed_paths_stay_inside_their_folder(tmp_path, name):
    with pytest.raises(UnsafePath):
        safe_child(tmp_path, name)


@given(hs.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_safe_child_never_leaves_the_folder(name):
    folder = Path(tempfile.gettempdir()).resolve() / "wbc-safe-child"
    try:
        path = safe_child(folder, name)
    except UnsafePath:
        return
    assert path.parent == folder


# --- importers under fuzzing -----------------------------------------------------------------

CSV_CELL = hs.one_of(
    hs.text(max_size=12),
    hs.sampled_from(["LY", "SNE", "x.jpg", "00000001", "phase1_train", "retain", "correct",
                     "2026-01-01T00:00:00", "nan", "", '"', "\ufeff", SCRIPT, IMG, "=1+1"]),
)  # fmt: skip
HEADERS = [
    ["ID", "labels"], ["ID", "labels", "split"], ["image_id", "label"],
    ["image_id", "annotator", "action", "label", "reason", "comment", "time"],
    ["image_id", "action", "final_label"],
]  # fmt: skip


@hs.composite
def csv_bytes(draw) -> bytes:
    header = draw(hs.one_of(hs.sampled_from(HEADERS), hs.lists(CSV_CELL, max_size=5)))
    rows = draw(hs.lists(hs.lists(CSV_CELL, max_size=len(header) + 1), max_size=6))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(hs.booleans()):
        return text.encode("utf-8")
    return draw(hs.binary(max_size=80)) + text.encode("utf-8", "surrogatepass")[:200]


FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_catalog(tmp_path_factory):
    from wbcreview.demo.build import build_demo

    root = tmp_path_factory.mktemp("fuzz") / "wbcbench"
    build_demo(root, cells=200, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(root.parent / "home"))
        catalog.ensure_built(root)
        cat = catalog.open_catalog(root)
    yield cat
    cat.close()


@given(data=csv_bytes())
@FUZZ
def test_read_original_labels_raises_only_its_own_error(tmp_path, data):
    path = tmp_path / "labels.csv"
    path.write_bytes(data)
    try:
        frame = labels.read_original_labels(path)
    except labels.LabelFileError as exc:
        assert str(path) in str(exc)
    else:
        assert {"image_id", "label"} <= set(frame.columns)


@given(data=csv_bytes())
@FUZZ
def test_read_vote_file_raises_only_its_own_error(tmp_path, fuzz_catalog, data):
    path = tmp_path / "votes.csv"
    path.write_bytes(data)
    try:
        rows = imports.read_vote_file(path, fuzz_catalog.cursor())
    except decisions.DecisionsError:
        return
    assert isinstance(rows, list)


@given(data=csv_bytes(), suffix=hs.sampled_from([".csv", ".json", ".parquet", ".txt"]))
@FUZZ
def test_read_decisions_raises_only_its_own_error(tmp_path, data, suffix):
    path = tmp_path / f"decisions{suffix}"
    path.write_bytes(data)
    try:
        frame = decisions.read_decisions(path)
    except decisions.DecisionsError:
        return
    assert {"image_id", "action"} <= set(frame.columns)


@given(data=hs.one_of(csv_bytes(), hs.binary(max_size=300),
                      hs.binary(max_size=200).map(lambda b: b"PAR1" + b)))  # fmt: skip
@FUZZ
def test_predictions_validate_raises_only_its_own_error(fuzz_catalog, data):
    try:
        predictions.validate(fuzz_catalog.cursor(), data, "fuzz.csv")
    except predictions.PredictionsError:
        return


# --- XSRF ------------------------------------------------------------------------------------


def test_xsrf_protection_is_on_in_the_served_config():
    done = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "enableXsrfProtection = true" in lines


def test_the_running_server_refuses_an_upload_without_the_xsrf_token(demo_root, tmp_path):
    from tests.e2e.conftest import start_server, stop_server

    server = start_server(demo_root, tmp_path / "home", tmp_path / "streamlit.log")
    try:
        request = urllib.request.Request(
            f"{server.url}/_stcore/upload_file/some-session/some-file",
            data=b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.csv"'
            b"\r\n\r\nID,labels\r\n--b--\r\n",
            method="PUT",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403, refused.value.read()[:300]
    finally:
        stop_server(server)
