"""apply: a curated copy with exactly the decided changes, byte-identical elsewhere."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import pandas as pd
import pyarrow.parquet as pq
import pytest

from wbcreview.curation import apply as curate
from wbcreview.data import health
from wbcreview.data.catalog import open_catalog


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def label_counts(root: Path) -> pd.Series:
    frames = [pq.read_table(p, columns=["label"]).to_pandas() for p in root.glob("*/*.parquet")]
    return pd.concat(frames)["label"].value_counts()


@pytest.fixture(scope="module")
def decisions(demo_root) -> pd.DataFrame:
    with open_catalog(demo_root) as cat:
        rows = (
            cat.cursor()
            .execute(
                "SELECT image_id, label FROM cells WHERE config = 'pristine' AND split = 'phase2_train' "
                "ORDER BY image_id LIMIT 6"
            )
            .fetchall()
        )
    new = {"SNE": "BNE"}
    return pd.DataFrame(
        [
            {
                "image_id": rows[0][0],
                "action": "correct",
                "final_label": new.get(rows[0][1], "SNE"),
            },
            {
                "image_id": rows[1][0],
                "action": "correct",
                "final_label": new.get(rows[1][1], "SNE"),
            },
            {
                "image_id": rows[2][0],
                "action": "remove",
                "final_label": None,
                "note": "multi-cell artifact",
            },
            {"image_id": rows[3][0], "action": "retain", "final_label": rows[3][1]},
        ]
    )


def test_apply_changes_exactly_the_decisions(demo_root, decisions, tmp_path):
    out = tmp_path / "curated"
    summary = curate.apply_decisions(demo_root, out, decisions)
    assert (summary.corrected, summary.removed, summary.retained) == (2, 1, 1)
    # Each phase2 cell has one pristine and one degraded row.
    assert summary.rows_relabelled == 4 and summary.rows_dropped == 2
    before, after = label_counts(demo_root), label_counts(out)
    assert before.sum() - after.sum() == 2
    report = health.check(out)
    assert report.ok, report.problems
    ds = datasets.load_dataset(
        str(out), "pristine", split="phase2_train", cache_dir=str(tmp_path / "hf")
    )
    removed = decisions.loc[decisions["action"] == "remove", "image_id"].iloc[0]
    assert removed not in set(ds["image_id"])
    by_id = dict(zip(ds["image_id"], ds["label"], strict=True))
    for row in decisions[decisions["action"] == "correct"].itertuples():
        assert by_id[row.image_id] == row.final_label
    changelog = (out / "CHANGELOG.md").read_text()
    assert "2 corrected, 1 removed, 1 retained" in changelog
    assert removed in changelog and "multi-cell artifact" in changelog


def test_untouched_files_are_byte_identical(demo_root, decisions, tmp_path):
    out = tmp_path / "curated"
    curate.apply_decisions(demo_root, out, decisions)
    src, dst = digest(demo_root), digest(out)
    changed = {k for k in src if src[k] != dst.get(k)}
    assert changed <= {
        "pristine/phase2_train-00000-of-00001.parquet",
        "metadata/degradation_params.csv",
    } | {k for k in src if k.startswith("degraded/phase2_train")}
    assert "README.md" not in changed and not any(k.startswith("original_labels") for k in changed)
    assert set(dst) - set(src) == {"CHANGELOG.md"}


def test_applying_twice_gives_identical_files(demo_root, decisions, tmp_path):
    curate.apply_decisions(demo_root, tmp_path / "a", decisions)
    curate.apply_decisions(demo_root, tmp_path / "b", decisions)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_apply_refuses_to_overwrite_its_input(demo_root, decisions):
    with pytest.raises(curate.ApplyError, match="is the input"):
        curate.apply_decisions(demo_root, demo_root, decisions)
    with pytest.raises(curate.ApplyError, match="inside the input"):
        curate.apply_decisions(demo_root, demo_root / "curated", decisions)


def test_a_crash_leaves_no_half_copy(demo_root, decisions, tmp_path, monkeypatch):
    def boom(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(curate, "_rewrite_shard", boom)
    with pytest.raises(RuntimeError):
        curate.apply_decisions(demo_root, tmp_path / "out", decisions)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"image_id": "99999999", "action": "retain"}, "not a cell of this copy"),
        ({"action": "correct", "final_label": "XYZ"}, "correct needs a final_label"),
        ({"action": "frobnicate"}, "unknown action 'frobnicate'"),
    ],
)
def test_bad_decisions_are_listed_and_nothing_is_written(
    demo_root, decisions, tmp_path, bad, message
):
    row = {"image_id": decisions["image_id"].iloc[0], "final_label": None} | bad
    frame = pd.concat([decisions.iloc[1:], pd.DataFrame([row])], ignore_index=True)
    with pytest.raises(curate.ApplyError, match=message):
        curate.apply_decisions(demo_root, tmp_path / "out", frame)
    assert not (tmp_path / "out").exists()


def test_two_decisions_for_one_cell_are_refused(demo_root, decisions, tmp_path):
    frame = pd.concat([decisions, decisions.iloc[[0]]], ignore_index=True)
    with pytest.raises(curate.ApplyError, match="a second decision for this cell"):
        curate.apply_decisions(demo_root, tmp_path / "out", frame)
