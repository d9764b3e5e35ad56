"""One pass over a copy's images for the three finders (duplicates, unusable images,
look-alikes): each scanned image is decoded once, in full, and described by

- `pixel_hash`: a 64-bit hash of the decoded RGB pixels and the size (exact duplicates: a
  copy whose bytes differ, say re-wrapped or with other metadata, still matches);
- `phash`: the 64-bit perceptual hash of `imagehash` (near-duplicate candidates);
- `thumb`: a 16 x 16 grey thumbnail, zero mean and unit norm, as 256 int8: its inner
  product with another is their normalised cross-correlation (blind to brightness and
  contrast), the embedding in which near-duplicate candidates are nearest neighbours;
- image-quality measures: cleanvision's image properties (brightness percentiles,
  blurriness, entropy) plus size, aspect ratio, a sharpness at half scale, the share of
  the crop the nucleated cell covers, and the nucleated cells in the crop.

(The look-alike index uses the baseline's features instead, from their own cache: adding
them here would double the time of a scan.)

Rows scanned: every pristine row, plus degraded rows whose pristine source is missing. A
degraded row is made from its own pristine source by design (release), so it is never
scanned against it: the finders compare cells, each by its pristine image.

The table is cached as parquet beside the catalog, keyed by the state of the copy's shards
(path, size, mtime) and SIGNATURE_VERSION: a second run reads it back.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from wbcreview import config
from wbcreview.data import images, query
from wbcreview.data.catalog import Catalog, catalog_prefix
from wbcreview.errors import WbcreviewError
from wbcreview.files import written_atomically
from wbcreview.triage import pool

# Bump when a signature changes: older caches are then ignored and removed.
SIGNATURE_VERSION = 1
THUMB_PX = 16
FINE_PX = 40  # the high-pass thumbnail that verifies a near-duplicate candidate
QUALITY_PX = 96  # the scale of the nucleus and background measures
_JOIN_PX = 9  # purple parts this close (at QUALITY_PX) are one nucleus: lobes join
BATCH = 128
PARALLEL_MIN = 600  # images: below this, starting worker processes costs more than it saves
Progress = Callable[[int, int, str], None]

QUALITY_COLUMNS: tuple[str, ...] = (
    "width",
    "height",
    "brightness",
    "brightness_perc_5",
    "brightness_perc_99",
    "blurriness",
    "sharpness",
    "entropy",
    "aspect_ratio",
    "nucleus_share",
    "nucleated_cells",
    "second_cell_share",
)
ID_COLUMNS: tuple[str, ...] = ("cell_id", "image_id", "config")


class SignatureError(WbcreviewError):
    """The images of a copy cannot be scanned."""


# --- one image -------------------------------------------------------------------------------


def _sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image in [0, 1], over its variance (scale-free)."""
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var() / max(grey.var(), 1e-6))


def _nucleated(rgb96: np.ndarray) -> tuple[float, int, float]:
    """(share of the crop the largest nucleated cell covers, nucleated cells, share of the
    second one). Dark-purple pixels (stained chromatin, as in `features`) are grouped into
    cells after a dilation that joins the lobes of one nucleus."""
    # Lazy: scipy.ndimage costs ~0.5 s to import, and the screens that only read the cached
    # signatures (look-alikes on the Cell page) must not pay it.
    from scipy import ndimage

    rgb = rgb96.astype(np.float32) / 255
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    purple = (rgb[..., 2] - rgb[..., 1]) + (1 - grey)
    lo, hi = np.percentile(purple, (5, 99.5))
    # A crop without chromatin has a flat purple range: nothing is nucleus.
    if hi - lo < 0.15:
        return 0.0, 0, 0.0
    mask = ndimage.binary_opening(purple > hi - 0.3 * (hi - lo))
    groups, n = ndimage.label(ndimage.maximum_filter(mask, size=_JOIN_PX))
    if n == 0:
        return 0.0, 0, 0.0
    sizes = np.sort(ndimage.sum_labels(mask, groups, np.arange(1, n + 1)))[::-1] / mask.size
    cells = int((sizes >= 0.01).sum())
    return float(sizes[0]), cells, float(sizes[1]) if n > 1 else 0.0


def image_signature(data: bytes | None) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(decoded, pixel_hash, phash, thumb, quality) of one image's bytes.

    `decoded` is 0 for bytes that do not decode (every other value is then zero / NaN).
    """
    import imagehash
    from cleanvision.issue_managers.image_property import (
        BlurrinessProperty,
        BrightnessProperty,
        EntropyProperty,
    )

    nan_q = np.full(len(QUALITY_COLUMNS), np.nan, dtype=np.float32)
    empty = (0, 0, 0, np.zeros(THUMB_PX * THUMB_PX, np.int8), nan_q)
    if not data:
        return empty
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im.convert("RGB")
    except Exception:  # any decoder failure: an undecodable image, reported as such
        return empty
    w, h = rgb.size
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=8, person=f"{w}x{h}".encode()[:16])
    pixel_hash = int.from_bytes(digest.digest(), "little", signed=True)
    small = rgb.reduce(4)  # a box filter: fast, and the same input gives the same output
    grey = small.convert("L")
    bits = imagehash.phash(grey).hash.ravel()
    phash = int.from_bytes(np.packbits(bits).tobytes(), "big", signed=False)
    phash = phash - (1 << 64) if phash >= 1 << 63 else phash  # stored as int64
    thumb = np.asarray(grey.resize((THUMB_PX, THUMB_PX), Image.Resampling.BOX), np.float32)
    thumb = thumb.ravel() - thumb.mean()
    norm = float(np.linalg.norm(thumb))
    thumb8 = np.round(thumb / norm * 127 * 4).clip(-127, 127).astype(np.int8) if norm else (
        np.zeros(THUMB_PX * THUMB_PX, np.int8)
    )  # fmt: skip
    small = small.resize((QUALITY_PX, QUALITY_PX), Image.Resampling.BILINEAR)
    bright = BrightnessProperty("dark").calculate(small)
    blur = BlurrinessProperty().calculate(small)
    entropy = EntropyProperty().calculate(small)["entropy"]
    half = np.asarray(rgb.convert("L").reduce(2), np.float32) / 255
    nucleus, cells, second = _nucleated(np.asarray(small))
    quality = np.array(
        [
            w,
            h,
            bright["brightness"],
            bright["brightness_perc_5"],
            bright["brightness_perc_99"],
            blur["blurriness"],
            _sharpness(half),
            entropy,
            min(w / h, h / w),
            nucleus,
            cells,
            second,
        ],
        dtype=np.float32,
    )
    return 1, pixel_hash, phash, thumb8, quality


def fine_thumb(data: bytes | None) -> np.ndarray:
    """A FINE_PX x FINE_PX grey thumbnail with its local mean (a 5 x 5 box blur) taken out,
    zero mean and unit norm: the fine texture that tells two look-alike cells apart and
    survives resizing, re-encoding, small crops and colour shifts. Zeros if undecodable."""
    from PIL import ImageFilter

    try:
        with Image.open(io.BytesIO(data or b"")) as im:
            grey = im.convert("RGB").reduce(4).convert("L")
    except Exception:  # an undecodable image matches nothing
        return np.zeros(FINE_PX * FINE_PX, np.float32)
    thumb = grey.resize((FINE_PX, FINE_PX), Image.Resampling.BOX)
    fine = np.asarray(thumb, np.float32) - np.asarray(
        thumb.filter(ImageFilter.BoxBlur(2)), np.float32
    )
    fine = fine.ravel() - fine.mean()
    norm = float(np.linalg.norm(fine))
    return fine / norm if norm else fine


def signatures_of(jpegs: list[bytes | None]) -> dict[str, np.ndarray]:
    """Signatures of a batch of images, as column arrays."""
    out = [image_signature(b) for b in jpegs]
    return {
        "decoded": np.array([o[0] for o in out], np.int8),
        "pixel_hash": np.array([o[1] for o in out], np.int64),
        "phash": np.array([o[2] for o in out], np.int64),
        "thumb": np.stack([o[3] for o in out]),
        "quality": np.stack([o[4] for o in out]),
    }


# --- a whole copy ----------------------------------------------------------------------------


def scanned_rows(cat: Catalog) -> pd.DataFrame:
    """The rows the finders scan: every pristine row and every degraded row without a
    pristine source, in shard order, with their split, label and patient."""
    return (
        cat.cursor()
        .execute(
            "SELECT cell_id, image_id, config, split, label, patient_hash, shard_id, row, "
            "img_offset, img_length FROM cells c WHERE config = 'pristine' OR NOT EXISTS "
            "(SELECT 1 FROM cells p WHERE p.config = 'pristine' AND p.image_id = c.cell_id) "
            "ORDER BY shard_id, row"
        )
        .df()
    )


def state_key(cat: Catalog) -> str:
    """A text that changes when any shard of the copy changes (path, size, mtime)."""
    rows = (
        cat.cursor()
        .execute("SELECT relpath, size, mtime_ns FROM shards ORDER BY relpath")
        .fetchall()
    )
    text = "\n".join(f"{r}|{s}|{m}" for r, s, m in rows)
    return hashlib.sha1(f"v{SIGNATURE_VERSION}\n{text}".encode()).hexdigest()[:16]


def cache_path(cat: Catalog, kind: str = "signatures") -> Path:
    """A finder's cache file of this copy in its current state, beside the catalog."""
    return config.catalog_dir() / f"{catalog_prefix(cat.root)}-{kind}-{state_key(cat)}.parquet"


def _stale(cat: Catalog, kind: str, keep: Path) -> None:
    for old in config.catalog_dir().glob(f"{catalog_prefix(cat.root)}-{kind}-*.parquet"):
        if old != keep:
            old.unlink(missing_ok=True)


def write_cache(frame: pd.DataFrame, path: Path) -> None:
    """Write a parquet cache atomically (temporary file, then rename)."""
    with written_atomically(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_cache(path: Path) -> pd.DataFrame | None:
    """A cache file's table, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError):
        return None


def _batches(cat: Catalog, rows: pd.DataFrame, reader) -> Iterator[list[bytes | None]]:
    paths = cat.shard_paths()
    for start in range(0, len(rows), BATCH):
        yield reader.read(query.image_requests(paths, rows.iloc[start : start + BATCH]))


def _computed(batches: Iterator[list], workers: int) -> Iterator[dict]:
    """Signature blocks of the batches, in order; a few batches in flight with workers.

    If worker processes cannot start, the remaining batches are computed here.
    """
    yield from pool.ordered_map(signatures_of, batches, workers)


def compute(
    cat: Catalog, reader, progress: Progress | None = None, workers: int = 2
) -> pd.DataFrame:
    """Signatures of every scanned row (see `scanned_rows`), streamed from the shards.

    Images are read through `reader` (an `images.ImageReader`) in batches, in shard order,
    and decoded in `workers` processes; `progress(done, total, message)` after each batch.
    """
    rows = scanned_rows(cat)
    total = len(rows)
    if total == 0:
        raise SignatureError(f"the catalog of {cat.root} has no pristine rows to scan")
    blocks: list[dict] = []
    if progress:
        progress(0, total, "scanning images")
    done = 0
    for block in _computed(_batches(cat, rows, reader), workers if total > PARALLEL_MIN else 1):
        blocks.append(block)
        done += len(block["decoded"])
        if progress:
            progress(done, total, f"scanning images: {done:,} of {total:,}")
    merged = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    frame = rows[["cell_id", "image_id", "config"]].reset_index(drop=True).copy()
    frame["decoded"] = merged["decoded"]
    frame["pixel_hash"] = merged["pixel_hash"]
    frame["phash"] = merged["phash"]
    frame["thumb"] = [t.tobytes() for t in merged["thumb"]]
    for i, name in enumerate(QUALITY_COLUMNS):
        frame[name] = merged["quality"][:, i]
    return frame


def cached(
    cat: Catalog, reader=None, progress: Progress | None = None, workers: int = 2
) -> pd.DataFrame:
    """The signatures of the copy: from the cache beside the catalog, or computed and cached
    (older caches of the same copy are removed)."""
    path = cache_path(cat)
    frame = read_cache(path)
    if frame is not None and "second_cell_share" in frame.columns:
        if progress:
            progress(len(frame), len(frame), "image signatures from the cache")
        return frame
    with images.borrowed(reader) as reader:
        frame = compute(cat, reader, progress, workers)
    write_cache(frame, path)
    _stale(cat, "signatures", path)
    return frame


def is_cached(cat: Catalog) -> bool:
    """True when the signatures of the copy in its current state are cached."""
    return cache_path(cat).is_file()


def thumbs(frame: pd.DataFrame) -> np.ndarray:
    """The thumbnails of a signature table as an n x 256 float32 array of unit vectors."""
    if frame.empty:
        return np.zeros((0, THUMB_PX * THUMB_PX), np.float32)
    arr = np.frombuffer(b"".join(frame["thumb"]), np.int8).reshape(len(frame), -1)
    arr = arr.astype(np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms == 0, 1, norms)


def remove_caches(root: Path) -> None:
    """Delete every finder cache of the copy at `root`."""
    for old in config.catalog_dir().glob(f"{catalog_prefix(Path(root))}-*.parquet"):
        old.unlink(missing_ok=True)
