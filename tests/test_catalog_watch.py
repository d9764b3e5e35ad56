"""The copy's fingerprint is computed once per change, and the summary once per fingerprint."""

from __future__ import annotations

import os
import shutil

import pytest

from wbcreview.data import catalog, source


def _count_discover(monkeypatch) -> list[int]:
    calls = [0]
    real = catalog.discover

    def counted(root):
        calls[0] += 1
        return real(root)

    monkeypatch.setattr(catalog, "discover", counted)
    return calls


def test_fingerprint_is_not_recomputed_within_the_watch_interval(demo_copy, monkeypatch):
    calls = _count_discover(monkeypatch)
    first = catalog.current_fingerprint(demo_copy)
    for _ in range(5):
        assert catalog.current_fingerprint(demo_copy, max_age=60) == first
    assert calls[0] == 1


def test_unchanged_copy_is_checked_by_stat_without_listing_it_again(demo_copy, monkeypatch):
    calls = _count_discover(monkeypatch)
    first = catalog.current_fingerprint(demo_copy)
    monkeypatch.setattr(
        source, "read_card_configs", lambda root: pytest.fail("read the dataset card again")
    )
    assert catalog.current_fingerprint(demo_copy, max_age=0) == first
    assert calls[0] == 1


def test_a_changed_shard_changes_the_fingerprint_after_the_interval(demo_copy):
    first = catalog.current_fingerprint(demo_copy)
    shard = demo_copy / "pristine" / "phase2_eval-00000-of-00001.parquet"
    os.utime(shard, ns=(1, 1))
    assert catalog.current_fingerprint(demo_copy, max_age=60) == first  # not looked yet
    changed = catalog.current_fingerprint(demo_copy, max_age=0)
    assert changed != first
    assert changed == catalog._fingerprint(demo_copy.resolve(), source.discover(demo_copy))


def test_a_new_label_file_changes_the_fingerprint(demo_copy):
    first = catalog.current_fingerprint(demo_copy)
    labels = sorted((demo_copy / "original_labels").glob("*.csv"))[0]
    shutil.copy(labels, labels.with_name("extra_labels.csv"))
    assert catalog.current_fingerprint(demo_copy, max_age=0) != first


def test_a_removed_shard_changes_the_fingerprint(demo_copy):
    first = catalog.current_fingerprint(demo_copy)
    (demo_copy / "degraded" / "phase2_eval-00000-of-00001.parquet").unlink()
    assert catalog.current_fingerprint(demo_copy, max_age=0) != first


def test_summary_counts_every_row_once_and_is_computed_once(demo_root, monkeypatch):
    with catalog.open_catalog(demo_root) as cat:
        summary = cat.summary()
        rows = cat.cursor().execute("SELECT count(*) FROM cells").fetchone()[0]
        assert int(summary.counts["rows"].sum()) == rows
        assert int(summary.patients["rows"].sum()) == rows
        direct = dict(
            cat.cursor().execute("SELECT label, count(*) FROM cells GROUP BY 1").fetchall()
        )
        assert summary.total("label") == direct
        assert set(summary.counts.columns) >= {"config", "split", "label", "severity", "rows"}
        monkeypatch.setattr(cat, "cursor", lambda: pytest.fail("summary asked the catalog again"))
        assert cat.summary() is summary
    with catalog.open_catalog(demo_root) as other:  # another handle on the same state
        monkeypatch.setattr(other, "cursor", lambda: pytest.fail("not shared between handles"))
        assert other.summary() is summary
