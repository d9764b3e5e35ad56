"""The byte locator: located spans must equal what pyarrow reads, or the locator says None."""

from __future__ import annotations

import shutil
import struct

import numpy as np
import parquet_fixtures as fx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wbcreview.data import locator
from wbcreview.data.locator import LocatedShard, count_data_pages, layout, locate_images


def located_values(located: LocatedShard) -> list[bytes | None]:
    data = located.path.read_bytes()
    return [
        None if off < 0 else data[off : off + n]
        for off, n in zip(located.offsets.tolist(), located.lengths.tolist(), strict=True)
    ]


def assert_located_like_pyarrow(path, column: str = "image") -> LocatedShard:
    located = locate_images(path, column)
    assert located is not None, f"{path} was not located"
    assert located.offsets.dtype == np.int64 and located.lengths.dtype == np.int64
    assert located_values(located) == fx.pyarrow_image_bytes(path, column)
    return located


@pytest.fixture(scope="session")
def new_shard(tmp_path_factory):
    """2,500 rows through datasets' own writer: 1,000-row groups, several pages per chunk."""
    path = tmp_path_factory.mktemp("locator") / "phase2_train-00000-of-00001.parquet"
    table = fx.make_table(2500, seed=3, min_side=60, max_side=140)
    return fx.write_new_layout(path, table, rows_per_group=1000)


def test_new_layout_chunks_span_several_pages(new_shard):
    assert pq.ParquetFile(new_shard).metadata.num_row_groups == 3
    assert all(n >= 3 for n in count_data_pages(new_shard)), count_data_pages(new_shard)


def test_new_layout_located_equals_pyarrow(new_shard):
    located = assert_located_like_pyarrow(new_shard)
    assert len(located) == 2500
    assert (located.offsets > 0).all()
    assert located.span(0) == (int(located.offsets[0]), int(located.lengths[0]))


def test_real_jpegs_are_located(new_shard):
    reals = fx.real_jpegs(5)
    if not reals:
        pytest.skip("no PBC sample at ../shared/data/pbc_sample")
    values = located_values(locate_images(new_shard))
    assert sum(v is not None and reals[0][2:] in v for v in values) == 1


@pytest.mark.parametrize("null_paths", ["some", "all"])
def test_null_paths(tmp_path, null_paths):
    table = fx.make_table(700, seed=4, null_paths=null_paths)
    path = fx.write_new_layout(tmp_path / "s.parquet", table, rows_per_group=300)
    assert_located_like_pyarrow(path)


def test_null_bytes_and_null_images(tmp_path):
    table = fx.make_table(900, seed=5, null_bytes_every=7, null_image_every=11, null_paths="some")
    path = fx.write_new_layout(tmp_path / "s.parquet", table, rows_per_group=400)
    located = assert_located_like_pyarrow(path)
    nulls = located.offsets < 0
    assert nulls.sum() == sum(v is None for v in fx.pyarrow_image_bytes(path))
    assert (located.lengths[nulls] == 0).all()
    assert located.span(6) is None and located.span(10) is None


def test_empty_bytes_are_present_not_null(tmp_path):
    table = fx.make_table(50, seed=6, real=0)
    images = table.column("image").to_pylist()
    images[3] = {"bytes": b"", "path": "empty.jpg"}
    table = table.set_column(0, "image", pa.array(images, table.schema.field("image").type))
    path = fx.write_new_layout(tmp_path / "s.parquet", table, rows_per_group=20)
    located = assert_located_like_pyarrow(path)
    assert located.offsets[3] > 0 and located.lengths[3] == 0


def test_all_rows_null(tmp_path):
    table = fx.make_table(30, seed=7, real=0, null_image_every=1)
    path = fx.write_new_layout(tmp_path / "s.parquet", table, rows_per_group=10)
    located = assert_located_like_pyarrow(path)
    assert (located.offsets == -1).all()


def test_data_page_v2_is_located(tmp_path):
    table = fx.make_table(1200, seed=8, null_bytes_every=5, null_paths="some")
    path = fx.write_plain_layout(
        tmp_path / "v2.parquet",
        table,
        rows_per_group=500,
        data_page_version="2.0",
        write_batch_size=64,
        data_page_size=64 * 1024,
    )
    assert all(n > 1 for n in count_data_pages(path))
    assert {p.page_type for p in locator.iter_pages(path)} == {locator.PAGE_DATA_V2}
    assert_located_like_pyarrow(path)


def test_plain_v1_without_page_index(tmp_path):
    table = fx.make_table(600, seed=9, null_bytes_every=4)
    path = fx.write_plain_layout(
        tmp_path / "v1.parquet", table, rows_per_group=250, write_page_index=False
    )
    assert_located_like_pyarrow(path)


def test_required_image_column_has_no_levels(tmp_path):
    """Max definition level comes from the schema: 0 for a required struct and field."""
    n = 200
    rng = np.random.default_rng(10)
    jpegs = [fx.tag_jpeg(fx.noise_jpeg(rng, 30, 30), str(i)) for i in range(n)]
    image_type = pa.struct([pa.field("bytes", pa.binary(), nullable=False)])
    schema = pa.schema([pa.field("image", image_type, nullable=False)])
    table = pa.table({"image": pa.array([{"bytes": b} for b in jpegs], image_type)}, schema=schema)
    path = tmp_path / "required.parquet"
    pq.write_table(
        table,
        path,
        row_group_size=70,
        compression="none",
        use_dictionary=False,
        write_batch_size=16,
    )
    assert pq.ParquetFile(path).schema.column(0).max_definition_level == 0
    assert_located_like_pyarrow(path)


def test_old_layout_is_not_located(tmp_path):
    path = fx.write_old_layout(tmp_path / "old.parquet", fx.make_table(300, seed=11))
    assert locate_images(path) is None
    lay = layout(path)
    assert not lay.locatable and lay.image_codecs == ("SNAPPY",)
    assert lay.rows_per_group_max == 100 and lay.num_row_groups == 3


@pytest.mark.parametrize(
    "options",
    [
        {"compression": "none", "use_dictionary": True},  # dictionary-encoded, uncompressed
        {"compression": "snappy", "use_dictionary": False},  # PLAIN but compressed
        {
            "compression": "none",
            "use_dictionary": False,
            "column_encoding": {"image.bytes": "DELTA_LENGTH_BYTE_ARRAY"},
        },
    ],
)
def test_other_layouts_are_not_located(tmp_path, options):
    path = tmp_path / "other.parquet"
    pq.write_table(fx.make_table(200, seed=12), path, row_group_size=100, **options)
    assert locate_images(path) is None
    assert not layout(path).locatable


def test_missing_image_column_is_not_located(tmp_path):
    path = tmp_path / "noimage.parquet"
    pq.write_table(pa.table({"image_id": ["00000001"]}), path)
    assert locate_images(path) is None
    assert not layout(path).locatable and layout(path).image_codecs == ()


def test_missing_file_raises(tmp_path):
    with pytest.raises(OSError):
        locate_images(tmp_path / "absent.parquet")


def corrupt_copy(src, dst, at: int, value: bytes):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(at)
        f.write(value)
    return dst


def test_corrupt_page_header_gives_none(new_shard, tmp_path):
    first = next(locator.iter_pages(new_shard))
    assert first.page_type == locator.PAGE_DATA
    # Field 1 (page type) holds zigzag(0); make it 7, an unknown page type.
    path = corrupt_copy(new_shard, tmp_path / "bad.parquet", first.offset + 1, b"\x0e")
    assert locate_images(path) is None


def test_wrong_value_length_gives_none(new_shard, tmp_path):
    located = locate_images(new_shard)
    length_at = int(located.offsets[0]) - 4
    bad = struct.pack("<I", int(located.lengths[0]) + 1)
    path = corrupt_copy(new_shard, tmp_path / "bad.parquet", length_at, bad)
    assert locate_images(path) is None


def test_layout_of_new_shard(new_shard, monkeypatch):
    lay = layout(new_shard)
    assert lay.locatable and not lay.slow and lay.has_page_index
    assert lay.image_codecs == ("UNCOMPRESSED",) and "PLAIN" in lay.image_encodings
    assert (lay.rows_per_group_min, lay.rows_per_group_median, lay.rows_per_group_max) == (
        500,
        1000,
        1000,
    )
    assert lay.num_rows == 2500 and lay.file_bytes == new_shard.stat().st_size
    assert "fast layout" in lay.describe()


def test_layout_flags_large_compressed_groups(tmp_path, monkeypatch):
    path = fx.write_old_layout(tmp_path / "big.parquet", fx.make_table(400, seed=13), 400)
    monkeypatch.setattr(locator, "SLOW_CHUNK_BYTES", 100_000)
    lay = layout(path)
    assert lay.slow and lay.describe().startswith("slow layout: large compressed row groups")


# --- Thrift compact protocol and levels ------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def zigzag(n: int) -> bytes:
    return varint((n << 1) ^ (n >> 63))


def encode_struct(fields: dict[int, object]) -> bytes:
    """A minimal compact-protocol writer for ints, bytes, bools, lists of ints, structs."""
    out, last = bytearray(), 0
    for fid in sorted(fields):
        value = fields[fid]
        if isinstance(value, bool):
            ctype, body = (1 if value else 2), b""
        elif isinstance(value, int):
            ctype, body = 6, zigzag(value)
        elif isinstance(value, bytes):
            ctype, body = 8, varint(len(value)) + value
        elif isinstance(value, list):
            head = (
                bytes([(len(value) << 4) | 6])
                if len(value) < 15
                else bytes([0xF6]) + varint(len(value))
            )
            ctype, body = 9, head + b"".join(zigzag(v) for v in value)
        else:
            ctype, body = 12, encode_struct(value)
        delta = fid - last
        out += bytes([(delta << 4) | ctype]) if 0 < delta <= 15 else bytes([ctype]) + zigzag(fid)
        out += body
        last = fid
    return bytes(out + b"\x00")


values = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**62), 2**62), st.binary(max_size=40)),
    lambda inner: st.one_of(
        st.lists(st.integers(-1000, 10**9), max_size=20),
        st.dictionaries(st.integers(1, 300), inner, max_size=4),
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.integers(1, 300), values, max_size=6))
def test_compact_reader_round_trips(fields):
    buf = encode_struct(fields) + b"trailing"
    reader = locator._Compact(buf)
    assert reader.struct() == fields
    assert buf[reader.pos :] == b"trailing"


def test_compact_reader_needs_more_on_short_buffer():
    buf = encode_struct({1: 0, 2: 5000, 5: {1: 12, 4: b"x" * 30}})
    with pytest.raises(locator._NeedMore):
        locator._Compact(buf[:-5]).struct()


def test_page_header_longer_than_first_read(tmp_path):
    """Big statistics make a header longer than the first small read: it is read again."""
    header = encode_struct({1: 0, 2: 10, 3: 10, 5: {1: 1, 2: 0, 3: 3, 4: 3, 5: {1: b"m" * 3000}}})
    path = tmp_path / "h.bin"
    path.write_bytes(header + b"z" * 10)
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        parsed, size = locator._read_page_header(fd, 0, len(header) + 10)
    finally:
        os.close(fd)
    assert size == len(header) and parsed[5][5][1] == b"m" * 3000


def hybrid(levels: list[int], bit_width: int, packed: bool) -> bytes:
    if not packed:  # one RLE run per value change
        out, i = bytearray(), 0
        while i < len(levels):
            j = i
            while j < len(levels) and levels[j] == levels[i]:
                j += 1
            out += varint((j - i) << 1) + levels[i].to_bytes((bit_width + 7) // 8, "little")
            i = j
        return bytes(out)
    groups = (len(levels) + 7) // 8
    padded = levels + [0] * (groups * 8 - len(levels))
    bits = np.array([(v >> b) & 1 for v in padded for b in range(bit_width)], dtype=np.uint8)
    return varint((groups << 1) | 1) + np.packbits(bits, bitorder="little").tobytes()


@given(
    st.integers(1, 3).flatmap(
        lambda w: st.tuples(
            st.just(w), st.lists(st.integers(0, 2**w - 1), min_size=1, max_size=200), st.booleans()
        )
    )
)
def test_levels_decode(case):
    bit_width, levels, packed = case
    decoded = locator._decode_levels(hybrid(levels, bit_width, packed), bit_width, len(levels))
    assert decoded.tolist() == levels


def test_levels_that_end_early_are_refused():
    with pytest.raises(locator._Unlocatable):
        locator._decode_levels(hybrid([2] * 10, 2, False), 2, 11)
