"""Apply final decisions to a copy: a curated copy in the same release layout.

Labels are corrected, removed cells are dropped from both configs (the pristine row and
every degraded row made from it), and everything else is kept: shards no decision touches
are copied byte for byte, touched shards are rewritten with the same schema and metadata
and the same rows in the same order, other files are copied unchanged (the degradation
parameters of removed images are dropped). A CHANGELOG.md lists each change.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wbcreview import files as fsutil
from wbcreview.data import optimize
from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES, DEGRADATION_PARAMS
from wbcreview.errors import WbcreviewError, listing

Progress = Callable[[int, int, str], None]
ACTIONS = ("correct", "remove", "retain")


class ApplyError(WbcreviewError):
    """The decisions cannot be applied to this copy."""


@dataclass(frozen=True)
class ApplySummary:
    """What an apply changed."""

    out: Path
    corrected: int
    removed: int
    retained: int
    rows_relabelled: int
    rows_dropped: int
    shards_rewritten: int
    shards_copied: int
    seconds: float
    stale_removed: tuple[Path, ...] = ()  # partial folders of killed earlier runs

    def __str__(self) -> str:
        return (
            f"{self.corrected} corrected, {self.removed} removed, {self.retained} retained "
            f"({self.rows_relabelled} rows relabelled, {self.rows_dropped} rows dropped; "
            f"{self.shards_rewritten} shards rewritten, {self.shards_copied} copied)"
        )


def normalise_decisions(frame: pd.DataFrame, known_cells: set[str] | None = None) -> pd.DataFrame:
    """Check a decisions frame (image_id, action, final_label) and return it cleaned.

    `image_id` is the cell's pristine image id. Raises ApplyError listing every bad row
    (missing columns, unknown action, a correction without a known label, an image id
    that is not a cell of the copy, two decisions for one cell).
    """
    missing = {"image_id", "action"} - set(frame.columns)
    if missing:
        raise ApplyError(f"decisions lack the column(s) {', '.join(sorted(missing))}")
    frame = frame.copy()
    if "final_label" not in frame.columns:
        frame["final_label"] = None
    frame["image_id"] = frame["image_id"].astype("string").str.strip()
    frame["action"] = frame["action"].astype("string").str.strip().str.lower()
    problems = []
    seen: dict[str, int] = {}
    for i, (image_id, action, label) in enumerate(
        frame[["image_id", "action", "final_label"]].itertuples(index=False), start=1
    ):
        where = f"decision {i} (image_id {image_id})"
        if pd.isna(image_id) or not image_id:
            problems.append(f"decision {i}: empty image_id")
            continue
        if action not in ACTIONS:
            problems.append(f"{where}: unknown action {action!r} (use {', '.join(ACTIONS)})")
        if action == "correct" and (pd.isna(label) or label not in CLASS_CODES):
            problems.append(
                f"{where}: correct needs a final_label among the 13 codes, got {label!r}"
            )
        if known_cells is not None and image_id not in known_cells:
            problems.append(f"{where}: not a cell of this copy")
        if image_id in seen:
            problems.append(
                f"{where}: a second decision for this cell (first is decision {seen[image_id]})"
            )
        seen[image_id] = i
    if problems:
        raise ApplyError(f"{len(problems)} bad decision(s):\n  {listing(problems, 30)}")
    return frame


def apply_decisions(
    data: Path, out: Path, decisions: pd.DataFrame, progress: Progress | None = None
) -> ApplySummary:
    """Write the curated copy of `data` into the new folder `out`; return what changed.

    Refuses to overwrite its input (or write inside it); writes into a temporary folder
    that is renamed at the end, so a crash leaves no half copy. Applying the same
    decisions twice gives identical files.
    """
    started = time.monotonic()
    data, out = Path(data), Path(out)
    try:
        fsutil.check_new_folder(data, out)
    except fsutil.UnsafePath as exc:
        raise ApplyError(str(exc)) from exc
    stale = tuple(fsutil.remove_stale_partials(out))
    with open_catalog(data) as cat:
        cur = cat.cursor()
        cells = {r[0] for r in cur.execute("SELECT DISTINCT cell_id FROM cells").fetchall()}
        frame = normalise_decisions(decisions, cells)
        effective = frame[frame["action"].isin(["correct", "remove"])]
        # Every affected row (both configs) with its shard, old label and new fate.
        affected = cur.execute(
            "SELECT s.relpath, c.row, c.image_id, c.config, c.cell_id, c.label "
            "FROM cells c JOIN shards s USING (shard_id) WHERE list_contains(?, c.cell_id)",
            [effective["image_id"].tolist()],
        ).df()
        # The label of every decided cell before the change (retained ones too: the
        # CHANGELOG names the label each kept).
        current = dict(
            cur.execute(
                "SELECT image_id, label FROM cells WHERE config = 'pristine' AND list_contains(?, image_id)",
                [frame["image_id"].tolist()],
            ).fetchall()
        )
    by_cell = effective.set_index("image_id")
    affected["action"] = affected["cell_id"].map(by_cell["action"])
    affected["new_label"] = affected["cell_id"].map(by_cell["final_label"])
    touched = dict(tuple(affected.groupby("relpath")))
    files = sorted(p for p in data.rglob("*") if p.is_file())
    total = len(files)
    rewritten = copied = relabelled = dropped = 0
    removed_ids = set(affected.loc[affected["action"] == "remove", "image_id"])
    with fsutil.building_folder(out) as tmp:
        for done, src in enumerate(files):
            rel = src.relative_to(data).as_posix()
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if progress:
                progress(done, total, rel)
            if rel in touched:
                r, d = _rewrite_shard(src, dst, touched[rel])
                relabelled += r
                dropped += d
                rewritten += 1
            elif rel == DEGRADATION_PARAMS and removed_ids:
                _filter_params(src, dst, removed_ids)
            else:
                shutil.copyfile(src, dst)
                if src.suffix == ".parquet":
                    copied += 1
        (tmp / "CHANGELOG.md").write_text(_changelog(frame, current, affected), encoding="utf-8")
        if progress:
            progress(total, total, "CHANGELOG.md")
    counts = frame["action"].value_counts()
    return ApplySummary(
        out=out,
        corrected=int(counts.get("correct", 0)),
        removed=int(counts.get("remove", 0)),
        retained=int(counts.get("retain", 0)),
        rows_relabelled=relabelled,
        rows_dropped=dropped,
        shards_rewritten=rewritten,
        shards_copied=copied,
        seconds=time.monotonic() - started,
        stale_removed=stale,
    )


def _rewrite_shard(src: Path, dst: Path, changes: pd.DataFrame) -> tuple[int, int]:
    """Rewrite one shard with labels corrected and removed rows dropped; same schema."""
    relabel = {
        int(r): lab
        for r, act, lab in changes[["row", "action", "new_label"]].itertuples(index=False)
        if act == "correct"
    }
    drop = {
        int(r) for r, act in changes[["row", "action"]].itertuples(index=False) if act == "remove"
    }
    with pq.ParquetFile(src, pre_buffer=False) as pf:
        schema = pf.schema_arrow
        group_rows = pf.metadata.row_group(0).num_rows if pf.metadata.num_row_groups else 100
        options = optimize.column_options(schema)
        label_idx = schema.get_field_index("label")
        row0 = 0
        with pq.ParquetWriter(dst, schema, write_page_index=True, **options) as writer:
            for batch in pf.iter_batches(batch_size=max(1, group_rows), use_threads=False):
                n = batch.num_rows
                rows = range(row0, row0 + n)
                labels = batch.column(label_idx).to_pylist()
                for i, r in enumerate(rows):
                    if r in relabel:
                        labels[i] = relabel[r]
                batch = batch.set_column(
                    label_idx,
                    schema.field(label_idx),
                    pa.array(labels, schema.field(label_idx).type),
                )
                keep = [r not in drop for r in rows]
                if not all(keep):
                    batch = batch.filter(pa.array(keep))
                if batch.num_rows:
                    writer.write_batch(batch, row_group_size=max(1, group_rows))
                row0 += n
    return len(relabel), len(drop)


def _filter_params(src: Path, dst: Path, removed_ids: set[str]) -> None:
    """Copy degradation_params.csv without the rows of removed images (read generically)."""
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    if "image_id" not in frame.columns:
        shutil.copyfile(src, dst)
        return
    frame[~frame["image_id"].isin(removed_ids)].to_csv(dst, index=False)


def _changelog(frame: pd.DataFrame, current: dict[str, str], affected: pd.DataFrame) -> str:
    counts = frame["action"].value_counts()
    rows_per_cell = affected.groupby("cell_id").size().to_dict()
    lines = [
        "# CHANGELOG: curated copy",
        "",
        f"{int(counts.get('correct', 0))} corrected, {int(counts.get('remove', 0))} removed, "
        f"{int(counts.get('retain', 0))} retained.",
        "",
        "| image_id | change | rows (both configs) | note |",
        "|---|---|---|---|",
    ]
    for image_id, action, label, note in _sorted(frame):
        if action == "correct":
            change = f"label {current.get(image_id, '?')} -> {label}"
        elif action == "remove":
            change = "removed"
        else:
            change = f"retained ({current[image_id]})" if image_id in current else "retained"
        note = (
            "" if note is None or pd.isna(note) else str(note).replace("|", "/").replace("\n", " ")
        )
        lines.append(f"| {image_id} | {change} | {rows_per_cell.get(image_id, 0)} | {note} |")
    return "\n".join(lines) + "\n"


def _sorted(frame: pd.DataFrame):
    notes = (
        frame["note"]
        if "note" in frame.columns
        else pd.Series([None] * len(frame), index=frame.index)
    )
    table = pd.DataFrame(
        {
            "image_id": frame["image_id"],
            "action": frame["action"],
            "label": frame["final_label"],
            "note": notes,
        }
    ).sort_values("image_id")
    return table.itertuples(index=False)
