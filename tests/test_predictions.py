"""Prediction files: validation that lists every problem by line, storage, the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbcreview import cli
from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.triage import predictions
from wbcreview.triage.predictions import PredictionsError


@pytest.fixture(scope="module")
def shared_cat(demo_root):
    """A read-only catalog of the shared demo copy (validation only: nothing stored)."""
    with open_catalog(demo_root) as cat:
        yield cat


@pytest.fixture
def cat(demo_copy):
    """A catalog of a private copy: predictions stored for it belong to this test only."""
    with open_catalog(demo_copy) as opened:
        yield opened


def rows_of(cur, config: str | None = None, split: str | None = None) -> pd.DataFrame:
    sql = "SELECT config, split, image_id, label FROM cells WHERE TRUE"
    params = []
    if config:
        sql += " AND config = ?"
        params.append(config)
    if split:
        sql += " AND split = ?"
        params.append(split)
    return cur.execute(sql + " ORDER BY config, image_id", params).df()


def probability_csv(rows: pd.DataFrame, seed: int = 0, decimals: int = 6) -> str:
    """A seeded probability file for `rows`: the label gets most of the mass."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(CLASS_CODES)), size=len(rows))
    for i, label in enumerate(rows["label"]):
        probs[i] *= 0.3
        probs[i, CLASS_CODES.index(label)] += 0.7
    frame = pd.DataFrame(probs.round(decimals), columns=list(CLASS_CODES))
    frame.insert(0, "image_id", rows["image_id"].to_numpy())
    return frame.to_csv(index=False)


def submission_csv(rows: pd.DataFrame) -> bytes:
    """The challenge's submission format: ID,labels with .jpg ids, CRLF."""
    lines = ["ID,labels"] + [
        f"{i}.jpg,{lab}" for i, lab in zip(rows["image_id"], rows["label"], strict=True)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


# --- accepted files --------------------------------------------------------------------------


def test_the_challenge_submission_format_is_accepted_as_is(cat):
    rows = rows_of(cat.cursor(), "pristine", "phase2_eval")
    info = predictions.import_predictions(
        cat.root, cat.cursor(), submission_csv(rows), "team-a", "submission.csv"
    )
    assert info.kind == "labels"
    assert info.covers == ("pristine/phase2_eval",)
    assert info.rows == len(rows)
    stored = predictions.load_predictions(cat.root, "team-a")
    assert stored["image_id"].tolist() == rows["image_id"].tolist()
    assert stored["label"].tolist() == rows["label"].tolist()


def test_probability_columns_are_stored_and_read_back(cat):
    rows = rows_of(cat.cursor())
    text = probability_csv(rows)
    predictions.import_predictions(cat.root, cat.cursor(), text.encode(), "probs", "p.csv")
    stored = predictions.load_predictions(cat.root, "probs")
    assert stored.attrs["kind"] == "probabilities"
    assert list(stored.columns) == ["image_id", "label", *CLASS_CODES]
    given = pd.read_csv(io.StringIO(text), dtype={"image_id": str})
    matrix = given[list(CLASS_CODES)].to_numpy()
    np.testing.assert_allclose(
        stored[list(CLASS_CODES)].to_numpy(), matrix / matrix.sum(1, keepdims=True)
    )
    # Without a label column, the label is the most probable class.
    assert stored["label"].tolist() == [CLASS_CODES[k] for k in matrix.argmax(1)]
    assert set(stored.attrs["covers"]) == {
        f"{c}/{s}" for c, s in zip(rows["config"], rows["split"], strict=True)
    }


def test_parquet_files_are_accepted(cat, tmp_path):
    rows = rows_of(cat.cursor(), "degraded", "phase2_test")
    frame = pd.DataFrame({"image_id": rows["image_id"], "labels": rows["label"]})
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    info = predictions.import_predictions(cat.root, cat.cursor(), buf.getvalue(), "pq", "x.parquet")
    assert info.covers == ("degraded/phase2_test",)


def test_reimporting_a_name_replaces_it(cat):
    cur = cat.cursor()
    eval_rows, test_rows = (
        rows_of(cur, "pristine", "phase2_eval"),
        rows_of(cur, "pristine", "phase2_test"),
    )
    predictions.import_predictions(cat.root, cur, submission_csv(eval_rows), "m", "a.csv")
    predictions.import_predictions(cat.root, cur, submission_csv(test_rows), "m", "b.csv")
    infos = predictions.list_predictions(cat.root)
    assert [i.name for i in infos] == ["m"]
    assert infos[0].covers == ("pristine/phase2_test",) and infos[0].source == "b.csv"
    assert not [
        p for p in predictions.predictions_dir(cat.root).iterdir() if p.name.startswith(".")
    ]


# --- every problem, by line, nothing stored ------------------------------------------------


def test_every_problem_is_listed_by_line_and_nothing_is_stored(cat):
    cur = cat.cursor()
    rows = rows_of(cur, "pristine", "phase2_eval")
    predictions.import_predictions(cat.root, cur, submission_csv(rows), "keep", "ok.csv")
    before = predictions.predictions_dir(cat.root).joinpath("keep.parquet").read_bytes()
    ids = rows["image_id"].tolist()
    good = [1.0] + [0.0] * 12

    def line(image_id, values, label=""):
        return ",".join([image_id, label, *map(str, values)])

    body = [
        line(ids[0], good),  # line 2: fine
        line("99999999", good),  # 3: unknown id
        line(ids[1], good, "XX"),  # 4: unknown class
        line(ids[2], [0.5] + [0.0] * 12),  # 5: sums to 0.5
        line(ids[3], [1.5, -0.5] + [0.0] * 11),  # 6: negative
        line(ids[0], good),  # 7: duplicate of line 2
        line(ids[4], ["abc"] + [0.0] * 12),  # 8: not a number
        line("12345", good),  # 9: leading zeros lost
        f"{ids[5]},SNE",  # 10: too few fields
        line(ids[6], ["nan"] + [0.0] * 12),  # 11: NaN
    ]
    text = "\n".join(["image_id,label," + ",".join(CLASS_CODES), *body]) + "\n"
    with pytest.raises(PredictionsError) as err:
        predictions.import_predictions(cat.root, cur, text.encode(), "keep", "bad.csv")
    problems = err.value.problems
    expected = [
        "line 3: unknown image id '99999999'",
        "line 4: unknown label 'XX'",
        "line 5: probabilities sum to 0.5",
        "line 6: probability of LY is negative",
        "line 7: image id",
        "line 8: probability of SNE is 'abc', not a number",
        "line 9: unknown image id '12345' (leading zeros lost?",
        "line 10: 2 fields, the header has 15",
        "line 11: probability of SNE is 'nan', not a number",
        "rows of pristine/phase2_eval have no prediction",
    ]
    for text_part in expected:
        assert any(text_part in p for p in problems), (text_part, problems)
    assert "line 7: image id" in next(p for p in problems if p.startswith("line 7"))
    assert "already on line 2" in next(p for p in problems if p.startswith("line 7"))
    assert "nothing imported" in str(err.value)
    numbered = [int(p.split(":")[0].split()[1]) for p in problems if p.startswith("line ")]
    assert numbered == sorted(numbered) and not problems[-1].startswith("line ")
    # The stored file of that name is untouched and nothing else was written.
    assert predictions.predictions_dir(cat.root).joinpath("keep.parquet").read_bytes() == before
    assert [i.name for i in predictions.list_predictions(cat.root)] == ["keep"]


def test_missing_rows_of_a_covered_split_are_a_problem(shared_cat):
    rows = rows_of(shared_cat.cursor(), "pristine", "phase2_eval")
    with pytest.raises(PredictionsError) as err:
        predictions.validate(shared_cat.cursor(), submission_csv(rows.iloc[1:]), "short.csv")
    (problem,) = err.value.problems
    assert f"1 of the {len(rows)} rows of pristine/phase2_eval" in problem
    assert rows["image_id"].iloc[0] in problem


@pytest.mark.parametrize(
    "text, needle",
    [
        ("", "the file is empty"),
        ("label\nSNE\n", "no image id column"),
        ("image_id,score\n1,2\n", "no prediction"),
        ("image_id,SNE,LY\nx,0.5,0.5\n", "probability columns for 2 of the 13 classes"),
        ("image_id,label,Label\nx,SNE,SNE\n", "appears 2 times"),
        ("image_id,ID,label\nx,x,SNE\n", "both image_id and ID"),
        ("image_id,label\n", "no prediction rows"),
        ("image_id,label\n,SNE\n", "line 2: empty image id"),
        ("image_id,label\n00000001,\n", "line 2: empty label"),
    ],
)
def test_bad_headers_and_rows_are_named(shared_cat, text, needle):
    with pytest.raises(PredictionsError) as err:
        predictions.validate(shared_cat.cursor(), text.encode(), "f.csv")
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_tolerance_of_the_sum_is_a_parameter(shared_cat):
    rows = rows_of(shared_cat.cursor())
    text = probability_csv(rows, decimals=2)  # rounding: sums drift by up to 0.065
    with pytest.raises(PredictionsError, match="sum to"):
        predictions.validate(shared_cat.cursor(), text.encode(), "r.csv", tolerance=1e-9)
    frame = predictions.validate(shared_cat.cursor(), text.encode(), "r.csv", tolerance=0.07)
    np.testing.assert_allclose(frame[list(CLASS_CODES)].sum(axis=1), 1.0)


def test_not_utf8_and_not_parquet_are_clear_errors(shared_cat):
    with pytest.raises(PredictionsError, match="not UTF-8"):
        predictions.validate(shared_cat.cursor(), b"\xff\xfe\x00bad", "x.csv")
    with pytest.raises(PredictionsError, match="not a readable parquet"):
        predictions.validate(shared_cat.cursor(), b"PAR1 not really", "x.parquet")


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        " ",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        ".hidden",
        "x\x00y",
        "é" * 3,
        "a" * 81,
    ],
)
def test_names_that_could_escape_or_hide_are_refused(cat, name):
    with pytest.raises(PredictionsError):
        predictions.check_name(name)
    with pytest.raises(PredictionsError):
        predictions.save(cat.root, name, pd.DataFrame({"image_id": ["1"], "label": ["SNE"]}), "t")


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_fuzzed_names_are_refused_or_stay_in_the_folder(name):
    try:
        ok = predictions.check_name(name)
    except PredictionsError:
        return
    folder = Path("/tmp/predictions-folder")
    path = (folder / f"{ok}.parquet").resolve()
    assert path.parent == folder.resolve()
    assert not ok.startswith(".")


# --- fuzzing: the importer raises nothing but its own error ---------------------------------


@given(st.binary(max_size=400))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_bytes_raise_only_predictions_errors(shared_cat, data):
    try:
        predictions.validate(shared_cat.cursor(), data, "fuzz.csv")
    except PredictionsError:
        pass


HEADER_WORDS = ["image_id", "ID", "label", "labels", "score", "", "SNE", *CLASS_CODES[:3]]


@given(
    header=st.lists(st.sampled_from(HEADER_WORDS), min_size=1, max_size=6),
    cells=st.lists(
        st.lists(
            st.one_of(
                st.sampled_from(["SNE", "LY", "0.5", "1", "-1", "nan", "inf", "", "x.jpg", '"']),
                st.text(max_size=8),
            ),
            max_size=7,
        ),
        max_size=6,
    ),
    parquet=st.booleans(),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_tables_raise_only_predictions_errors(shared_cat, header, cells, parquet):
    if parquet:
        names = [f"{h}" for h in header]
        width = len(names)
        columns = {i: [(r + [None] * width)[i] for r in cells] for i in range(width)}
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table([pa.array(columns[i], pa.string()) for i in range(width)], names=names)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        data, name = buf.getvalue(), "fuzz.parquet"
    else:
        out = io.StringIO()
        import csv

        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(cells)
        data, name = out.getvalue().encode(), "fuzz.csv"
    try:
        frame = predictions.validate(shared_cat.cursor(), data, name)
    except PredictionsError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
    else:  # a valid file is a valid stored frame
        assert frame["label"].isin(CLASS_CODES).all()


# --- using them ------------------------------------------------------------------------------


def test_labels_become_smoothed_one_hot_probabilities():
    frame = pd.DataFrame({"image_id": ["a", "b"], "label": ["SNE", "PLY"]})
    probs = predictions.probabilities(frame, smoothing=0.1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 0] == pytest.approx(0.9 + 0.1 / 13)
    assert probs[1, CLASS_CODES.index("PLY")] == pytest.approx(0.9 + 0.1 / 13)
    assert probs[0, 1] == pytest.approx(0.1 / 13)


def test_loading_an_unknown_name_says_what_is_stored(cat):
    with pytest.raises(PredictionsError, match="no stored predictions named 'nope'"):
        predictions.load_predictions(cat.root, "nope")


# --- the CLI ---------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """The real entry point: errors become one line there, once for every command."""
    return cli.main(argv)


def test_cli_import_predictions(cat, tmp_path, capsys):
    rows = rows_of(cat.cursor(), "pristine", "phase2_test")
    good = tmp_path / "sub.csv"
    good.write_bytes(submission_csv(rows))
    assert run_cli(["import-predictions", str(good), "--name", "sub", "--data", str(cat.root)]) == 0
    assert "imported sub" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(submission_csv(rows.iloc[2:]) + b"99999999.jpg,SNE\r\n")
    assert run_cli(["import-predictions", str(bad), "--name", "sub2", "--data", str(cat.root)]) == 1
    err = capsys.readouterr().err
    assert "unknown image id '99999999'" in err and "have no prediction" in err
    assert [i.name for i in predictions.list_predictions(cat.root)] == ["sub"]
