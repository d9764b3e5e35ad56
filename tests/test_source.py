"""Finding a copy: resolution order, the dataset card's configs, the Hub cache, download."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wbcreview.data import source
from wbcreview.data.release import HUB_REPO_ID

CARD = """---
license: cc-by-nc-4.0
configs:
- config_name: pristine
  data_files:
  - split: phase1_train
    path: pristine/phase1_train-*.parquet
  - split: phase2_eval
    path:
    - pristine/phase2_eval-*.parquet
- config_name: degraded
  data_files:
  - split: phase2_eval
    path: degraded/phase2_eval-*.parquet
---
# WBCBench 2026
"""


def touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1")
    return path


def hub_layout(cache: Path, copy_from: Path | None = None, revision="abc123") -> Path:
    """A folder laid out like the Hub cache, holding one snapshot of the dataset."""
    repo = cache / ("datasets--" + HUB_REPO_ID.replace("/", "--"))
    snap = repo / "snapshots" / revision
    if copy_from:
        shutil.copytree(copy_from, snap)
    else:
        snap.mkdir(parents=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snap


def test_card_configs_decide_config_and_split(tmp_path):
    (tmp_path / "README.md").write_text(CARD)
    touch(tmp_path, "pristine/phase1_train-00000-of-00001.parquet")
    touch(tmp_path, "pristine/phase2_eval-00000-of-00001.parquet")
    touch(tmp_path, "degraded/phase2_eval-00000-of-00001.parquet")
    shards = source.discover(tmp_path)
    assert [(s.config, s.split, s.relpath) for s in shards] == [
        ("degraded", "phase2_eval", "degraded/phase2_eval-00000-of-00001.parquet"),
        ("pristine", "phase1_train", "pristine/phase1_train-00000-of-00001.parquet"),
        ("pristine", "phase2_eval", "pristine/phase2_eval-00000-of-00001.parquet"),
    ]


def test_shard_names_are_used_without_a_card(tmp_path):
    for i in range(4):
        touch(tmp_path, f"degraded/phase2_train-{i:05d}-of-00004.parquet")
    touch(tmp_path, "pristine/notes.parquet")  # not a release name: ignored
    shards = source.discover(tmp_path)
    assert {(s.config, s.split) for s in shards} == {("degraded", "phase2_train")}
    assert len(shards) == 4


def test_card_without_configs_falls_back_to_names(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# card\n")
    touch(tmp_path, "pristine/phase2_test-00000-of-00001.parquet")
    assert [(s.config, s.split) for s in source.discover(tmp_path)] == [("pristine", "phase2_test")]


def test_broken_front_matter_is_a_clear_error(tmp_path):
    (tmp_path / "README.md").write_text("---\nconfigs: [unclosed\n---\n")
    with pytest.raises(source.SourceError, match="YAML front matter"):
        source.discover(tmp_path)


def test_explicit_folder_must_exist(tmp_path):
    with pytest.raises(source.SourceError, match="does not exist"):
        source.resolve(tmp_path / "missing")


def test_resolution_order(tmp_path, monkeypatch, session_home):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir()
    env.mkdir()
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    # Nothing configured: the demo copy.
    src = source.resolve(None)
    assert src.is_demo and src.root == (tmp_path / "home" / "demo").resolve()
    # A Hub cache snapshot beats the demo.
    snap = hub_layout(tmp_path / "hub")
    assert source.resolve(None).root == snap
    assert source.resolve(None).origin == "hub cache"
    # data/wbcbench beats the Hub cache.
    local = tmp_path / "home" / "wbcbench"
    touch(local, "pristine/phase1_train-00000-of-00001.parquet")
    assert source.resolve(None).root == local.resolve()
    # WBCREVIEW_DATA beats data/wbcbench; --data beats everything.
    monkeypatch.setenv("WBCREVIEW_DATA", str(env))
    assert source.resolve(None).root == env.resolve()
    assert source.resolve(explicit).root == explicit.resolve()


def test_hub_snapshot_prefers_refs_main(tmp_path):
    cache = tmp_path / "hub"
    hub_layout(cache, revision="old")
    newest = hub_layout(cache, revision="new")
    assert source.hub_snapshot(cache) == newest
    (cache / ("datasets--" + HUB_REPO_ID.replace("/", "--")) / "refs" / "main").write_text("old")
    assert source.hub_snapshot(cache).name == "old"


def test_hub_cache_copy_reads_like_a_local_copy(tmp_path, monkeypatch, demo_root):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    snap = hub_layout(tmp_path / "hub", copy_from=demo_root)
    src = source.resolve(None)
    assert src.origin == "hub cache"
    assert {s.relpath for s in source.discover(src.root)} == {
        s.relpath for s in source.discover(demo_root)
    }
    assert src.root == snap


def test_download_offline_returns_the_cached_snapshot(tmp_path, monkeypatch):
    """The real snapshot_download path, offline, against a folder laid out like the cache."""
    cache = tmp_path / "hub"
    snap = hub_layout(cache)
    touch(snap, "pristine/phase1_train-00000-of-00001.parquet")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = source.download(cache_dir=cache, local_files_only=True)
    assert folder.resolve() == snap.resolve()


def test_download_without_network_or_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(source.DownloadError, match="cannot be reached"):
        source.download(cache_dir=tmp_path / "empty-cache", local_files_only=True)
