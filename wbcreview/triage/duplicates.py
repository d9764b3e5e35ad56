"""Duplicates and leakage: the same cell image twice in a copy, and what each pair crosses.

Exact duplicates share the hash of their decoded pixels (`signatures.pixel_hash`), so a copy
whose file bytes differ (other metadata, re-wrapped) still matches. Near-duplicate
candidates are each cell's nearest neighbours (faiss) by the correlation of 16 x 16 grey
thumbnails, at MIN_COARSE or more; a candidate is a near duplicate when the high-pass
40 x 40 thumbnails of both images (read again from the shards) correlate at MIN_SIMILARITY
or more. Correlation is blind to brightness, contrast and colour shifts and survives
resizing, re-encoding and small crops. The pHash distance (imagehash) of each pair is
reported too; as a candidate filter it was measured useless on segmented cells (on the
PBC sample 88 % of all pairs lie within 14 bits).

Each cell is compared by its pristine image; a degraded row is a copy of its own source by
design and is never reported. Every other pair is, with what it crosses: `split` (the
same cell in two splits: leakage between train, eval and test), `patient` (the same cell
under two patient hashes) and `label` (the same cell with two labels). Pairs are grouped
(connected components) so three copies of one cell are one group.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from wbcreview.data.catalog import Catalog
from wbcreview.errors import WbcreviewError
from wbcreview.triage import signatures

MIN_COARSE = 0.95  # candidates: 16 x 16 thumbnail correlation at least this
NEIGHBOURS = 10  # nearest neighbours of each cell looked at for candidates
MIN_SIMILARITY = 0.82  # near duplicates: fine (high-pass 40 x 40) correlation at least this
EXACT_INDEX_MAX = 30_000  # up to this many rows the neighbour search is exact (flat index)
MAX_GROUP = 50  # an exact-duplicate group larger than this is cut to its first members
QUERY_BLOCK = 8192
SPLIT_ORDER = ("phase1_train", "phase2_train", "phase2_eval", "phase2_test")
PAIR_COLUMNS = (
    "group",
    "kind",
    "crosses",
    "cell_a",
    "cell_b",
    "split_a",
    "split_b",
    "label_a",
    "label_b",
    "patient_a",
    "patient_b",
    "phash_distance",
    "similarity",
)


class DuplicatesError(WbcreviewError):
    """Duplicates cannot be found or queued as asked."""


def _exact_pairs(sig: pd.DataFrame) -> list[tuple[int, int]]:
    ok = sig.index[sig["decoded"] == 1]
    pairs = []
    for _, members in sig.loc[ok].groupby("pixel_hash").groups.items():
        members = sorted(members)[:MAX_GROUP]
        pairs += [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]
    return pairs


def candidate_pairs(
    thumbs: np.ndarray, k: int = NEIGHBOURS, min_coarse: float = MIN_COARSE
) -> np.ndarray:
    """Pairs (i < j) among each row's `k` nearest rows by thumbnail correlation, at
    `min_coarse` or more (m x 2), from a faiss inner-product index: exact (flat) up to
    EXACT_INDEX_MAX rows, else an inverted-file index probing 16 of 4 x sqrt(n) lists."""
    import faiss

    n = len(thumbs)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    x = np.ascontiguousarray(thumbs, np.float32)
    d = x.shape[1]
    if n <= EXACT_INDEX_MAX:
        index = faiss.IndexFlatIP(d)
    else:
        lists = int(4 * np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        index.train(x[rng.choice(n, min(n, lists * 40), replace=False)])
        index.nprobe = 16
    index.add(x)
    out = []
    for start in range(0, n, QUERY_BLOCK):
        sims, ids = index.search(x[start : start + QUERY_BLOCK], min(n, k + 1))
        rows = np.repeat(np.arange(start, start + len(ids)), ids.shape[1])
        ids, sims = ids.ravel(), sims.ravel()
        keep = (ids >= 0) & (ids != rows) & (sims >= min_coarse)
        a, b = rows[keep], ids[keep]
        out.append(np.column_stack([np.minimum(a, b), np.maximum(a, b)]))
    pairs = np.concatenate(out) if out else np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def find_pairs(
    sig: pd.DataFrame,
    fine=None,
    min_similarity: float = MIN_SIMILARITY,
    min_coarse: float = MIN_COARSE,
) -> pd.DataFrame:
    """Duplicate pairs among the rows of a signature table: positions a < b, kind (exact or
    near), pHash distance and similarity. Undecodable rows are left out.

    Near-duplicate candidates (see `candidate_pairs`) are verified by `fine(positions)`, a
    function returning the fine thumbnails (`signatures.fine_thumb`) of those rows; without
    it the 16 x 16 correlation alone decides (at `min_coarse`).
    """
    sig = sig.reset_index(drop=True)
    decoded = sig["decoded"].to_numpy() == 1
    thumbs = signatures.thumbs(sig)
    frames = []
    exact = _exact_pairs(sig)
    if exact:
        a, b = np.array(exact).T
        frames.append(pd.DataFrame({"a": a, "b": b, "kind": "exact"}))
    cand = candidate_pairs(thumbs, min_coarse=min_coarse)
    if len(cand):
        cand = cand[decoded[cand[:, 0]] & decoded[cand[:, 1]]]
        exact_set = set(exact)
        cand = np.array([p for p in map(tuple, cand) if p not in exact_set], np.int64).reshape(
            -1, 2
        )
    if len(cand):
        a, b = cand[:, 0], cand[:, 1]
        if fine is None:
            sim = np.einsum("ij,ij->i", thumbs[a], thumbs[b])
            keep = sim >= min_coarse
        else:
            rows = np.unique(cand)
            vectors = dict(zip(rows.tolist(), fine(rows.tolist()), strict=True))
            sim = np.array([float(vectors[i] @ vectors[j]) for i, j in zip(a, b, strict=True)])
            keep = sim >= min_similarity
        frames.append(
            pd.DataFrame({"a": a[keep], "b": b[keep], "kind": "near", "similarity": sim[keep]})
        )
    if not frames:
        return pd.DataFrame(columns=["a", "b", "kind", "phash_distance", "similarity"])
    pairs = pd.concat(frames, ignore_index=True)
    pairs = pairs.drop_duplicates(["a", "b"], keep="first").reset_index(drop=True)
    a, b = pairs["a"].to_numpy(int), pairs["b"].to_numpy(int)
    ph = sig["phash"].to_numpy()
    pairs["phash_distance"] = np.bitwise_count(ph[a] ^ ph[b]).astype(int)
    if "similarity" not in pairs:
        pairs["similarity"] = np.nan
    pairs["similarity"] = pairs["similarity"].fillna(1.0).astype(float).round(4)
    return pairs


def _groups(pairs: pd.DataFrame) -> np.ndarray:
    """A group number per pair: connected components of the pair graph, numbered from 1."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes = np.unique(np.concatenate([pairs["a"], pairs["b"]]))
    pos = {n: i for i, n in enumerate(nodes)}
    a = np.array([pos[n] for n in pairs["a"]])
    b = np.array([pos[n] for n in pairs["b"]])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    return labels[a]


def _fine_reader(cat: Catalog, reader):
    """fine(positions): the fine thumbnails of scanned rows, read from the shards."""
    from wbcreview.data import query

    rows = signatures.scanned_rows(cat)
    paths = cat.shard_paths()

    def fine(positions: list[int]) -> list[np.ndarray]:
        out = []
        for start in range(0, len(positions), signatures.BATCH):
            chunk = rows.iloc[positions[start : start + signatures.BATCH]]
            out += [
                signatures.fine_thumb(b) for b in reader.read(query.image_requests(paths, chunk))
            ]
        return out

    return fine


def duplicates(
    cat: Catalog,
    reader=None,
    progress: signatures.Progress | None = None,
    min_similarity: float = MIN_SIMILARITY,
    workers: int = 2,
) -> pd.DataFrame:
    """Every duplicate pair of the copy (PAIR_COLUMNS), leakage first.

    The scan and the pairs are cached beside the catalog (keyed by the shards' state);
    split, label and patient come from the catalog at each call.
    """
    if not 0 < min_similarity <= 1:
        raise DuplicatesError(f"the similarity must be in (0, 1] (got {min_similarity})")
    sig = signatures.cached(cat, reader, progress, workers)
    path = signatures.cache_path(cat, f"duplicates_s{round(min_similarity * 100)}")
    raw = signatures.read_cache(path)
    if raw is None:
        own = reader is None
        if own:
            from wbcreview.data.images import ImageReader

            reader = ImageReader()
        try:
            if progress:
                progress(0, 1, "comparing the images")
            found = find_pairs(sig, _fine_reader(cat, reader), min_similarity)
        finally:
            if own:
                reader.close()
        ids = sig["cell_id"].to_numpy()
        raw = pd.DataFrame(
            {
                "cell_a": ids[found["a"].to_numpy(int)],
                "cell_b": ids[found["b"].to_numpy(int)],
                "kind": found["kind"].astype(str).to_numpy(),
                "phash_distance": found["phash_distance"].astype(int).to_numpy(),
                "similarity": found["similarity"].astype(float).to_numpy(),
            }
        )
        signatures.write_cache(raw, path)
        if progress:
            progress(1, 1, f"{len(raw):,} duplicate pairs")
    return annotate(cat, raw)


def annotate(cat: Catalog, raw: pd.DataFrame) -> pd.DataFrame:
    """Pairs (cell_a, cell_b, kind, phash_distance, similarity) with their groups, splits,
    labels, patients and crossings, ordered: leakage, then label, then patient, then the
    rest; within each, exact before near."""
    if raw.empty:
        return pd.DataFrame(columns=list(PAIR_COLUMNS))
    meta = (
        cat.cursor()
        .execute(
            "SELECT cell_id, any_value(split ORDER BY config DESC) AS split, "
            "any_value(label ORDER BY config DESC) AS label, "
            "any_value(patient_hash ORDER BY config DESC) AS patient_hash "
            "FROM cells WHERE list_contains(?, cell_id) GROUP BY cell_id",
            [sorted(set(raw["cell_a"]) | set(raw["cell_b"]))],
        )
        .df()
        .set_index("cell_id")
    )
    out = raw.copy()
    for side in ("a", "b"):
        m = meta.reindex(out[f"cell_{side}"])
        out[f"split_{side}"] = m["split"].to_numpy()
        out[f"label_{side}"] = m["label"].to_numpy()
        out[f"patient_{side}"] = m["patient_hash"].to_numpy()
    out["crosses"] = [
        ",".join(
            what
            for what, x, y in (
                ("split", r.split_a, r.split_b),
                ("patient", r.patient_a, r.patient_b),
                ("label", r.label_a, r.label_b),
            )
            if x != y
        )
        for r in out.itertuples(index=False)
    ]
    codes = out["group_code"] = _groups(out.rename(columns={"cell_a": "a", "cell_b": "b"}))
    # Groups ordered by their worst crossing: split, then label, then patient.
    rank = (
        out["crosses"].str.contains("split") * 4
        + out["crosses"].str.contains("label") * 2
        + out["crosses"].str.contains("patient") * 1
    )
    worst = rank.groupby(codes).max()
    order = sorted(worst.index, key=lambda g: (-worst[g], g))
    number = {g: i + 1 for i, g in enumerate(order)}
    out["group"] = [number[g] for g in codes]
    out["_rank"] = rank
    out = out.sort_values(["group", "_rank", "kind"], ascending=[True, False, True], kind="stable")
    return out[list(PAIR_COLUMNS)].reset_index(drop=True)


def group_cells(pairs: pd.DataFrame, group: int) -> list[str]:
    """The cells of one group, in the order they first appear in its pairs."""
    rows = pairs[pairs["group"] == group]
    if rows.empty:
        raise DuplicatesError(f"there is no duplicate group {group}")
    return list(dict.fromkeys(c for a, b in zip(rows["cell_a"], rows["cell_b"], strict=True)
                              for c in (a, b)))  # fmt: skip


def copy_to_remove(pairs: pd.DataFrame, group: int) -> dict[str, str]:
    """For one group, the suggested removals: every cell but the one kept, which is the one in
    the earliest split (train before eval before test), then the lowest id. Returns
    {removed cell: kept cell}."""
    rows = pairs[pairs["group"] == group]
    split_of: dict[str, str] = {}
    for side in ("a", "b"):
        split_of.update(zip(rows[f"cell_{side}"], rows[f"split_{side}"], strict=True))
    cells = group_cells(pairs, group)

    def key(cell: str):
        split = split_of.get(cell)
        return (SPLIT_ORDER.index(split) if split in SPLIT_ORDER else 9, cell)

    kept = min(cells, key=key)
    return {c: kept for c in cells if c != kept}


def summary(pairs: pd.DataFrame) -> dict[str, int]:
    """Counts: pairs, groups, exact and near pairs, and pairs crossing split, patient, label."""
    return {
        "pairs": len(pairs),
        "groups": int(pairs["group"].nunique()) if len(pairs) else 0,
        "exact": int((pairs["kind"] == "exact").sum()),
        "near": int((pairs["kind"] == "near").sum()),
        "split": int(pairs["crosses"].str.contains("split").sum()),
        "patient": int(pairs["crosses"].str.contains("patient").sum()),
        "label": int(pairs["crosses"].str.contains("label").sum()),
    }


def make_queue(store, admin, pairs: pd.DataFrame, groups: Iterable[int], name: str = "") -> int:
    """Store the cells of duplicate `groups` as one review queue and return its id.

    The queue's definition records the groups, their pairs and the suggested action for
    each cell: remove (reason other: a duplicate) every copy but the one kept (see
    `copy_to_remove`). The store raises PermissionDenied for a non-admin.
    """
    groups = [int(g) for g in groups]
    if not groups:
        raise DuplicatesError("choose at least one duplicate group to queue")
    cells: list[str] = []
    suggested: dict[str, dict] = {}
    for g in groups:
        cells += group_cells(pairs, g)
        for removed, kept in copy_to_remove(pairs, g).items():
            suggested[removed] = {
                "action": "remove",
                "reason": "other",
                "note": f"duplicate of {kept} (group {g})",
            }
    rows = pairs[pairs["group"].isin(groups)]
    definition = {
        "kind": "duplicates",
        "groups": groups,
        "pairs": [
            {"a": a, "b": b, "kind": k, "crosses": c}
            for a, b, k, c in zip(
                rows["cell_a"], rows["cell_b"], rows["kind"], rows["crosses"], strict=True
            )  # fmt: skip
        ][:500],
        "suggested": suggested,
    }
    title = name.strip() or default_queue_name(pairs, groups)
    return store.create_queue(admin, title, "manual", cells, definition=definition)


def default_queue_name(pairs: pd.DataFrame, groups: list[int]) -> str:
    """`Duplicates: group 3 (split, label)` or `Duplicates: 12 groups`."""
    if len(groups) == 1:
        rows = pairs[pairs["group"] == groups[0]]
        what = sorted({w for c in rows["crosses"] for w in c.split(",") if w})
        return f"Duplicates: group {groups[0]}" + (f" ({', '.join(what)})" if what else "")
    return f"Duplicates: {len(groups):,} groups"
