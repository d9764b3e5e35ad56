"""Simulated review votes for a separate demo store, so every review page has something to show.

Ten teams of one or two annotators of varying accuracy vote on a few hundred cells; their
mistakes fall mostly inside the confusable groups (SNE/BNE, LY/VLY/PLY, BL/MO/PMY,
PMY/MY/MMY); some remove cells with a reason, some comment, a few change their mind or undo;
an expert adjudicates some disputed cells and accepts some agreed ones. Every row has
source 'demo' and the store is marked as a demo store (`Store.is_demo`). The same seed
gives the same votes, uids and times, and seeding a store twice writes nothing new.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from wbcreview import config
from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.review import consensus
from wbcreview.review.store import REMOVE_REASONS, Reviewer, Store

ADMIN = Reviewer("Admin (demo)", "Demo", "admin")
EXPERT = Reviewer("Expert (demo)", "Adjudication", "adjudicator")
TEAMS = tuple(f"Team {i}" for i in range(1, 11))
BASE_TIME = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
QUEUE_NAME = "Demo: simulated review"
COMMENTS = (
    "nucleus looks band-shaped to me",
    "two cells overlap in the crop",
    "blurry, hard to tell at this zoom",
    "granules clearly visible",
    "could be a reactive lymphocyte",
    "nucleolus visible",
    "chromatin looks fine, not mature",
    "borderline, would like a second look",
)
# Reasons annotators give for a removal, with how often.
_REASONS = ("multi-cell", "low-quality", "smudge", "artefact", "not-classable", "other")
_REASON_P = (0.3, 0.3, 0.15, 0.1, 0.1, 0.05)
_NAMESPACE = uuid.UUID("0c6f8f4e-5d0b-4b8e-8f5e-7d3c2a1b9e10")

assert set(_REASONS) == set(REMOVE_REASONS)


class DemoVotesError(WbcreviewError):
    """The demo votes cannot be seeded (bad cells, or the store is not a demo store)."""


def demo_store_url() -> str:
    """The demo store: `sqlite:///<WBCREVIEW_HOME>/demo-reviews.sqlite`, apart from real reviews."""
    return f"sqlite:///{config.data_dir() / 'demo-reviews.sqlite'}"


def _uid(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, (seed, *parts)))))


def _partners(label: str) -> list[str]:
    return sorted(
        {m for members in consensus.HARD_GROUPS.values() if label in members for m in members}
        - {label}
    )


def _confusable(label: str, rng: np.random.Generator) -> str:
    """A label an annotator may mistake `label` for: a hard-group partner when there is one."""
    partners = _partners(label)
    if partners and rng.random() < 0.8:
        return str(rng.choice(partners))
    return str(rng.choice([c for c in CLASS_CODES if c != label]))


def _annotators(rng: np.random.Generator) -> list[tuple[Reviewer, float]]:
    out = []
    for number, team in enumerate(TEAMS, start=1):
        for letter in "AB"[: 1 + int(rng.random() < 0.5)]:
            accuracy = float(rng.uniform(0.6, 0.95))
            out.append((Reviewer(f"Annotator {number}{letter}", team, "annotator"), accuracy))
    return out


def _pick_cells(cells: pd.DataFrame, n_cells: int, rng: np.random.Generator) -> pd.DataFrame:
    """Up to a third of the cells whose label differs from the original, the rest at random."""
    differs = cells["original_label"].notna() & (cells["original_label"] != cells["label"])
    first = cells[differs]
    first = first.iloc[np.sort(rng.permutation(len(first))[: n_cells // 3])]
    rest = cells[~cells["cell_id"].isin(first["cell_id"])]
    rest = rest.iloc[np.sort(rng.permutation(len(rest))[: n_cells - len(first)])]
    return pd.concat([first, rest]).sort_values("cell_id").reset_index(drop=True)


def _vote(outcome: str, label: str, rng: np.random.Generator) -> dict:
    if outcome == "remove":
        return {"action": "remove", "reason": str(rng.choice(_REASONS, p=_REASON_P))}
    if outcome == "unsure":
        return {"action": "unsure"}
    if outcome == label:
        return {"action": "retain"}
    return {"action": "correct", "label": outcome}


def _simulate(picked: pd.DataFrame, seed: int, queue_id: int) -> tuple[list[dict], dict[str, str]]:
    """Vote rows (in time order) and each cell's simulated true outcome."""
    rng = np.random.default_rng([seed, 1])
    annotators = _annotators(rng)
    events: list[list[dict]] = []
    truths: dict[str, str] = {}
    for cell, label, original in zip(
        picked["cell_id"], picked["label"], picked["original_label"], strict=True
    ):
        u = rng.random()
        if u < 0.04:
            truth, lure = "remove", label
        elif isinstance(original, str) and original != label:
            truth, lure = label, original
        elif u < 0.16:
            truth, lure = _confusable(label, rng), label
        else:
            truth, lure = label, _confusable(label, rng)
        truths[cell] = truth
        chosen = rng.choice(len(annotators), size=int(rng.integers(3, 7)), replace=False)
        for index in sorted(chosen):
            who, accuracy = annotators[index]
            if rng.random() < accuracy:
                outcome = truth
            else:
                x = rng.random()
                if x < 0.1:
                    outcome = "unsure"
                elif truth == "remove":
                    outcome = label
                elif x < 0.2:
                    outcome = "remove"
                elif x < 0.75:
                    outcome = lure
                else:
                    outcome = str(rng.choice([c for c in CLASS_CODES if c != truth]))
            base = {
                "cell_id": cell,
                "reviewer": who.name,
                "team": who.team,
                "role": who.role,
                "queue_id": queue_id,
            }
            vote = base | _vote(outcome, label, rng)
            if rng.random() < 0.08:
                vote["comment"] = str(rng.choice(COMMENTS))
            x = rng.random()
            if x < 0.03:  # a change of mind: a first vote, then the final one
                events.append([base | _vote(lure, label, rng), vote])
            elif x < 0.06:  # an undo: a first vote, undone, then the final one
                first = base | _vote(lure, label, rng)
                events.append([first, base | {"action": "undo", "undoes": first}, vote])
            else:
                events.append([vote])
    rows: list[dict] = []
    for position in rng.permutation(len(events)):
        rows.extend(events[position])
    offsets = np.sort(rng.uniform(0, 5 * 24 * 3600, size=len(rows)))
    for number, (row, offset) in enumerate(zip(rows, offsets, strict=True)):
        row["uid"] = _uid(seed, "vote", number)
        row["at"] = BASE_TIME + timedelta(seconds=float(offset))
    for row in rows:
        if row["action"] == "undo":
            row["undoes"] = row["undoes"]["uid"]
    return rows, truths


def _decision(truth: str, label: str) -> dict:
    if truth == "remove":
        return {"action": "remove", "reason": "multi-cell"}
    if truth == label:
        return {"action": "retain"}
    return {"action": "correct", "label": truth}


def seed_demo_votes(
    store_url: str | None, cells: pd.DataFrame, seed: int = 0, *, n_cells: int = 300
) -> dict:
    """Seed the demo store at `store_url` (None: demo_store_url()) with simulated votes.

    `cells` has cell_id and label (the current label), and original_label when known; up
    to `n_cells` of them are reviewed. Deterministic for a seed; a second call with the same
    seed writes nothing new. Raises DemoVotesError for unusable cells or a store that holds
    real reviews or was seeded with another seed. Returns a summary: url, seed, cells,
    teams, annotators, votes, undos, adjudications, accepted, queue_id, statuses.
    """
    if "cell_id" not in cells.columns or "label" not in cells.columns:
        raise DemoVotesError("cells need the columns cell_id and label")
    cells = cells.copy()
    if "original_label" not in cells.columns:
        cells["original_label"] = None
    cells["original_label"] = cells["original_label"].astype(object)
    cells = cells[cells["label"].isin(CLASS_CODES)].drop_duplicates("cell_id")
    cells["cell_id"] = cells["cell_id"].astype(str)
    cells = cells.sort_values("cell_id").reset_index(drop=True)
    if cells.empty:
        raise DemoVotesError("no cell has a label among the 13 classes: nothing to vote on")
    rng = np.random.default_rng([seed, 0])
    picked = _pick_cells(cells, n_cells, rng)
    labels = dict(zip(picked["cell_id"], picked["label"], strict=True))

    with Store.open(store_url or demo_store_url(), blind=False) as store:
        real = store.votes_frame()
        if (real["source"] != "demo").any() or (
            store.adjudications_frame()["source"] != "demo"
        ).any():
            raise DemoVotesError(
                f"{store.url} holds real review votes: seed demo votes into a separate store"
            )
        if store.demo_seed not in (None, seed):
            raise DemoVotesError(
                f"{store.url} was seeded with {store.demo_seed}, not {seed}: use a new file"
            )
        store.mark_demo(ADMIN, seed)
        queues = store.list_queues()
        mine = queues[queues["name"] == QUEUE_NAME]
        if mine.empty:
            queue_id = store.create_queue(
                ADMIN,
                QUEUE_NAME,
                "manual",
                picked["cell_id"],
                definition={"demo": True, "seed": seed},
            )
        else:
            queue_id = int(mine["id"].iloc[0])
        rows, truths = _simulate(picked, seed, queue_id)
        store.import_votes(ADMIN, rows, source="demo")
        last = max(r["at"] for r in rows)

        # The expert's cells are chosen on the votes alone, so that a rerun picks the same.
        table = consensus.consensus_table(store.current_votes(), None, labels)
        # The expert takes half the disputed cells (at most 20) and accepts a third of the
        # agreed ones (at most 30), leaving work on the adjudication page.
        disputed = table[table["status"] == "disputed"]
        disputed = disputed.head(min(20, len(disputed) // 2))
        for number, cell in enumerate(disputed["cell_id"]):
            store.adjudicate(
                EXPERT,
                cell,
                **_decision(truths[cell], labels[cell]),
                note="demo: expert decision on a disputed cell",
                uid=_uid(seed, "adjudication", cell),
                source="demo",
                at=last + timedelta(minutes=10 + number),
            )
        agreed = table[table["status"] == "agreed"]
        agreed = agreed.head(min(30, len(agreed) // 3))
        store.accept_consensus(
            agreed[["cell_id", "action", "label", "reason"]],
            EXPERT,
            note="demo: agreed consensus accepted",
            uid=_uid(seed, "accept"),
            source="demo",
            at=last + timedelta(hours=1),
        )
        return _summary(store, seed, queue_id, labels)


def _summary(store: Store, seed: int, queue_id: int, labels: dict[str, str]) -> dict:
    votes = store.votes_frame()
    adjudications = store.adjudications_frame()
    table = consensus.consensus_table(store.current_votes(), store.current_adjudications(), labels)
    return {
        "url": store.url,
        "seed": seed,
        "cells": int(votes["cell_id"].nunique()),
        "teams": int(votes.loc[votes["role"] == "annotator", "team"].nunique()),
        "annotators": int(votes.loc[votes["role"] == "annotator", "reviewer"].nunique()),
        "votes": int((votes["action"] != "undo").sum()),
        "undos": int((votes["action"] == "undo").sum()),
        "adjudications": int((adjudications["basis"] == "expert").sum()),
        "accepted": int((adjudications["basis"] == "consensus").sum()),
        "queue_id": queue_id,
        "statuses": {s: int((table["status"] == s).sum()) for s in consensus.STATUSES},
    }
