"""The review workflow without Streamlit: queues, navigation, and what the review pages show.

Queues are made from a Browse filter, an imported list of image ids, or the cells whose
label differs from the original challenge label; the store keeps them. The tables and
figures of the consensus, adjudication and audit pages are built here from the store's
frames (`current_votes`, `votes_frame`, `adjudications_frame`, ...) and the catalog's
labels. Joins over those frames run in an in-memory DuckDB that reads the pandas frames
directly (no second database file: the store stays the only place decisions live).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb
import numpy as np
import pandas as pd

from wbcreview.data.labels import image_id_from_name
from wbcreview.data.query import Filter, where
from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.errors import WbcreviewError, listing
from wbcreview.review import aggregation, consensus
from wbcreview.review.store import REMOVE_REASONS

MAX_QUEUE_CELLS = 20_000
MAX_LISTED_PROBLEMS = 20

# One key per class, shown on its button. Mnemonic where the letters allow (C and R are
# Streamlit's own keys and cannot be used): Segmented, banD, Lymphocyte, Variant, prOly...
CLASS_KEYS: dict[str, str] = {
    "SNE": "S",
    "BNE": "D",
    "MMY": "T",
    "MY": "Y",
    "PMY": "P",
    "BL": "B",
    "MO": "M",
    "LY": "L",
    "VLY": "V",
    "PLY": "O",
    "PC": "Q",
    "EO": "E",
    "BA": "A",
}
# Buttons in lineage order, so that confusable classes sit side by side: one row for the
# neutrophil series, one for blasts, promyelocytes and monocytes, one lymphoid, one for the rest.
CLASS_ROWS: tuple[tuple[str, ...], ...] = (
    ("SNE", "BNE", "MMY", "MY"),
    ("PMY", "BL", "MO"),
    ("LY", "VLY", "PLY", "PC"),
    ("EO", "BA"),
)
CLASS_ORDER: tuple[str, ...] = tuple(c for row in CLASS_ROWS for c in row)
# Single-cell review: action -> its key (gallery.KEY_TO_ACTION maps key -> command).
ACTION_TO_KEY: dict[str, str] = {
    "retain": "K",
    "remove": "X",
    "unsure": "U",
    "undo": "Z",
    "previous": "ArrowLeft",
    "next": "ArrowRight",
}
ACTION_NAMES: dict[str, str] = {
    "retain": "Keep label",
    "correct": "Correct",
    "remove": "Remove",
    "unsure": "Unsure",
    "undo": "Undo",
}

_keys = [k.upper() for k in (*CLASS_KEYS.values(), *ACTION_TO_KEY.values())]
assert sorted(CLASS_KEYS) == sorted(CLASS_CODES) == sorted(CLASS_ORDER), "every class needs a key"
assert len(set(_keys)) == len(_keys), "two actions share a key"
assert not {"C", "R"} & set(_keys), "C and R are Streamlit's own keys"

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ID_HEADERS = ("image_id", "id", "cell_id", "image id", "image", "original_image_id")


class ReviewError(WbcreviewError):
    """A queue, an import or a view cannot be made as asked."""


# --- the catalog's cells -------------------------------------------------------------------


def catalog_cells(cur) -> pd.DataFrame:
    """One row per cell: cell_id, label (current), original_label, split, patient_hash.

    The label is the pristine row's (a degraded copy carries the same); original_label is
    the cell's label in the original challenge label files, None where unknown.
    """
    return cur.execute(
        """
        SELECT c.cell_id,
               arg_min(c.label, c.config <> 'pristine') AS label,
               any_value(o.label) AS original_label,
               arg_min(c.split, c.config <> 'pristine') AS split,
               arg_min(c.patient_hash, c.config <> 'pristine') AS patient_hash
        FROM cells c
        LEFT JOIN (SELECT image_id, any_value(label) AS label FROM original_labels
                   WHERE label IS NOT NULL GROUP BY 1) o ON o.image_id = c.cell_id
        GROUP BY c.cell_id ORDER BY c.cell_id
        """
    ).df()


def labels_of(cells: pd.DataFrame) -> dict[str, str]:
    """cell_id -> current label, for the consensus functions."""
    return dict(zip(cells["cell_id"].astype(str), cells["label"].astype(str), strict=True))


# --- queues --------------------------------------------------------------------------------


def cells_for_filter(cur, f: Filter, limit: int = MAX_QUEUE_CELLS) -> list[str]:
    """The cells (pristine image ids) with a row matching `f`, in image id order.

    A degraded row that matches brings its cell. Raises ReviewError when nothing matches or
    more than `limit` cells do.
    """
    sql, params = where(f)
    cells = [
        r[0]
        for r in cur.execute(
            f"SELECT DISTINCT c.cell_id FROM cells c WHERE {sql} ORDER BY 1 LIMIT ?",
            [*params, int(limit) + 1],
        ).fetchall()
    ]
    if not cells:
        raise ReviewError("no cell matches this filter: change it in Browse")
    if len(cells) > limit:
        raise ReviewError(
            f"this filter matches more than {limit:,} cells: narrow it (a class, a split, a "
            "patient) so that a queue stays reviewable"
        )
    return cells


def cells_differing(cur, limit: int = MAX_QUEUE_CELLS) -> list[str]:
    """The cells whose current label differs from the original challenge label."""
    try:
        return cells_for_filter(cur, Filter(differs_from_original=True), limit)
    except ReviewError as exc:
        if "no cell" in str(exc):
            raise ReviewError(
                "no cell's label differs from the original challenge label in this copy (or "
                "the copy has no original label files)"
            ) from None
        raise


def read_id_list(data: bytes | str) -> list[tuple[int, str]]:
    """(line number, image id) for every id in a CSV file or a pasted list.

    The ids are taken from a column named image_id, ID, cell_id or image (the challenge's
    label files have `ID,labels,split`), else from the first column; a first line that is
    such a header is skipped. Ids may carry an image extension (`01416766.jpg`). Blank
    lines are skipped. Raises ReviewError for text that is not UTF-8 or has no id.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ReviewError(
                f"the file is not UTF-8 text (byte {exc.start}): save it as CSV, UTF-8"
            ) from None
    else:
        text = data.lstrip("\ufeff")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ReviewError(f"the file is not CSV: {exc}") from None
    column, start = 0, 0
    for number, row in enumerate(rows):
        if any(cell.strip() for cell in row):
            names = [cell.strip().lower() for cell in row]
            hit = next((names.index(h) for h in _ID_HEADERS if h in names), None)
            if hit is not None:
                column, start = hit, number + 1
            break
    out = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        value = row[column].strip() if column < len(row) else ""
        out.append((number, image_id_from_name(value) if value else ""))
    if not out:
        raise ReviewError("the list holds no image id: one id per line, or a CSV with an ID column")
    return out


@dataclass(frozen=True)
class IdImport:
    """An imported list of image ids resolved against the catalog."""

    cell_ids: list[str]  # the cells, in the list's order, each once
    ids: int  # ids read
    unknown: list[tuple[int, str]]  # (line, id) not in this copy, or not an id at all
    repeated: int  # ids naming a cell already listed

    def problem(self, name: str = "the list") -> str | None:
        """A message naming the unknown ids by line, or None when every id is known."""
        if not self.unknown:
            return None
        lines = [f"line {line}: {_quote(value)}" for line, value in self.unknown]
        shown = listing(lines, MAX_LISTED_PROBLEMS, "; ")
        return (
            f"{len(self.unknown):,} of the {self.ids:,} ids in {name} are not image ids of "
            f"this copy ({shown}). Fix or remove those lines and import again."
        )


def _quote(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:39] + "…") if value else "(empty)"


def resolve_ids(cur, pairs: Sequence[tuple[int, str]]) -> IdImport:
    """Map (line, image id) pairs to cells: pristine ids are cells, degraded ids name theirs."""
    valid = sorted({value for _, value in pairs if _ID.fullmatch(value)})
    found: dict[str, str] = {}
    if valid:
        rows = cur.execute(
            "SELECT image_id, any_value(cell_id) FROM cells WHERE list_contains(?, image_id) "
            "GROUP BY 1",
            [valid],
        ).fetchall()
        found = {image_id: cell for image_id, cell in rows}
    cells: dict[str, None] = {}
    unknown = []
    repeated = 0
    for line, value in pairs:
        cell = found.get(value)
        if cell is None:
            unknown.append((line, value))
        elif cell in cells:
            repeated += 1
        else:
            cells[cell] = None
    return IdImport(list(cells), len(pairs), unknown, repeated)


def cells_from_ids(cur, data: bytes | str, name: str = "the list") -> IdImport:
    """Read and resolve a list of image ids; ReviewError naming unknown ids by line."""
    result = resolve_ids(cur, read_id_list(data))
    problem = result.problem(name)
    if problem:
        raise ReviewError(problem)
    if len(result.cell_ids) > MAX_QUEUE_CELLS:
        raise ReviewError(
            f"{name} names {len(result.cell_ids):,} cells, more than {MAX_QUEUE_CELLS:,}: split it"
        )
    return result


def describe_filter(f: Filter) -> str:
    """A short human description of a Browse filter (for queue names and the page)."""
    parts = []
    if f.labels:
        parts.append("class " + ", ".join(f.labels))
    if f.configs:
        parts.append(", ".join(f.configs))
    if f.splits:
        parts.append("split " + ", ".join(f.splits))
    if f.severities:
        parts.append("severity " + ", ".join(f.severities))
    if f.patient:
        parts.append(f"patient {f.patient}")
    if f.image_id:
        parts.append(f"id {f.image_id}…")
    if f.differs_from_original:
        parts.append("label differs from original")
    return " · ".join(parts) or "every cell"


def default_queue_name(kind: str, detail: str, cells: int) -> str:
    """A queue name saying where its cells came from."""
    what = {"filter": "Filter", "import": "Import", "differs": "Label differs from original"}
    head = what.get(kind, kind.capitalize())
    name = f"{head}: {detail} ({cells:,} cells)" if detail else f"{head} ({cells:,} cells)"
    return name[:120]


def queue_definition(
    kind: str,
    *,
    f: Filter | None = None,
    file: str | None = None,
    hide_label: bool = False,
    seeded_order: bool = False,
    calibration_share: float = 0.0,
) -> dict:
    """The JSON definition the store keeps with a queue: how it was made and its options.

    `calibration_share` (0 to 0.5) mixes that share of calibration cells into the queue,
    not marked as such (the store does the mixing in `queue_cells`)."""
    definition: dict = {"kind": kind}
    if f is not None:
        definition["filter"] = f.to_params()
    if file:
        definition["file"] = file[:200]
    options = {}
    if hide_label:
        options["hide_label"] = True
    if seeded_order:
        options["seeded_order"] = True
    if calibration_share:
        options["calibration_share"] = float(calibration_share)
    if options:
        definition["options"] = options
    return definition


def calibration_candidates(
    adjudications: pd.DataFrame, calibration: pd.DataFrame, labels: dict
) -> list[dict]:
    """Expert decisions not yet calibration cells, as add_calibration arguments.

    A 'retain' answer carries the label it keeps (the cell's current label)."""
    known = set(calibration["cell_id"]) if not calibration.empty else set()
    out = []
    for rec in adjudications.to_dict("records"):
        cell = rec["cell_id"]
        if cell in known or rec["action"] not in ("retain", "correct", "remove"):
            continue
        label = rec.get("label") if rec["action"] == "correct" else labels.get(cell)
        if rec["action"] == "retain" and not label:
            continue
        out.append(
            {
                "cell_id": cell,
                "action": rec["action"],
                "label": label if rec["action"] != "remove" else None,
                "reason": rec.get("reason") if rec["action"] == "remove" else None,
            }
        )
    return out


# --- moving through a queue ------------------------------------------------------------------


def next_unvoted(cells: Sequence[str], voted: Iterable[str], after: int) -> int | None:
    """The position of the first cell after `after` without a vote, wrapping round; None if
    every cell has one."""
    done = set(voted)
    n = len(cells)
    for step in range(1, n + 1):
        position = (after + step) % n
        if cells[position] not in done:
            return position
    return None


def clamp(position: int | None, total: int) -> int:
    """A valid position in a queue of `total` cells (0 for an empty queue)."""
    if not total or position is None:
        return 0
    return min(max(int(position), 0), total - 1)


def vote_for_class(code: str, current_label: str | None) -> tuple[str, str | None]:
    """(action, label) of pressing a class: the current label is a 'retain'."""
    if code not in CLASS_CODES:
        raise ReviewError(f"{code!r} is not one of the 13 classes")
    if current_label is not None and code == current_label:
        return "retain", None
    return "correct", code


def describe_decision(action: str | None, label: str | None = None, reason=None) -> str:
    """A decision in words: 'Keep label', 'Correct → LY (Lymphocyte)', 'Remove (Low quality)'."""
    if action is None:
        return ""
    if action == "correct":
        return f"Correct → {label} ({CELL_TYPES.get(label, 'unknown class')})"
    if action == "remove":
        return f"Remove ({REMOVE_REASONS.get(reason, reason or 'no reason')})"
    return ACTION_NAMES.get(action, action)


def adjudication_default(row: Mapping) -> tuple[str, str | None, str | None] | None:
    """(action, label, reason) the adjudication form pre-selects: the leading decision when
    it has a strict majority of the cell's votes (share > 0.5); None in a tie or a split with
    no majority, so that nothing is decided for the adjudicator."""
    action, share = row.get("action"), row.get("share")
    try:
        majority = share is not None and float(share) > 0.5
    except (TypeError, ValueError):
        majority = False
    if action not in ("retain", "correct", "remove") or not majority:
        return None
    label = row.get("leading_label") if action == "correct" else None
    reason = row.get("reason") if action == "remove" else None
    return (
        str(action),
        label if isinstance(label, str) else None,
        reason if isinstance(reason, str) else None,
    )


def missing_choice(action: str | None, label: str | None, reason: str | None) -> str | None:
    """What the adjudicator must still choose before a decision can be recorded, or None."""
    if action not in ("retain", "correct", "remove"):
        return "choose a decision (retain, correct or remove) first."
    if action == "correct" and not label:
        return "choose the class to correct to first."
    if action == "remove" and not reason:
        return "choose the reason for removing the cell first."
    return None


def hard_partners(label: str | None) -> list[str]:
    """The classes experts confuse with `label` (its hard groups), in class order."""
    mates = {m for g in consensus.HARD_GROUPS.values() if label in g for m in g} - {label}
    return [c for c in CLASS_ORDER if c in mates]


# --- consensus ------------------------------------------------------------------------------


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


def consensus_overview(
    votes: pd.DataFrame,
    adjudications: pd.DataFrame | None,
    cells: pd.DataFrame,
    *,
    min_votes: int | None = None,
    quorum: float | None = None,
    method: str | None = None,
    calibration: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """consensus.consensus_table with the catalog's labels and the voters' teams joined.

    With `method` (a key of aggregation.METHODS) the table is aggregation.consensus_table
    under that method, `quorum` being its threshold (None: the method's default), and has
    the columns probability, method and threshold too.

    `votes` is store.current_votes(), `adjudications` store.current_adjudications(),
    `cells` catalog_cells(). Adds: label, original_label, teams (the voters' teams,
    comma-separated), leading (the leading decision in words), outcome (the class or
    'remove' the final decision leaves the cell with; None when undecided), final (in words).
    """
    labels = labels_of(cells)
    if method is None:
        table = consensus.consensus_table(
            votes, adjudications, labels, min_votes=min_votes, quorum=quorum
        )
    else:
        table = aggregation.consensus_table(
            votes, adjudications, labels, method=method, threshold=quorum,
            calibration=calibration, min_votes=min_votes,
        )  # fmt: skip
    voters = (
        votes[["cell_id"]]
        .assign(team=votes["team"] if "team" in votes.columns else None)
        .astype(object)
    )
    con = _con()
    try:
        con.register("t", table)
        con.register("k", cells[["cell_id", "label", "original_label"]].astype(object))
        con.register("v", voters)
        out = con.execute(
            """
            SELECT t.* EXCLUDE (label), t.label AS leading_label, k.label, k.original_label,
                   (SELECT string_agg(DISTINCT v.team, ', ' ORDER BY v.team) FROM v
                    WHERE v.cell_id = t.cell_id AND coalesce(v.team, '') <> '') AS teams
            FROM t LEFT JOIN k ON k.cell_id = t.cell_id
            ORDER BY t.cell_id
            """
        ).df()
    finally:
        con.close()
    numeric = ("votes", "weight", "share", "probability", "threshold")
    out = out.astype({c: object for c in out.columns if c not in numeric})
    out = out.where(out.notna(), None) if len(out) else out
    out["votes"] = out["votes"].astype("int64")
    out["share"] = out["share"].astype(float)
    for column in ("probability", "threshold"):
        if column in out.columns:
            out[column] = out[column].astype(float)
    out["leading"] = [
        describe_decision(a, lab, r)
        for a, lab, r in zip(out["action"], out["leading_label"], out["reason"], strict=True)
    ]
    out["final"] = [
        describe_decision(a, lab, r)
        for a, lab, r in zip(
            out["final_action"], out["final_label"], out["final_reason"], strict=True
        )
    ]
    out["outcome"] = [
        consensus.outcome(a, lab, cur)
        for a, lab, cur in zip(out["final_action"], out["final_label"], out["label"], strict=True)
    ]
    return out


CONSENSUS_COLUMNS = (
    "cell_id",
    "label",
    "original_label",
    "status",
    "votes",
    "tally",
    "leading",
    "share",
    "hard_group",
    "final",
    "adjudicated_by",
    "teams",
)


def filter_consensus(
    table: pd.DataFrame,
    statuses: Iterable[str] = (),
    classes: Iterable[str] = (),
    teams: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows of a consensus_overview with one of `statuses`, a class among `classes` (the
    current label, the leading label or the final label) and a voter from one of `teams`.
    Empty arguments keep everything."""
    keep = pd.Series(True, index=table.index)
    statuses, classes, teams = set(statuses), set(classes), set(teams)
    if statuses:
        keep &= table["status"].isin(statuses)
    if classes:
        keep &= (
            table["label"].isin(classes)
            | table["leading_label"].isin(classes)
            | table["final_label"].isin(classes)
        )
    if teams:
        keep &= (
            table["teams"]
            .map(lambda t: bool(teams & set(str(t).split(", "))) if t else False)
            .astype(bool)
        )
    return table[keep].reset_index(drop=True)


def team_names(votes: pd.DataFrame) -> list[str]:
    """The teams that have voted, sorted."""
    if votes.empty or "team" not in votes.columns:
        return []
    return sorted({str(t) for t in votes["team"].dropna() if str(t)})


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """Cells per consensus status, every status present (0 when none)."""
    counts = table["status"].value_counts() if len(table) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in consensus.STATUSES}


def label_order(values: Iterable) -> list[str]:
    present = {str(v) for v in values if v is not None}
    order = [c for c in CLASS_CODES if c in present]
    tail = [c for c in ("remove", "retain", "disputed", "pending") if c in present]
    return order + sorted(present - set(order) - set(tail)) + tail


def original_vs_consensus(table: pd.DataFrame) -> pd.DataFrame:
    """Cells by original challenge label (rows) and consensus outcome (columns).

    The outcome is what the final decision (adjudicated or agreed) leaves the cell with: a
    class, or 'remove'; undecided cells are counted as 'disputed' or 'pending'. A cell
    without an original label is counted under its current label.
    """
    if table.empty:
        return pd.DataFrame(dtype="int64")
    rows = table["original_label"].where(table["original_label"].notna(), table["label"])
    cols = table["outcome"].where(table["outcome"].notna(), table["status"])
    frame = pd.crosstab(rows.fillna("unknown"), cols)
    return frame.reindex(
        index=label_order(frame.index), columns=label_order(frame.columns), fill_value=0
    )


def kappa_matrix(pairs: pd.DataFrame, reviewers: Sequence[str] | None = None) -> pd.DataFrame:
    """A square reviewer x reviewer matrix of Cohen's kappa from consensus.pairwise_cohen.

    The diagonal is 1; pairs without enough shared cells are NaN.
    """
    names = sorted(set(reviewers or []) | set(pairs["reviewer_a"]) | set(pairs["reviewer_b"]))
    matrix = pd.DataFrame(np.nan, index=names, columns=names, dtype=float)
    for a, b, kappa in zip(pairs["reviewer_a"], pairs["reviewer_b"], pairs["kappa"], strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = float(kappa)
    for name in names:
        matrix.loc[name, name] = 1.0
    return matrix


def votes_over_time(votes: pd.DataFrame, freq: str = "day") -> pd.DataFrame:
    """Votes per `freq` ('hour' or 'day', UTC) and the running total: time, votes, total.

    Undo rows are not votes and are left out.
    """
    if freq not in ("hour", "day"):
        raise ReviewError(f"unknown time step {freq!r}: 'hour' or 'day'")
    columns = ["time", "votes", "total"]
    if votes.empty:
        return pd.DataFrame(columns=columns)
    con = _con()
    try:
        con.register("v", votes[["created_at", "action"]])
        out = con.execute(
            f"""
            SELECT date_trunc('{freq}', timezone('UTC', created_at)) AS time, count(*) AS votes
            FROM v WHERE action <> 'undo' GROUP BY 1 ORDER BY 1
            """
        ).df()
    finally:
        con.close()
    out["total"] = out["votes"].cumsum()
    return out[columns]


# --- adjudication ----------------------------------------------------------------------------

WORK_ORDER: dict[str, int] = {"disputed": 0, "agreed": 1, "pending": 2, "adjudicated": 3}


def worklist(table: pd.DataFrame, statuses: Iterable[str] = ("disputed", "agreed")) -> pd.DataFrame:
    """The cells for the expert, in order: disputed ones first (disagreements inside a hard
    group before others, then the least agreed), then agreed (least agreed first), then
    pending and adjudicated when asked for. A table with a `probability` column (see
    aggregation.consensus_table) is ordered, within each status, by expected benefit:
    (1 - probability), doubled for a dispute inside a hard group."""
    wanted = set(statuses)
    rows = table[table["status"].isin(wanted)] if wanted else table
    if rows.empty:
        return rows.reset_index(drop=True)
    order = rows.assign(
        _status=rows["status"].map(WORK_ORDER).fillna(9),
        _hard=rows["hard_group"].isna().astype(int),
    )
    if "probability" in rows.columns:  # aggregation: highest expected benefit first
        benefit = (1.0 - rows["probability"].astype(float)) * np.where(
            rows["hard_group"].notna(), aggregation.HARD_IMPORTANCE, 1.0
        )
        order = order.assign(_hard=-benefit)
        keys, ascending = ["_status", "_hard", "votes", "cell_id"], [True, True, False, True]
    else:
        keys = ["_status", "_hard", "share", "votes", "cell_id"]
        ascending = [True, True, True, False, True]
    order = order.sort_values(keys, ascending=ascending, kind="stable")
    return order.drop(columns=["_status", "_hard"]).reset_index(drop=True)


def acceptable(table: pd.DataFrame) -> pd.DataFrame:
    """The agreed, not yet adjudicated cells of a consensus table, as accept_consensus wants
    them: cell_id, action, label, reason (the agreed decision)."""
    agreed = table[table["status"] == "agreed"]
    out = agreed[["cell_id", "final_action", "final_label", "final_reason"]].rename(
        columns={"final_action": "action", "final_label": "label", "final_reason": "reason"}
    )
    return out.reset_index(drop=True)


def decision_counts(decisions: pd.DataFrame) -> pd.DataFrame:
    """How many cells each decision of an `acceptable` frame covers: decision, cells."""
    if decisions.empty:
        return pd.DataFrame(columns=["decision", "cells"])
    words = [
        describe_decision(a, lab, r)
        for a, lab, r in zip(
            decisions["action"], decisions["label"], decisions["reason"], strict=True
        )
    ]
    counts = pd.Series(words).value_counts()
    return pd.DataFrame({"decision": counts.index, "cells": counts.to_numpy()})


def cell_votes_table(votes: pd.DataFrame) -> pd.DataFrame:
    """The current votes of one cell for the expert: reviewer, team, decision, comment, when."""
    if votes.empty:
        return pd.DataFrame(columns=["reviewer", "team", "decision", "comment", "when (UTC)"])
    return pd.DataFrame(
        {
            "reviewer": votes["reviewer"].astype(str),
            "team": votes["team"].fillna("").astype(str),
            "decision": [
                describe_decision(a, lab, r)
                for a, lab, r in zip(votes["action"], votes["label"], votes["reason"], strict=True)
            ],
            "comment": votes["comment"].fillna("").astype(str),
            "when (UTC)": votes["created_at"].dt.strftime("%Y-%m-%d %H:%M"),
        }
    )


# --- audit -----------------------------------------------------------------------------------

AUDIT_COLUMNS = (
    "created_at",
    "kind",
    "cell_id",
    "who",
    "team",
    "role",
    "action",
    "label",
    "reason",
    "undone",
    "text",
    "basis",
    "source",
    "undoes",
    "uid",
    "queue_id",
)


def audit_log(votes: pd.DataFrame, adjudications: pd.DataFrame) -> pd.DataFrame:
    """Every vote and adjudication row in one frame, newest first (AUDIT_COLUMNS).

    `kind` is 'vote' or 'adjudication', `who` the reviewer or adjudicator, `text` the
    comment or note, `undone` whether a later undo row names this row.
    """
    v = votes.rename(columns={"reviewer": "who", "comment": "text"}).assign(kind="vote")
    v["basis"] = None
    a = adjudications.rename(columns={"adjudicator": "who", "note": "text"}).assign(
        kind="adjudication", queue_id=None
    )
    parts = [p for p in (v, a) if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(AUDIT_COLUMNS))
    log = pd.concat([p.astype(object) for p in parts], ignore_index=True)
    undone = set(log.loc[log["action"] == "undo", "undoes"].dropna())
    log["undone"] = log["uid"].isin(undone)
    log["created_at"] = pd.to_datetime(log["created_at"], utc=True)
    log["queue_id"] = pd.array(
        [None if q is None or pd.isna(q) else int(q) for q in log["queue_id"]], dtype="Int64"
    )
    log = log.sort_values(["created_at", "kind", "id"], ascending=False, kind="stable")
    return log[list(AUDIT_COLUMNS)].reset_index(drop=True)


def filter_audit(
    log: pd.DataFrame,
    *,
    who: Iterable[str] = (),
    teams: Iterable[str] = (),
    actions: Iterable[str] = (),
    kinds: Iterable[str] = (),
    cell: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """Rows of an audit_log matching every given filter; `cell` is a prefix of the cell id,
    `start` and `end` are days (UTC, both included)."""
    keep = pd.Series(True, index=log.index)
    for column, values in (("who", who), ("team", teams), ("action", actions), ("kind", kinds)):
        values = set(values)
        if values:
            keep &= log[column].isin(values)
    if cell and cell.strip():
        keep &= log["cell_id"].astype(str).str.startswith(cell.strip())
    if start is not None:
        keep &= log["created_at"] >= pd.Timestamp(datetime.combine(start, time()), tz="UTC")
    if end is not None:
        stop = datetime.combine(end + timedelta(days=1), time())
        keep &= log["created_at"] < pd.Timestamp(stop, tz="UTC")
    return log[keep].reset_index(drop=True)


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """store.history(cell) for people: when, kind, who, team, role, decision, text, undone."""
    columns = ["when (UTC)", "kind", "who", "team", "role", "decision", "text", "undone", "source"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    undone = set(history.loc[history["action"] == "undo", "undoes"].dropna())
    decision = []
    for action, label, reason, basis in zip(
        history["action"], history["label"], history["reason"], history["basis"], strict=True
    ):
        text = "Undo" if action == "undo" else describe_decision(action, label, reason)
        if basis == "consensus":
            text += " (accepted consensus)"
        decision.append(text)
    return pd.DataFrame(
        {
            "when (UTC)": history["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "kind": history["kind"],
            "who": history["who"].astype(str),
            "team": history["team"].fillna("").astype(str),
            "role": history["role"].astype(str),
            "decision": decision,
            "text": history["text"].fillna("").astype(str),
            "undone": history["uid"].isin(undone),
            "source": history["source"].astype(str),
        }
    )


def summarise(mapping: Mapping[str, int]) -> str:
    """'3 agreed · 1 disputed' from counts (zeros left out)."""
    return " · ".join(f"{n:,} {k}" for k, n in mapping.items() if n) or "nothing yet"
