"""Duplicates and leakage: the same cell image twice in a copy, and what each pair crosses.

Exact duplicates share the hash of their decoded pixels (`signatures.pixel_hash`), so a copy
whose file bytes differ (other metadata, re-wrapped) still matches. Near duplicates are
pairs whose perceptual hashes (imagehash's pHash, 64 bits) differ in at most
PHASH_RADIUS bits (found with a faiss binary index) and whose 16 x 16 grey thumbnails
correlate at MIN_SIMILARITY or more (normalised cross-correlation: blind to brightness,
contrast and colour shifts, robust to resizing, re-encoding and small crops).

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

PHASH_RADIUS = 14  # candidate pairs: pHash distance at most this (of 64 bits)
MIN_SIMILARITY = 0.90  # near duplicates: thumbnail correlation at least this
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


def _codes(phash: np.ndarray) -> np.ndarray:
    """pHash int64 values as n x 8 uint8 codes for a faiss binary index."""
    return np.ascontiguousarray(phash.astype(">i8").view(np.uint8).reshape(-1, 8))


def _exact_pairs(sig: pd.DataFrame) -> list[tuple[int, int]]:
    ok = sig.index[sig["decoded"] == 1]
    pairs = []
    for _, members in sig.loc[ok].groupby("pixel_hash").groups.items():
        members = sorted(members)[:MAX_GROUP]
        pairs += [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]
    return pairs


def candidate_pairs(phash: np.ndarray, radius: int = PHASH_RADIUS) -> np.ndarray:
    """Pairs (i < j) of rows whose pHash codes differ in at most `radius` bits (m x 3:
    i, j, distance), from a faiss binary range search in blocks of queries."""
    import faiss

    codes = _codes(phash)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    out = []
    for start in range(0, len(codes), QUERY_BLOCK):
        lims, dist, ids = index.range_search(codes[start : start + QUERY_BLOCK], radius + 1)
        rows = np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims))
        keep = ids > rows
        out.append(np.column_stack([rows[keep], ids[keep], dist[keep]]).astype(np.int64))
    return np.concatenate(out) if out else np.zeros((0, 3), np.int64)


def find_pairs(
    sig: pd.DataFrame, radius: int = PHASH_RADIUS, min_similarity: float = MIN_SIMILARITY
) -> pd.DataFrame:
    """Duplicate pairs among the rows of a signature table: positions a < b, kind (exact or
    near), pHash distance and thumbnail similarity. Undecodable rows are left out."""
    sig = sig.reset_index(drop=True)
    exact = _exact_pairs(sig)
    thumbs = signatures.thumbs(sig)
    decoded = sig["decoded"].to_numpy() == 1
    frames = []
    if exact:
        a, b = np.array(exact).T
        frames.append(pd.DataFrame({"a": a, "b": b, "kind": "exact"}))
    cand = candidate_pairs(sig["phash"].to_numpy(), radius) if len(sig) > 1 else np.zeros((0, 3))
    if len(cand):
        a, b, d = cand[:, 0], cand[:, 1], cand[:, 2]
        keep = decoded[a] & decoded[b]
        a, b, d = a[keep], b[keep], d[keep]
        sim = np.einsum("ij,ij->i", thumbs[a], thumbs[b])
        near = pd.DataFrame(
            {"a": a, "b": b, "kind": "near", "phash_distance": d, "similarity": sim}
        )
        frames.append(near[near["similarity"] >= min_similarity])
    if not frames:
        return pd.DataFrame(columns=["a", "b", "kind", "phash_distance", "similarity"])
    pairs = pd.concat(frames, ignore_index=True)
    pairs = pairs.drop_duplicates(["a", "b"], keep="first").reset_index(drop=True)  # exact wins
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    ph = sig["phash"].to_numpy()
    pairs["phash_distance"] = np.bitwise_count(ph[a] ^ ph[b]).astype(int)
    pairs["similarity"] = np.einsum("ij,ij->i", thumbs[a], thumbs[b]).round(4)
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


def _cached_pairs(cat: Catalog, sig: pd.DataFrame, radius: int, min_similarity: float):
    kind = f"duplicates_r{radius}_s{round(min_similarity * 100)}"
    path = signatures.cache_path(cat, kind)
    frame = signatures.read_cache(path)
    if frame is not None:
        return frame
    raw = find_pairs(sig, radius, min_similarity)
    frame = pd.DataFrame(
        {
            "cell_a": sig["cell_id"].to_numpy()[raw["a"].astype(int)],
            "cell_b": sig["cell_id"].to_numpy()[raw["b"].astype(int)],
            "kind": raw["kind"].astype(str),
            "phash_distance": raw["phash_distance"].astype(int),
            "similarity": raw["similarity"].astype(float),
        }
    )
    signatures.write_cache(frame, path)
    return frame


def duplicates(
    cat: Catalog,
    reader=None,
    progress: signatures.Progress | None = None,
    radius: int = PHASH_RADIUS,
    min_similarity: float = MIN_SIMILARITY,
    workers: int = 2,
) -> pd.DataFrame:
    """Every duplicate pair of the copy (PAIR_COLUMNS), leakage first.

    Signatures and pairs are cached beside the catalog (keyed by the shards' state); split,
    label and patient come from the catalog at each call. Rows: group (1 = the first
    group), kind, crosses, both cells with their split, label and patient, and the scores.
    """
    if not 0 <= radius <= 32:
        raise DuplicatesError(f"the pHash radius must be between 0 and 32 bits (got {radius})")
    if not 0 < min_similarity <= 1:
        raise DuplicatesError(f"the similarity must be in (0, 1] (got {min_similarity})")
    sig = signatures.cached(cat, reader, progress, workers)
    raw = _cached_pairs(cat, sig, radius, min_similarity)
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
