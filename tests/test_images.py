"""Batch byte reads, thumbnails, the byte-bounded LRU and the reader the pages use."""

from __future__ import annotations

import io
import os
import threading

import numpy as np
import parquet_fixtures as fx
import pytest
from PIL import Image

from wbcreview.data import images
from wbcreview.data.images import (
    ByteLRU,
    FdCache,
    ImageReader,
    ImageRequest,
    data_uri,
    decode_error,
    read_bytes,
    thumbnail,
    thumbnails,
)
from wbcreview.data.locator import locate_images


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """Two new-layout shards (located) and one old-layout shard (not located), with nulls."""
    root = tmp_path_factory.mktemp("images")
    new_a = fx.write_new_layout(
        root / "a.parquet",
        fx.make_table(1500, seed=20, null_bytes_every=13, null_paths="some"),
        rows_per_group=600,
    )
    new_b = fx.write_new_layout(
        root / "b.parquet", fx.make_table(400, seed=21, id_start=5000), rows_per_group=1000
    )
    old = fx.write_old_layout(
        root / "c.parquet", fx.make_table(700, seed=22, id_start=9000, null_image_every=17)
    )
    return [new_a, new_b, old]


def catalog_rows(path) -> list[ImageRequest]:
    """What the catalog stores per row: path, row, img_offset, img_length (-1/None if not located)."""
    located = locate_images(path)
    n = len(fx.pyarrow_image_bytes(path))
    if located is None:
        return [ImageRequest(str(path), r, None, None) for r in range(n)]
    return [
        ImageRequest(str(path), r, int(o), int(ln))
        for r, (o, ln) in enumerate(zip(located.offsets, located.lengths, strict=True))
    ]


def test_read_bytes_equals_pyarrow_in_request_order(shards):
    rows = {p: catalog_rows(p) for p in shards}
    truth = {p: fx.pyarrow_image_bytes(p) for p in shards}
    assert rows[shards[0]][0].offset is not None and rows[shards[2]][0].offset is None
    rng = np.random.default_rng(0)
    for _ in range(20):
        picks = []
        for _ in range(48):
            p = shards[int(rng.integers(len(shards)))]
            picks.append((p, int(rng.integers(len(truth[p])))))
        got = read_bytes([rows[p][r] for p, r in picks])
        assert got == [truth[p][r] for p, r in picks]


def test_read_bytes_takes_plain_tuples_and_repeats(shards):
    new, _, old = shards
    truth_new, truth_old = fx.pyarrow_image_bytes(new), fx.pyarrow_image_bytes(old)
    r = catalog_rows(new)[7]
    requests = [
        (str(old), 650, None, None),
        tuple(r),
        (str(new), 7, -1, None),  # not located: read by row group
        (str(old), 650, -1, None),
        (str(old), 16, None, None),  # a null image
    ]
    assert read_bytes(requests) == [
        truth_old[650],
        truth_new[7],
        truth_new[7],
        truth_old[650],
        None,
    ]
    assert truth_old[16] is None


def test_located_null_is_not_read(shards, monkeypatch):
    new = shards[0]
    rows = catalog_rows(new)
    null_row = fx.pyarrow_image_bytes(new).index(None)
    assert rows[null_row][2:] == (-1, 0)

    def fail(*args, **kwargs):
        raise AssertionError("a located null was read through pyarrow")

    monkeypatch.setattr(images, "_read_rows", fail)
    assert read_bytes([rows[null_row], rows[0]]) == [None, fx.pyarrow_image_bytes(new)[0]]


def test_read_bytes_reads_only_needed_row_groups(shards, monkeypatch):
    old = shards[2]
    seen = []
    real = images.pq.ParquetFile.read_row_group

    def spy(self, i, *args, **kwargs):
        seen.append(i)
        return real(self, i, *args, **kwargs)

    monkeypatch.setattr(images.pq.ParquetFile, "read_row_group", spy)
    read_bytes([(str(old), r, None, None) for r in (5, 99, 420, 410, 3)])
    assert sorted(seen) == [0, 4]


def test_read_bytes_errors(shards, tmp_path):
    new = shards[0]
    with pytest.raises(IndexError, match="out of range"):
        read_bytes([(str(new), 10_000, None, None)])
    size = new.stat().st_size
    with pytest.raises(OSError, match="short read"):
        read_bytes([(str(new), 0, size - 10, 100)])
    with pytest.raises(OSError):
        read_bytes([(str(tmp_path / "absent.parquet"), 0, 0, 10)])


def test_fd_cache_evicts_without_closing_borrowed(shards):
    cache = FdCache(max_open=1)
    with cache.borrow(shards[0]) as fd_a:
        with cache.borrow(shards[1]) as fd_b:  # evicts a, which is still in use
            assert len(cache) == 1
            assert os.pread(fd_a, 4, 0) == b"PAR1" == os.pread(fd_b, 4, 0)
        assert os.pread(fd_a, 4, 0) == b"PAR1"
    with pytest.raises(OSError):
        os.fstat(fd_a)  # closed once released
    cache.close()
    with pytest.raises(OSError):
        os.fstat(fd_b)


def test_fd_cache_threads(shards):
    cache = FdCache(max_open=2)
    errors = []

    def work(k):
        try:
            for i in range(200):
                with cache.borrow(shards[(i + k) % 3]) as fd:
                    assert os.pread(fd, 4, 0) == b"PAR1"
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.close()
    assert not errors


# --- thumbnails ------------------------------------------------------------------------------


def sample_jpeg() -> bytes:
    reals = fx.real_jpegs(1)
    if reals:
        return reals[0]
    return fx.noise_jpeg(np.random.default_rng(1), 368, 370)


def open_jpeg(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "JPEG"
    return im


def test_thumbnail_is_small_rgb_jpeg():
    source = sample_jpeg()
    w, h = open_jpeg(source).size
    thumb = open_jpeg(thumbnail(source, 128))
    assert max(thumb.size) == 128 and thumb.mode == "RGB"
    assert abs(thumb.size[0] / thumb.size[1] - w / h) < 0.05
    assert max(open_jpeg(thumbnail(source, 64)).size) == 64


def test_grey_and_small_images():
    grey = Image.new("L", (50, 40), 90)
    buf = io.BytesIO()
    grey.save(buf, format="PNG")
    thumb = open_jpeg(thumbnail(buf.getvalue(), 128))
    assert thumb.size == (50, 40) and thumb.mode == "RGB"


def test_malformed_jpeg_decodes():
    """Extraneous bytes between APP0 and DQT, as in some release files."""
    source = sample_jpeg()
    bad = fx.malform_jpeg(source)
    assert bad != source and bad.index(b"\xff\xdb") > source.index(b"\xff\xdb")
    assert decode_error(bad) is None
    thumb = thumbnail(bad, 128)
    assert thumb != images.placeholder(128)
    assert open_jpeg(thumb).size == open_jpeg(thumbnail(source, 128)).size


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda j: j[: len(j) // 2], "truncated"),
        (lambda j: b"not an image at all", "cannot identify"),
        (lambda j: j[:2] + b"\x00" * 200, "cannot identify"),
        (lambda j: b"", "empty"),
        (lambda j: None, "null"),
    ],
)
def test_corrupt_image_gives_placeholder_and_reason(make, why):
    data = make(sample_jpeg())
    assert thumbnail(data, 96) == images.placeholder(96)
    assert open_jpeg(images.placeholder(96)).size == (96, 96)
    reason = decode_error(data)
    assert reason is not None and why in reason


def test_thumbnails_keep_order():
    rng = np.random.default_rng(2)
    jpegs = [fx.noise_jpeg(rng, 40 + 10 * i, 30) for i in range(10)] + [None]
    got = thumbnails(jpegs, size=32, workers=3)
    assert got == [thumbnail(j, 32) for j in jpegs]
    assert got[-1] == images.placeholder(32)


def test_data_uri():
    assert data_uri(b"\xff\xd8\xff") == "data:image/jpeg;base64,/9j/"


# --- cache -----------------------------------------------------------------------------------


def test_byte_lru_evicts_by_bytes():
    lru = ByteLRU(max_bytes=100)
    lru.put("a", b"x" * 40)
    lru.put("b", b"x" * 40)
    assert lru.get("a") == b"x" * 40  # a is now the most recently used
    lru.put("c", b"x" * 40)  # 120 > 100: evicts b, the least recently used
    assert "b" not in lru and "a" in lru and "c" in lru
    assert len(lru) == 2 and lru.nbytes == 80
    lru.put("a", b"y" * 10)  # replacing a value updates the size
    assert lru.nbytes == 50
    lru.put("huge", b"z" * 101)  # larger than the bound: not kept, nothing evicted
    assert "huge" not in lru and len(lru) == 2
    assert lru.get("missing") is None and lru.get("missing", b"d") == b"d"
    lru.put("d", b"x" * 100)
    assert list(lru._items) == ["d"] and lru.nbytes == 100


def test_byte_lru_threads():
    lru = ByteLRU(max_bytes=1000)

    def work(k):
        for i in range(500):
            lru.put((k, i % 37), bytes(i % 50))
            lru.get((k, (i * 7) % 37))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lru.nbytes == sum(len(v) for v in lru._items.values()) <= 1000


def test_image_reader(shards, monkeypatch):
    requests = catalog_rows(shards[0])[:30] + catalog_rows(shards[2])[:18]
    truth = read_bytes(requests)
    with ImageReader(max_open_files=2, cache_bytes=10_000_000) as reader:
        assert reader.read(requests) == truth
        assert reader.full(requests[3]) == truth[3]
        assert reader.full(requests[-1]) == truth[-1]
        thumbs = reader.thumbs(requests, size=64)
        assert thumbs == [thumbnail(b, 64) for b in truth]
        assert len(reader.thumb_cache) == 48

        def fail(*args, **kwargs):
            raise AssertionError("a cached thumbnail was read again")

        monkeypatch.setattr(reader, "read", fail)
        assert reader.thumbs(requests[5:10], size=64) == thumbs[5:10]
        monkeypatch.undo()
        assert reader.thumbs(requests[:2], size=32) == [thumbnail(b, 32) for b in truth[:2]]
        assert len(reader.thumb_cache) == 50
    assert len(reader.fds) == 0


def test_a_borrowed_reader_is_left_open_and_an_own_one_is_closed():
    with images.ImageReader() as mine:
        with images.borrowed(mine) as reader:
            assert reader is mine
        assert not mine._pool._shutdown  # the caller's reader still works
        with images.borrowed(None) as own:
            assert own is not mine
        assert own._pool._shutdown
