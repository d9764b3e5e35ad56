"""Correction lists in and out: final decisions, export files, the challenge format, and
votes imported from teams that worked offline.

A final decision is the expert's adjudication of a cell (optionally also the agreed
consensus of cells not yet adjudicated). One row per cell, keyed by the cell's pristine
image_id; the degraded copies made from it follow the decision and are listed with it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.review import aggregation

FORMATS = ("csv", "parquet", "json")
EXPORT_COLUMNS = (
    "image_id", "config", "split", "patient_hash", "original_label", "challenge_label",
    "final_label", "action", "reason", "votes", "tally", "agreement", "status", "adjudicator",
    "note", "decided_at", "degraded_image_ids", "method", "threshold",
)  # fmt: skip
VOTE_FILE_COLUMNS = ("image_id", "annotator", "action", "label", "reason", "comment", "time")
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_UID_NAMESPACE = uuid.UUID("0b6c4f5e-7f0a-4c53-9d0e-2a9f3c1b7e44")


class DecisionsError(WbcreviewError):
    """Decisions or votes cannot be exported, read or imported as given."""


def final_decisions(
    cur, store, include_agreed: bool = False, *, method: str | None = None, threshold=None
) -> pd.DataFrame:
    """The final decision of every decided cell, with its votes and the catalog's facts.

    `cur` is a catalog cursor, `store` an open Store. Adjudicated cells always; with
    `include_agreed` also cells whose consensus is agreed but not yet adjudicated, under
    `method` and `threshold` (None: the store's aggregation choice). Columns:
    EXPORT_COLUMNS; `method` and `threshold` say what agreed a decision ('expert' for an
    expert's adjudication). Empty (with those columns) when nothing is decided.
    """
    votes = store.current_votes()
    adjudications = store.current_adjudications()
    cells = cur.execute(
        "SELECT c.image_id, c.split, c.patient_hash, c.label, o.label AS challenge_label "
        "FROM cells c LEFT JOIN (SELECT image_id, any_value(label) AS label FROM original_labels "
        "WHERE label IS NOT NULL GROUP BY image_id) o USING (image_id) WHERE c.config = 'pristine'"
    ).df()
    labels = dict(zip(cells["image_id"], cells["label"], strict=True))
    if votes.empty and adjudications.empty:
        return pd.DataFrame(columns=list(EXPORT_COLUMNS))
    if method is None:
        method, threshold = aggregation.choice(store.aggregation_choice())
    table = aggregation.consensus_table(
        votes, adjudications, labels, method=method, threshold=threshold,
        calibration=store.calibration_frame(),
    )  # fmt: skip
    keep = table["status"] == "adjudicated"
    if include_agreed:
        keep |= table["status"] == "agreed"
    table = table[keep & table["final_action"].notna()]
    if table.empty:
        return pd.DataFrame(columns=list(EXPORT_COLUMNS))
    adj = adjudications.set_index("cell_id") if not adjudications.empty else None
    facts = cells.set_index("image_id")
    degraded = cur.execute(
        "SELECT cell_id, string_agg(image_id, ';' ORDER BY image_id) FROM cells "
        "WHERE config <> 'pristine' AND list_contains(?, cell_id) GROUP BY cell_id",
        [table["cell_id"].tolist()],
    ).fetchall()
    degraded = dict(degraded)
    rows = []
    for rec in table.to_dict("records"):
        cell = rec["cell_id"]
        if cell not in facts.index:
            continue  # votes on a cell that is not in this copy: not exportable here
        fact = facts.loc[cell]
        action = rec["final_action"]
        final_label = (
            rec["final_label"]
            if action == "correct"
            else (None if action == "remove" else fact["label"])
        )
        note, decided_at = None, None
        produced = (rec["method"], rec["threshold"])
        if rec["status"] == "adjudicated" and adj is not None and cell in adj.index:
            note = adj.loc[cell, "note"]
            decided_at = pd.Timestamp(adj.loc[cell, "created_at"]).isoformat()
            expert = adj.loc[cell, "basis"] != "consensus"
            produced = ("expert", None) if expert else aggregation.produced_by(note)
        rows.append(
            {
                "image_id": cell,
                "config": "pristine",
                "split": fact["split"],
                "patient_hash": fact["patient_hash"],
                "original_label": fact["label"],
                "challenge_label": None
                if pd.isna(fact["challenge_label"])
                else fact["challenge_label"],
                "final_label": final_label,
                "action": action,
                "reason": rec["final_reason"],
                "votes": int(rec["votes"]),
                "tally": rec["tally"] or "",
                "agreement": round(float(rec["share"]), 4),
                "status": rec["status"],
                "adjudicator": rec["adjudicated_by"],
                "note": None if note is None or pd.isna(note) else note,
                "decided_at": decided_at,
                "degraded_image_ids": degraded.get(cell, ""),
                "method": produced[0],
                "threshold": produced[1],
            }
        )
    # "correct" to the label a cell already has changes nothing: count it as retained.
    frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    same = (frame["action"] == "correct") & (frame["final_label"] == frame["original_label"])
    frame.loc[same, "action"] = "retain"
    return frame.sort_values("image_id").reset_index(drop=True)


def summary_line(frame: pd.DataFrame) -> str:
    """`257 corrected, 10 removed, 74 retained` for a decisions frame."""
    counts = frame["action"].value_counts() if len(frame) else {}
    return (
        f"{int(counts.get('correct', 0))} corrected, {int(counts.get('remove', 0))} removed, "
        f"{int(counts.get('retain', 0))} retained"
    )


def neutralise(value):
    """Prefix a text a spreadsheet would run as a formula with `'` (kept as text)."""
    # A leading quote is doubled too, so that reading back is unambiguous.
    if isinstance(value, str) and value.startswith((*FORMULA_START, "'")):
        return "'" + value
    return value


def unneutralise(value):
    """Undo `neutralise` when reading an exported file back."""
    if (
        isinstance(value, str)
        and len(value) > 1
        and value[0] == "'"
        and value[1:].startswith((*FORMULA_START, "'"))
    ):
        return value[1:]
    return value


def export_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The decisions as a file's content: csv (summary line first), parquet or json."""
    if fmt not in FORMATS:
        raise DecisionsError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    frame = frame.reindex(columns=list(EXPORT_COLUMNS))
    summary = summary_line(frame)
    if fmt == "csv":
        out = io.StringIO(newline="")
        out.write(f"# {summary}\r\n")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in frame.itertuples(index=False):
            writer.writerow(
                [
                    "" if _missing(v) else neutralise(v if isinstance(v, str) else str(v))
                    for v in row
                ]
            )
        return out.getvalue().encode("utf-8")
    if fmt == "json":
        records = [
            {k: (None if _missing(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")
        ]
        return json.dumps(
            {"summary": summary, "decisions": records}, indent=1, default=str
        ).encode()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(
        frame.astype(object).where(frame.notna(), None), preserve_index=False
    )
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"wbcreview_summary": summary.encode()}
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def read_decisions(path: Path) -> pd.DataFrame:
    """Read an exported decisions file (by extension: .csv, .parquet, .json).

    Needs at least image_id and action; raises DecisionsError naming the file otherwise.
    """
    path = Path(path)
    try:
        if path.suffix == ".csv":
            text = path.read_text(encoding="utf-8")
            while text.startswith("#"):  # the summary line(s) above the header
                text = text.split("\n", 1)[1] if "\n" in text else ""
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            frame = frame.map(unneutralise).replace({"": None})
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = data["decisions"] if isinstance(data, dict) else data
            frame = pd.DataFrame(records) if records else pd.DataFrame(columns=list(EXPORT_COLUMNS))
        else:
            raise DecisionsError(f"{path}: unknown file type; use .csv, .parquet or .json")
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DecisionsError(f"{path}: cannot be read as a decisions file ({exc})") from exc
    missing = {"image_id", "action"} - set(frame.columns)
    if missing:
        raise DecisionsError(f"{path}: no column(s) {', '.join(sorted(missing))}")
    if "votes" in frame.columns:
        frame["votes"] = pd.to_numeric(frame["votes"], errors="coerce").astype("Int64")
    if "agreement" in frame.columns:
        frame["agreement"] = pd.to_numeric(frame["agreement"], errors="coerce")
    if "threshold" in frame.columns:
        frame["threshold"] = pd.to_numeric(frame["threshold"], errors="coerce")
    return frame


def challenge_bytes(cur, frame: pd.DataFrame, split: str) -> bytes:
    """The split in the challenge's `ID,labels` format (CRLF, `.jpg` IDs), corrected.

    Removed cells are left out; corrected cells carry their final label.
    """
    rows = cur.execute(
        "SELECT image_id, label FROM cells WHERE config = 'pristine' AND split = ? ORDER BY image_id",
        [split],
    ).fetchall()
    if not rows:
        raise DecisionsError(f"split {split!r} has no pristine rows in this copy")
    final = dict(
        zip(frame["image_id"], zip(frame["action"], frame["final_label"], strict=True), strict=True)
    )
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["ID", "labels"])
    for image_id, label in rows:
        action, new = final.get(image_id, ("retain", None))
        if action == "remove":
            continue
        writer.writerow([f"{image_id}.jpg", new if action == "correct" else label])
    return out.getvalue().encode("utf-8")


def read_vote_file(path: Path, cur) -> list[dict]:
    """Validate a CSV of votes made offline and return store rows (without team/role).

    Columns: image_id, annotator, action, label, reason, comment, time (ISO 8601; no zone
    means UTC). Every row is checked first: unknown image ids, unknown actions or labels,
    a correct without a label, a remove without a reason, bad or future times, duplicate
    rows. Any problem raises DecisionsError listing every problem by line; nothing is
    returned then. image ids of degraded images are mapped to their cell.
    """
    from wbcreview.review.store import ACTIONS, REMOVE_REASONS

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DecisionsError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("image_id", "annotator", "action") if c not in header]
    if missing:
        raise DecisionsError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} (expected {','.join(VOTE_FILE_COLUMNS)})"
        )
    raw_rows = []
    for r in reader:
        extra = r.pop(None, None)  # fields beyond the header
        if extra:
            raise DecisionsError(
                f"{path}: line {reader.line_num}: {len(extra)} more field(s) than the header"
            )
        raw_rows.append({(k or "").strip(): (v or "").strip() for k, v in r.items()})
    ids = sorted({r["image_id"] for r in raw_rows})
    cell_of = dict(
        cur.execute(
            "SELECT image_id, any_value(cell_id) FROM cells WHERE list_contains(?, image_id) GROUP BY image_id",
            [ids],
        ).fetchall()
    )
    problems, rows, seen = [], [], {}
    now = datetime.now(UTC)
    for lineno, r in enumerate(raw_rows, start=2):
        where = f"line {lineno}"
        image_id, action = r.get("image_id", ""), r.get("action", "").lower()
        label, reason = r.get("label") or None, r.get("reason") or None
        if image_id not in cell_of:
            problems.append(f"{where}: unknown image_id {image_id!r}")
        if not r.get("annotator"):
            problems.append(f"{where}: empty annotator")
        if action not in ACTIONS:
            problems.append(f"{where}: unknown action {action!r} (use {', '.join(ACTIONS)})")
        if label is not None and label not in CLASS_CODES:
            problems.append(f"{where}: unknown label {label!r}")
        if action == "correct" and label is None:
            problems.append(f"{where}: correct without a label")
        if action == "remove" and reason is not None and reason not in REMOVE_REASONS:
            problems.append(f"{where}: unknown reason {reason!r} (use {', '.join(REMOVE_REASONS)})")
        at = None
        if r.get("time"):
            try:
                at = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
                if at > now:
                    problems.append(f"{where}: time {r['time']!r} is in the future")
            except ValueError:
                problems.append(
                    f"{where}: bad time {r['time']!r} (use ISO 8601, e.g. 2026-03-01T14:05:00Z)"
                )
        key = (image_id, r.get("annotator"), action, label, r.get("time"))
        if key in seen:
            problems.append(f"{where}: duplicate of line {seen[key]}")
        seen[key] = lineno
        if action == "remove" and reason is None:
            reason = "other"
        rows.append(
            {
                "cell_id": cell_of.get(image_id),
                "image_id": image_id,
                "reviewer": r.get("annotator"),
                "action": action,
                "label": label if action == "correct" else None,
                "reason": reason if action == "remove" else None,
                "comment": r.get("comment") or None,
                "at": at,
            }
        )
    if not raw_rows:
        problems.append(f"{path}: no vote rows")
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise DecisionsError(
            f"{path}: {len(problems)} problem(s), nothing imported:\n  {shown}{more}"
        )
    return rows


def import_vote_file(path: Path, team: str, store, cur) -> int:
    """Import a team's offline vote CSV into the store; return the number of new votes.

    All rows are validated first (see `read_vote_file`); the store writes them in one
    transaction. Each vote's uid is derived from its team and content, so importing the
    same file again adds nothing.
    """
    from wbcreview.review.store import Reviewer

    team = (team or "").strip()
    if not team:
        raise DecisionsError("give the team that made these votes (--team NAME)")
    rows = read_vote_file(path, cur)
    for row in rows:
        row["team"] = team
        row["role"] = "annotator"
        content = (
            team,
            row["image_id"],
            row["reviewer"],
            row["action"],
            row["label"],
            str(row["at"]),
        )
        row["uid"] = str(uuid.uuid5(_UID_NAMESPACE, repr(content)))
    importer = Reviewer("import", team, "admin")
    return len(store.import_votes(importer, rows, source=f"import:{Path(path).name}"))
