"""Correction lists: export, the challenge format, apply from the store, offline votes."""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbcreview.cli import main
from wbcreview.curation import export as decisions
from wbcreview.curation import imports
from wbcreview.data.catalog import open_catalog
from wbcreview.data.labels import read_original_labels
from wbcreview.data.release import CLASS_CODES
from wbcreview.review.store import Reviewer, Store

EXPERT = Reviewer("Dr Expert", "Experts", "adjudicator")
ANNOTATORS = [Reviewer(f"ann{i}", f"Team {i}", "annotator") for i in (1, 2, 3)]


@pytest.fixture
def cycle(demo_copy, tmp_path):
    """A store where three annotators voted and the expert decided three cells."""
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with open_catalog(demo_copy) as cat:
        cells = (
            cat.cursor()
            .execute(
                "SELECT image_id, label FROM cells WHERE config = 'pristine' AND split = 'phase2_train' "
                "AND label <> 'BNE' ORDER BY image_id LIMIT 3"
            )
            .fetchall()
        )
    (a, _), (b, _), (c, c_label) = cells
    with Store.open(url) as store:
        for ann in ANNOTATORS:
            store.add_vote(ann, a, "correct", label="BNE")
            store.add_vote(ann, b, "remove", reason="multi-cell")
            store.add_vote(ann, c, "retain")
        store.adjudicate(EXPERT, a, "correct", label="BNE", note='=HYPERLINK("http://x")')
        store.adjudicate(EXPERT, b, "remove", reason="multi-cell", note="two cells")
        store.adjudicate(EXPERT, c, "retain", note="+fine")
    return {"root": demo_copy, "url": url, "a": a, "b": b, "c": c, "c_label": c_label}


def test_final_decisions_have_every_export_column(cycle):
    with open_catalog(cycle["root"]) as cat, Store.open(cycle["url"]) as store:
        frame = decisions.final_decisions(cat.cursor(), store)
    assert list(frame.columns) == list(decisions.EXPORT_COLUMNS)
    by_id = frame.set_index("image_id")
    assert (
        by_id.loc[cycle["a"], "final_label"] == "BNE"
        and by_id.loc[cycle["a"], "action"] == "correct"
    )
    assert (
        by_id.loc[cycle["b"], "action"] == "remove"
        and by_id.loc[cycle["b"], "reason"] == "multi-cell"
    )
    assert by_id.loc[cycle["c"], "final_label"] == cycle["c_label"]
    assert by_id.loc[cycle["a"], "votes"] == 3 and by_id.loc[cycle["a"], "agreement"] == 1.0
    assert by_id.loc[cycle["a"], "adjudicator"] == "Dr Expert"
    assert by_id.loc[cycle["a"], "degraded_image_ids"]  # phase2 cells have a degraded copy
    assert decisions.summary_line(frame) == "1 corrected, 1 removed, 1 retained"


def test_csv_export_is_header_then_rows_with_neutralised_formulas(cycle, tmp_path, capsys):
    out = tmp_path / "decisions.csv"
    code = main(["export", "--data", str(cycle["root"]), "--db", cycle["url"], "--out", str(out)])
    assert code == 0
    assert "1 corrected, 1 removed, 1 retained" in capsys.readouterr().out
    raw = out.read_bytes()
    assert raw.startswith(b"image_id,config,split,patient_hash,current_label,original_label,")
    read = pd.read_csv(out)
    assert read.shape == (3, len(decisions.EXPORT_COLUMNS))
    assert b"'=HYPERLINK" in raw and b"'+fine" in raw
    back = decisions.read_decisions(out)
    assert back.set_index("image_id").loc[cycle["a"], "note"] == '=HYPERLINK("http://x")'


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_each_format_reads_back_the_same_decisions(cycle, tmp_path, fmt):
    with open_catalog(cycle["root"]) as cat, Store.open(cycle["url"]) as store:
        frame = decisions.final_decisions(cat.cursor(), store)
    path = tmp_path / f"d.{fmt}"
    path.write_bytes(decisions.export_bytes(frame, fmt))
    back = decisions.read_decisions(path)
    cols = ["image_id", "action", "final_label", "note", "votes"]
    pd.testing.assert_frame_equal(
        back[cols].astype(object).where(back[cols].notna(), None).reset_index(drop=True),
        frame[cols].astype(object).where(frame[cols].notna(), None).reset_index(drop=True),
        check_dtype=False,
    )


def test_apply_from_the_store_changes_exactly_the_decisions(cycle, tmp_path):
    out = tmp_path / "curated"
    code = main(["apply", "--data", str(cycle["root"]), "--db", cycle["url"], "--out", str(out)])
    assert code == 0
    assert (out / "CHANGELOG.md").read_text().count("| ") > 3
    before = datasets.load_dataset(
        str(cycle["root"]), "pristine", split="phase2_train", cache_dir=str(tmp_path / "c1")
    )
    after = datasets.load_dataset(
        str(out), "pristine", split="phase2_train", cache_dir=str(tmp_path / "c2")
    )
    b, a = pd.Series(before["label"]).value_counts(), pd.Series(after["label"]).value_counts()
    diff = a.reindex(b.index.union(a.index), fill_value=0) - b.reindex(
        b.index.union(a.index), fill_value=0
    )
    old_a = dict(zip(before["image_id"], before["label"], strict=True))[cycle["a"]]
    old_b = dict(zip(before["image_id"], before["label"], strict=True))[cycle["b"]]
    expected = pd.Series(0, index=diff.index)
    expected["BNE"] += 1
    expected[old_a] -= 1
    expected[old_b] -= 1
    assert diff.to_dict() == expected.to_dict()


def test_challenge_format_export(cycle, tmp_path):
    out = tmp_path / "phase2_train.csv"
    code = main([
        "export", "--data", str(cycle["root"]), "--db", cycle["url"], "--format", "challenge",
        "--split", "phase2_train", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"ID,labels,split\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    frame = read_original_labels(out).set_index("image_id")
    assert frame.loc[cycle["a"], "label"] == "BNE"
    assert set(frame["split"]) == {"phase2_train"}
    assert cycle["b"] not in frame.index
    assert frame.loc[cycle["c"], "label"] == cycle["c_label"]


def write_votes(path: Path, rows: list[str]) -> Path:
    path.write_text(
        "image_id,annotator,action,label,reason,comment,time\n" + "\n".join(rows) + "\n"
    )
    return path


def test_offline_votes_import_once(cycle, tmp_path, capsys):
    a, b = cycle["a"], cycle["b"]
    f = write_votes(tmp_path / "team7.csv", [
        f"{a},alice,correct,BNE,,looks banded,2026-03-01T10:00:00Z",
        f"{b},alice,remove,,low-quality,,2026-03-01T10:01:00",
        f"{a},bob,retain,,,,",
    ])  # fmt: skip
    args = [
        "import-votes",
        str(f),
        "--team",
        "Team 7",
        "--data",
        str(cycle["root"]),
        "--db",
        cycle["url"],
    ]
    assert main(args) == 0
    assert "3 new vote(s) for team Team 7, 0 row(s) already stored" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 new vote(s) for team Team 7, 3 row(s) already stored" in capsys.readouterr().out
    with Store.open(cycle["url"]) as store:
        imported = store.votes_frame()
    imported = imported[imported["team"] == "Team 7"]
    assert len(imported) == 3 and set(imported["source"]) == {"import:team7.csv"}


def test_bad_vote_file_lists_every_problem_and_writes_nothing(cycle, tmp_path, capsys):
    a = cycle["a"]
    f = write_votes(tmp_path / "bad.csv", [
        f"{a},alice,correct,,,,",
        "99999999,alice,retain,,,,",
        f"{a},bob,correct,XYZ,,,",
        f"{a},carol,retain,,,,yesterday",
        f"{a},dave,retain,,,,2999-01-01T00:00:00Z",
        f"{a},erin,frobnicate,,,,",
        f"{a},erin,retain,,,,",
        f"{a},erin,retain,,,,",
    ])  # fmt: skip
    with Store.open(cycle["url"]) as store:
        before = len(store.votes_frame())
    code = main(
        ["import-votes", str(f), "--team", "T", "--data", str(cycle["root"]), "--db", cycle["url"]]
    )
    err = capsys.readouterr().err
    assert code == 1
    for line, text in [
        (2, "correct without a label"), (3, "unknown image_id '99999999'"), (4, "unknown label 'XYZ'"),
        (5, "bad time 'yesterday'"), (6, "time '2999-01-01T00:00:00Z' is outside the years 1900-2100"), (7, "unknown action 'frobnicate'"),
        (9, "duplicate of line 8"),
    ]:  # fmt: skip
        assert f"line {line}: {text}" in err
    with Store.open(cycle["url"]) as store:
        assert len(store.votes_frame()) == before


def test_vote_file_without_required_columns_is_refused(cycle, tmp_path):
    f = tmp_path / "wrong.csv"
    f.write_text("id,who\n1,2\n")
    with (
        open_catalog(cycle["root"]) as cat,
        pytest.raises(decisions.DecisionsError, match="line 1: unknown column 'id'"),
    ):
        imports.read_vote_file(f, cat.cursor())


texts = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
        max_size=30,
    ),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.from_regex(r"[0-9]{8}", fullmatch=True),
            st.sampled_from(["correct", "remove", "retain"]),
            st.sampled_from(CLASS_CODES),
            texts,
        ),
        min_size=0,
        max_size=12,
        unique_by=lambda r: r[0],
    ),
    fmt=st.sampled_from(decisions.FORMATS),
)
def test_export_then_read_gives_the_same_decisions(tmp_path, rows, fmt):
    frame = pd.DataFrame(
        [
            {"image_id": i, "action": a, "final_label": lab if a != "remove" else None, "note": n}
            for i, a, lab, n in rows
        ],
        columns=["image_id", "action", "final_label", "note"],
    )
    path = tmp_path / f"x.{fmt}"
    path.write_bytes(decisions.export_bytes(frame, fmt))
    back = decisions.read_decisions(path)
    for col in ["image_id", "action", "final_label", "note"]:
        got = [
            None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in back[col]
        ]
        want = [None if pd.isna(v) or (v == "" and fmt == "csv") else v for v in frame[col]]
        assert got == want, col


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(labels=st.lists(st.sampled_from(CLASS_CODES), min_size=1, max_size=20))
def test_challenge_format_round_trips(tmp_path, labels):
    from wbcreview.data.labels import write_original_labels

    rows = [(f"{i:08d}", lab, None) for i, lab in enumerate(labels)]
    path = tmp_path / "c.csv"
    write_original_labels(path, rows, with_split=False)
    back = read_original_labels(path)
    assert list(zip(back["image_id"], back["label"], strict=True)) == [
        (i, lab) for i, lab, _ in rows
    ]


def test_neutralise_round_trips_and_leaves_plain_text():
    for value in ["=1+1", "+x", "-3", "@SUM(A1)", "\tx", "plain", "", "'=quoted"]:
        assert decisions.unneutralise(decisions.neutralise(value)) == value
    assert decisions.neutralise("plain") == "plain"
