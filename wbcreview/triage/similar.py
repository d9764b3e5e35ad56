"""Look-alikes: for a cell, the nearest cells of its own class and of other classes.

The embedding is built from the built-in baseline's colour and texture features of each
pristine image (`features.cached_features`, the same cache the baseline uses), one of:

- `standard`: every feature scaled to zero median and unit spread (robust scaling);
- `lda`: those scaled features projected by a linear discriminant analysis fitted on the
  copy's labels (at most 12 axes: the directions that separate the classes).

`bench-finders` measures which finds a cell's own class more often among its nearest
cells from other patients (`class_hit_rate`); DEFAULT_EMBEDDING is the winner. The
embedding is computed once per copy state and cached beside the catalog; the index is an
exact faiss flat (L2) index, built in memory from it in milliseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

from wbcreview.data.catalog import Catalog
from wbcreview.errors import WbcreviewError
from wbcreview.triage import features, signatures

EMBEDDINGS = ("standard", "lda")
DEFAULT_EMBEDDING = "lda"
DEFAULT_K = 6
SEARCH_DEPTH = 400  # neighbours fetched to find k of the same and k of other classes
_INDEXES: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


class SimilarError(WbcreviewError):
    """Look-alikes cannot be found as asked."""


def _scaled(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, np.float64)
    med = np.nanmedian(x, axis=0)
    spread = np.nanpercentile(x, 75, axis=0) - np.nanpercentile(x, 25, axis=0)
    std = np.nanstd(x, axis=0)
    spread = np.where(spread > 1e-9, spread, np.where(std > 1e-9, std, 1.0))
    z = (x - med) / spread
    return np.nan_to_num(np.clip(z, -10, 10)).astype(np.float32)


def embed(values: np.ndarray, labels: np.ndarray, method: str = DEFAULT_EMBEDDING) -> np.ndarray:
    """The embedding of feature rows (n x features) under `method` (see EMBEDDINGS)."""
    if method not in EMBEDDINGS:
        raise SimilarError(f"unknown embedding {method!r}: use {', '.join(EMBEDDINGS)}")
    z = _scaled(values)
    if method == "standard":
        return z
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    classes = np.unique(labels)
    if len(classes) < 2:
        return z
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
    lda.fit(z, labels)
    return lda.transform(z).astype(np.float32)


def class_hit_rate(
    emb: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int = 5
) -> dict[str, float]:
    """How often a cell's nearest cells (of other patients) have its class: `top1` (the
    nearest) and `majority` (the most common class of the k nearest)."""
    import faiss

    emb = np.ascontiguousarray(emb, np.float32)
    index = faiss.IndexFlatL2(emb.shape[1])
    index.add(emb)
    _, ids = index.search(emb, min(len(emb), k + 50))
    top1 = majority = 0
    for i, row in enumerate(ids):
        near = [j for j in row if j >= 0 and j != i and groups[j] != groups[i]][:k]
        if not near:
            continue
        top1 += labels[near[0]] == labels[i]
        values, counts = np.unique(labels[near], return_counts=True)
        majority += values[np.argmax(counts)] == labels[i]
    n = len(emb)
    return {"top1": top1 / n if n else 0.0, "majority": majority / n if n else 0.0}


def honest_hit_rate(
    values: np.ndarray, labels: np.ndarray, groups: np.ndarray, method: str, k: int = 5
) -> dict[str, float]:
    """`class_hit_rate` with the embedding fitted on one half of the patients and measured on
    the other, both ways, averaged (a fitted embedding must not see the cells it is scored
    on)."""
    patients = np.unique(groups)
    rng = np.random.default_rng(0)
    half = set(rng.choice(patients, len(patients) // 2, replace=False))
    in_a = np.array([g in half for g in groups])
    rates = []
    for fit, score in ((in_a, ~in_a), (~in_a, in_a)):
        if method == "standard":
            emb = _scaled(values)[score]
        else:
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            z = _scaled(values)
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(
                z[fit], labels[fit]
            )
            emb = lda.transform(z[score])
        rates.append(class_hit_rate(emb, labels[score], groups[score], k))
    return {key: float(np.mean([r[key] for r in rates])) for key in rates[0]}


def _pristine(cat: Catalog, feats: pd.DataFrame) -> pd.DataFrame:
    meta = (
        cat.cursor()
        .execute("SELECT image_id, label, split, patient_hash FROM cells WHERE config = 'pristine'")
        .df()
    )
    rows = feats[feats["config"] == "pristine"].merge(meta, on="image_id", how="inner")
    return rows.reset_index(drop=True)


def is_ready(cat: Catalog) -> bool:
    """True when the features the look-alike index needs are cached (no long computation)."""
    return features.cache_path(cat).is_file()


def embedding(
    cat: Catalog,
    reader=None,
    progress: signatures.Progress | None = None,
    method: str = DEFAULT_EMBEDDING,
    workers: int = 2,
) -> pd.DataFrame:
    """The embedding of every pristine cell (cell_id, label, split, patient_hash, e0..),
    cached beside the catalog per copy state; features are computed first if missing."""
    if method not in EMBEDDINGS:
        raise SimilarError(f"unknown embedding {method!r}: use {', '.join(EMBEDDINGS)}")
    path = signatures.cache_path(cat, f"lookalikes_{method}")
    frame = signatures.read_cache(path)
    if frame is not None:
        return frame
    feats = features.cached_features(cat, reader, progress, workers)
    rows = _pristine(cat, feats)
    if rows.empty:
        raise SimilarError(f"the copy at {cat.root} has no pristine cell to compare")
    values = rows[list(features.FEATURE_NAMES)].to_numpy(np.float64)
    emb = embed(values, rows["label"].to_numpy(), method)
    frame = rows[["cell_id", "label", "split", "patient_hash"]].copy()
    for i in range(emb.shape[1]):
        frame[f"e{i}"] = emb[:, i]
    signatures.write_cache(frame, path)
    return frame


def index(cat: Catalog, method: str = DEFAULT_EMBEDDING, reader=None, progress=None):
    """(embedding table, faiss index) of the copy, built once per copy state and process."""
    import faiss

    key = (str(signatures.cache_path(cat, f"lookalikes_{method}")), method)
    with _LOCK:
        if key in _INDEXES:
            _INDEXES.move_to_end(key)
            return _INDEXES[key]
    frame = embedding(cat, reader, progress, method)
    emb = np.ascontiguousarray(frame.filter(regex=r"^e\d+$").to_numpy(np.float32))
    idx = faiss.IndexFlatL2(emb.shape[1])
    idx.add(emb)
    with _LOCK:
        _INDEXES[key] = (frame, idx, emb)
        while len(_INDEXES) > 4:
            _INDEXES.popitem(last=False)
    return frame, idx, emb


def lookalikes(
    cat: Catalog, cell_id: str, k: int = DEFAULT_K, method: str = DEFAULT_EMBEDDING
) -> pd.DataFrame:
    """The `k` nearest cells of the cell's own class and the `k` nearest of other classes
    (columns cell_id, label, split, patient_hash, distance, same_class, rank), nearest first.

    Raises SimilarError for a cell with no pristine row.
    """
    if not isinstance(k, int) or k < 1:
        raise SimilarError(f"k must be a whole number >= 1 (got {k!r})")
    frame, idx, emb = index(cat, method)
    where = np.flatnonzero(frame["cell_id"].to_numpy() == cell_id)
    if not len(where):
        raise SimilarError(f"cell {cell_id} has no pristine image in the look-alike index")
    me = int(where[0])
    label = frame.at[me, "label"]
    depth = min(len(frame), SEARCH_DEPTH)
    dist, ids = idx.search(emb[me : me + 1], depth)
    dist, ids = dist[0], ids[0]
    keep = (ids >= 0) & (ids != me)
    dist, ids = dist[keep], ids[keep]
    labels = frame["label"].to_numpy()[ids]
    same = np.flatnonzero(labels == label)[:k]
    other = np.flatnonzero(labels != label)[:k]
    picked = np.concatenate([same, other])
    out = frame.iloc[ids[picked]][["cell_id", "label", "split", "patient_hash"]].copy()
    out["distance"] = np.sqrt(np.maximum(dist[picked], 0)).round(3)
    out["same_class"] = labels[picked] == label
    out["rank"] = picked + 1
    return out.reset_index(drop=True)
