"""Look-alikes: the nearest cells of the same and of other classes, from a cached index."""

from __future__ import annotations

import numpy as np
import pytest

from wbcreview.data import catalog
from wbcreview.triage import similar

pytest_plugins = ["tests.finder_fixtures"]


@pytest.fixture(scope="module")
def opened(planted):
    root, _ = planted
    with catalog.open_catalog(root) as cat:
        similar.index(cat)
        yield cat


def _some_cell(cat, label: str | None = None) -> tuple[str, str]:
    sql = "SELECT cell_id, label FROM cells WHERE config = 'pristine'"
    if label:
        sql += f" AND label = '{label}'"
    return cat.cursor().execute(sql + " ORDER BY cell_id LIMIT 1").fetchone()


def test_lookalikes_give_k_of_the_same_class_and_k_of_others_nearest_first(opened):
    cell, label = _some_cell(opened, "SNE")
    table = similar.lookalikes(opened, cell, k=4)
    same, other = table[table["same_class"]], table[~table["same_class"]]
    assert len(same) == 4 and len(other) == 4
    assert (same["label"] == label).all() and (other["label"] != label).all()
    assert same["distance"].is_monotonic_increasing and other["distance"].is_monotonic_increasing
    assert cell not in set(table["cell_id"])


def test_an_exact_copy_is_the_nearest_look_alike(opened, planted):
    _, truth = planted
    source, copy, _, _ = truth.exact[0]
    table = similar.lookalikes(opened, source, k=3)
    assert table.sort_values("distance")["cell_id"].iloc[0] == copy


def test_a_cell_without_a_pristine_image_is_refused(opened):
    with pytest.raises(similar.SimilarError, match="no pristine image"):
        similar.lookalikes(opened, "00000000")


def test_the_embedding_is_cached_beside_the_catalog(opened):
    from wbcreview.triage import signatures

    assert signatures.cache_path(opened, f"lookalikes_{similar.DEFAULT_EMBEDDING}").is_file()
    assert similar.is_ready(opened)


def test_class_hit_rate_counts_neighbours_of_other_patients_only():
    emb = np.array([[0.0], [0.1], [5.0], [5.1]], np.float32)
    labels = np.array(["A", "A", "B", "B"])
    # Each cell's only neighbour of another patient is in the other cluster.
    rate = similar.class_hit_rate(emb, labels, np.array([1, 1, 2, 2]), k=1)
    assert rate["top1"] == 0.0
    rate = similar.class_hit_rate(emb, labels, np.array([1, 2, 3, 4]), k=1)
    assert rate["top1"] == 1.0


def test_an_unknown_embedding_is_refused():
    with pytest.raises(similar.SimilarError, match="unknown embedding"):
        similar.embed(np.zeros((3, 2)), np.array(["A", "B", "A"]), "umap")
