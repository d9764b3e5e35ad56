"""Correction lists out: final decisions, export files (docs/FORMATS.md), the challenge format.

A final decision is the expert's adjudication of a cell (optionally also the agreed
consensus of cells not yet adjudicated). One row per cell, keyed by the cell's pristine
image_id; the degraded copies made from it follow the decision and are listed with it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

from wbcreview.curation.errors import DecisionsError
from wbcreview.data.release import CLASS_CODES
from wbcreview.review import aggregation, permissions

FORMATS = ("csv", "parquet", "json")
# Each export column and its type, whatever the content (docs/FORMATS.md lists them).
# current_label: the label in the copy; original_label: the challenge label file's label.
COLUMN_TYPES: dict[str, str] = {
    "image_id": "string",
    "config": "string",
    "split": "string",
    "patient_hash": "string",
    "current_label": "string",
    "original_label": "string",
    "final_label": "string",
    "action": "string",
    "reason": "string",
    "votes": "int64",
    "tally": "string",
    "agreement": "float64",
    "status": "string",
    "adjudicator": "string",
    "note": "string",
    "decided_at": "timestamp",
    "degraded_image_ids": "list",
    "method": "string",
    "threshold": "float64",
}
EXPORT_COLUMNS = tuple(COLUMN_TYPES)
CHALLENGE_COLUMNS = ("ID", "labels", "split")
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The decisions with every export column in its fixed type (COLUMN_TYPES).

    Text columns hold str or None, `votes` int64, `agreement` float64, `decided_at` a UTC
    timestamp (NaT when missing), `degraded_image_ids` a list of str (empty when none).
    """
    frame = frame.reindex(columns=list(EXPORT_COLUMNS))
    out = {}
    for col, kind in COLUMN_TYPES.items():
        values = frame[col]
        if kind == "string":
            out[col] = pd.Series(
                [None if _missing(v) else str(v) for v in values], index=frame.index, dtype=object
            )
        elif kind == "int64":
            out[col] = pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")
        elif kind == "float64":
            out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif kind == "timestamp":
            out[col] = pd.to_datetime(values, utc=True, errors="coerce").astype(
                "datetime64[us, UTC]"
            )
        else:
            out[col] = pd.Series([_id_list(v) for v in values], index=frame.index, dtype=object)
    return pd.DataFrame(out, columns=list(EXPORT_COLUMNS)).reset_index(drop=True)


def _id_list(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if hasattr(value, "tolist"):
        return [str(v) for v in value.tolist()]
    if _missing(value) or value == "":
        return []
    return [v for v in str(value).split(";") if v]


def final_decisions(
    cur,
    store,
    include_agreed: bool = False,
    *,
    viewer,
    method: str | None = None,
    threshold=None,
) -> pd.DataFrame:
    """The final decision of every decided cell, with its votes and the catalog's facts.

    `cur` is a catalog cursor, `store` an open Store. Adjudicated cells always; with
    `include_agreed` also cells whose consensus is agreed but not yet adjudicated.
    `viewer` (required: None only for a trusted local caller) limits the rows and columns as
    review/permissions.py `limit_decisions` says: an annotator in blind mode gets the final
    label of adjudicated cells only. Columns: EXPORT_COLUMNS. Empty (with those columns)
    when nothing is decided. Agreed cells follow `method` and `threshold` (None: the store's
    aggregation choice); `method` and `threshold` say what agreed a decision ('expert' for an
    expert's adjudication).
    """
    frame = _all_final_decisions(cur, store, include_agreed, method, threshold)
    return permissions.limit_decisions(frame, viewer, store.blind)


def _all_final_decisions(cur, store, include_agreed: bool, method, threshold) -> pd.DataFrame:
    votes = store.current_votes()
    adjudications = store.current_adjudications()
    cells = cur.execute(
        "SELECT c.image_id, c.split, c.patient_hash, c.label, o.label AS original_label "
        "FROM cells c LEFT JOIN (SELECT image_id, any_value(label) AS label FROM original_labels "
        "WHERE label IS NOT NULL GROUP BY image_id) o USING (image_id) WHERE c.config = 'pristine'"
    ).df()
    labels = dict(zip(cells["image_id"], cells["label"], strict=True))
    if votes.empty and adjudications.empty:
        return typed(pd.DataFrame(columns=list(EXPORT_COLUMNS)))
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
        return typed(pd.DataFrame(columns=list(EXPORT_COLUMNS)))
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
            decided_at = pd.Timestamp(adj.loc[cell, "created_at"])
            expert = adj.loc[cell, "basis"] != "consensus"
            produced = ("expert", None) if expert else aggregation.produced_by(note)
        rows.append(
            {
                "image_id": cell,
                "config": "pristine",
                "split": fact["split"],
                "patient_hash": fact["patient_hash"],
                "current_label": fact["label"],
                "original_label": None
                if pd.isna(fact["original_label"])
                else fact["original_label"],
                "final_label": final_label,
                "action": action,
                "reason": rec["final_reason"],
                "votes": int(rec["votes"]),
                "tally": rec["tally"] or None,
                "agreement": round(float(rec["share"]), 4),
                "status": rec["status"],
                "adjudicator": rec["adjudicated_by"],
                "note": None if note is None or pd.isna(note) else note,
                "decided_at": decided_at,
                "degraded_image_ids": [d for d in (degraded.get(cell) or "").split(";") if d],
                "method": produced[0],
                "threshold": produced[1],
            }
        )
    # "correct" to the label a cell already has changes nothing: count it as retained.
    frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    same = (frame["action"] == "correct") & (frame["final_label"] == frame["current_label"])
    frame.loc[same, "action"] = "retain"
    return typed(frame.sort_values("image_id"))


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
    """The decisions as a file's content: csv, parquet or json (docs/FORMATS.md).

    Each reads back with pandas' defaults (`read_csv`, `read_parquet`, `read_json`) into one
    row per decision and the columns EXPORT_COLUMNS. CSV: header then rows, missing values
    empty, degraded ids joined by `;`, text a spreadsheet would run as a formula prefixed with
    `'`. JSON: a list of records, missing values null, degraded ids a list. Parquet: the
    fixed schema of `parquet_schema()`, the summary line in the metadata key
    `wbcreview_summary`.
    """
    if fmt not in FORMATS:
        raise DecisionsError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    frame = typed(frame)
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        for rec in frame.to_dict("records"):
            writer.writerow([_csv_text(rec[col], COLUMN_TYPES[col]) for col in EXPORT_COLUMNS])
        return out.getvalue().encode("utf-8")
    if fmt == "json":
        records = [
            {col: _json_value(rec[col], COLUMN_TYPES[col]) for col in EXPORT_COLUMNS}
            for rec in frame.to_dict("records")
        ]
        return json.dumps(records, indent=1, ensure_ascii=False).encode("utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema().with_metadata({b"wbcreview_summary": summary_line(frame).encode()})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def parquet_schema():
    """The Arrow schema of the parquet export: the same whatever the content."""
    import pyarrow as pa

    kinds = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list": pa.list_(pa.string()),
    }
    return pa.schema([(col, kinds[kind]) for col, kind in COLUMN_TYPES.items()])


def _csv_text(value, kind: str) -> str:
    if kind == "list":
        return neutralise(";".join(value))
    if _missing(value):
        return ""
    if kind == "timestamp":
        return value.isoformat()
    if kind == "float64":
        return repr(float(value))
    return neutralise(str(value))


def _json_value(value, kind: str):
    if kind == "list":
        return list(value)
    if _missing(value):
        return None
    if kind == "timestamp":
        return value.isoformat()
    if kind == "int64":
        return int(value)
    if kind == "float64":
        return float(value)
    return str(value)


def _missing(value) -> bool:
    if isinstance(value, list | tuple):
        return False
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def read_decisions(path: Path) -> pd.DataFrame:
    """Read an exported decisions file (by extension: .csv, .parquet, .json) into `typed` form.

    Needs at least image_id and action; raises DecisionsError naming the file otherwise.
    Older exports are read too: a CSV whose first line is a `#` summary, a JSON object with
    `decisions`, and the columns `original_label` (then the copy's label) with
    `challenge_label`.
    """
    path = Path(path)
    try:
        if path.suffix == ".csv":
            text = path.read_text(encoding="utf-8-sig")
            while text.startswith("#"):  # the summary line of exports before issue 16
                text = text.split("\n", 1)[1] if "\n" in text else ""
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
            frame = frame.map(unneutralise).replace({"": None})
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = data.get("decisions", []) if isinstance(data, dict) else data
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ValueError("expected a list of records")
            frame = pd.DataFrame(records) if records else pd.DataFrame(columns=list(EXPORT_COLUMNS))
        else:
            raise DecisionsError(f"{path}: unknown file type; use .csv, .parquet or .json")
    except (OSError, ValueError, KeyError, UnicodeDecodeError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DecisionsError(f"{path}: cannot be read as a decisions file ({reason})") from None
    except Exception as exc:  # pyarrow raises its own errors for a damaged parquet file
        if type(exc).__module__.startswith("pyarrow"):
            reason = str(exc).splitlines()[0][:200]
            raise DecisionsError(f"{path}: cannot be read as a decisions file ({reason})") from None
        raise
    frame.columns = [str(c) for c in frame.columns]
    if "challenge_label" in frame.columns and "current_label" not in frame.columns:
        frame = frame.rename(columns={"original_label": "current_label"}).rename(
            columns={"challenge_label": "original_label"}
        )
    missing = {"image_id", "action"} - set(frame.columns)
    if missing:
        raise DecisionsError(f"{path}: no column(s) {', '.join(sorted(missing))}")
    try:
        return typed(frame)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DecisionsError(f"{path}: a value has the wrong type ({exc})") from None


def challenge_bytes(cur, frame: pd.DataFrame, split: str, report=None) -> bytes:
    """The split in the challenge's `ID,labels,split` format (CRLF, `.jpg` IDs), corrected.

    Removed cells are left out; corrected cells carry their final label. Refuses (raises
    DecisionsError) a copy whose health `report` has problems and any label outside the 13
    classes; IDs that a spreadsheet would run as a formula are neutralised.
    """
    if report is not None and not report.ok:
        raise DecisionsError(
            f"the copy fails `check` ({len(report.problems)} problem(s), first: "
            f"{report.problems[0]}); fix it before writing challenge labels"
        )
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
    writer.writerow(CHALLENGE_COLUMNS)
    bad = []
    for image_id, label in rows:
        action, new = final.get(image_id, ("retain", None))
        if action == "remove":
            continue
        written = new if action == "correct" else label
        if written not in CLASS_CODES:
            bad.append(f"{image_id} has the label {str(written)[:40]!r}")
            continue
        writer.writerow([neutralise(f"{image_id}.jpg"), written, split])
    if bad:
        raise DecisionsError(
            f"split {split}: {len(bad)} label(s) outside the 13 classes ({'; '.join(bad[:5])}); "
            "run `check` and fix the copy"
        )
    return out.getvalue().encode("utf-8")
