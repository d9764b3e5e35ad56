"""The catalog: every row's metadata, persisted, rebuilt only when a shard changes."""

from __future__ import annotations

import os
import subprocess
import threading

import pyarrow.parquet as pq
import pytest

from wbcreview.data import catalog
from wbcreview.data.release import METADATA_COLUMNS


def test_catalog_holds_every_row_with_shard_and_row(demo_root):
    with catalog.open_catalog(demo_root) as cat:
        cur = cat.cursor()
        for sid, path in cat.shard_paths().items():
            table = pq.read_table(path, columns=list(METADATA_COLUMNS))
            got = cur.execute(
                f"SELECT {', '.join(METADATA_COLUMNS)} FROM cells WHERE shard_id = ? ORDER BY row",
                [sid],
            ).fetchall()
            assert got == [tuple(r.values()) for r in table.to_pylist()]


def test_catalog_has_no_image_bytes(demo_root):
    with catalog.open_catalog(demo_root) as cat:
        cols = [r[0] for r in cat.cursor().execute("DESCRIBE cells").fetchall()]
    assert "image" not in cols and "bytes" not in cols
    assert {"config", "split", "shard_id", "row", "img_offset", "img_length", "cell_id"} <= set(
        cols
    )


def test_degraded_rows_belong_to_the_cell_of_their_source(demo_root):
    with catalog.open_catalog(demo_root) as cat:
        cur = cat.cursor()
        wrong = cur.execute(
            "SELECT count(*) FROM cells WHERE config = 'degraded' AND cell_id <> original_image_id"
        ).fetchone()[0]
        pristine_self = cur.execute(
            "SELECT count(*) FROM cells WHERE config = 'pristine' AND cell_id = image_id"
        ).fetchone()[0]
        pristine = cur.execute("SELECT count(*) FROM cells WHERE config = 'pristine'").fetchone()[0]
    assert wrong == 0 and pristine_self == pristine


def test_second_open_does_not_rescan(demo_root, monkeypatch):
    catalog.open_catalog(demo_root).close()
    monkeypatch.setattr(catalog, "_build", lambda *a, **k: pytest.fail("rebuilt an unchanged copy"))
    assert not catalog.needs_build(demo_root)
    catalog.open_catalog(demo_root).close()


def test_changed_shard_causes_a_rebuild(demo_copy):
    first = catalog.open_catalog(demo_copy)
    built = first.built_at()
    shard = demo_copy / "pristine" / "phase2_eval-00000-of-00001.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows - 1), shard)
    os.utime(shard, ns=(1, 1))  # a different mtime even on coarse clocks
    assert catalog.needs_build(demo_copy)
    second = catalog.open_catalog(demo_copy)
    n = (
        second.cursor()
        .execute(
            "SELECT count(*) FROM cells c JOIN shards s USING (shard_id) WHERE s.relpath = ?",
            ["pristine/phase2_eval-00000-of-00001.parquet"],
        )
        .fetchone()[0]
    )
    assert n == table.num_rows - 1
    assert second.fingerprint != first.fingerprint
    # The old handle keeps reading its own (replaced) file: readers never block a rebuild.
    assert first.built_at() == built
    first.close()
    second.close()


def test_two_readers_and_a_rebuild_coexist(demo_copy):
    a = catalog.open_catalog(demo_copy)
    b = catalog.open_catalog(demo_copy)
    c = catalog.open_catalog(demo_copy, rebuild=True)
    counts = {x.cursor().execute("SELECT count(*) FROM cells").fetchone()[0] for x in (a, b, c)}
    assert len(counts) == 1
    for x in (a, b, c):
        x.close()


def test_original_labels_are_read_from_the_copy(demo_root):
    with catalog.open_catalog(demo_root) as cat:
        n, files = (
            cat.cursor()
            .execute("SELECT count(*), count(DISTINCT file) FROM original_labels")
            .fetchone()
        )
    assert n > 0 and files == 4


def test_progress_is_reported_per_shard(demo_copy):
    seen = []
    catalog.open_catalog(demo_copy, progress=lambda d, t, m: seen.append((d, t, m))).close()
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] == 11
    assert any("indexing pristine/phase1_train" in m for _, _, m in seen)


def test_a_build_going_on_in_the_process_is_followed_not_repeated(demo_copy, monkeypatch):
    """The server's warm-up builds a missing catalog at process start; a page run that needs
    it meanwhile waits for that build (showing its progress) instead of building it again."""
    real_build, real_follow = catalog._build, catalog._Build.follow
    builds, building = [], threading.Event()
    waiting, followed = threading.Event(), threading.Event()

    def held_build(root, shards, path, fingerprint, progress):
        builds.append(path)
        building.set()

        def report(done, total, message):
            progress(done, total, message)
            if done == 0:
                assert waiting.wait(60)  # the second caller is waiting for this build
            elif done == 1:
                assert followed.wait(60)  # and has seen its progress

        real_build(root, shards, path, fingerprint, report)

    def follow(self, progress):
        waiting.set()
        real_follow(self, progress)

    monkeypatch.setattr(catalog, "_build", held_build)
    monkeypatch.setattr(catalog._Build, "follow", follow)
    first_seen, second_seen = [], []
    first = threading.Thread(
        target=catalog.ensure_built, args=(demo_copy, lambda *a: first_seen.append(a))
    )
    first.start()
    assert building.wait(60)  # the thread builds; this caller comes second

    def second_progress(*update):
        second_seen.append(update)
        followed.set()

    fingerprint = catalog.ensure_built(demo_copy, second_progress)
    first.join(60)
    assert len(builds) == 1
    assert fingerprint == catalog.current_fingerprint(demo_copy)
    assert not catalog.needs_build(demo_copy)
    assert second_seen and set(second_seen) <= set(first_seen)


def test_a_build_finds_and_removes_what_a_killed_build_left(demo_copy):
    folder = catalog.catalog_path(demo_copy, "0" * 16).parent
    folder.mkdir(parents=True, exist_ok=True)
    dead = _dead_pid()
    left = [
        folder / f".copy-x.building-{dead}-1.duckdb",
        folder / f".copy-x.building-{dead}-1.duckdb.wal",
    ]
    spill = folder / f".copy-x.building-{dead}-1.duckdb.tmp"
    mine = folder / f".copy-x.building-{os.getpid()}-1.duckdb"  # a live process's build
    for path in [*left, mine]:
        path.write_bytes(b"x")
    spill.mkdir()
    (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"x")
    catalog.open_catalog(demo_copy).close()
    assert not any(p.exists() for p in [*left, spill])
    assert mine.exists()
    mine.unlink()


def _dead_pid() -> int:
    """The id of a process that has exited (and was reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_copy_without_shards_is_an_error(tmp_path):
    with pytest.raises(catalog.CatalogError, match="no parquet shards"):
        catalog.open_catalog(tmp_path)
