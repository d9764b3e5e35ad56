"""Files in and out (issues 14 and 16): vote files mean what their rows say, importers refuse
with one line naming file and line, exports read back with pandas' defaults, outputs never
clobber, and names cannot hide who they are."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from wbcreview import csvfile, files
from wbcreview.cli import build_parser, main
from wbcreview.curation import apply as curate
from wbcreview.curation import export as decisions
from wbcreview.curation import imports
from wbcreview.data import catalog, labels
from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.review.store import InvalidVote, Reviewer, Store
from wbcreview.triage import benchmark as triage_bench

HEADER = "image_id,annotator,action,label,reason,comment,time"
EXPERT = Reviewer("Dr Expert", "Experts", "adjudicator")


@pytest.fixture
def cells(demo_root) -> list[str]:
    with open_catalog(demo_root) as cat:
        return [
            r[0]
            for r in cat.cursor()
            .execute(
                "SELECT image_id FROM cells WHERE config = 'pristine' AND split = 'phase2_train' "
                "ORDER BY image_id LIMIT 4"
            )
            .fetchall()
        ]


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'reviews.sqlite'}"


def vote_file(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def import_votes(root, url, path, team="Team 1"):
    with open_catalog(root) as cat, Store.open(url) as store:
        return imports.import_vote_file(path, team, store, cat.cursor())


def stored_votes(url) -> pd.DataFrame:
    with Store.open(url) as store:
        return store.votes_frame()


# --- issue 16: what a vote file means ---------------------------------------------------------


def test_the_time_in_the_file_decides_the_current_vote_not_the_row_order(
    demo_root, url, tmp_path, cells
):
    f = vote_file(tmp_path / "t.csv", [
        f"{cells[0]},zed,correct,LY,,,2026-03-05T10:00:00Z",
        f"{cells[0]},zed,remove,,smudge,,2026-03-01T10:00:00Z",
    ])  # fmt: skip
    import_votes(demo_root, url, f)
    with Store.open(url) as store:
        current = store.current_votes()
    assert current.set_index("cell_id").loc[cells[0], "action"] == "correct"


def test_an_older_vote_imported_later_does_not_become_current(demo_root, url, tmp_path, cells):
    import_votes(demo_root, url, vote_file(tmp_path / "new.csv", [
        f"{cells[1]},zed,retain,,,,2026-03-05T10:00:00Z",
    ]))  # fmt: skip
    import_votes(demo_root, url, vote_file(tmp_path / "old.csv", [
        f"{cells[1]},zed,correct,BNE,,,2026-02-01T10:00:00Z",
    ]))  # fmt: skip
    with Store.open(url) as store:
        current = store.current_votes()
    assert current.set_index("cell_id").loc[cells[1], "action"] == "retain"


def test_the_same_file_under_another_team_is_refused_and_not_stored_again(
    demo_root, url, tmp_path, cells
):
    f = vote_file(tmp_path / "team.csv", [
        f"{cells[0]},zed,retain,,,,2026-03-01T10:00:00Z",
        f"{cells[1]},amy,remove,,smudge,,2026-03-01T10:00:00Z",
    ])  # fmt: skip
    assert import_votes(demo_root, url, f, "Team 1").new == 2
    with pytest.raises(decisions.DecisionsError) as err:
        import_votes(demo_root, url, f, "Team 2")
    assert "'amy' already has votes as team 'Team 1', not 'Team 2'" in str(err.value)
    assert "'zed' already has votes as team 'Team 1'" in str(err.value)
    assert len(stored_votes(url)) == 2


def test_a_changed_row_is_refused_with_its_line_and_both_versions(demo_root, url, tmp_path, cells):
    rows = [
        f"{cells[0]},zed,retain,,,,2026-03-01T10:00:00Z",
        f"{cells[1]},zed,remove,,smudge,,2026-03-01T10:00:00Z",
    ]
    import_votes(demo_root, url, vote_file(tmp_path / "v.csv", rows))
    rows[1] = rows[1].replace("smudge", "artefact")
    with pytest.raises(decisions.DecisionsError) as err:
        import_votes(demo_root, url, vote_file(tmp_path / "v.csv", rows))
    message = str(err.value)
    assert "\n" not in message and "v.csv: 1 problem, nothing imported: line 3:" in message
    assert "stored as remove smudge; this file says remove artefact" in message
    assert len(stored_votes(url)) == 2
    rows[1] = f"{cells[1]},zed,remove,,artefact,,2026-03-02T10:00:00Z"  # a later change of mind
    report = import_votes(demo_root, url, vote_file(tmp_path / "v.csv", rows))
    assert (report.new, report.stored) == (1, 1)
    assert "1 new vote(s) for team Team 1, 1 row(s) already stored (of 2)" in str(report)


def test_export_csv_has_no_summary_line_and_reads_with_pandas_defaults(cells):
    frame = decisions.typed(
        pd.DataFrame({"image_id": cells[:3], "action": ["correct", "remove", "retain"]})
    )
    raw = decisions.export_bytes(frame, "csv")
    assert raw.startswith(b"image_id,")
    assert pd.read_csv(io.BytesIO(raw)).shape == (3, len(decisions.EXPORT_COLUMNS))


def test_parquet_schema_is_the_same_whatever_the_content(demo_root, url, cells):
    empty = decisions.typed(pd.DataFrame(columns=list(decisions.EXPORT_COLUMNS)))
    with Store.open(url) as store:
        store.adjudicate(EXPERT, cells[0], "correct", label="BNE", note="banded")
    with open_catalog(demo_root) as cat, Store.open(url) as store:
        full = decisions.final_decisions(cat.cursor(), store, viewer=None)
    schemas = [
        pq.read_schema(io.BytesIO(decisions.export_bytes(f, "parquet"))) for f in (empty, full)
    ]
    assert schemas[0].remove_metadata() == schemas[1].remove_metadata()
    assert schemas[0].remove_metadata() == decisions.parquet_schema()
    assert str(schemas[0].field("decided_at").type) == "timestamp[us, tz=UTC]"
    assert str(schemas[0].field("votes").type) == "int64"
    assert (
        pq.read_metadata(io.BytesIO(decisions.export_bytes(full, "parquet"))).metadata[
            b"wbcreview_summary"
        ]
        == b"1 corrected, 0 removed, 0 retained"
    )


def test_json_uses_null_for_missing_values_and_a_list_for_degraded_ids(cells):
    frame = decisions.typed(
        pd.DataFrame(
            {
                "image_id": cells[:2],
                "action": ["remove", "retain"],
                "degraded_image_ids": [["d1", "d2"], None],
            }
        )
    )
    records = json.loads(decisions.export_bytes(frame, "json"))
    assert records[0]["degraded_image_ids"] == ["d1", "d2"]
    assert records[1]["degraded_image_ids"] == []
    assert "" not in [v for r in records for v in r.values()]
    assert records[0]["note"] is None and records[0]["final_label"] is None


def test_challenge_export_has_the_split_column_like_the_original_files(demo_root):
    with open_catalog(demo_root) as cat:
        raw = decisions.challenge_bytes(
            cat.cursor(), decisions.typed(pd.DataFrame()), "phase1_train"
        )
    first, second = raw.split(b"\r\n")[:2]
    assert first == b"ID,labels,split" and second.endswith(b",phase1_train")


def test_changelog_names_the_label_each_retained_cell_kept(demo_root, tmp_path, cells):
    with open_catalog(demo_root) as cat:
        label = (
            cat.cursor()
            .execute("SELECT label FROM cells WHERE image_id = ?", [cells[2]])
            .fetchone()[0]
        )
    frame = pd.DataFrame({"image_id": [cells[2]], "action": ["retain"], "final_label": [label]})
    curate.apply_decisions(demo_root, tmp_path / "out", frame)
    assert f"| {cells[2]} | retained ({label}) |" in (tmp_path / "out" / "CHANGELOG.md").read_text()


def test_a_partial_folder_left_by_a_killed_apply_is_removed_by_the_next_run(demo_root, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "curated"
    stale = tmp_path / f".curated.partial-{dead.pid}-0123abcd"
    (stale / "pristine").mkdir(parents=True)
    alive = tmp_path / f".curated.partial-{os.getppid()}-0123abce"  # a live process's folder
    alive.mkdir()
    frame = pd.DataFrame(columns=["image_id", "action", "final_label"])
    summary = curate.apply_decisions(demo_root, out, frame)
    assert not stale.exists() and alive.exists()
    assert summary.stale_removed == (stale,)


def test_bench_triage_defaults_to_painted_cells_when_the_pbc_sample_is_absent(
    monkeypatch, tmp_path
):
    assert build_parser().parse_args(["bench-triage"]).from_folder is None
    monkeypatch.setattr(triage_bench, "PBC_SAMPLE", tmp_path / "absent")
    assert triage_bench.default_folder() is None
    monkeypatch.setattr(triage_bench, "PBC_SAMPLE", tmp_path)
    assert triage_bench.default_folder() == tmp_path


def test_corrections_columns_say_current_and_original_label_apart(demo_root, url, cells):
    with Store.open(url) as store:
        store.adjudicate(EXPERT, cells[0], "retain")
    with open_catalog(demo_root) as cat, Store.open(url) as store:
        frame = decisions.final_decisions(cat.cursor(), store, viewer=None)
        copy_label, challenge = (
            cat.cursor()
            .execute(
                "SELECT c.label, o.label FROM cells c LEFT JOIN original_labels o USING (image_id) "
                "WHERE c.image_id = ? AND c.config = 'pristine'",
                [cells[0]],
            )
            .fetchone()
        )
    row = frame.set_index("image_id").loc[cells[0]]
    assert row["current_label"] == copy_label
    assert row["original_label"] == challenge
    assert "challenge_label" not in frame.columns


# --- issue 14: importers refuse, with one line naming file and line ---------------------------


def refusal(path, cur, *, kind="votes") -> str:
    error = decisions.DecisionsError if kind == "votes" else labels.LabelFileError
    with pytest.raises(error) as err:
        if kind == "votes":
            imports.read_vote_file(path, cur)
        else:
            labels.read_original_labels(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_field_over_128_kib_is_refused_with_its_line(cur, tmp_path, cells):
    f = tmp_path / "big.csv"
    f.write_text(f"{HEADER}\n{cells[0]},zed,retain,,,{'x' * 140_000},\n")
    g = tmp_path / "big_labels.csv"
    g.write_text("ID,labels,split\r\n" + "y" * 140_000 + ".jpg,LY,phase1_train\r\n")
    assert "line 2: a field" in refusal(f, cur)
    assert "line 2: a field" in refusal(g, None, kind="labels")


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+01:00", "1899-12-31T23:59:59Z", "2101-01-01T00:00:00Z"]
)
def test_times_outside_1900_to_2100_are_refused(cur, tmp_path, cells, time):
    f = vote_file(tmp_path / "old.csv", [f"{cells[0]},zed,retain,,,,{time}"])
    message = refusal(f, cur)
    assert "line 2: time" in message and "outside the years 1900-2100" in message


def test_a_column_named_twice_is_refused(cur, tmp_path, cells):
    f = tmp_path / "dup.csv"
    f.write_text(f"{HEADER},action\n{cells[0]},zed,retain,,,,,remove\n")
    assert "line 1: column 'action' appears twice" in refusal(f, cur)
    g = tmp_path / "dup_labels.csv"
    g.write_bytes(b"ID,labels,labels\r\n1.jpg,LY,SNE\r\n")
    assert "line 1: column 'labels' appears twice" in refusal(g, None, kind="labels")


def test_label_files_refuse_an_unterminated_quote_and_an_unknown_split(tmp_path):
    f = tmp_path / "quote.csv"
    f.write_bytes(b'ID,labels,split\r\n1.jpg,LY,phase1_train\r\n"2.jpg,LY,phase1_train\r\n')
    assert "line 3: a quote opened on this line is never closed" in refusal(f, None, kind="labels")
    g = tmp_path / "split.csv"
    g.write_bytes(b"ID,labels,split\r\n1.jpg,LY,phase9_nope\r\n")
    assert "line 2: unknown split 'phase9_nope'" in refusal(g, None, kind="labels")


def test_line_numbers_are_counted_as_in_the_file(cur, tmp_path, cells):
    f = tmp_path / "lines.csv"
    f.write_text(
        f'{HEADER}\n{cells[0]},zed,retain,,,"a comment\nover\nthree lines",\n\n'
        f"{cells[0]},zed,frobnicate,,,,\n"
    )
    assert "line 6: unknown action 'frobnicate'" in refusal(f, cur)


def test_names_with_bidi_or_control_characters_are_refused(cur, tmp_path, cells):
    for name in [
        "eve\u202eevil",
        "a\u2066b",
        "zero\u200bwidth",
        "bell\x07",
        "c1\x85x",
        "soft\u00adhyphen",
    ]:
        with pytest.raises(InvalidVote, match="control characters"):
            Reviewer(name, "Team", "annotator")
        with pytest.raises(InvalidVote, match="control characters"):
            Reviewer("ok", name, "annotator")
    f = vote_file(tmp_path / "bidi.csv", [f"{cells[0]},eve\u202eevil,retain,,,,"])
    assert "line 2: annotator: reviewer name" in refusal(f, cur)


# --- issue 14: the challenge export ----------------------------------------------------------


def tiny_copy(label: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE cells AS SELECT * FROM (VALUES ('00000001', ?, 'pristine', 'phase1_train')) "
        "t(image_id, label, config, split)",
        [label],
    )
    return con


def test_challenge_export_refuses_labels_outside_the_13_classes():
    empty = decisions.typed(pd.DataFrame())
    with pytest.raises(decisions.DecisionsError, match="outside the 13 classes"):
        decisions.challenge_bytes(tiny_copy('=HYPERLINK("http://x")'), empty, "phase1_train")
    assert decisions.challenge_bytes(tiny_copy("LY"), empty, "phase1_train").endswith(
        b"00000001.jpg,LY,phase1_train\r\n"
    )


def test_challenge_export_refuses_a_copy_that_fails_check():
    class Failing:
        ok, problems = False, ["pristine/x.parquet: truncated"]

    with pytest.raises(decisions.DecisionsError, match="fails `check`"):
        decisions.challenge_bytes(
            tiny_copy("LY"), decisions.typed(pd.DataFrame()), "phase1_train", report=Failing()
        )


# --- issue 14: outputs never clobber ---------------------------------------------------------


def export_args(root, url, out, *extra):
    return ["export", "--data", str(root), "--db", url, "--out", str(out), *extra]


def test_export_refuses_to_overwrite_the_decision_store_even_with_force(
    demo_root, url, tmp_path, cells, capsys
):
    with Store.open(url) as store:
        store.add_vote(Reviewer("ann", "T", "annotator"), cells[0], "retain")
    store_file = tmp_path / "reviews.sqlite"
    assert main(export_args(demo_root, url, store_file, "--force")) == 1
    assert "wbcreview needs" in capsys.readouterr().err
    assert len(stored_votes(url)) == 1


def test_export_refuses_an_existing_file_unless_forced(demo_root, url, tmp_path, capsys):
    out = tmp_path / "mine.csv"
    out.write_text("keep me")
    assert main(export_args(demo_root, url, out)) == 1
    assert "exists; choose a new name or pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(export_args(demo_root, url, out, "--force")) == 0
    assert out.read_text().startswith("image_id,")


def test_export_never_writes_into_the_data_copy_or_the_catalog(demo_root, url, capsys):
    from wbcreview import config

    readme = demo_root / "README.md"
    before = readme.read_bytes()
    assert main(export_args(demo_root, url, readme, "--force")) == 1
    assert readme.read_bytes() == before
    with open_catalog(demo_root) as cat:
        target = catalog.catalog_path(demo_root, cat.fingerprint)
    before = target.read_bytes()
    assert main(export_args(demo_root, url, target, "--force")) == 1
    assert "inside" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert target.parent == config.data_dir() / "catalog"


def test_check_output_file_refuses_folders_and_protected_files(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(files.UnsafePath, match="is a folder"):
        files.check_output_file(tmp_path / "d", force=True)
    db = tmp_path / "r.sqlite"
    for name in ("r.sqlite", "r.sqlite-wal"):
        with pytest.raises(files.UnsafePath):
            files.check_output_file(
                tmp_path / name, force=True, protected=files.sqlite_files(f"sqlite:///{db}")
            )


# --- every export reads back with pandas' defaults -------------------------------------------

# Text pandas reads back as the same text from CSV and JSON: not a number, boolean or NA
# marker (pandas guesses those), no spaces around it, and not starting like a spreadsheet
# formula (the CSV neutralises those with a leading ').
NA_WORDS = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
            "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}  # fmt: skip


def _plain(text: str) -> bool:
    if text != text.strip() or text in NA_WORDS or text.lower() in {"true", "false"}:
        return False
    if text.startswith(decisions.FORMULA_START + ("'",)):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


TEXT = hs.text(
    alphabet=hs.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20
).filter(_plain)
IDS = hs.from_regex(r"[0-9]{8}", fullmatch=True)


@hs.composite
def decision_frames(draw) -> pd.DataFrame:
    n = draw(hs.integers(0, 6))
    ids = draw(hs.lists(IDS, min_size=n, max_size=n, unique=True))
    rows = []
    for image_id in ids:
        action = draw(hs.sampled_from(["correct", "remove", "retain"]))
        rows.append(
            {
                "image_id": image_id,
                "config": "pristine",
                "split": draw(hs.sampled_from(["phase1_train", "phase2_test"])),
                "patient_hash": draw(hs.from_regex(r"p[0-9a-f]{7}", fullmatch=True)),
                "current_label": draw(hs.sampled_from(CLASS_CODES)),
                "original_label": draw(hs.none() | hs.sampled_from(CLASS_CODES)),
                "final_label": None if action == "remove" else draw(hs.sampled_from(CLASS_CODES)),
                "action": action,
                "reason": "smudge" if action == "remove" else None,
                "votes": draw(hs.integers(0, 30)),
                "tally": draw(hs.none() | TEXT),
                "agreement": draw(hs.floats(0, 1, allow_nan=False)),
                "status": draw(hs.sampled_from(["agreed", "adjudicated"])),
                "adjudicator": draw(hs.none() | TEXT),
                "note": draw(hs.none() | TEXT),
                "decided_at": draw(
                    hs.none()
                    | hs.datetimes(
                        min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)
                    ).map(lambda d: d.replace(tzinfo=UTC))
                ),
                "degraded_image_ids": draw(hs.lists(IDS, max_size=3, unique=True)),
            }
        )
    return decisions.typed(pd.DataFrame(rows, columns=list(decisions.EXPORT_COLUMNS)))


def canonical(frame: pd.DataFrame) -> list[list]:
    """Every cell as the text a reader means, so frames from the three formats compare.

    pandas reads all-digit ids from CSV and JSON as integers (00173214 -> 173214: docs/FORMATS.md
    says to pass dtype={"image_id": str}); ids are compared zero-padded to their 8 digits.
    """
    out = []
    for rec in frame.to_dict("records"):
        row = []
        for col in decisions.EXPORT_COLUMNS:
            v = rec[col]
            kind = decisions.COLUMN_TYPES[col]
            if col == "image_id" and not isinstance(v, str):
                v = f"{int(v):08d}"
            if kind == "list":
                v = _id_list(v)
            elif v is None or (not isinstance(v, str) and pd.isna(v)):
                v = None
            elif kind == "timestamp":
                v = pd.Timestamp(v).tz_convert("UTC").isoformat()
            elif kind == "int64":
                v = int(v)
            elif kind == "float64":
                v = round(float(v), 12)  # pandas' default JSON parser is off by an ulp or so
            else:
                v = str(v)
            row.append(v)
        out.append(row)
    return out


def _id_list(value) -> list[str]:
    """A degraded-id list as CSV (`a;b`, or a number when one all-digit id) or JSON gives it."""
    if isinstance(value, str):
        items = value.split(";")
    elif isinstance(value, list | tuple) or hasattr(value, "tolist"):
        items = list(value)
    elif value is None or pd.isna(value):
        items = []
    else:
        items = [value]
    return [x if isinstance(x, str) else f"{int(x):08d}" for x in items]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=decision_frames())
def test_every_export_reads_back_with_pandas_defaults_into_the_same_frame(frame):
    want = canonical(frame)
    got = {
        "csv": pd.read_csv(io.BytesIO(decisions.export_bytes(frame, "csv"))),
        "parquet": pd.read_parquet(io.BytesIO(decisions.export_bytes(frame, "parquet"))),
        "json": pd.read_json(io.BytesIO(decisions.export_bytes(frame, "json"))),
    }
    for fmt, back in got.items():
        if len(frame) == 0:
            assert list(back.columns) == list(decisions.EXPORT_COLUMNS) or back.empty, fmt
            continue
        assert list(back.columns) == list(decisions.EXPORT_COLUMNS), fmt
        assert canonical(back) == want, fmt
    pd.testing.assert_frame_equal(
        decisions.typed(got["parquet"]), frame, check_dtype=True, check_index_type=False
    )


def test_formula_text_is_neutralised_in_csv_and_restored_by_read_decisions(tmp_path):
    frame = decisions.typed(
        pd.DataFrame({"image_id": ["00000001"], "action": ["retain"], "note": ["=1+1"]})
    )
    path = tmp_path / "d.csv"
    path.write_bytes(decisions.export_bytes(frame, "csv"))
    assert pd.read_csv(path)["note"].iloc[0] == "'=1+1"
    assert decisions.read_decisions(path)["note"].iloc[0] == "=1+1"


# --- the fuzz suite: every importer, through the CLI and the Corrections page -----------------

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
HOSTILE = [
    b"", b"\xff\xfe", b"image_id\n", b'"', b"a\x00b\n",
    (HEADER + ",action\n").encode(),
    (HEADER + "\n00000001,zed,retain,,,,0001-01-01T00:00:00+01:00\n").encode(),
    (HEADER + "\n00000001,zed,retain,,," + "x" * 140_000 + ",\n").encode(),
    (HEADER + '\n00000001,zed,retain,,,"open\n').encode(),
    b"ID,labels,labels\r\n1.jpg,LY,LY\r\n", b"ID,labels,split\r\n1.jpg,LY,phase9_nope\r\n",
    b'ID,labels,split\r\n"1.jpg,LY,phase1_train\r\n',
]  # fmt: skip
CELLS = hs.one_of(
    hs.text(max_size=10),
    hs.sampled_from(["00000001", "LY", "zed", "retain", "correct", "remove", "smudge",
                     "2026-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31",
                     "\u202e", '"', "=1+1", "phase1_train", "x.jpg"]),
)  # fmt: skip


@hs.composite
def hostile_files(draw) -> bytes:
    if draw(hs.booleans()):
        return draw(hs.sampled_from(HOSTILE))
    header = draw(hs.sampled_from([HEADER, "ID,labels,split", "ID,labels", "a,b"]))
    rows = draw(hs.lists(hs.lists(CELLS, max_size=8).map(",".join), max_size=5))
    text = "\r\n".join([header, *rows])
    return text.encode("utf-8", "surrogatepass") + draw(hs.binary(max_size=6))


@pytest.fixture(scope="module")
def fuzz_copy(tmp_path_factory):
    from wbcreview.demo.build import build_demo

    root = tmp_path_factory.mktemp("fuzz16") / "wbcbench"
    build_demo(root, cells=200, seed=5)
    return root


def one_clean_line(err: str, path: Path) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines and lines[-1].startswith(f"error: {path}"), err[-300:]


@given(data=hostile_files())
@FUZZ
def test_import_votes_fuzz_exits_1_with_one_line_and_writes_nothing(
    fuzz_copy, tmp_path_factory, capsys, data
):
    folder = tmp_path_factory.mktemp("fv")
    path, url = folder / "votes.csv", f"sqlite:///{folder / 'r.sqlite'}"
    path.write_bytes(data)
    code = main(["import-votes", str(path), "--team", "T", "--data", str(fuzz_copy), "--db", url])
    err = capsys.readouterr().err
    if code == 0:
        return
    assert code == 1
    one_clean_line(err, path)
    assert len(stored_votes(url)) == 0


@given(data=hostile_files())
@FUZZ
def test_import_labels_fuzz_exits_1_with_one_line_and_writes_nothing(
    fuzz_copy, tmp_path_factory, capsys, data
):
    path = tmp_path_factory.mktemp("fl") / "labels.csv"
    path.write_bytes(data)
    kept = catalog.imported_labels_dir(fuzz_copy)
    before = sorted(kept.glob("*")) if kept.exists() else []
    code = main(["import-labels", str(path), "--data", str(fuzz_copy)])
    err = capsys.readouterr().err
    if code == 0:
        return
    assert code == 1
    one_clean_line(err, path)
    assert (sorted(kept.glob("*")) if kept.exists() else []) == before


def test_csvfile_reports_the_start_line_of_a_multiline_record(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text('a,b\n1,"x\ny"\n2,3,4\n')
    with pytest.raises(csvfile.CsvFileError, match="line 4: 3 field"):
        csvfile.read_table(f, required=("a", "b"))


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "cache" / "frame.parquet"
    files.write_file(out, b"old")
    with pytest.raises(RuntimeError), files.written_atomically(out) as tmp:
        tmp.write_bytes(b"half of the ne")
        raise RuntimeError("disk full")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["frame.parquet"]
    with files.written_atomically(out) as tmp:
        tmp.write_bytes(b"new")
        assert out.read_bytes() == b"old"  # nothing is seen before the block ends
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in out.parent.iterdir()) == ["frame.parquet"]
