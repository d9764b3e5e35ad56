"""Colour and texture features of each cell image, for the built-in baseline.

Each image is decoded small (JPEG draft mode, then FEATURE_PX square) and described by
about a hundred numbers: colour statistics of the central region, of the nucleus (the
dark-purple pixels) and of a ring of cytoplasm around it; the nucleus' share of the
image, its shape and number of lobes (connected components, before and after an erosion);
edge density, a local-binary-pattern histogram and granularity (high-pass energy). Nothing
here is learnt: the same bytes always give the same row.

Features of a copy are computed through the fast image path (`ImageReader.read` in
batches, decoded on a small thread pool) and cached on disk as parquet under
`<WBCREVIEW_HOME>/features/`, one file per state of the copy's shards.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from functools import lru_cache
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

# Bump when the features change: older cache files are then ignored and removed.
FEATURES_VERSION = 1
FEATURE_PX = 96
BATCH = 256
PARALLEL_MIN = 1500  # rows: below this, starting worker processes costs more than it saves
Progress = Callable[[int, int, str], None]

_HUE_BINS, _SAT_BINS, _VAL_BINS, _NUC_HUE_BINS = 12, 6, 6, 6
_CENTRE = slice(FEATURE_PX // 4, FEATURE_PX - FEATURE_PX // 4)  # the central half
_WINDOW = slice(FEATURE_PX // 8, FEATURE_PX - FEATURE_PX // 8)  # where the cell may be
_RING_PX = 4
_NUCLEUS_DEPTH = 0.3  # share of the purple range below the darkest pixels
_YY, _XX = np.mgrid[0:FEATURE_PX, 0:FEATURE_PX].astype(np.float32)
_CENTRE_DIST = np.hypot(_YY - (FEATURE_PX - 1) / 2, _XX - (FEATURE_PX - 1) / 2)


class FeatureError(WbcreviewError):
    """Features cannot be computed for this copy."""


def _names() -> list[str]:
    names = [f"centre_{c}_{s}" for c in ("L", "a", "b") for s in ("mean", "std")]
    names += [f"centre_hue_{i}" for i in range(_HUE_BINS)]
    names += [f"centre_sat_{i}" for i in range(_SAT_BINS)]
    names += [f"centre_val_{i}" for i in range(_VAL_BINS)]
    names += [f"centre_grey_p{p}" for p in (5, 25, 50)]
    names += ["nucleus_share", "nucleus_centre_share", "nucleus_threshold"]
    names += [f"nucleus_{c}_{s}" for c in ("L", "a", "b") for s in ("mean", "std")]
    names += [f"nucleus_hue_{i}" for i in range(_NUC_HUE_BINS)]
    names += ["nucleus_parts", "nucleus_lobes", "nucleus_lobes_eroded2"]
    names += ["nucleus_extent", "nucleus_elongation", "nucleus_boundary", "nucleus_offset"]
    names += ["nucleus_largest_share", "nucleus_holes"]
    names += [f"ring_{c}_{s}" for c in ("L", "a", "b") for s in ("mean", "std")]
    names += ["ring_purple", "cell_share", "cell_radius"]
    names += ["edge_mean", "edge_std", "edge_density_lo", "edge_density_hi"]
    names += ["nucleus_edge_mean", "ring_edge_mean"]
    names += [f"lbp_{i}" for i in range(10)]
    names += ["grain_centre", "grain_nucleus", "grain_ring", "grain_coarse_nucleus"]
    names += ["purple_mean", "purple_p90", "decoded"]
    return names


FEATURE_NAMES: tuple[str, ...] = tuple(_names())


# --- one image -------------------------------------------------------------------------------


def decode(jpeg: bytes | None, size: int = FEATURE_PX) -> Image.Image | None:
    """Decode JPEG bytes to a `size` x `size` RGB image; None if undecodable.

    Draft mode lets the JPEG decoder scale by 1/2, 1/4 or 1/8 as it decodes, so only a
    fraction of the pixels is ever made.
    """
    if not jpeg:
        return None
    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            im.draft("RGB", (size * 3 // 4, size * 3 // 4))
            return im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except Exception:  # any decoder failure: the row gets NaN features and decoded = 0
        return None


@lru_cache(maxsize=1)
def _lab_table() -> np.ndarray:
    """CIE Lab (D65) of every sRGB colour quantised to 6 bits a channel: 64**3 x 3."""
    levels = (np.arange(64, dtype=np.float64) * 4 + 2) / 255
    lin = np.where(levels > 0.04045, ((levels + 0.055) / 1.055) ** 2.4, levels / 12.92)
    r, g, b = np.meshgrid(lin, lin, lin, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = rgb @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab = np.stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=-1
    )
    return lab.astype(np.float32)


def _lab(rgb8: np.ndarray) -> np.ndarray:
    """CIE Lab of each pixel of an 8-bit RGB array (through a 6-bit lookup table)."""
    q = (rgb8 >> 2).astype(np.int32)
    return _lab_table()[(q[..., 0] << 12) | (q[..., 1] << 6) | q[..., 2]]


def _stats(values: np.ndarray, n: int) -> list[float]:
    """Mean and standard deviation of each of `n` columns (zeros for no pixels)."""
    if len(values) == 0:
        return [0.0] * (2 * n)
    out = []
    for i in range(n):
        out += [float(values[:, i].mean()), float(values[:, i].std())]
    return out


def _hist(values: np.ndarray, bins: int, weights: np.ndarray | None = None) -> list[float]:
    hist, _ = np.histogram(values, bins=bins, range=(0, 1), weights=weights)
    total = hist.sum()
    return (hist / total if total > 0 else hist.astype(float)).tolist()


def _lbp(grey: np.ndarray) -> list[float]:
    """Histogram of rotation-invariant uniform local binary patterns (8 neighbours, radius 1).

    Bins 0..8: uniform patterns by their number of brighter neighbours; bin 9: the rest.
    """
    c = grey[1:-1, 1:-1]
    h, w = grey.shape
    shifts = ((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))  # a circle
    bits = np.stack([grey[dy : h - 2 + dy, dx : w - 2 + dx] >= c + 0.01 for dy, dx in shifts])
    ones = bits.sum(0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(0)
    code = np.where(transitions <= 2, ones, 9)
    return (np.bincount(code.ravel(), minlength=10) / code.size).tolist()


def image_features(image: Image.Image | None) -> np.ndarray:
    """The feature vector (FEATURE_NAMES) of one decoded image; NaN with decoded 0 for None."""
    # scipy.ndimage costs ~0.5 s to import: only computing features needs it, not the
    # screens that read cached features (look-alikes on the Cell page).
    from scipy import ndimage

    if image is None:
        out = np.full(len(FEATURE_NAMES), np.nan, dtype=np.float32)
        out[-1] = 0.0
        return out
    rgb8 = np.asarray(image.convert("RGB"))
    rgb = rgb8.astype(np.float32) / 255
    lab = _lab(rgb8)
    hsv = np.asarray(image.convert("HSV"), dtype=np.float32) / 255
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # Dark purple: blue over green (stained chromatin) and dark. The threshold sits near the
    # darkest purple of the window, relative to its range, so it follows the stain and the
    # colour shifts of degraded images (Otsu alone also takes red cells and cytoplasm).
    purple = (rgb[..., 2] - rgb[..., 1]) + (1 - grey)
    window = purple[_WINDOW, _WINDOW]
    lo, hi = np.percentile(window, (5, 99.5))
    threshold = float(hi - _NUCLEUS_DEPTH * (hi - lo))
    mask = np.zeros(grey.shape, bool)
    mask[_WINDOW, _WINDOW] = window > threshold
    mask = ndimage.binary_opening(mask)
    parts, n_parts = ndimage.label(mask)
    feats: list[float] = []
    centre = (slice(_CENTRE.start, _CENTRE.stop),) * 2
    c_lab, c_hsv = lab[centre].reshape(-1, 3), hsv[centre].reshape(-1, 3)
    feats += _stats(c_lab, 3)
    feats += _hist(c_hsv[:, 0], _HUE_BINS, weights=c_hsv[:, 1])
    feats += _hist(c_hsv[:, 1], _SAT_BINS)
    feats += _hist(c_hsv[:, 2], _VAL_BINS)
    feats += np.percentile(grey[centre], (5, 25, 50)).tolist()

    # The nucleus: the components near the centre (neighbouring cells' nuclei are left out).
    if n_parts:
        flat = parts.ravel()
        sizes = np.bincount(flat, minlength=n_parts + 1)[1:].astype(np.float32)
        cy = np.bincount(flat, weights=_YY.ravel(), minlength=n_parts + 1)[1:] / sizes
        cx = np.bincount(flat, weights=_XX.ravel(), minlength=n_parts + 1)[1:] / sizes
        dists = np.hypot(cy - (FEATURE_PX - 1) / 2, cx - (FEATURE_PX - 1) / 2)
        keep = np.flatnonzero((dists < FEATURE_PX * 0.25) & (sizes >= 4)) + 1
        if not len(keep):
            keep = np.array([int(np.argmax(sizes)) + 1])
        nucleus = np.isin(parts, keep)
    else:
        nucleus = np.zeros_like(mask)
    area = float(nucleus.sum())
    feats += [area / nucleus.size, float(nucleus[centre].mean()), threshold]
    n_lab = lab[nucleus]
    feats += _stats(n_lab, 3)
    feats += _hist(hsv[nucleus][:, 0], _NUC_HUE_BINS) if area else [0.0] * _NUC_HUE_BINS
    if area:
        min_part = max(3.0, area * 0.05)
        lab1, n1 = ndimage.label(nucleus)
        s1 = ndimage.sum_labels(nucleus, lab1, np.arange(1, n1 + 1))
        eroded = ndimage.binary_erosion(nucleus, iterations=1)
        lab2, n2 = ndimage.label(eroded)
        s2 = ndimage.sum_labels(eroded, lab2, np.arange(1, n2 + 1)) if n2 else np.zeros(0)
        eroded2 = ndimage.binary_erosion(nucleus, iterations=2)
        lab3, n3 = ndimage.label(eroded2)
        s3 = ndimage.sum_labels(eroded2, lab3, np.arange(1, n3 + 1)) if n3 else np.zeros(0)
        ys, xs = np.nonzero(nucleus)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        cov = np.cov(np.stack([ys, xs])) if area > 2 else np.eye(2)
        ev = np.sort(np.linalg.eigvalsh(np.atleast_2d(cov)))
        boundary = float((nucleus & ~ndimage.binary_erosion(nucleus)).sum())
        holes = float(ndimage.binary_fill_holes(nucleus).sum() - area)
        feats += [
            float((s1 >= min_part).sum()),
            float((s2 >= min_part / 2).sum()),
            float((s3 >= min_part / 4).sum()),
            area / box,
            float(np.sqrt(ev[-1] / max(ev[0], 1e-3))),
            boundary / np.sqrt(area),
            float(np.hypot(ys.mean() - (FEATURE_PX - 1) / 2, xs.mean() - (FEATURE_PX - 1) / 2))
            / FEATURE_PX,
            float(s1.max() / area),
            holes / area,
        ]
    else:
        feats += [0.0] * 9

    # Cytoplasm: a ring around the nucleus; the cell: non-background pixels near the centre.
    ring = ndimage.binary_dilation(nucleus, iterations=_RING_PX) & ~nucleus if area else nucleus
    feats += _stats(lab[ring], 3)
    feats += [float(purple[ring].mean()) if ring.any() else 0.0]
    background = (hsv[..., 1] < 0.12) & (hsv[..., 2] > 0.75)
    cell = ~background & (_CENTRE_DIST < FEATURE_PX * 0.4)
    feats += [
        float(cell.mean()),
        float(_CENTRE_DIST[cell].mean() / FEATURE_PX) if cell.any() else 0.0,
    ]

    gy, gx = np.gradient(grey)
    edge = np.hypot(gx, gy)
    c_edge = edge[centre]
    feats += [
        float(c_edge.mean()),
        float(c_edge.std()),
        float((c_edge > 0.03).mean()),
        float((c_edge > 0.08).mean()),
        float(edge[nucleus].mean()) if area else 0.0,
        float(edge[ring].mean()) if ring.any() else 0.0,
    ]
    feats += _lbp(grey[centre])
    fine = grey - ndimage.uniform_filter(grey, 3)
    coarse = ndimage.uniform_filter(grey, 3) - ndimage.uniform_filter(grey, 7)
    feats += [
        float(fine[centre].std()),
        float(fine[nucleus].std()) if area else 0.0,
        float(fine[ring].std()) if ring.any() else 0.0,
        float(coarse[nucleus].std()) if area else 0.0,
    ]
    feats += [float(window.mean()), float(np.percentile(window, 90)), 1.0]
    return np.asarray(feats, dtype=np.float32)


def features_of_bytes(jpeg: bytes | None) -> np.ndarray:
    """Decode one image and return its feature vector."""
    return image_features(decode(jpeg))


# --- a whole copy ----------------------------------------------------------------------------


def features_dir() -> Path:
    """Where feature caches live (created on first use)."""
    path = config.data_dir() / "features"
    path.mkdir(parents=True, exist_ok=True)
    return path


def images_key(cat: Catalog) -> str:
    """A text that changes when any shard of the copy changes (path, size, mtime).

    Features depend on the image bytes only, so label files or a new catalog version do
    not invalidate them.
    """
    rows = (
        cat.cursor()
        .execute("SELECT relpath, size, mtime_ns FROM shards ORDER BY relpath")
        .fetchall()
    )
    text = "\n".join(f"{r}|{s}|{m}" for r, s, m in rows)
    return hashlib.sha1(f"v{FEATURES_VERSION}|{FEATURE_PX}\n{text}".encode()).hexdigest()[:16]


def cache_path(cat: Catalog) -> Path:
    """The cache file of the features of this copy's images."""
    return features_dir() / f"{catalog_prefix(cat.root)}-{images_key(cat)}.parquet"


def _rows(cat: Catalog) -> pd.DataFrame:
    return (
        cat.cursor()
        .execute(
            "SELECT config, image_id, cell_id, shard_id, row, img_offset, img_length "
            "FROM cells ORDER BY shard_id, row"
        )
        .df()
    )


def _features_batch(jpegs: list[bytes | None]) -> np.ndarray:
    return np.stack([features_of_bytes(b) for b in jpegs])


def _batches(cat: Catalog, rows: pd.DataFrame, reader) -> Iterator[list[bytes | None]]:
    paths = cat.shard_paths()
    for start in range(0, len(rows), BATCH):
        yield reader.read(query.image_requests(paths, rows.iloc[start : start + BATCH]))


def compute(
    cat: Catalog, reader, progress: Progress | None = None, workers: int = 2
) -> pd.DataFrame:
    """Features of every row of the catalog: config, image_id, cell_id and FEATURE_NAMES.

    Images are read through `reader` (an `images.ImageReader`) in batches of BATCH, in shard
    order; with `workers` > 1 and more than PARALLEL_MIN rows they are decoded in that many
    worker processes (the work is many small numpy calls: threads would wait on the GIL).
    `progress(done, total, message)` after each batch. Undecodable images get NaN features
    and decoded = 0.
    """
    rows = _rows(cat)
    total = len(rows)
    if total == 0:
        raise FeatureError(f"the catalog of {cat.root} has no rows")
    out = np.empty((total, len(FEATURE_NAMES)), dtype=np.float32)
    if progress:
        progress(0, total, "computing image features")
    done = 0
    for block in _computed(_batches(cat, rows, reader), workers if total > PARALLEL_MIN else 1):
        out[done : done + len(block)] = block
        done += len(block)
        if progress:
            progress(done, total, f"image features: {done:,} of {total:,} images")
    frame = pd.DataFrame(out, columns=list(FEATURE_NAMES))
    ids = rows[["config", "image_id", "cell_id"]].reset_index(drop=True)
    return pd.concat([ids, frame], axis=1)


def _computed(batches: Iterator[list], workers: int) -> Iterator[np.ndarray]:
    """Feature blocks of the batches, in order; a few batches in flight with workers.

    If the worker processes cannot start (a host whose main module cannot be re-imported,
    say), the remaining batches are computed in this process.
    """
    yield from pool.ordered_map(_features_batch, batches, workers)


def cached_features(
    cat: Catalog, reader=None, progress: Progress | None = None, workers: int = 2
) -> pd.DataFrame:
    """The features of the catalog's copy, from the disk cache or computed and cached.

    The cache is keyed by `images_key` (a changed shard means new features); older caches
    of the same copy are removed. Written atomically (temporary file, then rename).
    """
    path = cache_path(cat)
    if path.is_file():
        try:
            frame = pd.read_parquet(path)
            if list(frame.columns[3:]) == list(FEATURE_NAMES):
                if progress:
                    progress(len(frame), len(frame), "image features from the cache")
                return frame
        except (OSError, ValueError):
            pass  # an unreadable cache is recomputed
    with images.borrowed(reader) as reader:
        frame = compute(cat, reader, progress, workers)
    with written_atomically(path) as tmp:
        frame.to_parquet(tmp, index=False)
    for old in features_dir().glob(f"{catalog_prefix(cat.root)}-*.parquet"):
        if old != path:
            old.unlink(missing_ok=True)
    return frame


def remove_cache(root: Path) -> None:
    """Delete every feature cache of the copy at `root`."""
    for old in features_dir().glob(f"{catalog_prefix(Path(root))}-*.parquet"):
        old.unlink(missing_ok=True)
