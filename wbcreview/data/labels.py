"""The original challenge label files: read and write their exact format.

Format (from the challenge): CSV with CRLF line endings, header `ID,labels,split` (the
phase1 file has three extra empty columns, the test file is `ID,labels` with empty labels),
IDs written as `01416766.jpg`.
"""

from __future__ import annotations

from wbcreview.errors import WbcreviewError

import csv
import io
from pathlib import Path

import pandas as pd

from wbcreview.data.release import CLASS_CODES


class LabelFileError(WbcreviewError):
    """An original label file is not in the challenge's format."""


def image_id_from_name(name: str) -> str:
    """`01416766.jpg` -> `01416766` (any extension, surrounding spaces dropped)."""
    name = name.strip()
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in {"jpg", "jpeg", "png"} else name


def read_original_labels(path: Path | str) -> pd.DataFrame:
    """Read one original label file into a DataFrame of image_id, label, split.

    An empty label (the test file) becomes None; a missing split column becomes None.
    Raises LabelFileError naming the file and line for a wrong header, a row without an
    ID, an unknown label or a duplicate ID.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise LabelFileError(f"{path}: the file is empty") from None
    if header[:2] != ["ID", "labels"]:
        raise LabelFileError(
            f"{path}: line 1: header must start with ID,labels (got {','.join(header)!r})"
        )
    has_split = len(header) > 2 and header[2] == "split"
    ids, labels, splits, seen, problems = [], [], [], {}, []
    for lineno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        image_id = image_id_from_name(row[0])
        label = row[1].strip() if len(row) > 1 else ""
        if not image_id:
            problems.append(f"line {lineno}: empty ID")
            continue
        if label and label not in CLASS_CODES:
            problems.append(f"line {lineno}: unknown label {label!r} for {row[0]}")
        if image_id in seen:
            problems.append(f"line {lineno}: ID {row[0]} already on line {seen[image_id]}")
        seen[image_id] = lineno
        ids.append(image_id)
        labels.append(label or None)
        splits.append((row[2].strip() or None) if has_split and len(row) > 2 else None)
    if problems:
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise LabelFileError(f"{path}: {shown}{more}")
    return pd.DataFrame({"image_id": ids, "label": labels, "split": splits}, dtype="object")


def write_original_labels(
    path: Path | str,
    rows: list[tuple[str, str | None, str | None]],
    extra_empty_columns: int = 0,
    with_split: bool = True,
) -> None:
    """Write (image_id, label, split) rows in the challenge's exact format (CRLF, `.jpg` IDs).

    `extra_empty_columns` adds trailing empty columns (3 in the phase1 file); without
    `with_split` the file is `ID,labels` (the test file, labels usually empty).
    """
    header = ["ID", "labels"] + (["split"] if with_split else []) + [""] * extra_empty_columns
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for image_id, label, split in rows:
        line = [f"{image_id}.jpg", label or ""]
        if with_split:
            line.append(split or "")
        writer.writerow(line + [""] * extra_empty_columns)
    Path(path).write_bytes(out.getvalue().encode("utf-8"))
