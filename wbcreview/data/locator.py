"""Find where each row's image bytes sit in a parquet shard, so a page of images is 48 preads.

A shard written by `datasets` >= 4.6 stores the `image.bytes` leaf uncompressed and
PLAIN-encoded: each value is a 4-byte little-endian length and then the JPEG bytes, in the
file as is. `locate_images` walks the page headers of that column chunk (Thrift compact
protocol, parsed here) and the definition levels of each data page, and returns every
row's (offset, length). It reads headers, levels and 4-byte lengths with small preads and
never the image bytes themselves, so a 100 MB chunk costs a few hundred KB of reads.

Anything else (compressed or dictionary-encoded chunks, repeated columns, unknown page
types, sizes that do not add up) returns None: the caller then reads by row number through
pyarrow. The locator never guesses. See ../shared/notes/PARQUET.md.
"""

from __future__ import annotations

import os
import statistics
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

# parquet.thrift enums
PAGE_DATA, PAGE_INDEX, PAGE_DICTIONARY, PAGE_DATA_V2 = 0, 1, 2, 3
ENC_PLAIN, ENC_RLE = 0, 3

# Above this many bytes in one compressed image chunk, a row read decodes too much to be quick.
SLOW_CHUNK_BYTES = 16 * 1024 * 1024

_HEADER_READ = 256  # first guess at a page header's size; grown when statistics make it longer
_MAX_HEADER = 16 * 1024 * 1024


class _Unlocatable(Exception):
    """The chunk is not in the one layout the locator trusts."""


@dataclass(frozen=True)
class LocatedShard:
    """Where every row's image bytes sit in one shard, in file row order.

    `offsets[i]` is the absolute file offset of row i's image bytes and `lengths[i]` their
    length (a present but empty value has a real offset and length 0). A row whose image or
    image bytes are null has offset -1 and length 0.
    """

    path: Path
    offsets: np.ndarray  # int64
    lengths: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.offsets)

    def span(self, row: int) -> tuple[int, int] | None:
        """Return (offset, length) of `row`'s image bytes, or None if they are null."""
        offset = int(self.offsets[row])
        return None if offset < 0 else (offset, int(self.lengths[row]))


@dataclass(frozen=True)
class ShardLayout:
    """What a shard's footer says about how fast its images can be read.

    `locatable` is the footer's verdict (every image-bytes chunk uncompressed, PLAIN, no
    dictionary); `locate_images` may still return None if the pages disagree.
    """

    path: Path
    file_bytes: int
    num_rows: int
    num_row_groups: int
    rows_per_group_min: int
    rows_per_group_median: int
    rows_per_group_max: int
    image_codecs: tuple[str, ...]
    image_encodings: tuple[str, ...]
    image_dictionary: bool
    image_bytes: int  # total size of the image-bytes chunks as stored
    max_image_chunk_bytes: int
    has_page_index: bool
    locatable: bool
    created_by: str

    @property
    def slow(self) -> bool:
        """True if reading one image means decoding a large compressed row group."""
        return not self.locatable and self.max_image_chunk_bytes > SLOW_CHUNK_BYTES

    def describe(self) -> str:
        """Return a one-line summary for the health report."""
        groups = (
            f"{self.num_row_groups} row groups of {self.rows_per_group_min}"
            f"-{self.rows_per_group_max} rows (median {self.rows_per_group_median})"
        )
        codecs = "/".join(self.image_codecs) or "no image column"
        if self.locatable:
            verdict = "fast layout: images uncompressed PLAIN, read by offset"
        elif self.slow:
            verdict = "slow layout: large compressed row groups (run `optimize` for a fast copy)"
        else:
            verdict = "row-group layout: images read by row group"
        return (
            f"{verdict}; {groups}; image {codecs}; {self.num_rows} rows, {self.file_bytes:,} bytes"
        )


# --- Thrift compact protocol ---------------------------------------------------------------


class _NeedMore(Exception):
    """The buffer ended inside the struct being parsed."""


class _Compact:
    """A reader of Thrift compact-protocol values from a bytes buffer."""

    def __init__(self, buf: bytes, pos: int = 0):
        self.buf = buf
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise _NeedMore
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if n < 0:
            raise _Unlocatable(f"negative thrift length {n}")
        end = self.pos + n
        if end > len(self.buf):
            raise _NeedMore
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def varint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise _Unlocatable("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ctype: int):
        """Read one value of compact type `ctype` (structs as {field id: value})."""
        if ctype in (1, 2):  # bool inside a container: one byte
            return self.byte() == 1
        if ctype == 3:
            return struct.unpack("<b", self.take(1))[0]
        if ctype in (4, 5, 6):
            return self.zigzag()
        if ctype == 7:
            return struct.unpack("<d", self.take(8))[0]
        if ctype == 8:
            return self.take(self.varint())
        if ctype in (9, 10):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return [self.value(etype) for _ in range(size)]
        if ctype == 11:
            size = self.varint()
            if not size:
                return {}
            kv = self.byte()
            return {self.value(kv >> 4): self.value(kv & 0x0F) for _ in range(size)}
        if ctype == 12:
            return self.struct()
        if ctype == 13:  # uuid
            return self.take(16)
        raise _Unlocatable(f"unknown thrift compact type {ctype}")

    def struct(self) -> dict[int, object]:
        fields: dict[int, object] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            ctype, delta = head & 0x0F, head >> 4
            fid = last + delta if delta else self.zigzag()
            if ctype == 1:
                fields[fid] = True
            elif ctype == 2:
                fields[fid] = False
            else:
                fields[fid] = self.value(ctype)
            last = fid


def _read_page_header(fd: int, pos: int, limit: int) -> tuple[dict[int, object], int]:
    """Parse the PageHeader at `pos` (never past `limit`); return it and its size in bytes."""
    size = _HEADER_READ
    while True:
        want = min(size, limit - pos)
        buf = os.pread(fd, want, pos)
        try:
            reader = _Compact(buf)
            header = reader.struct()
            return header, reader.pos
        except _NeedMore:
            if want < size or size >= _MAX_HEADER:
                raise _Unlocatable(f"page header at {pos} runs past its chunk") from None
            size *= 8


# --- levels ----------------------------------------------------------------------------------


def _decode_levels(buf: bytes, bit_width: int, count: int) -> np.ndarray:
    """Decode `count` levels from the RLE/bit-packed hybrid encoding (no length prefix)."""
    out = np.empty(count, dtype=np.int32)
    if bit_width == 0:
        out[:] = 0
        return out
    byte_width = (bit_width + 7) // 8
    weights = 1 << np.arange(bit_width, dtype=np.int32)
    reader = _Compact(buf)
    done = 0
    try:
        while done < count:
            header = reader.varint()
            if header & 1:
                groups = header >> 1
                packed = np.frombuffer(reader.take(groups * bit_width), dtype=np.uint8)
                bits = np.unpackbits(packed, bitorder="little").reshape(-1, bit_width)
                values = bits.astype(np.int32) @ weights
                n = min(groups * 8, count - done)
                out[done : done + n] = values[:n]
            else:
                n = min(header >> 1, count - done)
                out[done : done + n] = int.from_bytes(reader.take(byte_width), "little")
            if n <= 0:
                raise _Unlocatable("empty level run")
            done += n
    except _NeedMore:
        raise _Unlocatable("definition levels end early") from None
    return out


# --- pages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageInfo:
    """One page of a column chunk, as its header describes it."""

    row_group: int
    offset: int  # file offset of the page header
    header_size: int
    page_type: int
    compressed_size: int
    uncompressed_size: int
    num_values: int  # 0 for non-data pages
    encoding: int | None
    header: dict[int, object]


def _leaf_index(schema: pq.ParquetSchema, leaf: str) -> int | None:
    for j in range(len(schema)):
        if schema.column(j).path == leaf:
            return j
    return None


def _chunk_bounds(chunk) -> tuple[int, int]:
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
        start = min(start, chunk.dictionary_page_offset)
    return start, start + chunk.total_compressed_size


def _iter_chunk_pages(fd: int, row_group: int, start: int, end: int) -> Iterator[PageInfo]:
    pos = start
    while pos < end:
        header, hsize = _read_page_header(fd, pos, end)
        try:
            ptype = int(header[1])
            usize = int(header[2])
            csize = int(header[3])
        except (KeyError, TypeError, ValueError):
            raise _Unlocatable(f"page header at {pos} lacks type or sizes") from None
        if csize < 0 or pos + hsize + csize > end:
            raise _Unlocatable(f"page at {pos} runs past its chunk")
        num_values, encoding = 0, None
        if ptype in (PAGE_DATA, PAGE_DATA_V2):
            # field 5 is DataPageHeader, field 8 DataPageHeaderV2
            sub = header.get(5 if ptype == PAGE_DATA else 8)
            if not isinstance(sub, dict):
                raise _Unlocatable(f"data page at {pos} has no data page header")
            num_values = int(sub.get(1, -1))
            encoding = int(sub.get(2 if ptype == PAGE_DATA else 4, -1))
        yield PageInfo(row_group, pos, hsize, ptype, csize, usize, num_values, encoding, header)
        pos += hsize + csize


def iter_pages(path: str | Path, leaf: str = "image.bytes") -> Iterator[PageInfo]:
    """Yield every page header of leaf column `leaf` (dotted path), row group by row group.

    Raises KeyError if the leaf does not exist and ValueError if a header cannot be parsed.
    """
    md = pq.read_metadata(path)
    j = _leaf_index(md.schema, leaf)
    if j is None:
        raise KeyError(f"{path}: no column {leaf!r}")
    fd = os.open(path, os.O_RDONLY)
    try:
        for i in range(md.num_row_groups):
            start, end = _chunk_bounds(md.row_group(i).column(j))
            try:
                yield from _iter_chunk_pages(fd, i, start, end)
            except _Unlocatable as exc:
                raise ValueError(f"{path}: row group {i}: {exc}") from None
    finally:
        os.close(fd)


def count_data_pages(path: str | Path, leaf: str = "image.bytes") -> list[int]:
    """Return the number of data pages (v1 or v2) of `leaf` in each row group."""
    counts = [0] * pq.read_metadata(path).num_row_groups
    for page in iter_pages(path, leaf):
        if page.page_type in (PAGE_DATA, PAGE_DATA_V2):
            counts[page.row_group] += 1
    return counts


def _locate_chunk(
    fd: int,
    row_group: int,
    start: int,
    end: int,
    num_rows: int,
    max_def: int,
    offsets: np.ndarray,
    lengths: np.ndarray,
) -> None:
    """Fill offsets/lengths (views of this group's rows) from the pages of one chunk."""
    bit_width = max_def.bit_length()
    row = 0
    for page in _iter_chunk_pages(fd, row_group, start, end):
        if page.page_type in (PAGE_DICTIONARY, PAGE_INDEX):
            continue
        if page.page_type not in (PAGE_DATA, PAGE_DATA_V2):
            raise _Unlocatable(f"page type {page.page_type} at {page.offset}")
        if page.encoding != ENC_PLAIN:
            raise _Unlocatable(f"data page at {page.offset} has encoding {page.encoding}")
        if page.compressed_size != page.uncompressed_size:
            raise _Unlocatable(f"data page at {page.offset} is compressed")
        n = page.num_values
        if n < 0 or row + n > num_rows:
            raise _Unlocatable(f"data page at {page.offset} has {n} values past the group's rows")
        body = page.offset + page.header_size
        page_end = body + page.compressed_size
        if page.page_type == PAGE_DATA:
            sub = page.header[5]
            if max_def and sub.get(3) != ENC_RLE:
                raise _Unlocatable(f"data page at {page.offset}: levels not RLE")
            pos = body
            if max_def:
                (level_len,) = struct.unpack("<I", os.pread(fd, 4, pos))
                if pos + 4 + level_len > page_end:
                    raise _Unlocatable(f"levels of page at {page.offset} run past the page")
                defs = _decode_levels(os.pread(fd, level_len, pos + 4), bit_width, n)
                pos += 4 + level_len
        else:
            sub = page.header[8]
            def_len, rep_len = int(sub.get(5, -1)), int(sub.get(6, -1))
            if rep_len != 0 or def_len < 0 or int(sub.get(3, -1)) != n:
                raise _Unlocatable(f"v2 page at {page.offset}: unexpected level or row counts")
            pos = body
            if max_def:
                defs = _decode_levels(os.pread(fd, def_len, pos), bit_width, n)
            elif def_len:
                raise _Unlocatable(f"v2 page at {page.offset}: levels on a required column")
            pos += def_len
        present = np.flatnonzero(defs == max_def) if max_def else np.arange(n)
        if page.page_type == PAGE_DATA_V2 and int(sub.get(2, -1)) != n - len(present):
            raise _Unlocatable(f"v2 page at {page.offset}: null count disagrees with levels")
        page_offsets = offsets[row : row + n]
        page_lengths = lengths[row : row + n]
        for k in present.tolist():
            raw = os.pread(fd, 4, pos)
            if len(raw) < 4:
                raise _Unlocatable(f"file ends inside page at {page.offset}")
            (length,) = struct.unpack("<I", raw)
            page_offsets[k] = pos + 4
            page_lengths[k] = length
            pos += 4 + length
            if pos > page_end:
                raise _Unlocatable(f"values of page at {page.offset} run past the page")
        if pos != page_end:
            raise _Unlocatable(f"values of page at {page.offset} end at {pos}, page at {page_end}")
        row += n
    if row != num_rows:
        raise _Unlocatable(f"chunk has {row} values for {num_rows} rows")


def locate_images(path: str | Path, column: str = "image") -> LocatedShard | None:
    """Return where every row's `<column>.bytes` value sits in the shard at `path`.

    Returns None when the image bytes are not stored uncompressed and PLAIN in every row
    group (or anything in the pages is unexpected): read those rows by row number instead.
    Raises OSError if the file cannot be read and pyarrow's error if it is not parquet.
    """
    path = Path(path)
    md = pq.read_metadata(path)
    leaf = f"{column}.bytes"
    j = _leaf_index(md.schema, leaf)
    if j is None:
        return None
    descr = md.schema.column(j)
    if descr.physical_type != "BYTE_ARRAY" or descr.max_repetition_level != 0:
        return None
    max_def = descr.max_definition_level
    total = md.num_rows
    offsets = np.full(total, -1, dtype=np.int64)
    lengths = np.zeros(total, dtype=np.int64)
    fd = os.open(path, os.O_RDONLY)
    try:
        first = 0
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            chunk = rg.column(j)
            if (
                chunk.path_in_schema != leaf
                or chunk.compression != "UNCOMPRESSED"
                or chunk.file_path
            ):
                return None
            start, end = _chunk_bounds(chunk)
            n = rg.num_rows
            _locate_chunk(
                fd,
                i,
                start,
                end,
                n,
                max_def,
                offsets[first : first + n],
                lengths[first : first + n],
            )
            first += n
    except _Unlocatable:
        return None
    finally:
        os.close(fd)
    if first != total:
        return None
    return LocatedShard(path, offsets, lengths)


def layout(path: str | Path, column: str = "image") -> ShardLayout:
    """Summarise a shard's row groups and image column from its footer alone (cheap)."""
    path = Path(path)
    md = pq.read_metadata(path)
    j = _leaf_index(md.schema, f"{column}.bytes")
    rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)] or [0]
    codecs: set[str] = set()
    encodings: set[str] = set()
    dictionary = page_index = False
    image_bytes = max_chunk = 0
    if j is not None:
        page_index = md.num_row_groups > 0
        for i in range(md.num_row_groups):
            chunk = md.row_group(i).column(j)
            codecs.add(chunk.compression)
            encodings.update(chunk.encodings)
            dictionary |= bool(chunk.has_dictionary_page)
            page_index &= bool(chunk.has_offset_index)
            image_bytes += chunk.total_compressed_size
            max_chunk = max(max_chunk, chunk.total_compressed_size)
    locatable = (
        j is not None
        and codecs == {"UNCOMPRESSED"}
        and not dictionary
        and encodings <= {"PLAIN", "RLE", "BIT_PACKED"}
        and md.schema.column(j).max_repetition_level == 0
    )
    return ShardLayout(
        path=path,
        file_bytes=path.stat().st_size,
        num_rows=md.num_rows,
        num_row_groups=md.num_row_groups,
        rows_per_group_min=min(rows),
        rows_per_group_median=int(statistics.median(rows)),
        rows_per_group_max=max(rows),
        image_codecs=tuple(sorted(codecs)),
        image_encodings=tuple(sorted(encodings)),
        image_dictionary=dictionary,
        image_bytes=image_bytes,
        max_image_chunk_bytes=max_chunk,
        has_page_index=page_index,
        locatable=locatable,
        created_by=md.created_by or "",
    )
