"""Rewrite a copy of the release whose shards have the slow layout into the fast one.

Every parquet shard is rewritten with the same rows in the same order, the same arrow schema
and schema metadata (the `huggingface` key included), small row groups, and the image
struct's leaves uncompressed and PLAIN (other columns snappy + dictionary, as `datasets`
writes them), so `locator.locate_images` finds every image. Every other file is copied byte
for byte. The copy is built in a hidden sibling folder and renamed into place at the end, so
a failure leaves no half copy behind.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wbcreview import files as fsutil
from wbcreview.errors import WbcreviewError

from .locator import locate_images

# progress(rows_done, rows_total, shard relative path)
Progress = Callable[[int, int, str], None]


class OptimizeError(WbcreviewError):
    "The optimized copy cannot be made where or from what was asked"


@dataclass(frozen=True)
class OptimizeSummary:
    """What `optimize_copy` wrote."""

    src: Path
    out: Path
    shards: int
    rows: int
    row_groups: int
    files_copied: int
    bytes_in: int
    bytes_out: int
    seconds: float


def _is_image_struct(field: pa.Field) -> bool:
    """True for the Hugging Face Image/Audio storage type: struct<bytes: binary, path: string>."""
    t = field.type
    if not pa.types.is_struct(t):
        return False
    names = {t.field(i).name: t.field(i).type for i in range(t.num_fields)}
    return set(names) == {"bytes", "path"} and pa.types.is_binary(names["bytes"])


def _leaves(name: str, t: pa.DataType) -> list[str]:
    if pa.types.is_struct(t):
        return [
            leaf
            for i in range(t.num_fields)
            for leaf in _leaves(f"{name}.{t.field(i).name}", t.field(i).type)
        ]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaves(f"{name}.list.element", t.value_type)
    return [name]


def column_options(schema: pa.Schema) -> dict:
    """Return ParquetWriter options: image leaves uncompressed PLAIN, the rest snappy + dictionary."""
    compression: dict[str, str] = {}
    use_dictionary: list[str] = []
    column_encoding: dict[str, str] = {}
    for field in schema:
        image = _is_image_struct(field)
        for leaf in _leaves(field.name, field.type):
            compression[leaf] = "none" if image else "snappy"
            if image:
                column_encoding[leaf] = "PLAIN"
            else:
                use_dictionary.append(leaf)
    return {
        "compression": compression,
        "use_dictionary": use_dictionary,
        "column_encoding": column_encoding,
    }


def _check_paths(src: Path, out: Path) -> None:
    if not src.is_dir():
        raise OptimizeError(f"{src}: not a folder; point at the local copy of the release")
    try:
        fsutil.check_new_folder(src, out, noun="source")
    except fsutil.UnsafePath as exc:
        raise OptimizeError(str(exc)) from None


def _source_files(src: Path) -> list[Path]:
    """Every file under `src` (symlinked files followed, as in the Hub cache), sorted."""
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        files.extend(Path(root, n) for n in sorted(names))
    return files


def rewrite_shard(
    src: Path, dst: Path, rows_per_group: int = 100, on_rows: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Rewrite one shard into `dst` with the fast layout; return (rows, row groups written).

    Streams batches of `rows_per_group` rows (pyarrow's batches cross source row groups),
    each written as one row group, so memory stays near one source row group.
    """
    if rows_per_group < 1:
        raise OptimizeError(f"rows_per_group must be at least 1, got {rows_per_group}")
    rows = groups = 0
    # pre_buffer=False: pre-buffering holds several source row groups (~100 MB each) at once.
    with pq.ParquetFile(src, pre_buffer=False) as pf:
        schema = pf.schema_arrow
        options = column_options(schema)
        with pq.ParquetWriter(dst, schema, write_page_index=True, **options) as writer:
            for batch in pf.iter_batches(batch_size=rows_per_group, use_threads=False):
                writer.write_batch(batch, row_group_size=rows_per_group)
                rows += batch.num_rows
                groups += 1
                if on_rows:
                    on_rows(batch.num_rows)
    return rows, groups


def optimize_copy(
    src: str | Path, out: str | Path, rows_per_group: int = 100, progress: Progress | None = None
) -> OptimizeSummary:
    """Write a fast-layout copy of the release folder `src` to the new folder `out`.

    Same relative paths, same rows in the same order, same schema and metadata; parquet
    shards get `rows_per_group`-row groups with the image column uncompressed PLAIN, other
    files are copied byte for byte. `progress(rows_done, rows_total, shard)` is called after
    each row group. Raises OptimizeError if `out` is `src`, inside it, or a non-empty
    folder, if `src` holds no parquet shard, or if a rewritten shard cannot be located.
    """
    started = time.monotonic()
    src, out = Path(src), Path(out)
    if rows_per_group < 1:
        raise OptimizeError(f"rows_per_group must be at least 1, got {rows_per_group}")
    _check_paths(src, out)
    files = _source_files(src)
    shards = [f for f in files if f.suffix == ".parquet"]
    if not shards:
        raise OptimizeError(f"{src}: no .parquet shards found; point at the release folder")
    total_rows = sum(pq.read_metadata(f).num_rows for f in shards)
    rows = groups = bytes_in = bytes_out = copied = 0
    with fsutil.building_folder(out) as tmp:
        for f in files:
            rel = f.relative_to(src)
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            bytes_in += f.stat().st_size
            if f.suffix != ".parquet":
                shutil.copyfile(f, dst)
                copied += 1
                bytes_out += dst.stat().st_size
                continue

            def on_rows(n: int, rel: Path = rel) -> None:
                nonlocal rows
                rows += n
                if progress:
                    progress(rows, total_rows, rel.as_posix())

            shard_rows, shard_groups = rewrite_shard(f, dst, rows_per_group, on_rows)
            groups += shard_groups
            if shard_rows != pq.read_metadata(f).num_rows:
                raise OptimizeError(f"{rel}: wrote {shard_rows} rows, the source has more or fewer")
            for field in pq.read_schema(dst):
                if not _is_image_struct(field):
                    continue
                located = locate_images(dst, field.name)
                if located is None or len(located) != shard_rows:
                    raise OptimizeError(
                        f"{rel}: column {field.name!r} of the rewritten shard cannot be located"
                    )
            bytes_out += dst.stat().st_size
    return OptimizeSummary(
        src=src,
        out=out,
        shards=len(shards),
        rows=rows,
        row_groups=groups,
        files_copied=copied,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        seconds=time.monotonic() - started,
    )
