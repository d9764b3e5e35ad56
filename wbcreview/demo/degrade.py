"""Degradations of a cell image, as the release's degraded config applies them.

Pure functions of a PIL image (and a seeded numpy Generator where noise is drawn):
Gaussian noise, Gaussian blur, motion blur, colour jitter and colour shift. A degraded
image always keeps the pixel size of its source. `sample_degradation` draws the
parameters of one severity; `degrade` applies them in a fixed order (blur, motion blur,
colour, noise).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter, ImageStat

from wbcreview.data.release import SEVERITIES

LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Degradation:
    """The parameters of one degraded image; neutral values mean "not applied"."""

    severity: str
    noise_sigma: float = 0.0  # Gaussian noise, standard deviation in 8-bit levels
    blur_sigma: float = 0.0  # Gaussian blur radius (PIL's standard deviation), px
    motion_length: int = 0  # motion-blur line length, px (0 or 1: none)
    motion_angle: float = 0.0  # motion direction, degrees counter-clockwise from +x
    brightness: float = 1.0  # gain on all channels
    contrast: float = 1.0  # stretch around the image mean
    saturation: float = 1.0  # 0 grey, 1 unchanged
    shift_r: float = 0.0  # colour shift added to each channel, 8-bit levels
    shift_g: float = 0.0
    shift_b: float = 0.0

    def as_row(self) -> dict[str, object]:
        """The parameters as a flat dict (one row of metadata/degradation_params.csv)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


PARAM_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Degradation))


def assign_severities(n: int, rng: np.random.Generator) -> list[str]:
    """Return `n` severities, a quarter each (counts differ by at most one), in seeded order."""
    levels = [SEVERITIES[i % len(SEVERITIES)] for i in range(n)]
    order = rng.permutation(n)
    return [levels[i] for i in order]


def sample_degradation(severity: str, rng: np.random.Generator) -> Degradation:
    """Draw the parameters of one image of `severity` (pristine/mild/moderate/extreme).

    Raises ValueError for an unknown severity.
    """
    u = rng.uniform
    if severity == "pristine":
        return Degradation("pristine")
    if severity == "mild":
        return Degradation(
            "mild",
            noise_sigma=u(2, 5),
            blur_sigma=u(0.3, 0.8),
            brightness=u(0.95, 1.05),
            contrast=u(0.95, 1.05),
            saturation=u(0.92, 1.08),
            **_shifts(u(-4, 4, 3)),
        )
    if severity == "moderate":
        gaussian = rng.random() < 0.5
        return Degradation(
            "moderate",
            noise_sigma=u(7, 13),
            blur_sigma=u(1.2, 2.2) if gaussian else 0.0,
            motion_length=0 if gaussian else int(rng.integers(5, 12)),
            motion_angle=0.0 if gaussian else u(0, 180),
            brightness=u(0.92, 1.08),
            contrast=u(0.9, 1.1),
            saturation=u(0.88, 1.12),
            **_shifts(u(-8, 8, 3)),
        )
    if severity == "extreme":
        shift = u(-30, 30, 3)
        strong = int(rng.integers(0, 3))
        shift[strong] = math.copysign(u(20, 36), shift[strong])
        return Degradation(
            "extreme",
            noise_sigma=u(18, 30),
            motion_length=int(rng.integers(13, 26)),
            motion_angle=u(0, 180),
            brightness=u(0.82, 1.18),
            contrast=u(0.8, 1.2),
            saturation=u(0.7, 1.3),
            **_shifts(shift),
        )
    raise ValueError(f"unknown severity {severity!r}: expected one of {', '.join(SEVERITIES)}")


def _shifts(values) -> dict[str, float]:
    return {"shift_r": float(values[0]), "shift_g": float(values[1]), "shift_b": float(values[2])}


def gaussian_blur(img: Image.Image, sigma: float) -> Image.Image:
    """Blur with a Gaussian of standard deviation `sigma` px (PIL's GaussianBlur)."""
    return img.filter(ImageFilter.GaussianBlur(sigma)) if sigma > 0 else img.copy()


def motion_blur(img: Image.Image, length: int, angle: float) -> Image.Image:
    """Average `length` copies of the image shifted along a line at `angle` degrees.

    The line kernel is applied as a sum of shifted slices of an edge-padded array: exact,
    any angle, and a few ms for the release's image size.
    """
    if length <= 1:
        return img.copy()
    src = np.asarray(img.convert("RGB"), dtype=np.uint16)
    h, w = src.shape[:2]
    a = math.radians(angle)
    steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, length)
    dxs = np.rint(steps * math.cos(a)).astype(int)
    dys = np.rint(-steps * math.sin(a)).astype(int)  # image rows grow downwards
    pad = int(max(np.abs(dxs).max(), np.abs(dys).max()))
    padded = np.pad(src, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    acc = np.zeros_like(src)
    for dx, dy in zip(dxs, dys, strict=True):
        acc += padded[pad + dy : pad + dy + h, pad + dx : pad + dx + w]
    out = acc.astype(np.float32)
    out *= np.float32(1 / length)
    return Image.fromarray(np.rint(out).astype(np.uint8), "RGB")


def colour_matrix(
    means: tuple[float, float, float],
    brightness: float = 1.0,
    contrast: float = 1.0,
    saturation: float = 1.0,
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[float, ...]:
    """The 12-value matrix for PIL's `convert("RGB", matrix)` that makes every colour change.

    Contrast around the channel `means`, then brightness, then saturation (mixing with the
    luma grey), then the additive shift: all linear, so one matrix and one C pass.
    """
    sat = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), LUMA)
    gain = brightness * contrast * sat
    offset = brightness * (1 - contrast) * sat @ np.asarray(means) + np.asarray(shift)
    return tuple(float(v) for v in np.hstack([gain, offset[:, None]]).ravel())


def _means(img: Image.Image) -> tuple[float, float, float]:
    return tuple(ImageStat.Stat(img).mean[:3])


def colour_jitter(
    img: Image.Image, brightness: float = 1.0, contrast: float = 1.0, saturation: float = 1.0
) -> Image.Image:
    """Scale brightness, contrast (around the channel means) and saturation (from the luma grey)."""
    img = img.convert("RGB")
    return img.convert("RGB", colour_matrix(_means(img), brightness, contrast, saturation))


def colour_shift(img: Image.Image, shift: tuple[float, float, float]) -> Image.Image:
    """Add `shift` (r, g, b, in 8-bit levels) to every pixel, clipped to 0..255."""
    return img.convert("RGB").convert("RGB", colour_matrix((0.0, 0.0, 0.0), shift=shift))


# Gaussian noise comes from a fixed bank of N(0, 1) draws (in 1/16 steps, cut at 4 sigma)
# read at a seeded offset: drawing 400,000 normals per image would cost more than the rest.
NOISE_BANK_SIZE = 1 << 23
_NOISE_STEPS = 16


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    draws = np.random.default_rng(20260101).standard_normal(NOISE_BANK_SIZE, dtype=np.float32)
    cut = 4 * _NOISE_STEPS
    return np.clip(np.rint(draws * _NOISE_STEPS), -cut, cut).astype(np.int16)


def gaussian_noise(img: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """Add Gaussian noise of standard deviation `sigma` levels (at most 31) to every channel.

    Values are rounded and clipped to 0..255. Raises ValueError for a larger sigma or an
    image larger than the noise bank.
    """
    img = img.convert("RGB")
    if sigma <= 0:
        return img.copy()
    if sigma > 31:
        raise ValueError(f"noise sigma {sigma} is too large (at most 31 levels)")
    arr = np.asarray(img, dtype=np.int16)
    bank = _noise_bank()
    if arr.size > bank.size:
        raise ValueError(f"image of {img.size} px is too large for the noise bank")
    start = int(rng.integers(0, bank.size - arr.size + 1))
    # |bank| <= 64 times sigma * 16 <= 496, plus 128 to round, stays inside int16; >> 8 undoes 16 x 16.
    noise = bank[start : start + arr.size].reshape(arr.shape) * np.int16(
        round(sigma * _NOISE_STEPS)
    )
    noise += 128
    noise >>= 8
    noise += arr
    np.clip(noise, 0, 255, out=noise)
    return Image.fromarray(noise.astype(np.uint8), "RGB")


def degrade(img: Image.Image, d: Degradation, rng: np.random.Generator) -> Image.Image:
    """Apply `d` to `img` (blur, motion blur, colour, noise) and return a new RGB image.

    The result has the size of `img`. A pristine degradation returns an unchanged copy
    (the release keeps the source bytes for those rows: see demo.py).
    """
    out = img.convert("RGB")
    if d.blur_sigma > 0:
        out = gaussian_blur(out, d.blur_sigma)
    if d.motion_length > 1:
        out = motion_blur(out, d.motion_length, d.motion_angle)
    shift = (d.shift_r, d.shift_g, d.shift_b)
    if (d.brightness, d.contrast, d.saturation) != (1, 1, 1) or any(shift):
        out = out.convert(
            "RGB", colour_matrix(_means(out), d.brightness, d.contrast, d.saturation, shift)
        )
    if d.noise_sigma > 0:
        out = gaussian_noise(out, d.noise_sigma, rng)
    return out.copy() if out is img else out
