"""The demo copy: exact release layout, schema, splits, degradations, label files, determinism."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from wbcreview.data.release import (
    CLASS_CODES,
    COLUMNS,
    DEGRADATION_PARAMS,
    ORIGINAL_LABELS_DIR,
    RELEASE_SHARDS,
    RELEASE_SPLIT_SIZES,
    SEVERITIES,
    SPLITS,
    shard_name,
)
from wbcreview.demo import build as demo

PBC_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pbc_sample"
CELLS, SEED = 300, 11
PHASE2 = ("phase2_train", "phase2_eval", "phase2_test")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, demo.DemoSummary]:
    out = tmp_path_factory.mktemp("demo") / "wbcbench"
    calls: list[tuple[int, int, str]] = []
    summary = demo.build_demo(out, cells=CELLS, seed=SEED, progress=lambda *a: calls.append(a))
    summary.progress_calls = calls  # kept for test_progress_is_reported
    return out, summary


@pytest.fixture(scope="module")
def tables(built) -> dict[tuple[str, str], pa.Table]:
    out, _ = built
    return {
        (config, split): pa.concat_tables(
            pq.read_table(out / config / shard_name(split, k, count)) for k in range(count)
        )
        for (config, split), count in RELEASE_SHARDS.items()
    }


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _digests(root: Path) -> dict[str, str]:
    return {rel: hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in _files(root)}


def _shards(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.parquet"))


def test_layout_has_every_release_file_with_its_exact_name(built):
    out, summary = built
    expected = {"README.md", ".wbcreview-demo", "scripts/degrade_ops.py"}
    expected |= {"metadata/class_legend.csv", "metadata/degradation_params.csv"}
    expected |= {f"{ORIGINAL_LABELS_DIR}/{split}.csv" for split in SPLITS}
    expected |= {
        f"{config}/{shard_name(split, k, count)}"
        for (config, split), count in RELEASE_SHARDS.items()
        for k in range(count)
    }
    assert "degraded/phase2_train-00003-of-00004.parquet" in expected
    assert _files(out) == expected
    assert set(summary.files) == expected - {".wbcreview-demo"}


def test_readme_configs_block_lists_every_config_and_split(built):
    out, _ = built
    text = (out / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text[4 : text.index("\n---", 4)])
    configs = {
        block["config_name"]: {e["split"]: e["path"] for e in block["data_files"]}
        for block in front["configs"]
    }
    assert configs == {
        "pristine": {s: f"pristine/{s}-*.parquet" for s in SPLITS},
        "degraded": {s: f"degraded/{s}-*.parquet" for s in PHASE2},
    }
    assert "generated demo copy" in text


def test_load_dataset_reads_pristine_train_and_degraded_test(built, tmp_path):
    import datasets

    out, summary = built
    train = datasets.load_dataset(
        str(out), "pristine", split="phase2_train", cache_dir=str(tmp_path)
    )
    assert train.num_rows == summary.rows["pristine"]["phase2_train"]
    assert isinstance(train[0]["image"], Image.Image)
    test = datasets.load_dataset(str(out), "degraded", split="phase2_test", cache_dir=str(tmp_path))
    assert test.num_rows == summary.rows["degraded"]["phase2_test"]
    assert isinstance(test[0]["image"], Image.Image)
    assert set(test["severity"]) == set(SEVERITIES)


def test_every_shard_has_the_release_schema_and_huggingface_metadata(built):
    out, _ = built
    for path in _shards(out):
        schema = pq.read_schema(path)
        assert {f.name: str(f.type) for f in schema} == COLUMNS, path.name
        assert list(schema.names) == list(COLUMNS)
        features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
        assert features["image"]["_type"] == "Image"


def test_image_column_is_plain_and_uncompressed(built):
    out, _ = built
    for path in _shards(out):
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                if column.path_in_schema.startswith("image."):
                    assert column.compression == "UNCOMPRESSED", (path.name, column.path_in_schema)
                    assert "PLAIN" in column.encodings
                    assert not {"RLE_DICTIONARY", "PLAIN_DICTIONARY"} & set(column.encodings)
                else:
                    assert column.compression == "SNAPPY"


def test_row_groups_are_cut_by_size_like_datasets(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "MAX_ROW_GROUP_SIZE", "1MB")
    out = tmp_path / "small-groups"
    demo.build_demo(out, cells=240, seed=2)
    meta = pq.ParquetFile(out / "pristine" / shard_name("phase2_train", 0, 1)).metadata
    assert meta.num_row_groups > 1
    sizes = [meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)]
    assert max(sizes) < 1.6e6 and min(sizes[:-1]) > 0.5e6


def test_image_ids_are_8_digits_and_unique_across_the_copy(tables):
    ids = [i for t in tables.values() for i in t.column("image_id").to_pylist()]
    assert all(len(i) == 8 and i.isdigit() for i in ids)
    assert len(ids) == len(set(ids))


def test_image_path_is_the_file_name_or_null_and_both_occur(tables):
    for (config, split), table in tables.items():
        paths = table.column("image").combine_chunks().field("path").to_pylist()
        ids = table.column("image_id").to_pylist()
        assert None in paths and any(paths), (config, split)
        assert all(p is None or p == f"{i}.jpg" for p, i in zip(paths, ids, strict=True))


def test_splits_are_patient_disjoint_with_hex_hashes(tables, built):
    _, summary = built
    patients = {s: set(tables[("pristine", s)].column("patient_hash").to_pylist()) for s in SPLITS}
    for a in SPLITS:
        assert all(len(h) == 16 and int(h, 16) >= 0 for h in patients[a])
        assert len(patients[a]) == summary.patients[a] >= 1
        for b in SPLITS:
            assert a == b or not patients[a] & patients[b], (a, b)


def test_split_and_patient_counts_follow_the_release(built, tables):
    _, summary = built
    total = sum(summary.rows["pristine"].values())
    assert total == CELLS
    release_total = sum(rows for rows, _ in RELEASE_SPLIT_SIZES.values())
    for split in SPLITS:
        rows, patients = RELEASE_SPLIT_SIZES[split]
        share = summary.rows["pristine"][split] / total
        assert share == pytest.approx(rows / release_total, abs=0.05), split
        assert summary.patients[split] == demo.patient_count(split, summary.rows["pristine"][split])
        per_patient = Counter(tables[("pristine", split)].column("patient_hash").to_pylist())
        assert sum(per_patient.values()) == summary.rows["pristine"][split]


def test_every_class_is_in_every_split_and_shares_follow_classes(tables):
    for split in SPLITS:
        labels = Counter(tables[("pristine", split)].column("label").to_pylist())
        assert set(labels) == set(CLASS_CODES), split
    everything = Counter(
        label for s in SPLITS for label in tables[("pristine", s)].column("label").to_pylist()
    )
    assert everything.most_common(2)[0][0] == "SNE" and everything.most_common(2)[1][0] == "LY"


def test_pristine_config_rows_are_pristine_without_source(tables):
    for split in SPLITS:
        t = tables[("pristine", split)]
        assert set(t.column("severity").to_pylist()) == {"pristine"}
        assert set(t.column("original_image_id").to_pylist()) == {""}
        assert set(t.column("wbcbench_split").to_pylist()) == {split}


def test_degraded_rows_mirror_pristine_phase2_rows_one_to_one(tables):
    for split in PHASE2:
        src = tables[("pristine", split)].drop_columns(["image"]).to_pylist()
        deg = tables[("degraded", split)].drop_columns(["image"]).to_pylist()
        assert [d["original_image_id"] for d in deg] == [s["image_id"] for s in src]
        for s, d in zip(src, deg, strict=True):
            assert (d["label"], d["wbcbench_split"], d["patient_hash"]) == (
                s["label"],
                split,
                s["patient_hash"],
            )
            assert d["image_id"] != s["image_id"]
        counts = Counter(d["severity"] for d in deg)
        assert set(counts) == set(SEVERITIES)
        assert max(counts.values()) - min(counts.values()) <= 1


def test_degraded_train_rows_are_split_across_four_shards_in_order(built, tables):
    out, summary = built
    n = summary.rows["degraded"]["phase2_train"]
    counts = [
        pq.ParquetFile(out / "degraded" / shard_name("phase2_train", k, 4)).metadata.num_rows
        for k in range(4)
    ]
    assert counts == [(k + 1) * n // 4 - k * n // 4 for k in range(4)]


def test_degraded_images_keep_size_and_pristine_severity_keeps_bytes(tables):
    for split in PHASE2:
        src = (
            tables[("pristine", split)].column("image").combine_chunks().field("bytes").to_pylist()
        )
        deg_table = tables[("degraded", split)]
        deg = deg_table.column("image").combine_chunks().field("bytes").to_pylist()
        for s, d, severity in zip(src, deg, deg_table.column("severity").to_pylist(), strict=True):
            if severity == "pristine":
                assert d == s
                continue
            assert d != s
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert Image.open(io.BytesIO(d)).size == Image.open(io.BytesIO(s)).size


def test_degradation_params_has_one_row_per_degraded_image(built, tables):
    out, _ = built
    with open(out / DEGRADATION_PARAMS, newline="") as fh:
        rows = list(csv.DictReader(fh))
    degraded = [
        r for s in PHASE2 for r in tables[("degraded", s)].drop_columns(["image"]).to_pylist()
    ]
    assert [r["image_id"] for r in rows] == [d["image_id"] for d in degraded]
    assert [r["original_image_id"] for r in rows] == [d["original_image_id"] for d in degraded]
    assert [r["severity"] for r in rows] == [d["severity"] for d in degraded]
    assert tuple(rows[0]) == demo.PARAMS_COLUMNS
    for r in rows:
        sigma = float(r["noise_sigma"])
        assert (sigma == 0) == (r["severity"] == "pristine")
        if r["severity"] == "extreme":
            assert int(r["motion_length"]) >= 13


def test_class_legend_lists_the_13_classes(built):
    out, _ = built
    with open(out / "metadata" / "class_legend.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["abbreviation", "cell_type"]
    assert [r[0] for r in rows[1:]] == list(CLASS_CODES)
    assert ["PLY", "Prolymphocyte"] in rows


def test_original_label_files_have_the_challenge_format(built, tables):
    out, _ = built
    heads = {
        "phase1_train": b"ID,labels,split,,,\r\n",
        "phase2_train": b"ID,labels,split\r\n",
        "phase2_eval": b"ID,labels,split\r\n",
        "phase2_test": b"ID,labels\r\n",
    }
    for split, head in heads.items():
        data = (out / ORIGINAL_LABELS_DIR / f"{split}.csv").read_bytes()
        assert data.startswith(head)
        lines = data.split(b"\r\n")
        assert lines[-1] == b"" and all(b"\n" not in line and line for line in lines[:-1])
        for line in lines[1:-1]:
            cells = line.decode().split(",")
            assert cells[0].endswith(".jpg") and len(cells[0]) == 12
            if split == "phase2_test":
                assert cells[1:] == [""]
            elif split == "phase1_train":
                assert cells[1] in CLASS_CODES and cells[2:] == [split, "", "", ""]
            else:
                assert cells[1] in CLASS_CODES and cells[2:] == [split]


def test_original_labels_have_changed_and_removed_cells(built, tables):
    out, summary = built
    released = {}
    for split in SPLITS:
        t = tables[("pristine", split)]
        released.update(
            zip(t.column("image_id").to_pylist(), t.column("label").to_pylist(), strict=True)
        )
    every_id = {i for t in tables.values() for i in t.column("image_id").to_pylist()}
    original = {}
    for split in SPLITS:
        with open(out / ORIGINAL_LABELS_DIR / f"{split}.csv", newline="") as fh:
            for row in list(csv.reader(fh))[1:]:
                original[row[0].removesuffix(".jpg")] = row[1]
    assert len(summary.changed_ids) >= demo.MIN_CHANGED
    assert len(summary.removed_ids) >= 1
    assert set(original) == set(released) | set(summary.removed_ids)
    assert not set(summary.removed_ids) & every_id
    differing = {
        i for i, label in original.items() if label and i in released and label != released[i]
    }
    assert differing == set(summary.changed_ids)
    for image_id in summary.changed_ids:
        assert original[image_id] == demo.CONFUSABLE[released[image_id]]


def test_malformed_jpegs_carry_extra_bytes_and_still_decode(built, tables):
    _, summary = built
    assert len(summary.malformed_ids) >= 1
    by_id = {}
    for split in SPLITS:
        t = tables[("pristine", split)]
        by_id.update(
            zip(
                t.column("image_id").to_pylist(),
                t.column("image").combine_chunks().field("bytes").to_pylist(),
                strict=True,
            )
        )
    for image_id in summary.malformed_ids:
        data = by_id[image_id]
        assert demo.MALFORMED_JUNK + b"\xff\xdb" in data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            img.load()
        assert img.size[0] > 300


def test_progress_is_reported_up_to_the_total(built):
    _, summary = built
    calls = summary.progress_calls
    assert len(calls) > 5
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert all(isinstance(c[2], str) and c[2] for c in calls)


def test_marker_records_the_summary(built):
    out, summary = built
    assert (out / demo.DEMO_MARKER).read_text() == summary.to_json()
    assert json.loads(summary.to_json())["changed_ids"] == summary.changed_ids


def test_same_seed_rebuild_is_byte_identical_with_or_without_workers(tmp_path):
    out = tmp_path / "copy"
    demo.build_demo(out, cells=demo.MIN_CELLS + 8, seed=5, workers=1)
    first = _digests(out)
    demo.build_demo(out, cells=demo.MIN_CELLS + 8, seed=5, workers=2)  # over the previous demo
    assert _digests(out) == first
    other = tmp_path / "other"
    demo.build_demo(other, cells=demo.MIN_CELLS + 8, seed=6)
    assert (
        _digests(other)["pristine/phase1_train-00000-of-00001.parquet"]
        != first["pristine/phase1_train-00000-of-00001.parquet"]
    )


# ------------------------------------------------------------------------ from a folder


def _write_folder(root: Path, classes: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for code, n in classes.items():
        (root / code).mkdir(parents=True)
        for k in range(n):
            pixels = rng.integers(0, 256, (40 + k, 50, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / code / f"{code}_{k}.jpg", quality=80)
    (root / "manifest.csv").write_text("path,label\n")
    return root


def test_from_folder_uses_every_image_and_only_its_classes(tmp_path):
    folder = _write_folder(tmp_path / "imgs", {"LY": 6, "EO": 5, "BA": 3})
    out = tmp_path / "out"
    summary = demo.build_demo(out, seed=1, from_folder=folder)
    assert summary.cells == 14
    table = pa.concat_tables(pq.read_table(p) for p in (out / "pristine").glob("*.parquet"))
    originals = {f.read_bytes() for f in folder.glob("*/*.jpg")}
    assert set(table.column("image").combine_chunks().field("bytes").to_pylist()) == originals
    assert set(table.column("label").to_pylist()) == {"LY", "EO", "BA"}
    assert all(summary.rows["pristine"][s] >= 1 for s in SPLITS)


def test_from_folder_with_fewer_cells_than_classes_takes_exactly_cells(tmp_path):
    folder = _write_folder(tmp_path / "imgs", {"LY": 2, "EO": 2, "BA": 2, "MO": 2, "SNE": 2})
    summary = demo.build_demo(tmp_path / "out", cells=4, seed=1, from_folder=folder)
    assert summary.cells == 4 and all(n == 1 for n in summary.rows["pristine"].values())


@pytest.mark.skipif(not PBC_SAMPLE.is_dir(), reason=f"real PBC sample not found at {PBC_SAMPLE}")
def test_from_folder_pbc_sample_keeps_bytes_and_has_9_classes(tmp_path):
    out = tmp_path / "pbc"
    summary = demo.build_demo(out, cells=120, seed=3, from_folder=PBC_SAMPLE)
    assert summary.cells == 120
    with open(PBC_SAMPLE / "manifest.csv", newline="") as fh:
        manifest = {r["sha256"]: r["label"] for r in csv.DictReader(fh)}
    labels = set()
    for split in SPLITS:
        t = pq.read_table(out / "pristine" / shard_name(split, 0, 1))
        for data, label in zip(
            t.column("image").combine_chunks().field("bytes").to_pylist(),
            t.column("label").to_pylist(),
            strict=True,
        ):
            assert manifest[hashlib.sha256(data).hexdigest()] == label, (
                "pristine bytes are the file's bytes"
            )
            labels.add(label)
    assert len(labels) == 9 and not labels & {"BL", "PC", "PLY", "VLY"}
    assert summary.malformed_ids == []
    src = {}
    for split in PHASE2:
        t = pq.read_table(out / "pristine" / shard_name(split, 0, 1))
        src.update(
            zip(
                t.column("image_id").to_pylist(),
                t.column("image").combine_chunks().field("bytes").to_pylist(),
                strict=True,
            )
        )
    for path in (out / "degraded").glob("*.parquet"):
        t = pq.read_table(path)
        for data, origin in zip(
            t.column("image").combine_chunks().field("bytes").to_pylist(),
            t.column("original_image_id").to_pylist(),
            strict=True,
        ):
            assert Image.open(io.BytesIO(data)).size == Image.open(io.BytesIO(src[origin])).size
    assert "CC BY 4.0" in (out / "README.md").read_text(), (
        "the source notice travels with the images"
    )


# --------------------------------------------------------------------------- bad inputs


def test_cells_below_the_minimum_raise(tmp_path):
    with pytest.raises(demo.DemoError, match=f"cells must be at least {demo.MIN_CELLS}"):
        demo.build_demo(tmp_path / "out", cells=12)
    assert not (tmp_path / "out").exists(), "nothing is written for bad input"


def test_negative_seed_raises(tmp_path):
    with pytest.raises(demo.DemoError, match="seed must be"):
        demo.build_demo(tmp_path / "out", seed=-1)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(demo.SourceFolderError, match="does not exist"):
        demo.build_demo(tmp_path / "out", from_folder=tmp_path / "nowhere")


def test_folder_without_images_raises(tmp_path):
    (tmp_path / "imgs" / "LY").mkdir(parents=True)
    (tmp_path / "imgs" / "notes.txt").write_text("hello")
    with pytest.raises(demo.SourceFolderError, match="no images found"):
        demo.build_demo(tmp_path / "out", from_folder=tmp_path / "imgs")


def test_sub_folder_that_is_not_a_class_code_raises(tmp_path):
    folder = _write_folder(tmp_path / "imgs", {"LY": 4})
    (folder / "lymphocytes").mkdir()
    with pytest.raises(demo.SourceFolderError, match="'lymphocytes' is not a class code"):
        demo.build_demo(tmp_path / "out", from_folder=folder)


def test_non_jpeg_images_raise(tmp_path):
    folder = _write_folder(tmp_path / "imgs", {"LY": 4})
    Image.new("RGB", (8, 8)).save(folder / "LY" / "x.png")
    with pytest.raises(demo.SourceFolderError, match="x.png is not a JPEG"):
        demo.build_demo(tmp_path / "out", from_folder=folder)


def test_non_empty_output_that_is_not_a_demo_raises(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(demo.OutputFolderError, match="not empty and is not a previous demo"):
        demo.build_demo(out, cells=demo.MIN_CELLS)
    assert _files(out) == {"keep.txt"}


def test_output_that_is_a_file_raises(tmp_path):
    out = tmp_path / "out"
    out.write_text("x")
    with pytest.raises(demo.OutputFolderError, match="is not a folder"):
        demo.build_demo(out, cells=demo.MIN_CELLS)


def test_every_error_is_a_demo_error_with_a_one_line_docstring():
    for cls in (demo.DemoInputError, demo.OutputFolderError, demo.SourceFolderError):
        assert issubclass(cls, demo.DemoError)
        assert cls.__doc__ and "\n" not in cls.__doc__.strip()


# ------------------------------------------------------------------------ pure helpers


def test_split_sizes_keep_a_minimum_and_the_total():
    sizes = demo.split_sizes(60, minimum=13)
    assert sum(sizes.values()) == 60 and min(sizes.values()) >= 13
    big = demo.split_sizes(55012)
    assert big == {s: rows for s, (rows, _) in RELEASE_SPLIT_SIZES.items()}


def test_patient_count_scales_with_the_release():
    assert demo.patient_count("phase2_train", 24897) == 222
    assert demo.patient_count("phase2_eval", 20) == 1
    assert demo.patient_count("phase1_train", 1) == 1


def test_apportion_is_exact_and_proportional():
    assert demo.apportion(10, [1, 1, 2]) == [3, 2, 5]
    assert demo.apportion(0, [1, 2]) == [0, 0]


def test_malform_jpeg_rejects_non_jpeg():
    with pytest.raises(ValueError):
        demo.malform_jpeg(b"not a jpeg")
