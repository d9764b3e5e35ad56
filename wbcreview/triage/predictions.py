"""Model predictions on a copy: validated import, storage beside the catalog, loading.

A prediction file is CSV or parquet with an image id column (`image_id`, or `ID` as in the
challenge's submission format, where `01416766.jpg` stands for `01416766`) and either a
predicted label column (`label` or `labels`) or one probability column per class, named by
the 13 class codes (both may be given: the probabilities then drive the ranking and the
label is kept as the model's decision). Every row is checked before anything is stored;
all problems are listed by line (CSV: physical line, header is line 1; parquet: row
number, first is row 1), and a file with any problem is not stored at all.

Stored predictions are parquet files `<WBCREVIEW_HOME>/predictions/<catalog prefix>/
<name>.parquet` with columns image_id, label and, for probabilities, the 13 class codes;
their footer keeps where they came from. A file covers the (config, split) pairs its
image ids belong to, and must hold every row of those pairs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wbcreview import config
from wbcreview import files as fsutil
from wbcreview.data.catalog import catalog_prefix
from wbcreview.data.labels import image_id_from_name
from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError, listing

KINDS = ("labels", "probabilities")
PROB_TOLERANCE = 0.01  # |sum of a row's probabilities - 1| allowed (rounded CSV values)
ID_COLUMNS = ("image_id", "id")
LABEL_COLUMNS = ("label", "labels")
MAX_SHOWN = 50  # problems in the exception's text; `problems` holds them all
MAX_EXAMPLES = 10  # missing image ids named per (config, split)
METADATA_KEY = b"wbcreview_predictions"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,79}")
_CODE_OF = {code.lower(): code for code in CLASS_CODES}


class PredictionsError(WbcreviewError):
    """A prediction file or name cannot be used; `problems` lists every problem found."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


@dataclass(frozen=True)
class PredictionInfo:
    """A stored prediction file: its name, kind, size, what it covers and where it came from."""

    name: str
    kind: str  # "labels" or "probabilities"
    rows: int
    covers: tuple[str, ...]  # "config/split" pairs
    source: str  # the imported file's name, or "baseline: ..."
    created_at: str  # UTC, ISO 8601
    path: Path

    def describe(self) -> str:
        """One line for people."""
        return (
            f"{self.name}: {self.rows:,} {self.kind} rows covering {', '.join(self.covers)} "
            f"(from {self.source}, {self.created_at})"
        )


# --- reading a file --------------------------------------------------------------------------


@dataclass
class _Table:
    """A prediction file read as text cells: header names and (where, values) rows."""

    header: list[str]
    rows: list[tuple[str, list]]


def _read_csv(data: bytes, name: str) -> _Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PredictionsError(
            f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise PredictionsError(f"{name}: the file is empty")
        rows = []
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            rows.append((f"line {reader.line_num}", row))
    except csv.Error as exc:
        raise PredictionsError(f"{name}: line {reader.line_num}: not valid CSV ({exc})") from None
    return _Table([h.strip() for h in header], rows)


def _read_parquet(data: bytes, name: str) -> _Table:
    try:
        table = pq.read_table(io.BytesIO(data))
        values = [table.column(i).to_pylist() for i in range(table.num_columns)]
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a bad file
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise PredictionsError(f"{name}: not a readable parquet file ({first})") from None
    header = [str(h).strip() for h in table.column_names]
    rows = [(f"row {i + 1}", [col[i] for col in values]) for i in range(table.num_rows)]
    return _Table(header, rows)


def read_table(data: bytes, name: str = "the file") -> _Table:
    """Read a prediction file's bytes (parquet by its magic bytes or extension, else CSV)."""
    if not isinstance(data, bytes | bytearray):
        raise PredictionsError(f"{name}: expected the file's bytes")
    data = bytes(data)
    if not data.strip():
        raise PredictionsError(f"{name}: the file is empty")
    if data[:4] == b"PAR1" or name.lower().endswith((".parquet", ".pq")):
        return _read_parquet(data, name)
    return _read_csv(data, name)


# --- validation ------------------------------------------------------------------------------


@dataclass
class _Columns:
    id: int
    label: int | None
    probs: dict[str, int]  # class code -> column index


def _columns(header: list[str], name: str) -> _Columns:
    problems = []
    lowered = [h.lower() for h in header]
    for h in {h for h in lowered if lowered.count(h) > 1 and h}:
        problems.append(f"{name}: line 1: column {h!r} appears {lowered.count(h)} times")
    ids = [i for i, h in enumerate(lowered) if h in ID_COLUMNS]
    labels = [i for i, h in enumerate(lowered) if h in LABEL_COLUMNS]
    probs = {_CODE_OF[h]: i for i, h in enumerate(lowered) if h in _CODE_OF}
    if not ids:
        problems.append(
            f"{name}: line 1: no image id column (name it image_id, or ID as in the "
            f"challenge's submission format); the columns are {', '.join(header)[:200]!r}"
        )
    elif len(ids) > 1:
        problems.append(f"{name}: line 1: both image_id and ID columns; keep one")
    if len(labels) > 1:
        problems.append(f"{name}: line 1: both label and labels columns; keep one")
    if probs and len(probs) < len(CLASS_CODES):
        missing = [c for c in CLASS_CODES if c not in probs]
        problems.append(
            f"{name}: line 1: probability columns for {len(probs)} of the {len(CLASS_CODES)} "
            f"classes; missing {', '.join(missing)} (give all 13, zeros where a model has none)"
        )
    if not labels and not probs:
        problems.append(
            f"{name}: line 1: no prediction: give a label (or labels) column, or one probability "
            f"column per class named {', '.join(CLASS_CODES)}"
        )
    if problems:
        raise PredictionsError(_summary(name, problems), problems)
    return _Columns(ids[0], labels[0] if labels else None, probs)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value).strip()


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _text(value)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _line_order(problem: str) -> tuple[int, int]:
    """Problems of a line or row in file order, then those about the whole file."""
    match = re.match(r"(?:line|row) (\d+):", problem)
    return (0, int(match.group(1))) if match else (1, 0)


def _summary(name: str, problems: list[str]) -> str:
    shown = listing(problems, MAX_SHOWN)
    return f"{name}: {len(problems)} problem(s), nothing imported:\n  {shown}"


def catalog_rows(cur) -> pd.DataFrame:
    """image_id, config, split, severity and cell_id of every image id of the catalog (the
    pristine row's where an image id is in both configs)."""
    return cur.execute(
        "SELECT image_id, arg_min(config, config <> 'pristine') AS config, "
        "arg_min(split, config <> 'pristine') AS split, "
        "arg_min(severity, config <> 'pristine') AS severity, "
        "arg_min(cell_id, config <> 'pristine') AS cell_id FROM cells GROUP BY image_id"
    ).df()


def validate(cur, data: bytes, name: str = "the file", tolerance: float = PROB_TOLERANCE):
    """Check a prediction file against the catalog and return it as a stored frame.

    The frame has image_id, label and, for probabilities, the 13 class-code columns
    (float64); `frame.attrs` has kind and covers. Raises PredictionsError listing every
    problem: unreadable file, missing columns, empty or unknown ids, duplicate ids, unknown
    labels, non-numeric, negative or NaN probabilities, rows whose probabilities do not sum
    to 1 within `tolerance`, and rows of a covered (config, split) the file lacks.
    """
    table = read_table(data, name)
    cols = _columns(table.header, name)
    width = len(table.header)
    problems: list[str] = []
    ids: list[str] = []
    labels: list[str | None] = []
    probs: list[list[float]] = []
    seen: dict[str, str] = {}
    for where, row in table.rows:
        if len(row) != width:
            problems.append(f"{where}: {len(row)} fields, the header has {width}")
            continue
        raw_id = _text(row[cols.id])
        image_id = image_id_from_name(raw_id)
        if not image_id:
            problems.append(f"{where}: empty image id")
            continue
        if image_id in seen:
            problems.append(f"{where}: image id {raw_id!r} is already on {seen[image_id]}")
            continue
        seen[image_id] = where
        label = _text(row[cols.label]) if cols.label is not None else ""
        if label and label not in CLASS_CODES:
            problems.append(
                f"{where}: unknown label {label[:40]!r} (use one of {', '.join(CLASS_CODES)})"
            )
        elif not label and not cols.probs:
            problems.append(f"{where}: empty label")
        values = []
        if cols.probs:
            bad = False
            for code in CLASS_CODES:
                value = _number(row[cols.probs[code]])
                if value is None or not math.isfinite(value):
                    problems.append(
                        f"{where}: probability of {code} is {_text(row[cols.probs[code]])[:40]!r}, "
                        "not a number"
                    )
                    bad = True
                elif value < 0:
                    problems.append(f"{where}: probability of {code} is negative ({value:g})")
                    bad = True
                values.append(value)
            if not bad:
                total = sum(values)
                if abs(total - 1) > tolerance:
                    problems.append(
                        f"{where}: probabilities sum to {total:.4g}, not 1 (tolerance {tolerance:g})"
                    )
        ids.append(image_id)
        labels.append(label or None)
        probs.append(values)
    if not table.rows:
        problems.append(f"{name}: no prediction rows under the header")
    known = catalog_rows(cur).set_index("image_id")
    unknown = [i for i in ids if i not in known.index]
    for image_id in unknown:
        hint = ""
        if image_id.isdigit() and len(image_id) < 8:
            hint = f" (leading zeros lost? image ids have 8 digits, e.g. {image_id.zfill(8)})"
        problems.append(f"{seen[image_id]}: unknown image id {image_id!r}{hint}")
    found = known.loc[[i for i in ids if i in known.index]]
    covers = sorted(set(zip(found["config"], found["split"], strict=True)))
    if ids and not len(found):
        problems.append(
            f"{name}: none of its {len(ids):,} image ids is in this copy (another copy?)"
        )
    present = set(found.index)
    for cfg, split in covers:
        expected = known.index[(known["config"] == cfg) & (known["split"] == split)]
        missing = sorted(set(expected) - present)
        if missing:
            examples = ", ".join(missing[:MAX_EXAMPLES]) + (
                " ..." if len(missing) > MAX_EXAMPLES else ""
            )
            problems.append(
                f"{name}: {len(missing):,} of the {len(expected):,} rows of {cfg}/{split} have no "
                f"prediction ({examples}); predict every row of a split, or leave the split out"
            )
    if problems:
        problems.sort(key=_line_order)
        raise PredictionsError(_summary(name, problems), problems)
    frame = pd.DataFrame({"image_id": ids, "label": labels}, dtype="object")
    kind = "probabilities" if cols.probs else "labels"
    if cols.probs:
        matrix = np.asarray(probs, dtype=np.float64).reshape(len(ids), len(CLASS_CODES))
        matrix = matrix / matrix.sum(axis=1, keepdims=True)
        for k, code in enumerate(CLASS_CODES):
            frame[code] = matrix[:, k]
        argmax = np.asarray(CLASS_CODES, dtype=object)[matrix.argmax(axis=1)]
        frame["label"] = [lab or top for lab, top in zip(labels, argmax, strict=True)]
    frame.attrs.update(kind=kind, covers=[f"{c}/{s}" for c, s in covers])
    return frame


# --- storage ---------------------------------------------------------------------------------


def predictions_dir(root: Path) -> Path:
    """Where the stored predictions of the copy at `root` live (created on first use)."""
    path = config.data_dir() / "predictions" / catalog_prefix(Path(root))
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_name(name: str) -> str:
    """Return `name` trimmed if it can name a stored prediction file; raise PredictionsError."""
    text = (name or "").strip() if isinstance(name, str) else ""
    try:
        fsutil.safe_child(Path("/predictions"), f"{text}.parquet" if text else "")
    except fsutil.UnsafePath as exc:
        raise PredictionsError(f"prediction name: {exc}") from None
    if not _NAME.fullmatch(text):
        raise PredictionsError(
            f"prediction name {text[:40]!r}: use up to 80 letters, digits, spaces, '_', '.', "
            "'+' or '-', starting with a letter or digit"
        )
    return text


def _path(root: Path, name: str) -> Path:
    name = check_name(name)
    try:
        return fsutil.safe_child(predictions_dir(root), f"{name}.parquet")
    except fsutil.UnsafePath as exc:
        raise PredictionsError(f"prediction name: {exc}") from None


def save(root: Path, name: str, frame: pd.DataFrame, source: str, kind: str | None = None):
    """Store a validated prediction frame as `name` (replacing one of that name); return its
    PredictionInfo. Written to a temporary file and renamed, so readers never see half."""
    path = _path(root, name)
    kind = (
        kind
        or frame.attrs.get("kind")
        or ("probabilities" if set(CLASS_CODES) <= set(frame.columns) else "labels")
    )
    if kind not in KINDS:
        raise PredictionsError(f"unknown prediction kind {kind!r}")
    columns = ["image_id", "label"] + (list(CLASS_CODES) if kind == "probabilities" else [])
    table = pa.Table.from_pandas(frame[columns].reset_index(drop=True), preserve_index=False)
    meta = {
        "name": path.stem,
        "kind": kind,
        "rows": len(frame),
        "covers": list(frame.attrs.get("covers", [])),
        "source": str(source)[:300],
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
    )
    with fsutil.written_atomically(path) as tmp:
        pq.write_table(table, tmp)
    return _info(path)


def import_predictions(
    root: Path, cur, data: bytes, name: str, filename: str = "the file",
    tolerance: float = PROB_TOLERANCE,
) -> PredictionInfo:  # fmt: skip
    """Validate a prediction file (its bytes) against the catalog cursor `cur` of the copy
    at `root` and store it as `name`; return what was stored.

    The name is checked first. Raises PredictionsError listing every problem (see
    `validate`); then nothing is written. Importing again under the same name replaces it.
    """
    check_name(name)
    frame = validate(cur, data, filename, tolerance)
    return save(root, name, frame, source=Path(filename).name or "upload")


def _info(path: Path) -> PredictionInfo:
    schema = pq.read_schema(path)
    meta = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return PredictionInfo(
        name=path.stem,
        kind=meta.get("kind", "labels"),
        rows=int(meta.get("rows", 0)),
        covers=tuple(meta.get("covers", [])),
        source=meta.get("source", ""),
        created_at=meta.get("created_at", ""),
        path=path,
    )


def list_predictions(root: Path) -> list[PredictionInfo]:
    """The stored predictions of the copy at `root`, by name (unreadable files left out)."""
    out = []
    for path in sorted(predictions_dir(root).glob("*.parquet")):
        if path.name.startswith("."):
            continue
        try:
            out.append(_info(path))
        except (OSError, ValueError, pa.ArrowException):
            continue
    return out


def load_predictions(root: Path, name: str) -> pd.DataFrame:
    """The stored prediction file `name`: image_id, label and, for probabilities, the 13
    class-code columns; `attrs` has name, kind, covers and source. PredictionsError if none."""
    path = _path(root, name)
    if not path.is_file():
        known = ", ".join(p.name for p in list_predictions(root)) or "none yet"
        raise PredictionsError(f"no stored predictions named {name!r} (stored: {known})")
    try:
        frame = pd.read_parquet(path)
        info = _info(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise PredictionsError(f"{path}: cannot be read ({exc}); import it again") from None
    frame["image_id"] = frame["image_id"].astype(str)
    frame.attrs.update(name=info.name, kind=info.kind, covers=list(info.covers), source=info.source)
    return frame


def delete_predictions(root: Path, name: str) -> None:
    """Remove the stored prediction file `name` (nothing if there is none)."""
    _path(root, name).unlink(missing_ok=True)


def remove_all(root: Path) -> None:
    """Delete every stored prediction file of the copy at `root` (a temporary copy's)."""
    import shutil

    shutil.rmtree(
        config.data_dir() / "predictions" / catalog_prefix(Path(root)), ignore_errors=True
    )


# --- using them ------------------------------------------------------------------------------


def probabilities(frame: pd.DataFrame, smoothing: float = 0.1) -> np.ndarray:
    """The rows' class probabilities (n x 13, CLASS_CODES order).

    Probability files give their own (renormalised). A file of labels only becomes one-hot
    with label smoothing: the predicted class gets 1 - smoothing + smoothing / 13, every
    other class smoothing / 13, so a disagreement is a low but not zero self-confidence.
    """
    if set(CLASS_CODES) <= set(frame.columns):
        matrix = frame[list(CLASS_CODES)].to_numpy(dtype=np.float64)
        return matrix / matrix.sum(axis=1, keepdims=True)
    index = {code: k for k, code in enumerate(CLASS_CODES)}
    matrix = np.full((len(frame), len(CLASS_CODES)), smoothing / len(CLASS_CODES))
    cols = np.array([index[label] for label in frame["label"]], dtype=int)
    matrix[np.arange(len(frame)), cols] += 1 - smoothing
    return matrix


def with_catalog(cur, frame: pd.DataFrame) -> pd.DataFrame:
    """The prediction rows joined to the catalog: adds config, split, severity, cell_id.

    Rows whose image id is no longer in the copy are dropped.
    """
    rows = catalog_rows(cur)
    out = frame.merge(rows, on="image_id", how="inner", validate="one_to_one")
    out.attrs.update(frame.attrs)
    return out
