"""Paint a stained blood-smear cell image (Wright-Giemsa style) procedurally.

A demo cell is a pale cream background, a dozen red cells with pale centres, and one
leukocyte in the middle whose nucleus shape, chromatin, cytoplasm colour and granules
follow its class. Only numpy and Pillow; a few ms a cell, so a 100,000-cell demo stays
in minutes. Everything random comes from the Generator passed in, so a cell is a pure
function of (label, seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# The release's images are about 368x370 px; each demo cell varies by a few pixels.
CELL_WIDTH, CELL_HEIGHT = 368, 370
SIZE_JITTER = 3
RBC_RADIUS = 42.0
# Backgrounds are crops of a few large painted fields: painting each one costs more than the cell.
FIELDS, FIELD_SIDE = 24, 760

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """How one class is painted: sizes in px (radius of the whole cell), colours in RGB."""

    radius: float
    cytoplasm: RGB
    nucleus: RGB
    shape: str  # round, segmented, band, kidney, folded, bilobed
    nucleus_size: float  # nucleus radius as a share of the cell radius (round-ish shapes)
    offset: float = 0.0  # nucleus eccentricity as a share of the cell radius
    lobes: tuple[int, int] = (1, 1)
    chromatin: float = 0.14  # texture strength of the nucleus
    coarse: bool = True  # clumped chromatin (mature cells) or fine (blasts)
    granules: int = 0
    granule_colour: RGB = (0, 0, 0)
    granule_size: float = 1.2
    granules_over_nucleus: bool = False
    nucleoli: int = 0
    halo: bool = False  # perinuclear pale zone (plasma cell)
    rim: float = 0.0  # darker cytoplasm edge (basophilic cells)
    elongation: float = 1.0  # cell ellipse ratio


LOOKS: dict[str, Look] = {
    "SNE": Look(
        68,
        (226, 200, 212),
        (92, 44, 138),
        "segmented",
        0.27,
        lobes=(3, 5),
        granules=90,
        granule_colour=(196, 150, 192),
        granule_size=1.0,
    ),
    "BNE": Look(
        68,
        (226, 200, 212),
        (94, 46, 140),
        "band",
        0.17,
        granules=90,
        granule_colour=(196, 150, 192),
        granule_size=1.0,
    ),
    "LY": Look(
        46, (160, 178, 222), (70, 34, 118), "round", 0.84, offset=0.06, chromatin=0.2, rim=0.18
    ),
    "VLY": Look(
        64,
        (150, 170, 220),
        (82, 42, 130),
        "round",
        0.6,
        offset=0.18,
        chromatin=0.16,
        rim=0.3,
        elongation=1.12,
    ),
    "PLY": Look(
        56,
        (168, 176, 216),
        (104, 60, 146),
        "round",
        0.72,
        offset=0.05,
        chromatin=0.12,
        nucleoli=1,
        rim=0.12,
    ),
    "MO": Look(
        84,
        (196, 186, 214),
        (112, 70, 152),
        "folded",
        0.58,
        offset=0.08,
        chromatin=0.1,
        granules=40,
        granule_colour=(186, 160, 200),
        granule_size=0.9,
    ),
    "EO": Look(
        70,
        (232, 170, 140),
        (96, 46, 134),
        "bilobed",
        0.3,
        granules=300,
        granule_colour=(222, 112, 76),
        granule_size=2.6,
    ),
    "BA": Look(
        62,
        (206, 180, 214),
        (116, 70, 150),
        "segmented",
        0.3,
        lobes=(2, 3),
        granules=80,
        granule_colour=(62, 22, 96),
        granule_size=3.2,
        granules_over_nucleus=True,
    ),
    "BL": Look(
        68,
        (150, 162, 212),
        (132, 86, 168),
        "round",
        0.84,
        offset=0.04,
        chromatin=0.07,
        coarse=False,
        nucleoli=3,
        rim=0.15,
    ),
    "PMY": Look(
        90,
        (176, 176, 216),
        (122, 76, 160),
        "round",
        0.62,
        offset=0.16,
        chromatin=0.08,
        coarse=False,
        nucleoli=1,
        granules=190,
        granule_colour=(128, 38, 112),
        granule_size=1.7,
        elongation=1.1,
    ),
    "MY": Look(
        74,
        (220, 186, 206),
        (98, 50, 140),
        "round",
        0.55,
        offset=0.3,
        chromatin=0.15,
        granules=170,
        granule_colour=(190, 128, 176),
        granule_size=1.2,
    ),
    "MMY": Look(
        70,
        (224, 192, 208),
        (96, 48, 140),
        "kidney",
        0.27,
        granules=130,
        granule_colour=(192, 138, 182),
        granule_size=1.1,
    ),
    "PC": Look(
        60,
        (96, 112, 188),
        (78, 38, 118),
        "round",
        0.48,
        offset=0.36,
        chromatin=0.24,
        halo=True,
        rim=0.2,
        elongation=1.3,
    ),
}


@lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, np.ndarray]:
    """Two 512x512 noise fields (fine, coarse), zero mean, unit spread, from a fixed seed."""
    rng = np.random.default_rng(2026)
    out = []
    for radius in (1.0, 2.6):
        noise = Image.fromarray(rng.integers(0, 256, (512, 512), dtype=np.uint8), "L")
        field = np.asarray(noise.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
        out.append((field - field.mean()) / (field.std() + 1e-6))
    return out[0], out[1]


def _crop(field: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    y, x = rng.integers(0, field.shape[0] - size, 2)
    return field[y : y + size, x : x + size]


_HARMONICS = np.array([2, 3, 5])[:, None]


@lru_cache(maxsize=8)
def _circle(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return t, np.cos(t), np.sin(t)


def _blob(cx, cy, rx, ry, angle, rng, wobble=0.05, n=40) -> list[tuple[float, float]]:
    """Polygon of a wobbly ellipse centred on (cx, cy), rotated by `angle` radians."""
    t, cos, sin = _circle(n)
    amp, phase = rng.uniform(-wobble, wobble, 3), rng.uniform(0, 2 * math.pi, 3)
    r = 1 + (amp[:, None] * np.cos(_HARMONICS * t + phase[:, None])).sum(0)
    x, y = rx * r * cos, ry * r * sin
    ca, sa = math.cos(angle), math.sin(angle)
    return list(zip((cx + x * ca - y * sa).tolist(), (cy + x * sa + y * ca).tolist(), strict=True))


def _jitter(colour: RGB, rng: np.random.Generator, amount: float) -> np.ndarray:
    return np.asarray(colour, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32)


def _smear_field(side: int, rng: np.random.Generator) -> Image.Image:
    """Paint a square field of smear: cream background, red cells with pale centres, platelets.

    Painted at half size and enlarged, which softens the edges and pallor like a real optic.
    """
    half = side // 2
    bg = _jitter((251, 229, 205), rng, 4)
    img = Image.new("RGB", (half, half), _rgb(bg))
    draw = ImageDraw.Draw(img)
    body = _jitter((203, 163, 170), rng, 7)
    pallor = (body + bg) / 2 + rng.uniform(-4, 4)
    r0 = RBC_RADIUS / 2
    centres: list[tuple[float, float, float]] = []
    density = rng.uniform(0.8, 1.25)
    wanted = int(density * 19 * half * half / (185 * 185))
    for _ in range(wanted * 5):
        if len(centres) >= wanted:
            break
        x, y = rng.uniform(-r0 * 0.5, half + r0 * 0.5), rng.uniform(-r0 * 0.5, half + r0 * 0.5)
        r = r0 * rng.uniform(0.9, 1.1)
        if any(
            abs(x - a) < r + c and math.hypot(x - a, y - b) < (r + c) * 0.78 for a, b, c in centres
        ):
            continue
        centres.append((x, y, r))
        squash = rng.uniform(0.84, 1.0)
        shade = body + rng.uniform(-6, 6)
        rx, ry = (r, r * squash) if rng.random() < 0.5 else (r * squash, r)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=_rgb(shade - 6))
        rx, ry = rx * 0.9, ry * 0.9
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=_rgb(shade))
        p = r * rng.uniform(0.28, 0.48)
        if p > r * 0.32:
            dx, dy = rng.uniform(-0.1, 0.1, 2) * r
            mid = (shade + pallor) / 2
            draw.ellipse([x + dx - p, y + dy - p, x + dx + p, y + dy + p], fill=_rgb(mid))
            q = p * 0.6
            draw.ellipse([x + dx - q, y + dy - q, x + dx + q, y + dy + q], fill=_rgb(pallor))
    for _ in range(int(rng.integers(2, 9))):
        x, y = rng.uniform(0, half), rng.uniform(0, half)
        for _ in range(int(rng.integers(2, 5))):
            px, py, pr = x + rng.uniform(-3, 3), y + rng.uniform(-3, 3), rng.uniform(0.8, 1.6)
            draw.ellipse(
                [px - pr, py - pr, px + pr, py + pr], fill=_rgb(_jitter((150, 90, 160), rng, 15))
            )
    img = img.filter(ImageFilter.BoxBlur(1.4))
    return img.resize((side, side), Image.BILINEAR)


@lru_cache(maxsize=1)
def _fields() -> tuple[Image.Image, ...]:
    """A fixed pool of smear fields (same in every process); cells take crops of them."""
    rng = np.random.default_rng(368370)
    return tuple(_smear_field(FIELD_SIDE, rng) for _ in range(FIELDS))


def _background(width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A `width` x `height` crop of a smear field, in one of 8 orientations."""
    field = _fields()[int(rng.integers(0, FIELDS))]
    turn = int(rng.integers(0, 8))
    w, h = (height, width) if turn > 2 and turn != 4 else (width, height)
    x, y = int(rng.integers(0, FIELD_SIDE - w)), int(rng.integers(0, FIELD_SIDE - h))
    crop = field.crop((x, y, x + w, y + h))
    return crop.transpose(_TURNS[turn - 1]) if turn else crop


_TURNS = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


def _rgb(colour) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v))) for v in colour)


def _nucleus_mask(look: Look, size: int, c: float, radius: float, rng) -> tuple[Image.Image, tuple]:
    """Draw the nucleus of `look` into an L mask; return it and the nucleus centre."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    angle = rng.uniform(0, 2 * math.pi)
    off = look.offset * radius * rng.uniform(0.8, 1.2)
    nx, ny = c + off * math.cos(angle), c + off * math.sin(angle)
    rn = look.nucleus_size * radius * rng.uniform(0.92, 1.08)
    if look.shape == "round":
        squash = rng.uniform(0.85, 1.0)
        draw.polygon(_blob(nx, ny, rn, rn * squash, rng.uniform(0, math.pi), rng, 0.04), fill=255)
    elif look.shape in ("segmented", "bilobed"):
        k = 2 if look.shape == "bilobed" else int(rng.integers(look.lobes[0], look.lobes[1] + 1))
        spread = rng.uniform(0.36, 0.42) * radius
        step = rng.uniform(1.0, 1.3) if k > 2 else math.pi * rng.uniform(0.75, 1.0)
        start = rng.uniform(0, 2 * math.pi)
        lobes = []
        for i in range(k):
            a = start + i * step + rng.uniform(-0.15, 0.15)
            lx, ly = c + spread * math.cos(a), c + spread * math.sin(a)
            lr = rn * rng.uniform(0.85, 1.15)
            lobes.append((lx, ly))
            draw.polygon(_blob(lx, ly, lr, lr * rng.uniform(0.7, 0.9), a, rng, 0.06), fill=255)
        width = max(2, int(radius * 0.05))
        for (ax, ay), (bx, by) in zip(lobes, lobes[1:], strict=False):
            mx, my = (ax + bx) / 2 + rng.uniform(-4, 4), (ay + by) / 2 + rng.uniform(-4, 4)
            draw.line([(ax, ay), (mx, my), (bx, by)], fill=255, width=width)
    elif look.shape in ("band", "kidney"):
        if look.shape == "band":
            arc_r, sweep = radius * rng.uniform(0.36, 0.44), rng.uniform(3.4, 4.4)
        else:
            arc_r, sweep = radius * rng.uniform(0.22, 0.28), rng.uniform(2.0, 2.6)
        start = rng.uniform(0, 2 * math.pi)
        for t in np.linspace(0, 1, 28):
            a = start + sweep * t
            w = rn * (0.9 + 0.25 * math.sin(math.pi * t)) * rng.uniform(0.95, 1.05)
            px, py = c + arc_r * math.cos(a), c + arc_r * math.sin(a)
            draw.ellipse([px - w, py - w, px + w, py + w], fill=255)
    elif look.shape == "folded":
        draw.polygon(_blob(nx, ny, rn * 1.08, rn * 0.86, angle + math.pi / 2, rng, 0.07), fill=255)
        br = rn * rng.uniform(0.38, 0.5)
        bx, by = nx + rn * 0.95 * math.cos(angle), ny + rn * 0.95 * math.sin(angle)
        draw.ellipse([bx - br, by - br, bx + br, by + br], fill=0)
    else:  # pragma: no cover - LOOKS only uses the shapes above
        raise ValueError(f"unknown nucleus shape {look.shape!r}")
    return mask, (nx, ny, rn, angle)


def _granule_mask(look, size, c, radius, rng, allowed: np.ndarray) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    n = look.granules * 2
    rr = radius * np.sqrt(rng.uniform(0, 1, n))
    aa = rng.uniform(0, 2 * math.pi, n)
    xs, ys = c + rr * np.cos(aa), c + rr * np.sin(aa)
    sizes = look.granule_size * rng.uniform(0.7, 1.3, n)
    keep = allowed[ys.astype(int).clip(0, size - 1), xs.astype(int).clip(0, size - 1)]
    for x, y, s in list(zip(xs[keep], ys[keep], sizes[keep], strict=True))[: look.granules]:
        draw.ellipse([x - s, y - s, x + s, y + s], fill=int(rng.integers(170, 256)))
    return mask


def _mix(arr: np.ndarray, colour, mask: np.ndarray) -> None:
    arr += (colour - arr) * mask[..., None]


def _as_mask(img: Image.Image, blur: float) -> np.ndarray:
    if blur:
        img = img.filter(ImageFilter.BoxBlur(blur))
    return np.asarray(img, dtype=np.float32) * np.float32(1 / 255)


def draw_cell(
    label: str, rng: np.random.Generator, size: tuple[int, int] | None = None
) -> Image.Image:
    """Paint one smear image of a `label` cell (a class code) and return it as an RGB image.

    `size` is (width, height); None picks about 368x370 px. Raises KeyError for an
    unknown label.
    """
    look = LOOKS[label]
    if size is None:
        width = CELL_WIDTH + int(rng.integers(-SIZE_JITTER, SIZE_JITTER + 1))
        height = CELL_HEIGHT + int(rng.integers(-SIZE_JITTER, SIZE_JITTER + 1))
    else:
        width, height = size
    radius = look.radius * rng.uniform(0.92, 1.08) * min(width / CELL_WIDTH, height / CELL_HEIGHT)
    img = _background(width, height, rng)

    crop = int(radius * 2.3) + 10
    c = crop / 2
    left = int(width / 2 - c + rng.uniform(-12, 12))
    top = int(height / 2 - c + rng.uniform(-12, 12))
    box = (left, top, left + crop, top + crop)
    arr = np.asarray(img.crop(box), dtype=np.float32).copy()
    fine, coarse = _textures()

    cell = Image.new("L", (crop, crop), 0)
    squash = 1 / look.elongation
    cell_angle = rng.uniform(0, math.pi)
    ImageDraw.Draw(cell).polygon(
        _blob(c, c, radius, radius * squash * rng.uniform(0.92, 1.0), cell_angle, rng, 0.035),
        fill=255,
    )
    m_cell = _as_mask(cell, 1.2)
    cyto = _jitter(look.cytoplasm, rng, 8)[None, None, :] * (
        1 + 0.035 * _crop(fine, crop, rng)[..., None]
    )
    if look.rim:
        inner = _as_mask(cell, 6)
        cyto = cyto * (1 - look.rim * np.clip(m_cell - inner, 0, 1) * 2)[..., None]
    _mix(arr, cyto, m_cell)

    nucleus, (nx, ny, rn, n_angle) = _nucleus_mask(look, crop, c, radius, rng)
    m_nuc = _as_mask(nucleus, 0.9) * m_cell

    if look.halo:
        halo = Image.new("L", (crop, crop), 0)
        hx, hy = nx - rn * 0.95 * math.cos(n_angle), ny - rn * 0.95 * math.sin(n_angle)
        hr = rn * rng.uniform(0.55, 0.7)
        ImageDraw.Draw(halo).ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=200)
        _mix(arr, _jitter((204, 200, 232), rng, 6), _as_mask(halo, 4) * m_cell)

    gran = None
    if look.granules:
        allowed = m_cell > 0.6
        if not look.granules_over_nucleus:
            allowed &= m_nuc < 0.2
        gran = _as_mask(_granule_mask(look, crop, c, radius * 0.95, rng, allowed), 0.6) * m_cell
        if not look.granules_over_nucleus:
            _mix(arr, _jitter(look.granule_colour, rng, 8), gran)

    texture = coarse if look.coarse else fine
    nuc = _jitter(look.nucleus, rng, 8)[None, None, :] * (
        1 + look.chromatin * _crop(texture, crop, rng)[..., None]
    )
    edge = np.clip(m_nuc - _as_mask(nucleus, 3.0), 0, 1)
    nuc = nuc * (1 - 0.35 * edge)[..., None]
    _mix(arr, nuc, m_nuc)

    if look.nucleoli:
        spots = Image.new("L", (crop, crop), 0)
        draw = ImageDraw.Draw(spots)
        for _ in range(int(rng.integers(1, look.nucleoli + 1))):
            a, d = rng.uniform(0, 2 * math.pi), rn * rng.uniform(0.1, 0.45)
            sx, sy, sr = nx + d * math.cos(a), ny + d * math.sin(a), rn * rng.uniform(0.1, 0.16)
            draw.ellipse([sx - sr, sy - sr * 0.85, sx + sr, sy + sr * 0.85], fill=170)
        _mix(arr, _jitter((162, 146, 200), rng, 6), _as_mask(spots, 1.2) * m_nuc)

    if gran is not None and look.granules_over_nucleus:
        _mix(arr, _jitter(look.granule_colour, rng, 8), gran)

    img.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB"), box)
    return img


def contact_sheet(images: list[list[Image.Image]], cell: int = 184) -> Image.Image:
    """Arrange rows of images as a grid of `cell`-px thumbnails (for looking at the demo)."""
    cols = max(len(row) for row in images)
    sheet = Image.new("RGB", (cols * cell, len(images) * cell), "white")
    for r, row in enumerate(images):
        for k, im in enumerate(row):
            sheet.paste(im.convert("RGB").resize((cell, cell)), (k * cell, r * cell))
    return sheet
