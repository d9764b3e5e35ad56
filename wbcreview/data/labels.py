"""The original challenge label files: read and write their exact format.

Format (from the challenge): CSV with CRLF line endings, header `ID,labels,split` (the
phase1 file has three extra empty columns, the test file is `ID,labels` with empty labels),
IDs written as `01416766.jpg`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from wbcreview import csvfile
from wbcreview.data.release import CLASS_CODES, SPLITS
from wbcreview.errors import WbcreviewError


class LabelFileError(WbcreviewError):
    """An original label file is not in the challenge's format."""


def image_id_from_name(name: str) -> str:
    """`01416766.jpg` -> `01416766` (any extension, surrounding spaces dropped)."""
    name = name.strip()
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in {"jpg", "jpeg", "png"} else name


def read_original_labels(path: Path | str, *, name: str | None = None) -> pd.DataFrame:
    """Read one original label file into a DataFrame of image_id, label, split.

    Read through `csvfile.read_table` (size, encoding, header, quotes, line numbers as in the
    file). Header `ID,labels[,split]`, then optionally unnamed empty columns (the phase1 file).
    An empty label (the test file) becomes None; a missing split column becomes None. Raises
    LabelFileError on one line naming the file and each line: a row without an ID, an
    unknown label or split, a duplicate ID. `name` is how messages call the file.
    """
    label = name or str(path)
    table = csvfile.read_table(
        path,
        required=("ID", "labels"),
        optional=("split",),
        blank_extra_columns=True,
        name=label,
        error=LabelFileError,
    )
    ids, labels, splits, seen, problems = [], [], [], {}, []
    for row in table.rows:
        where = f"line {row.line}"
        raw_id, value, split = row.get("ID"), row.get("labels"), row.get("split")
        image_id = image_id_from_name(raw_id)
        if not image_id:
            problems.append(f"{where}: empty ID")
            continue
        if value and value not in CLASS_CODES:
            problems.append(f"{where}: unknown label {value[:40]!r} for {raw_id[:40]}")
        if split and split not in SPLITS:
            problems.append(f"{where}: unknown split {split[:40]!r} (use {', '.join(SPLITS)})")
        if image_id in seen:
            problems.append(f"{where}: ID {raw_id[:40]} already on line {seen[image_id]}")
            continue
        seen[image_id] = row.line
        ids.append(image_id)
        labels.append(value or None)
        splits.append(split or None)
    if problems:
        raise LabelFileError(csvfile.one_line(label, problems, ", nothing imported"))
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
