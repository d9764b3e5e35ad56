"""Votes a team made offline: read a vote file, compare it with the store, import it once.

What a row means (docs/FORMATS.md says the same):
- A row with a time is the vote `annotator` made on that cell at that time. The time, not the
  order of the rows or of the imports, decides which vote of an annotator on a cell counts.
  Its identity is (cell, annotator, time): importing it again adds nothing, under any team.
- A row without a time is a vote made at the moment of the import; its identity is its
  content (cell, annotator, action, label, reason, comment).
- A row whose identity is stored with another content (a reason changed from smudge to
  artefact, say) is refused with the line and both versions: the store is append-only and a
  vote file records what happened; a change of mind is a new row with a later time.
- An annotator belongs to one team: votes by a name already stored under another team
  are refused, so the same file imported under two teams is never stored twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from wbcreview import csvfile
from wbcreview.curation.errors import DecisionsError
from wbcreview.data.release import CLASS_CODES
from wbcreview.review.store import (
    ACTIONS,
    MAX_TEXT,
    REMOVE_REASONS,
    UNDO,
    Reviewer,
    StoreError,
)

REQUIRED_COLUMNS = ("image_id", "annotator", "action")
OPTIONAL_COLUMNS = ("label", "reason", "comment", "time")
VOTE_FILE_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
_UID_NAMESPACE = uuid.UUID("0b6c4f5e-7f0a-4c53-9d0e-2a9f3c1b7e44")


@dataclass(frozen=True)
class ImportReport:
    """What importing one vote file did: rows read, votes added, rows already stored."""

    file: str
    team: str
    rows: int
    new: int
    stored: int

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.new:,} new vote(s) for team {self.team}, "
            f"{self.stored:,} row(s) already stored (of {self.rows:,})"
        )


def read_vote_file(path: Path | str, cur, *, name: str | None = None) -> list[dict]:
    """Check a vote file and return one dict per row (cell_id, reviewer, action, ..., at, line).

    Columns: image_id, annotator, action (required), label, reason, comment, time. Every row
    is checked first: unknown image ids, actions, labels or reasons, a correct without a label,
    bad names, times that are not ISO 8601, outside 1900-2100 or in the future, two rows for
    one vote. Raises DecisionsError on one line naming the file and each problem's line;
    nothing is returned then. Degraded image ids are mapped to their cell.
    """
    label = name or str(path)
    table = csvfile.read_table(
        path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS, name=label, error=DecisionsError
    )
    if not table.rows:
        raise DecisionsError(f"{label}: no vote rows below the header")
    ids = sorted({r.get("image_id") for r in table.rows})
    cell_of = dict(
        cur.execute(
            "SELECT image_id, any_value(cell_id) FROM cells WHERE list_contains(?, image_id) "
            "GROUP BY image_id",
            [ids],
        ).fetchall()
    )
    now = datetime.now(UTC)
    problems: list[str] = []
    rows: list[dict] = []
    first_line: dict[tuple, tuple[int, tuple]] = {}
    for r in table.rows:
        where = f"line {r.line}"
        image_id, annotator = r.get("image_id"), r.get("annotator")
        action = r.get("action").lower()
        vote_label, reason = r.get("label") or None, r.get("reason") or None
        comment = r.get("comment") or None
        if image_id not in cell_of:
            problems.append(f"{where}: unknown image_id {image_id[:40]!r}")
        try:
            Reviewer(annotator, "", "annotator")
        except StoreError as exc:
            problems.append(f"{where}: annotator: {exc}")
        if action not in ACTIONS:
            problems.append(f"{where}: unknown action {action[:40]!r} (use {', '.join(ACTIONS)})")
        if vote_label is not None and vote_label not in CLASS_CODES:
            problems.append(f"{where}: unknown label {vote_label[:40]!r}")
        if action == "correct" and vote_label is None:
            problems.append(f"{where}: correct without a label")
        if reason is not None and reason not in REMOVE_REASONS:
            problems.append(
                f"{where}: unknown reason {reason[:40]!r} (use {', '.join(REMOVE_REASONS)})"
            )
        if comment is not None and len(comment) > MAX_TEXT:
            problems.append(
                f"{where}: a comment of {len(comment):,} characters (at most {MAX_TEXT:,})"
            )
        at = None
        if r.get("time"):
            try:
                at = csvfile.parse_time(r.get("time"), now=now)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        if action == "remove" and reason is None:
            reason = "other"
        row = {
            "cell_id": cell_of.get(image_id),
            "image_id": image_id,
            "reviewer": annotator,
            "action": action,
            "label": vote_label if action == "correct" else None,
            "reason": reason if action == "remove" else None,
            "comment": comment,
            "at": at,
            "line": r.line,
            "timed": bool(r.get("time")),
        }
        key = _identity(row)
        if key in first_line:
            line, content = first_line[key]
            if content == _content(row):
                problems.append(f"{where}: duplicate of line {line}")
            else:
                problems.append(
                    f"{where}: a second vote of {annotator!r} on {image_id} at the same time "
                    f"as line {line}; one annotator votes once at one time"
                )
        else:
            first_line[key] = (r.line, _content(row))
        rows.append(row)
    if problems:
        raise DecisionsError(csvfile.one_line(label, problems, ", nothing imported"))
    return rows


def _identity(row: dict) -> tuple:
    """What makes a row the same vote: (cell, annotator, time), or its content when untimed."""
    if row["timed"]:
        return (row["cell_id"], row["reviewer"], row["at"])
    return (row["cell_id"], row["reviewer"], None, *_content(row))


def _content(row: dict) -> tuple:
    return (row["action"], row["label"], row["reason"], row["comment"])


def _describe(content: tuple) -> str:
    action, label, reason, comment = content
    detail = label or reason
    text = f"{action} {detail}" if detail else action
    return f"{text}, comment {comment!r}" if comment else text


def import_vote_file(
    path: Path | str, team: str, store, cur, *, name: str | None = None
) -> ImportReport:
    """Import a team's vote file into the store; return what it added and what was there.

    All rows are checked first (`read_vote_file`), then compared with the store: a row already
    stored with the same content is counted as stored; a row stored with another content, or
    an annotator stored under another team, refuses the whole file (DecisionsError naming each
    line). The new rows are written in one transaction. `name` is the file name to report and
    record as the source (default: the path's name).
    """
    label = name or str(path)
    team = (team or "").strip()
    if not team:
        raise DecisionsError("give the team that made these votes (--team NAME)")
    try:
        team = Reviewer("import", team, "admin").team
    except StoreError as exc:
        raise DecisionsError(f"team: {exc}") from None
    rows = read_vote_file(path, cur, name=label)
    stored = store.votes_frame()
    stored = stored[stored["action"] != UNDO]
    names = {r["reviewer"] for r in rows}
    stored = stored[stored["reviewer"].isin(names)]
    teams: dict[str, set[str]] = {}
    by_time: dict[tuple, tuple] = {}
    by_content: set[tuple] = set()
    for rec in stored.itertuples(index=False):
        teams.setdefault(rec.reviewer, set()).add(rec.team)
        content = tuple(
            None if _na(v) else v for v in (rec.action, rec.label, rec.reason, rec.comment)
        )
        at = pd.Timestamp(rec.created_at).to_pydatetime()
        by_time[(rec.cell_id, rec.reviewer, at)] = content
        by_content.add((rec.cell_id, rec.reviewer, None, *content))
    problems: list[str] = []
    for who in sorted(names):
        other = sorted(teams.get(who, set()) - {team})
        if other:
            problems.append(
                f"annotator {who!r} already has votes as team {other[0]!r}, not {team!r}; "
                "one annotator belongs to one team"
            )
    new_rows, already = [], 0
    for row in rows:
        if row["timed"]:
            have = by_time.get((row["cell_id"], row["reviewer"], row["at"]))
            if have is not None:
                if have == _content(row):
                    already += 1
                else:
                    problems.append(
                        f"line {row['line']}: {row['reviewer']}'s vote on {row['image_id']} at "
                        f"{row['at']:%Y-%m-%dT%H:%M:%SZ} is stored as {_describe(have)}; this file "
                        f"says {_describe(_content(row))} (a change of mind needs a later time)"
                    )
                continue
        elif _identity(row) in by_content:
            already += 1
            continue
        new_rows.append(row)
    if problems:
        raise DecisionsError(csvfile.one_line(label, problems, ", nothing imported"))
    source_name = Path(name or path).name[:180]
    for row in new_rows:
        row["team"] = team
        row["role"] = "annotator"
        row["uid"] = str(uuid.uuid5(_UID_NAMESPACE, repr(_identity(row))))
        row.pop("line")
        row.pop("timed")
    importer = Reviewer("import", team, "admin")
    try:
        added = len(store.import_votes(importer, new_rows, source=f"import:{source_name}"))
    except StoreError as exc:
        raise DecisionsError(f"{label}: nothing imported: {exc}") from None
    return ImportReport(file=Path(label).name, team=team, rows=len(rows), new=added, stored=already)


def _na(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)
