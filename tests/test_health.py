"""`check` gives the right verdict, one line naming the file, for each kind of bad copy."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from wbcreview.cli import main
from wbcreview.data import health

P2_TRAIN = "pristine/phase2_train-00000-of-00001.parquet"
D_TEST = "degraded/phase2_test-00000-of-00002.parquet"


def rewrite(path, change):
    """Rewrite a shard through pyarrow, keeping its schema metadata."""
    table = pq.read_table(path)
    meta = table.schema.metadata
    table = change(table)
    pq.write_table(table.replace_schema_metadata(meta), path)


def set_value(table, column, row, value, typ=None):
    values = table.column(column).to_pylist()
    values[row] = value
    idx = table.schema.get_field_index(column)
    return table.set_column(idx, column, pa.array(values, typ or pa.string()))


def run_check(root, capsys, *extra):
    code = main(["check", "--data", str(root), *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


def test_healthy_demo_passes_with_summary(demo_copy, capsys):
    code, out = run_check(demo_copy, capsys)
    assert code == 0, out
    assert "OK:" in out
    assert "Rows per class" in out and "PLY" in out and "Rows per severity" in out
    assert "Images decoded" in out


def test_missing_folder_is_reported(tmp_path, capsys):
    code, out = run_check(tmp_path / "nowhere", capsys)
    assert code == 1
    assert "does not exist" in out


def test_folder_without_shards_is_reported(tmp_path, capsys):
    (tmp_path / "README.md").write_text("hello")
    code, out = run_check(tmp_path, capsys)
    assert code == 1
    assert "no parquet shards found" in out


def test_file_that_is_not_parquet_is_named(demo_copy, capsys):
    (demo_copy / P2_TRAIN).write_bytes(b"this is not parquet at all")
    code, out = run_check(demo_copy, capsys)
    assert code == 1
    assert f"{P2_TRAIN}: not a readable parquet file" in out


def test_truncated_shard_is_named(demo_copy, capsys):
    path = demo_copy / D_TEST
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    code, out = run_check(demo_copy, capsys)
    assert code == 1
    assert f"{D_TEST}: not a readable parquet file" in out


def test_missing_column_is_named(demo_copy, capsys):
    rewrite(demo_copy / P2_TRAIN, lambda t: t.drop_columns(["patient_hash"]))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"{P2_TRAIN}: missing column 'patient_hash'" in out


def test_wrongly_typed_column_is_named(demo_copy, capsys):
    def to_int(t):
        idx = t.schema.get_field_index("image_id")
        return t.set_column(idx, "image_id", pc.cast(t.column("image_id"), pa.int64()))

    rewrite(demo_copy / P2_TRAIN, to_int)
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"{P2_TRAIN}: column 'image_id' is int64, expected string" in out


def test_unknown_label_is_named_with_row(demo_copy, capsys):
    rewrite(demo_copy / P2_TRAIN, lambda t: set_value(t, "label", 3, "XYZ"))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"{P2_TRAIN} row 3 (image_id" in out and "unknown label 'XYZ'" in out


def test_unknown_severity_is_named(demo_copy, capsys):
    rewrite(demo_copy / D_TEST, lambda t: set_value(t, "severity", 0, "apocalyptic"))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"{D_TEST} row 0" in out and "unknown severity 'apocalyptic'" in out


def test_duplicate_image_id_within_a_config_is_named(demo_copy, capsys):
    first = pq.read_table(demo_copy / P2_TRAIN, columns=["image_id"]).column(0)[0].as_py()
    rewrite(demo_copy / P2_TRAIN, lambda t: set_value(t, "image_id", 1, first))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"pristine: image_id {first} appears 2 times" in out


def test_degraded_row_without_pristine_source_is_named(demo_copy, capsys):
    rewrite(demo_copy / D_TEST, lambda t: set_value(t, "original_image_id", 2, "99999999"))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"{D_TEST} row 2" in out and "original_image_id '99999999' has no pristine row" in out


def test_patient_in_two_splits_is_named(demo_copy, capsys):
    p1 = "pristine/phase1_train-00000-of-00001.parquet"
    patient = pq.read_table(demo_copy / p1, columns=["patient_hash"]).column(0)[0].as_py()
    rewrite(demo_copy / P2_TRAIN, lambda t: set_value(t, "patient_hash", 0, patient))
    code, out = run_check(demo_copy, capsys, "--quick")
    assert code == 1
    assert f"patient {patient} is in more than one split" in out


def test_image_that_does_not_decode_is_named(demo_copy, capsys):
    def corrupt(t):
        images = t.column("image").to_pylist()
        images[5] = {"bytes": b"\xff\xd8garbage that is no jpeg", "path": None}
        idx = t.schema.get_field_index("image")
        return t.set_column(idx, "image", pa.array(images, t.schema.field("image").type))

    rewrite(demo_copy / P2_TRAIN, corrupt)
    code, out = run_check(demo_copy, capsys)
    assert code == 1
    assert f"{P2_TRAIN} row 5 (image_id" in out and "image bytes do not decode" in out


def test_quick_check_skips_decoding(demo_copy):
    report = health.check(demo_copy, decode_images=False)
    assert report.ok
    assert report.images_checked == 0


def test_many_problems_are_capped_per_kind(demo_copy):
    rewrite(
        demo_copy / P2_TRAIN,
        lambda t: t.set_column(
            t.schema.get_field_index("label"), "label", pa.array(["BAD"] * t.num_rows, pa.string())
        ),
    )
    report = health.check(demo_copy, decode_images=False)
    unknown = [p for p in report.problems if "unknown label" in p and not p.startswith("...")]
    assert len(unknown) == health.MAX_LINES_PER_KIND
    assert any(p.startswith("... and ") and "unknown labels" in p for p in report.problems)


@pytest.mark.parametrize("decode", [True, False])
def test_report_counts_match_the_shards(demo_root, decode):
    report = health.check(demo_root, decode_images=decode)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in demo_root.glob("*/*.parquet"))
    assert int(report.counts["rows"].sum()) == rows
    assert set(report.patients["config"]) == {"pristine", "degraded"}
