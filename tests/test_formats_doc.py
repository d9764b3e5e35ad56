"""docs/FORMATS.md: every example is parsed (or written, byte for byte) by the code it describes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from wbcreview.curation import apply as curate
from wbcreview.curation import export as decisions
from wbcreview.curation import imports
from wbcreview.data.labels import read_original_labels
from wbcreview.review.store import Reviewer, Store
from wbcreview.triage import predictions

DOC = Path(__file__).resolve().parent.parent / "docs" / "FORMATS.md"
BLOCKS = dict(
    (m.group(2), m.group(3))
    for m in re.finditer(r"```(\w+) ([\w-]+)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def copy_with(rows: list[tuple[str, str, str]]) -> duckdb.DuckDBPyConnection:
    """A catalog stand-in: a `cells` table of pristine (image_id, label, split) rows."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE cells (image_id VARCHAR, cell_id VARCHAR, label VARCHAR, config VARCHAR, "
        "split VARCHAR, severity VARCHAR)"
    )
    for image_id, label, split in rows:
        con.execute(
            "INSERT INTO cells VALUES (?, ?, ?, 'pristine', ?, 'pristine')",
            [image_id, image_id, label, split],
        )
    return con


def test_every_example_named_in_the_doc_is_checked():
    assert set(BLOCKS) == {
        "vote-file", "label-file", "prediction-file", "export-csv", "export-json",
        "parquet-schema", "challenge-file", "changelog",
    }  # fmt: skip


def test_vote_file_example_imports_and_its_time_decides(tmp_path):
    path = tmp_path / "team7.csv"
    path.write_text(BLOCKS["vote-file"], encoding="utf-8")
    cur = copy_with([(f"0000000{i}", "SNE", "phase2_train") for i in (1, 2, 3)])
    with Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        report = imports.import_vote_file(path, "Team 7", store, cur)
        assert (report.rows, report.new, report.stored) == (4, 4, 0)
        current = store.current_votes().set_index(["reviewer", "cell_id"])
        assert current.loc[("zed", "00000001"), "label"] == "LY"
        again = imports.import_vote_file(path, "Team 7", store, cur)
        assert (again.new, again.stored) == (0, 4)
        with pytest.raises(decisions.DecisionsError, match="already has votes as team 'Team 7'"):
            imports.import_vote_file(path, "Team 8", store, cur)
        assert Reviewer("zed", "Team 7", "annotator").name == "zed"


def test_label_file_example_reads(tmp_path):
    path = tmp_path / "phase1_train.csv"
    path.write_bytes(crlf(BLOCKS["label-file"]))
    frame = read_original_labels(path)
    assert frame.to_dict("records") == [
        {"image_id": "00000001", "label": "SNE", "split": "phase1_train"},
        {"image_id": "00000002", "label": "LY", "split": "phase1_train"},
    ]


def test_prediction_file_example_validates():
    cur = copy_with([("00000001", "SNE", "phase1_train"), ("00000002", "LY", "phase1_train")])
    frame = predictions.validate(cur, BLOCKS["prediction-file"].encode(), "p.csv")
    assert frame["label"].tolist() == ["SNE", "LY"]


def test_csv_export_example_is_what_export_writes_and_pandas_reads(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(crlf(BLOCKS["export-csv"]))
    read = pd.read_csv(path)
    assert list(read.columns) == list(decisions.EXPORT_COLUMNS) and len(read) == 2
    frame = decisions.read_decisions(path)
    assert frame["note"].tolist() == ["=banded nucleus", "two cells"]
    assert decisions.export_bytes(frame, "csv") == path.read_bytes()


def test_json_export_example_is_what_export_writes():
    records = json.loads(BLOCKS["export-json"])
    frame = decisions.typed(pd.DataFrame(records))
    assert json.loads(decisions.export_bytes(frame, "json")) == records
    assert pd.read_json(io.StringIO(BLOCKS["export-json"])).shape == (2, 19)


def test_parquet_schema_example_is_the_schema():
    listed = [line for line in BLOCKS["parquet-schema"].splitlines() if line]
    assert listed == [f"{f.name}: {f.type}" for f in decisions.parquet_schema()]


def test_challenge_file_example_is_what_the_challenge_export_writes():
    cur = copy_with([(f"0000000{i}", lab, "phase2_train") for i, lab in ((1, "SNE"), (2, "LY"), (3, "SNE"))])  # fmt: skip
    frame = decisions.typed(
        pd.DataFrame(
            {
                "image_id": ["00000001", "00000002"],
                "action": ["correct", "remove"],
                "final_label": ["BNE", None],
            }
        )
    )
    assert decisions.challenge_bytes(cur, frame, "phase2_train") == crlf(BLOCKS["challenge-file"])


def test_changelog_example_is_what_apply_writes():
    frame = pd.DataFrame(
        {
            "image_id": ["00000001", "00000002", "00000003"],
            "action": ["correct", "remove", "retain"],
            "final_label": ["BNE", None, "SNE"],
            "note": ["banded nucleus", "two cells", None],
        }
    )
    affected = pd.DataFrame({"cell_id": ["00000001"] * 2 + ["00000002"] * 2})
    current = {"00000001": "SNE", "00000002": "LY", "00000003": "SNE"}
    assert curate._changelog(frame, current, affected) == BLOCKS["changelog"]
