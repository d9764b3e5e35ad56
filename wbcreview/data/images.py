"""Read image bytes from shards in batches, make thumbnails, cache them by size in bytes.

A request names one cell image: (shard path, row in the shard, img_offset, img_length) as the
catalog stores them. Located rows (offset >= 0) are one `os.pread` each on a cached file
descriptor; the others are read through pyarrow one needed row group at a time. Thumbnails
are small JPEGs; an image that cannot be decoded gets a placeholder tile, and
`decode_error` says why.

Thread safety: `os.pread` on a shared descriptor is safe; descriptors are reference-counted
so eviction never closes one in use. pyarrow `ParquetFile` objects are opened per call and
never shared between threads.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pyarrow.parquet as pq
from PIL import Image, ImageDraw

NULL_OFFSET = -1  # with length 0: the locator found this row's image bytes null
THUMB_SIZE = 128
THUMB_QUALITY = 80
PLACEHOLDER_GREY = (200, 200, 200)


class ImageRequest(NamedTuple):
    """One cell image to read: shard path, row in the shard, and where its bytes sit if known.

    As `locator.LocatedShard` gives them: offset >= 0 and a length is a located value;
    offset -1 with length 0 is a located null image (no read, None). Anything else
    (offset or length None, other negative offsets) is "not located": read through pyarrow.
    """

    path: str
    row: int
    offset: int | None = None
    length: int | None = None


def _as_request(req: Sequence) -> ImageRequest:
    return req if isinstance(req, ImageRequest) else ImageRequest(*req)


# --- file descriptors ------------------------------------------------------------------------


class FdCache:
    """A small LRU of open read-only file descriptors, reference-counted for thread safety."""

    def __init__(self, max_open: int = 32):
        self.max_open = max(1, max_open)
        self._lock = threading.Lock()
        self._open: OrderedDict[str, list[int]] = OrderedDict()  # path -> [fd, users]
        self._retired: dict[int, int] = {}  # evicted fd -> users still reading it

    @contextmanager
    def borrow(self, path: str | os.PathLike):
        """Yield an open descriptor for `path`; raises OSError if it cannot be opened."""
        key = os.fspath(path)
        with self._lock:
            entry = self._open.get(key)
            if entry is not None:
                self._open.move_to_end(key)
                entry[1] += 1
        if entry is None:
            fd = os.open(key, os.O_RDONLY)
            with self._lock:
                entry = self._open.get(key)
                if entry is None:
                    entry = [fd, 1]
                    self._open[key] = entry
                    self._evict()
                else:  # another thread opened it meanwhile
                    os.close(fd)
                    entry[1] += 1
        fd = entry[0]
        try:
            yield fd
        finally:
            with self._lock:
                if self._open.get(key) is entry:
                    entry[1] -= 1
                else:
                    self._retired[fd] -= 1
                    if self._retired[fd] == 0:
                        del self._retired[fd]
                        os.close(fd)

    def _evict(self) -> None:
        while len(self._open) > self.max_open:
            _, (fd, users) = self._open.popitem(last=False)
            if users:
                self._retired[fd] = users
            else:
                os.close(fd)

    def __len__(self) -> int:
        return len(self._open)

    def close(self) -> None:
        """Close every descriptor not in use (ones in use close when released)."""
        with self._lock:
            for fd, users in self._open.values():
                if users:
                    self._retired[fd] = users
                else:
                    os.close(fd)
            self._open.clear()


# --- byte reads ------------------------------------------------------------------------------

_group_starts_lock = threading.Lock()
_group_starts_cache: dict[tuple[str, int, int], np.ndarray] = {}


def _group_starts(path: str, pf: pq.ParquetFile) -> np.ndarray:
    """Return the first row of every row group plus the total, cached per file version."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _group_starts_lock:
        starts = _group_starts_cache.get(key)
    if starts is None:
        md = pf.metadata
        rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        with _group_starts_lock:
            if len(_group_starts_cache) > 256:
                _group_starts_cache.clear()
            _group_starts_cache[key] = starts
    return starts


def _read_rows(path: str, rows: list[int], column: str) -> dict[int, bytes | None]:
    """Read `rows` of one shard through pyarrow, one needed row group at a time."""
    pf = pq.ParquetFile(path)
    try:
        starts = _group_starts(path, pf)
        total = int(starts[-1])
        by_group: dict[int, list[int]] = defaultdict(list)
        for row in set(rows):
            if not 0 <= row < total:
                raise IndexError(f"{path}: row {row} out of range (shard has {total} rows)")
            by_group[int(np.searchsorted(starts, row, side="right")) - 1].append(row)
        out: dict[int, bytes | None] = {}
        for group, group_rows in sorted(by_group.items()):
            table = pf.read_row_group(group, columns=[f"{column}.bytes"])
            values = table.column(column).combine_chunks().field("bytes")
            picked = values.take([r - int(starts[group]) for r in group_rows]).to_pylist()
            out.update(zip(group_rows, picked, strict=True))
        return out
    finally:
        pf.close()


def read_bytes(
    requests: Iterable[Sequence], fds: FdCache | None = None, column: str = "image"
) -> list[bytes | None]:
    """Return the image bytes of every request, in request order (None for a null image).

    Each request is an `ImageRequest` or a tuple (path, row, offset, length). Located ones
    are read with `os.pread`, located nulls (-1, 0) are None without a read (through `fds`, or descriptors opened for this call); the rest
    by row group with pyarrow. Raises OSError for unreadable files, IndexError for a row
    outside its shard, and OSError if a located read comes back short (stale offsets).
    """
    reqs = [_as_request(r) for r in requests]
    out: list[bytes | None] = [None] * len(reqs)
    own = fds is None
    cache = FdCache() if fds is None else fds
    try:
        unlocated: dict[str, list[int]] = defaultdict(list)
        for i, req in enumerate(reqs):
            if req.offset is None or req.length is None or req.offset < 0:
                if req.offset == NULL_OFFSET and req.length == 0:
                    continue  # located null: the image bytes are null in the shard
                unlocated[os.fspath(req.path)].append(i)
                continue
            with cache.borrow(req.path) as fd:
                data = os.pread(fd, req.length, req.offset)
            if len(data) != req.length:
                raise OSError(
                    f"{req.path}: row {req.row}: short read at offset {req.offset} "
                    f"({len(data)} of {req.length} bytes); re-index the catalog"
                )
            out[i] = data
        for path, indices in unlocated.items():
            values = _read_rows(path, [reqs[i].row for i in indices], column)
            for i in indices:
                out[i] = values[reqs[i].row]
    finally:
        if own:
            cache.close()
    return out


# --- thumbnails ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def placeholder(size: int = THUMB_SIZE) -> bytes:
    """Return a grey JPEG tile with an X, shown for images that cannot be decoded."""
    tile = Image.new("RGB", (size, size), PLACEHOLDER_GREY)
    draw = ImageDraw.Draw(tile)
    inset, width = max(2, size // 8), max(1, size // 32)
    draw.line([(inset, inset), (size - inset, size - inset)], fill=(120, 120, 120), width=width)
    draw.line([(inset, size - inset), (size - inset, inset)], fill=(120, 120, 120), width=width)
    buf = io.BytesIO()
    tile.save(buf, format="JPEG", quality=THUMB_QUALITY)
    return buf.getvalue()


def thumbnail(jpeg_bytes: bytes | None, size: int = THUMB_SIZE) -> bytes:
    """Return a JPEG at most `size` px on its longest side; the placeholder if undecodable.

    Uses JPEG draft mode (DCT scaling) so only about 1/8 of the pixels are decoded. Stray
    bytes before a marker are tolerated (Pillow skips them); a truncated file is not, since
    `ImageFile.LOAD_TRUNCATED_IMAGES` is global and is left alone here.
    """
    if not jpeg_bytes:
        return placeholder(size)
    try:
        with Image.open(io.BytesIO(jpeg_bytes)) as im:
            im.draft("RGB", (size, size))
            im.thumbnail((size, size), Image.Resampling.BILINEAR)
            rgb = im.convert("RGB")
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=THUMB_QUALITY)
        return buf.getvalue()
    except Exception:  # any decoder failure becomes the placeholder; decode_error says why
        return placeholder(size)


def decode_error(jpeg_bytes: bytes | None) -> str | None:
    """Return why the image cannot be fully decoded (e.g. "OSError: image file is truncated"), or None."""
    if jpeg_bytes is None:
        return "no image bytes (null)"
    if not jpeg_bytes:
        return "no image bytes (empty)"
    try:
        with Image.open(io.BytesIO(jpeg_bytes)) as im:
            # Draft mode still walks the whole entropy-coded stream (a truncated or corrupt
            # file fails the same way) but skips most of the inverse DCT: about 2x faster.
            im.draft("RGB", (64, 64))
            im.load()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def thumbnails(
    jpegs: Sequence[bytes | None],
    size: int = THUMB_SIZE,
    workers: int = 2,
    executor: Executor | None = None,
) -> list[bytes]:
    """Return `thumbnail` of each image in order, decoded on a small thread pool.

    Pillow releases the GIL while decoding, so `workers` threads give real parallelism.
    Pass `executor` to reuse a pool; otherwise one is made for this call.
    """
    if executor is not None:
        return list(executor.map(lambda b: thumbnail(b, size), jpegs))
    if workers <= 1 or len(jpegs) <= 1:
        return [thumbnail(b, size) for b in jpegs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumb") as pool:
        return list(pool.map(lambda b: thumbnail(b, size), jpegs))


def data_uri(jpeg_bytes: bytes, mime: str = "image/jpeg") -> str:
    """Return the image as a `data:` URI for HTML (`data:image/jpeg;base64,...`)."""
    return f"data:{mime};base64,{base64.b64encode(jpeg_bytes).decode('ascii')}"


# --- cache -----------------------------------------------------------------------------------


class ByteLRU:
    """A thread-safe LRU mapping of keys to bytes, bounded by the total size of its values."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: bytes | None = None) -> bytes | None:
        """Return the value for `key` (marking it recently used), or `default`."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                return default
            self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store `value`, evicting least recently used items; a value over the bound is not kept."""
        size = len(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._nbytes -= len(old)
            if size > self.max_bytes:
                return
            self._items[key] = value
            self._nbytes += size
            while self._nbytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._nbytes -= len(evicted)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Total size of the cached values."""
        with self._lock:
            return self._nbytes

    def clear(self) -> None:
        """Drop every item."""
        with self._lock:
            self._items.clear()
            self._nbytes = 0


# --- the reader the pages use ---------------------------------------------------------------


class ImageReader:
    """Reads cell images and their thumbnails: keeps descriptors, a thumbnail LRU and a pool.

    Safe to share between threads (e.g. one per Streamlit process, behind st.cache_resource).
    """

    def __init__(
        self,
        max_open_files: int = 32,
        cache_bytes: int = 64 * 1024 * 1024,
        workers: int = 2,
        column: str = "image",
    ):
        self.column = column
        self.fds = FdCache(max_open_files)
        self.thumb_cache = ByteLRU(cache_bytes)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="thumb")

    def read(self, requests: Iterable[Sequence]) -> list[bytes | None]:
        """Return the image bytes of every request, in order (see `read_bytes`)."""
        return read_bytes(requests, fds=self.fds, column=self.column)

    def thumbs(self, requests: Iterable[Sequence], size: int = THUMB_SIZE) -> list[bytes]:
        """Return a thumbnail JPEG per request, in order, from the cache where possible."""
        reqs = [_as_request(r) for r in requests]
        keys = [(os.fspath(r.path), r.row, size) for r in reqs]
        out: list[bytes | None] = [self.thumb_cache.get(k) for k in keys]
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            data = self.read([reqs[i] for i in missing])
            made = thumbnails(data, size, executor=self._pool)
            for i, thumb in zip(missing, made, strict=True):
                out[i] = thumb
                self.thumb_cache.put(keys[i], thumb)
        return out  # type: ignore[return-value]

    def cached_thumbs(self, requests: Iterable[Sequence], size: int = THUMB_SIZE) -> list:
        """The thumbnails of `requests` already in the cache (None for the others), no reads."""
        return [
            self.thumb_cache.get((os.fspath(r.path), r.row, size))
            for r in map(_as_request, requests)
        ]

    def full(self, request: Sequence) -> bytes | None:
        """Return the full-size image bytes of one request (None if the image is null)."""
        return self.read([request])[0]

    def close(self) -> None:
        """Close descriptors and stop the thumbnail pool."""
        self._pool.shutdown(wait=True)
        self.fds.close()
        self.thumb_cache.clear()

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def borrowed(reader: ImageReader | None) -> Iterator[ImageReader]:
    """`reader` as it is (the caller keeps it open), or, for None, a new ImageReader that is
    closed when the block ends: for functions that take an optional reader."""
    if reader is not None:
        yield reader
        return
    with ImageReader() as own:
        yield own


__all__ = [
    "ByteLRU",
    "FdCache",
    "ImageReader",
    "ImageRequest",
    "borrowed",
    "data_uri",
    "decode_error",
    "placeholder",
    "read_bytes",
    "thumbnail",
    "thumbnails",
]
