"""Write small WBCBench-like parquet shards in the layouts the release may use.

- old layout: 100-row groups, snappy on every column (datasets up to 4.0);
- new layout: datasets 5.2's own ParquetWriter (image leaves uncompressed PLAIN, page index,
  large row groups, several data pages per chunk);
- plain layout: pyarrow with the image leaves uncompressed PLAIN, any group size and data
  page version (to test page v2).

Images are seeded random-noise JPEGs, each made unique by a COM segment that names its row,
plus a few real PBC cells read from ../shared/data/pbc_sample (never copied into the repo).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.arrow_writer import ParquetWriter as DatasetsParquetWriter
from PIL import Image

PBC_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pbc_sample"

FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "image_id": datasets.Value("string"),
        "label": datasets.Value("string"),
        "wbcbench_split": datasets.Value("string"),
        "severity": datasets.Value("string"),
        "original_image_id": datasets.Value("string"),
        "patient_hash": datasets.Value("string"),
    }
)
SCHEMA = FEATURES.arrow_schema  # carries the `huggingface` metadata key
LABELS = ("SNE", "LY", "MO", "BL", "EO", "MY", "BA", "BNE", "VLY", "MMY", "PMY", "PC", "PLY")


def noise_jpeg(rng: np.random.Generator, width: int, height: int, quality: int = 85) -> bytes:
    """Return a JPEG of seeded RGB noise (noise compresses badly: about 2 bytes per pixel)."""
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def tag_jpeg(jpeg: bytes, text: str) -> bytes:
    """Insert a COM segment holding `text` right after SOI: still a valid, now unique JPEG."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    payload = text.encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def malform_jpeg(jpeg: bytes, junk: bytes = b"\x00\x13\x37") -> bytes:
    """Insert extraneous bytes before the first DQT marker (after APP0), as some release files have."""
    pos = jpeg.find(b"\xff\xdb")
    assert pos > 0, "no DQT marker"
    return jpeg[:pos] + junk + jpeg[pos:]


def real_jpegs(n: int) -> list[bytes]:
    """Return the bytes of the first `n` PBC sample JPEGs (sorted by path), or [] if absent."""
    if not PBC_SAMPLE.is_dir():
        return []
    files = sorted(PBC_SAMPLE.glob("*/*.jpg"))[:n]
    return [f.read_bytes() for f in files]


def make_table(
    n: int,
    seed: int = 0,
    *,
    id_start: int = 0,
    min_side: int = 24,
    max_side: int = 80,
    real: int = 5,
    null_paths: str = "none",
    null_bytes_every: int = 0,
    null_image_every: int = 0,
) -> pa.Table:
    """Return `n` release-like rows.

    `null_paths`: "none" (every path set), "some" (every third null) or "all".
    `null_bytes_every`: if > 0, every k-th row has image.bytes null (the struct is set).
    `null_image_every`: if > 0, every k-th row has the whole image struct null.
    `real`: how many rows (spread out) carry a real PBC JPEG instead of noise.
    """
    rng = np.random.default_rng(seed)
    pool = [
        noise_jpeg(
            rng, int(rng.integers(min_side, max_side)), int(rng.integers(min_side, max_side))
        )
        for _ in range(min(n, 97))
    ]
    reals = real_jpegs(real)
    real_rows = (
        {int(i): k for k, i in enumerate(np.linspace(0, n - 1, len(reals)))} if reals else {}
    )
    images, ids = [], []
    for i in range(n):
        image_id = f"{id_start + i:08d}"
        ids.append(image_id)
        if null_image_every and i % null_image_every == null_image_every - 1:
            images.append(None)
            continue
        if null_bytes_every and i % null_bytes_every == null_bytes_every - 1:
            data = None
        elif i in real_rows:
            data = tag_jpeg(reals[real_rows[i]], f"row {image_id}")
        else:
            data = tag_jpeg(pool[i % len(pool)], f"row {image_id}")
        if null_paths == "all" or (null_paths == "some" and i % 3 == 1):
            path = None
        else:
            path = f"{image_id}.jpg"
        images.append({"bytes": data, "path": path})
    labels = [LABELS[int(k)] for k in rng.integers(0, len(LABELS), n)]
    columns = {
        "image": pa.array(images, type=SCHEMA.field("image").type),
        "image_id": pa.array(ids, pa.string()),
        "label": pa.array(labels, pa.string()),
        "wbcbench_split": pa.array(["phase2_train"] * n, pa.string()),
        "severity": pa.array(["pristine"] * n, pa.string()),
        "original_image_id": pa.array([""] * n, pa.string()),
        "patient_hash": pa.array([f"p{int(k):04x}" for k in rng.integers(0, 40, n)], pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def write_old_layout(path: Path, table: pa.Table, rows_per_group: int = 100) -> Path:
    """Write `table` as datasets <= 4.0 did: small groups, snappy and dictionary on every column."""
    pq.write_table(table, path, row_group_size=rows_per_group, compression="snappy")
    return path


def write_new_layout(path: Path, table: pa.Table, rows_per_group: int = 1000) -> Path:
    """Write `table` with datasets 5.2's ParquetWriter (image uncompressed PLAIN, page index)."""
    writer = DatasetsParquetWriter(
        path=str(path), features=FEATURES, writer_batch_size=rows_per_group
    )
    try:
        writer.write_table(table)
    finally:
        writer.finalize()
    return path


def write_plain_layout(
    path: Path, table: pa.Table, rows_per_group: int = 500, data_page_version: str = "1.0", **kwargs
) -> Path:
    """Write `table` with pyarrow, image leaves uncompressed PLAIN, other columns snappy."""
    image_leaves = ["image.bytes", "image.path"]
    others = [c for c in table.column_names if c != "image"]
    pq.write_table(
        table,
        path,
        row_group_size=rows_per_group,
        compression={**{c: "snappy" for c in others}, **{c: "none" for c in image_leaves}},
        use_dictionary=others,
        column_encoding={c: "PLAIN" for c in image_leaves},
        data_page_version=data_page_version,
        **{"write_page_index": True, **kwargs},
    )
    return path


def data_pages_per_chunk(path: Path, column: str = "image.bytes") -> list[int]:
    """Return the number of data pages of `column` in each row group, from the page index."""
    # The offset index is not exposed by pyarrow; count pages by walking the headers instead.
    from wbcreview.data.locator import count_data_pages

    return count_data_pages(path, column)


def pyarrow_image_bytes(path: Path, column: str = "image") -> list[bytes | None]:
    """Return every row's image bytes as pyarrow reads them (the reference for located reads)."""
    table = pq.read_table(path, columns=[column])
    return table.column(column).combine_chunks().field("bytes").to_pylist()


README = """---
license: cc-by-nc-4.0
configs:
- config_name: pristine
  data_files:
  - split: phase1_train
    path: pristine/phase1_train-*.parquet
  - split: phase2_eval
    path: pristine/phase2_eval-*.parquet
- config_name: degraded
  data_files:
  - split: phase2_eval
    path: degraded/phase2_eval-*.parquet
---
# WBCBench 2026 (test fixture)
"""


def write_release(root: Path, seed: int = 0) -> Path:
    """Write a tiny release tree: README with configs, shards in both layouts, metadata files."""
    (root / "pristine").mkdir(parents=True)
    (root / "degraded").mkdir()
    (root / "metadata").mkdir()
    (root / "README.md").write_text(README)
    (root / "metadata" / "class_legend.csv").write_bytes(
        b"abbreviation,cell_type\r\nSNE,Segmented neutrophil\r\n"
    )
    write_old_layout(
        root / "pristine" / "phase1_train-00000-of-00001.parquet", make_table(250, seed, real=3)
    )
    write_new_layout(
        root / "pristine" / "phase2_eval-00000-of-00001.parquet",
        make_table(300, seed + 1, id_start=1000, null_paths="some"),
        rows_per_group=120,
    )
    write_new_layout(
        root / "degraded" / "phase2_eval-00000-of-00001.parquet",
        make_table(300, seed + 2, id_start=1000, real=0),
        rows_per_group=1000,
    )
    return root
