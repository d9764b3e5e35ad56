"""Plant known faults into a copy, for `bench-finders`: duplicates and unusable images.

Written apart from the finders on purpose (it imports none of them and shares no code
with them): what it plants is made with Pillow alone, and the truth it returns is what the
finders are scored against.

- exact duplicates: new rows whose image is the source's bytes, the same pixels in a JPEG
  with an added comment segment (other bytes), or the same pixels as PNG;
- near duplicates: new rows whose image is the source resized, re-encoded at another
  quality, cropped by a few pixels, or colour-shifted;
- half of each kind go to another split (and a patient of that split): leakage; a tenth
  also get another label;
- unusable images: pristine images replaced in place by a blurred, darkened or
  overexposed version, beyond the release's degradations.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageEnhance, ImageFilter

from wbcreview.data import optimize

NEAR_KINDS = ("resized", "re-encoded", "cropped", "colour-shifted")
EXACT_KINDS = ("same bytes", "jpeg comment", "png")
QUALITY_KINDS = ("blurred", "darkened", "overexposed")
NEW_ID_BASE = 90_000_000


@dataclass
class Planted:
    """What was planted: duplicate pairs (source cell, new cell, kind, how, crossing split)
    and unusable cells (cell, how)."""

    exact: list[tuple[str, str, str, bool]] = field(default_factory=list)
    near: list[tuple[str, str, str, bool]] = field(default_factory=list)
    unusable: list[tuple[str, str]] = field(default_factory=list)


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def exact_copy(data: bytes, how: str) -> bytes:
    """The same decoded pixels: the bytes themselves, with a JPEG comment, or as PNG."""
    if how == "same bytes":
        return data
    if how == "jpeg comment":
        text = b"planted duplicate"
        segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
        return data[:2] + segment + data[2:]  # right after the SOI marker
    buf = io.BytesIO()
    _open(data).save(buf, format="PNG")
    return buf.getvalue()


def near_copy(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    """A near copy: resized, re-encoded at another quality, cropped, or colour-shifted."""
    im = _open(data)
    w, h = im.size
    if how == "resized":
        scale = float(rng.uniform(0.6, 0.9))
        return _jpeg(im.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS), 90)
    if how == "re-encoded":
        return _jpeg(im, int(rng.integers(45, 70)))
    if how == "cropped":
        left, top, right, bottom = (int(v) for v in rng.integers(2, 7, size=4))
        return _jpeg(im.crop((left, top, w - right, h - bottom)), 90)
    gains = rng.uniform(0.85, 1.15, size=3)
    arr = np.asarray(im, np.float32) * gains + rng.uniform(-12, 12, size=3)
    return _jpeg(Image.fromarray(arr.clip(0, 255).astype(np.uint8)), 90)


def unusable_copy(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    """The image blurred (Gaussian, radius 4 to 7), darkened (x0.2 to 0.35) or overexposed."""
    im = _open(data)
    if how == "blurred":
        return _jpeg(im.filter(ImageFilter.GaussianBlur(float(rng.uniform(4, 7)))), 90)
    if how == "darkened":
        return _jpeg(ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.2, 0.35))), 90)
    return _jpeg(ImageEnhance.Brightness(im).enhance(float(rng.uniform(1.8, 2.4))), 90)


def _read(path: Path) -> pa.Table:
    with pq.ParquetFile(path) as pf:
        return pf.read()


def _write(table: pa.Table, path: Path, schema: pa.Schema) -> None:
    table = table.cast(schema)
    tmp = path.with_name(f".{path.name}.planting")
    with pq.ParquetWriter(
        tmp, schema, write_page_index=True, **optimize.column_options(schema)
    ) as writer:
        writer.write_table(table, row_group_size=100)
    tmp.replace(path)


def plant(
    root: Path, exact: int = 50, near: int = 50, unusable: int = 50, seed: int = 0
) -> Planted:
    """Plant the faults into the pristine shards of the copy at `root` (changed in place)."""
    rng = np.random.default_rng([seed, 0x9_1A47])
    shards = sorted((Path(root) / "pristine").glob("*.parquet"))
    tables = {p: _read(p) for p in shards}
    schemas = {p: pq.read_schema(p) for p in shards}
    rows = []  # (shard, index, image_id, split, patient, label)
    for p, t in tables.items():
        cols = t.select(["image_id", "wbcbench_split", "patient_hash", "label"]).to_pylist()
        rows += [(p, i, c["image_id"], c["wbcbench_split"], c["patient_hash"], c["label"])
                 for i, c in enumerate(cols)]  # fmt: skip
    need = exact + near + unusable
    if len(rows) < need:
        raise ValueError(f"{root}: {len(rows)} pristine cells, {need} needed to plant")
    picked = [rows[i] for i in rng.choice(len(rows), need, replace=False)]
    by_split: dict[str, list] = {}
    for r in rows:
        by_split.setdefault(r[3], []).append(r)
    splits = sorted(by_split)
    labels = sorted({r[5] for r in rows})
    shard_of_split = {r[3]: r[0] for r in rows}
    images = {p: t.column("image").to_pylist() for p, t in tables.items()}
    added: dict[Path, list[dict]] = {p: [] for p in shards}
    out = Planted()
    for i, (shard, idx, image_id, split, patient, label) in enumerate(picked[: exact + near]):
        is_exact = i < exact
        j = i if is_exact else i - exact
        data = images[shard][idx]["bytes"]
        if is_exact:
            how = EXACT_KINDS[j % len(EXACT_KINDS)]
            new = exact_copy(data, how)
        else:
            how = NEAR_KINDS[j % len(NEAR_KINDS)]
            new = near_copy(data, how, rng)
        cross = j % 2 == 0 and len(splits) > 1
        if cross:
            target = splits[
                (splits.index(split) + 1 + int(rng.integers(len(splits) - 1))) % len(splits)
            ]
            new_patient = by_split[target][int(rng.integers(len(by_split[target])))][4]
        else:
            target, new_patient = split, patient
            if j % 5 == 1:  # the same split, another patient
                new_patient = by_split[split][int(rng.integers(len(by_split[split])))][4]
        new_label = label
        if j % 10 == 3 and len(labels) > 1:
            new_label = [c for c in labels if c != label][int(rng.integers(len(labels) - 1))]
        new_id = f"{NEW_ID_BASE + i:08d}"
        added[shard_of_split[target]].append(
            {
                "image": {"bytes": new, "path": f"{new_id}.jpg"},
                "image_id": new_id,
                "label": new_label,
                "wbcbench_split": target,
                "severity": "pristine",
                "original_image_id": "",
                "patient_hash": new_patient,
            }
        )
        (out.exact if is_exact else out.near).append((image_id, new_id, how, cross))
    for k, (shard, idx, image_id, *_rest) in enumerate(picked[exact + near :]):
        how = QUALITY_KINDS[k % len(QUALITY_KINDS)]
        entry = dict(images[shard][idx])
        entry["bytes"] = unusable_copy(entry["bytes"], how, rng)
        images[shard][idx] = entry
        out.unusable.append((image_id, how))
    for p in shards:
        t = tables[p].set_column(
            tables[p].schema.get_field_index("image"),
            tables[p].schema.field("image"),
            pa.array(images[p], tables[p].schema.field("image").type),
        )
        if added[p]:
            extra = pa.Table.from_pylist(added[p], schema=t.schema.remove_metadata())
            t = pa.concat_tables([t.cast(extra.schema), extra])
        _write(t, p, schemas[p])
    return out
