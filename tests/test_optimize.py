"""The optimized copy: same files, same rows and schema, small located row groups, or nothing."""

from __future__ import annotations

import os

import datasets
import parquet_fixtures as fx
import pyarrow.parquet as pq
import pytest

from wbcreview.data import optimize
from wbcreview.data.locator import layout, locate_images
from wbcreview.data.optimize import OptimizeError, optimize_copy


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return fx.write_release(tmp_path_factory.mktemp("release") / "wbcbench2026")


@pytest.fixture(scope="module")
def optimized(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("optimized") / "fast"
    calls = []
    summary = optimize_copy(release, out, rows_per_group=100, progress=lambda *a: calls.append(a))
    return out, summary, calls


def relative_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_same_files_and_bytes_for_non_parquet(release, optimized):
    out, summary, _ = optimized
    assert relative_files(out) == relative_files(release)
    for rel in relative_files(release):
        if not rel.endswith(".parquet"):
            assert (out / rel).read_bytes() == (release / rel).read_bytes(), rel
    assert summary.shards == 3 and summary.files_copied == 2
    assert summary.rows == 850 and summary.src == release and summary.out == out


def test_same_rows_schema_and_metadata(release, optimized):
    out, _, _ = optimized
    for rel in relative_files(release):
        if rel.endswith(".parquet"):
            before, after = pq.read_table(release / rel), pq.read_table(out / rel)
            assert after.schema.equals(before.schema, check_metadata=True), rel
            assert b"huggingface" in after.schema.metadata
            assert after.equals(before), rel


def test_small_groups_and_located(release, optimized):
    out, summary, _ = optimized
    groups = 0
    for path in sorted(out.rglob("*.parquet")):
        lay = layout(path)
        assert lay.locatable and not lay.slow and lay.has_page_index
        assert lay.rows_per_group_max == 100
        md = pq.ParquetFile(path).metadata
        sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        assert all(s == 100 for s in sizes[:-1]) and 0 < sizes[-1] <= 100
        groups += len(sizes)
        located = locate_images(path)
        data = path.read_bytes()
        got = [
            None if o < 0 else data[o : o + n]
            for o, n in zip(located.offsets, located.lengths, strict=True)
        ]
        assert got == fx.pyarrow_image_bytes(path)
        # other columns keep the datasets layout: snappy + dictionary
        label = md.row_group(0).column(pq.ParquetFile(path).schema.names.index("label"))
        assert label.compression == "SNAPPY"
    assert groups == summary.row_groups == 3 + 3 + 3


def test_source_old_layout_was_not_located(release):
    assert locate_images(release / "pristine" / "phase1_train-00000-of-00001.parquet") is None


def test_progress_reaches_total(optimized):
    _, summary, calls = optimized
    assert calls[-1][:2] == (summary.rows, summary.rows)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


def test_load_dataset_reads_the_copy(release, optimized, tmp_path):
    out, _, _ = optimized
    for split, shard in [
        ("phase1_train", "pristine/phase1_train-00000-of-00001.parquet"),
        ("phase2_eval", "pristine/phase2_eval-00000-of-00001.parquet"),
    ]:
        ds = datasets.load_dataset(str(out), "pristine", split=split, cache_dir=str(tmp_path))
        ds = ds.cast_column("image", datasets.Image(decode=False))
        assert ds["image_id"] == pq.read_table(release / shard).column("image_id").to_pylist()
        assert [r["bytes"] for r in ds["image"]] == fx.pyarrow_image_bytes(release / shard)


def test_empty_existing_out_folder_is_used(release, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    summary = optimize_copy(release, out, rows_per_group=250)
    assert summary.row_groups == 1 + 2 + 2
    assert relative_files(out) == relative_files(release)


def test_refusals(release, tmp_path):
    with pytest.raises(OptimizeError, match="is the source"):
        optimize_copy(release, release)
    with pytest.raises(OptimizeError, match="inside the source"):
        optimize_copy(release, release / "fast")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x.txt").write_text("x")
    with pytest.raises(OptimizeError, match="not an empty folder"):
        optimize_copy(release, full)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OptimizeError, match="not an empty folder"):
        optimize_copy(release, a_file)
    no_shards = tmp_path / "no_shards"
    no_shards.mkdir()
    (no_shards / "README.md").write_text("hi")
    with pytest.raises(OptimizeError, match="no .parquet shards"):
        optimize_copy(no_shards, tmp_path / "out1")
    with pytest.raises(OptimizeError, match="not a folder"):
        optimize_copy(tmp_path / "absent", tmp_path / "out2")
    with pytest.raises(OptimizeError, match="at least 1"):
        optimize_copy(release, tmp_path / "out3", rows_per_group=0)
    assert not (release / "fast").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "full", "no_shards"]


def test_failure_midway_leaves_nothing(release, tmp_path, monkeypatch):
    writes = {"n": 0}
    real = pq.ParquetWriter.write_table

    def flaky(self, table, *args, **kwargs):
        writes["n"] += 1
        if writes["n"] == 5:
            raise OSError("disk full (injected)")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(optimize.pq.ParquetWriter, "write_table", flaky)
    out = tmp_path / "fast"
    with pytest.raises(OSError, match="injected"):
        optimize_copy(release, out)
    assert writes["n"] == 5
    assert os.listdir(tmp_path) == []


def test_unlocatable_result_is_refused(release, tmp_path, monkeypatch):
    monkeypatch.setattr(optimize, "locate_images", lambda *a, **k: None)
    with pytest.raises(OptimizeError, match="cannot be located"):
        optimize_copy(release, tmp_path / "fast")
    assert os.listdir(tmp_path) == []


def test_hub_cache_symlinks_are_followed(release, tmp_path):
    """The Hub cache's snapshot folder holds symlinks to blobs: copy their contents."""
    snap = tmp_path / "snapshot"
    for p in release.rglob("*"):
        if p.is_file():
            link = snap / p.relative_to(release)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(p)
    out = tmp_path / "fast"
    optimize_copy(snap, out)
    assert not any(p.is_symlink() for p in out.rglob("*"))
    assert (out / "README.md").read_bytes() == (release / "README.md").read_bytes()
