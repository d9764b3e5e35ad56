"""The one reader of the CSV files people bring in (vote files, challenge label files).

Every importer reads through `read_table`, so every file gets the same rules: a size limit,
UTF-8 (a byte-order mark is allowed), a header whose names are known and appear once, quotes
that close, a limit on the length of a field, the same number of fields on every row, and
line numbers counted as in the file (a row whose quoted field spans lines is reported at the
line it starts on). Every message starts with the file's name and the line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wbcreview.errors import WbcreviewError, listing

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD_CHARS = 10_000
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
MAX_PROBLEMS_SHOWN = 10


class CsvFileError(WbcreviewError):
    """A file brought in is not a CSV file wbcreview can read; the message names file and line."""


@dataclass(frozen=True)
class Row:
    """One data row: the line it starts on in the file and its fields by column name."""

    line: int
    fields: dict[str, str]

    def get(self, name: str) -> str:
        """The stripped text of column `name` ('' when the file has no such column)."""
        return self.fields.get(name, "")


@dataclass(frozen=True)
class Table:
    """A CSV file read by `read_table`: its name, its header as written, and its rows."""

    name: str
    header: list[str]
    rows: list[Row]


def one_line(name: str, problems: list[str], tail: str = "") -> str:
    """`name: 3 problems, nothing imported: line 2: ...; line 5: ...` on one line."""
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"{name}: {count}{tail}: {listing(problems, MAX_PROBLEMS_SHOWN, '; ')}"


def read_table(
    path: Path | str,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
    blank_extra_columns: bool = False,
    name: str | None = None,
    error: type[WbcreviewError] = CsvFileError,
    max_bytes: int = MAX_FILE_BYTES,
    max_field: int = MAX_FIELD_CHARS,
) -> Table:
    """Read a CSV file with a header row; raise `error` with one line naming file and line.

    `required` columns must be present, `optional` ones may be; any other name is refused
    (unless `blank_extra_columns` and the name is empty: the challenge's phase1 file ends
    with three unnamed columns). Names and values are stripped of surrounding spaces.
    Refused: a file over `max_bytes`, text that is not UTF-8, a NUL byte, a quote that is
    never closed or is followed by text, a field over `max_field` characters, a row with
    more or fewer fields than the header, a column named twice. Blank lines are skipped.
    `name` is how messages call the file (default: the path as given).
    """
    path = Path(path)
    label = name or str(path)
    required, optional = list(required), list(optional)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(
                f"{label}: {size:,} bytes, more than the {max_bytes:,} a file may have; split it"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{label}: line {line}: byte {exc.start} is not UTF-8 text; save the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise error(f"{label}: line {line}: a NUL character; this is not a text file")
    records = _records(text, label, error, max_field)
    if not records:
        raise error(f"{label}: the file is empty; line 1 must be the header {','.join(required)}")
    header_line, raw_header = records[0]
    header = [h.strip() for h in raw_header]
    problems = []
    known = set(required) | set(optional)
    for i, col in enumerate(header):
        if col in header[:i] and (col or not blank_extra_columns):
            problems.append(f"column {col!r} appears twice")
        elif col not in known and not (blank_extra_columns and not col):
            problems.append(f"unknown column {col!r}")
    missing = [c for c in required if c not in header]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if problems:
        expected = ",".join(required + optional)
        raise error(
            f"{label}: line {header_line}: {'; '.join(problems)} (the header must be {expected})"
        )
    rows, problems = [], []
    for line, record in records[1:]:
        if all(not field.strip() for field in record):
            continue  # a blank line
        if len(record) != len(header):
            problems.append(
                f"line {line}: {len(record)} field(s) where the header has {len(header)}"
            )
            continue
        rows.append(
            Row(line, {col: v.strip() for col, v in zip(header, record, strict=True) if col})
        )
    if problems:
        raise error(one_line(label, problems, ", nothing read"))
    return Table(label, header, rows)


def _records(text: str, label: str, error, max_field: int) -> list[tuple[int, list[str]]]:
    """Every record of `text` with the line it starts on; errors name that line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a field longer than {csv.field_size_limit():,} characters"
            elif "unexpected end of data" in reason:
                reason = "a quote opened on this line is never closed"
            elif "expected after" in reason:
                reason = 'text after a closing quote (write a quote inside a field as "")'
            raise error(f"{label}: line {start}: {reason}") from None
        for field in record:
            if len(field) > max_field:
                raise error(
                    f"{label}: line {start}: a field of {len(field):,} characters "
                    f"(at most {max_field:,})"
                )
        out.append((start, record))
        start = reader.line_num + 1


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time as an aware UTC datetime; no zone means UTC.

    Raises ValueError with a short reason for text that is not a time, a year outside
    1900-2100, or (with `now`) a time after `now`.
    """
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r} (use ISO 8601, e.g. 2026-03-01T14:05:00Z)") from None
    if not EARLIEST_YEAR <= at.year <= LATEST_YEAR:
        raise ValueError(f"time {text!r} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if not EARLIEST_YEAR <= at.year <= LATEST_YEAR:
        raise ValueError(f"time {text!r} is outside the years {EARLIEST_YEAR}-{LATEST_YEAR}")
    if now is not None and at > now:
        raise ValueError(f"time {text!r} is in the future")
    return at
