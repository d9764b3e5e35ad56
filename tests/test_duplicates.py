"""The duplicate finder: planted exact and near duplicates, leakage, caching, queues, CLI."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wbcreview.cli import main
from wbcreview.data import catalog
from wbcreview.review.store import PermissionDenied, Reviewer, Store
from wbcreview.triage import duplicates, plant, signatures

pytest_plugins = ["tests.finder_fixtures"]
ADMIN = Reviewer("Ada", "Core", "admin")


@pytest.fixture(scope="module")
def found(planted):
    root, truth = planted
    with catalog.open_catalog(root) as cat:
        pairs = duplicates.duplicates(cat, workers=1)
        degraded = (
            cat.cursor()
            .execute("SELECT image_id, cell_id, severity FROM cells WHERE config = 'degraded'")
            .df()
        )
    return pairs, truth, degraded


def _pairs(frame: pd.DataFrame) -> dict[frozenset, pd.Series]:
    return {frozenset((r.cell_a, r.cell_b)): r for r in frame.itertuples(index=False)}


def test_every_planted_exact_duplicate_is_found_as_exact(found):
    pairs, truth, _ = found
    by_pair = _pairs(pairs)
    for source, copy, how, _ in truth.exact:
        assert frozenset((source, copy)) in by_pair, how
        assert by_pair[frozenset((source, copy))].kind == "exact", how


def test_every_planted_near_duplicate_is_found(found):
    pairs, truth, _ = found
    by_pair = _pairs(pairs)
    missed = [
        how for source, copy, how, _ in truth.near if frozenset((source, copy)) not in by_pair
    ]
    assert missed == []


def test_no_pair_of_unrelated_real_cells_is_reported(found):
    pairs, truth, _ = found
    planted_pairs = {frozenset((a, b)) for a, b, _, _ in truth.exact + truth.near}
    extra = [p for p in _pairs(pairs) if p not in planted_pairs]
    assert extra == []


def test_a_cross_split_copy_is_reported_as_leakage_and_listed_first(found):
    pairs, truth, _ = found
    by_pair = _pairs(pairs)
    crossing = [frozenset((a, b)) for a, b, _, c in truth.exact + truth.near if c]
    assert crossing
    for pair in crossing:
        row = by_pair[pair]
        assert "split" in row.crosses and "patient" in row.crosses
        assert row.split_a != row.split_b
    first_groups = pairs["group"].iloc[: len(crossing)]
    assert all("split" in c for c in pairs[pairs["group"].isin(first_groups)]["crosses"])


def test_a_copy_with_another_label_crosses_label(found):
    pairs, _, _ = found
    relabelled = pairs[pairs["label_a"] != pairs["label_b"]]
    assert len(relabelled) >= 1
    assert all("label" in c for c in relabelled["crosses"])


def test_a_degraded_row_is_never_reported_against_its_own_source(found):
    pairs, _, degraded = found
    # Degraded rows at severity "pristine" are byte copies of their source by design.
    assert (degraded["severity"] == "pristine").any()
    reported = set(pairs["cell_a"]) | set(pairs["cell_b"])
    assert not reported & set(degraded["image_id"])
    assert (pairs["cell_a"] != pairs["cell_b"]).all()


def test_a_reencoded_file_with_the_same_pixels_is_an_exact_duplicate():
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 50, 3), np.uint8))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    jpeg = buf.getvalue()
    sig = signatures.signatures_of([jpeg, plant.exact_copy(jpeg, "png"),
                                    plant.exact_copy(jpeg, "jpeg comment")])  # fmt: skip
    assert len(set(sig["pixel_hash"])) == 1
    assert len({jpeg, plant.exact_copy(jpeg, "jpeg comment")}) == 2


def test_the_second_run_reads_the_cache_and_a_changed_shard_invalidates_it(
    planted_copy, monkeypatch
):
    root, _ = planted_copy
    with catalog.open_catalog(root) as cat:
        first = duplicates.duplicates(cat, workers=1)
        assert signatures.is_cached(cat)

        def fail(*a, **k):
            raise AssertionError("scanned again")

        monkeypatch.setattr(signatures, "compute", fail)
        again = duplicates.duplicates(cat, workers=1)
        pd.testing.assert_frame_equal(first, again)
    shard = next((root / "pristine").glob("*.parquet"))
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    with catalog.open_catalog(root) as cat:
        assert not signatures.is_cached(cat)


def test_a_group_becomes_a_queue_with_the_copy_to_remove(found, tmp_path):
    pairs, truth, _ = found
    source, copy, _, _ = next(t for t in truth.exact if t[3])
    group = int(pairs.loc[(pairs["cell_a"].isin([source, copy])) & (pairs["cell_b"].isin([source, copy])), "group"].iloc[0])  # fmt: skip
    with Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        queue_id = duplicates.make_queue(store, ADMIN, pairs, [group])
        assert set(store.queue_cells(queue_id)) == {source, copy}
        definition = store.queue(queue_id).definition
        assert definition["kind"] == "duplicates"
        ((removed, suggestion),) = definition["suggested"].items()
        assert suggestion["action"] == "remove"
        assert removed in {source, copy}
        with pytest.raises(PermissionDenied):
            duplicates.make_queue(store, Reviewer("Ann", "", "annotator"), pairs, [group])


def test_an_unknown_group_is_refused(found, tmp_path):
    pairs, _, _ = found
    with (
        Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as store,
        pytest.raises(duplicates.DuplicatesError, match="no duplicate group 9999"),
    ):
        duplicates.make_queue(store, ADMIN, pairs, [9999])


def test_find_duplicates_writes_every_pair_to_csv(planted, tmp_path, capsys):
    root, truth = planted
    out = tmp_path / "pairs.csv"
    assert main(["find-duplicates", "--data", str(root), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "duplicate pairs" in text and "crossing split (leakage)" in text
    frame = pd.read_csv(out, dtype=str)
    assert list(frame.columns) == list(duplicates.PAIR_COLUMNS)
    assert len(frame) == len(truth.exact) + len(truth.near)


def test_find_duplicates_refuses_a_similarity_above_one(planted, capsys):
    root, _ = planted
    assert main(["find-duplicates", "--data", str(root), "--similarity", "1.5"]) == 1
    assert "similarity must be in (0, 1]" in capsys.readouterr().err
