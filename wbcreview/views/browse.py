"""What the browsing pages show, as pure functions: view state, grid HTML, differences, atlas.

No Streamlit here, so tests need no server. A grid is one HTML block of small data-URI
JPEGs (the fastest way to paint 48 thumbnails, see README "Performance"), or, on Browse,
the same tiles as text fields (`tile_fields`) for the grid component; every piece of
text that reaches the HTML goes through `html.escape`, and links are built with
`urllib.parse.urlencode`, so imported labels or ids cannot inject markup.
"""

from __future__ import annotations

import html
import io
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from PIL import Image

from wbcreview.data.query import Filter
from wbcreview.data.release import CELL_TYPES, CLASS_CODES, CONFIGS, SEVERITIES, SPLITS
from wbcreview.views.charts import CONFIG_COLOURS, SEVERITY_COLOURS, escape_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

PAGE_SIZES: tuple[int, ...] = (24, 48, 96)
DEFAULT_PAGE_SIZE = 48
# URL spelling of each sort of query.SORTS (no spaces in links)
SORT_SLUGS: dict[str, str] = {
    "id": "image id",
    "class": "class",
    "patient": "patient",
    "severity": "severity",
    "suspicion": "suspicion",
}
DEFAULT_SORT = "id"
ZOOMS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)  # 0: fit the page width

# The URL path of each page (Streamlit derives it from pages/<n>_<Name>.py).
BROWSE_PAGE, CELL_PAGE, PATIENT_PAGE, ATLAS_PAGE = "Browse", "Cell", "Patient", "Class_atlas"

_FILTER_KEYS = (
    "configs",
    "splits",
    "labels",
    "severities",
    "patient",
    "image_id",
    "differs_from_original",
)
_ALLOWED = {"configs": CONFIGS, "splits": SPLITS, "labels": CLASS_CODES, "severities": SEVERITIES}


# --- view state in the URL -------------------------------------------------------------------


def _first(value) -> str | None:
    """The value of a query parameter given as a string or a list of strings (last wins)."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else None
    return None if value is None else str(value)


@dataclass(frozen=True)
class BrowseState:
    """Everything a link to a browsing view holds: the filter, sort, page and open cell.

    `cell` is "<config>:<image_id>" (or a bare image id); `ignored` lists the parts of the
    link that were not understood (kept out of the URL the page writes back).
    """

    filter: Filter = Filter()
    sort: str = DEFAULT_SORT  # a key of SORT_SLUGS
    size: int = DEFAULT_PAGE_SIZE
    page: int = 1  # 1-based
    cell: str | None = None
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @property
    def sort_order(self) -> str:
        """The query.SORTS key of this view's sort."""
        return SORT_SLUGS[self.sort]

    @property
    def offset(self) -> int:
        """Row offset of the first row of the current page."""
        return (self.page - 1) * self.size

    @classmethod
    def from_params(cls, params: Mapping) -> BrowseState:
        """Read a view from URL query parameters; unknown or malformed values are ignored.

        `params` maps names to strings (or lists of strings, as AppTest and repeated
        parameters give them). Every value that is dropped is named in `ignored`.
        """
        flat = {k: _first(v) for k, v in params.items()}
        flat = {k: v for k, v in flat.items() if v is not None}
        ignored = []
        for name, allowed in _ALLOWED.items():
            for value in (flat.get(name) or "").split(","):
                if value and value not in allowed:
                    ignored.append(f"{name}={value}")
        f = Filter.from_params(flat)
        if f.patient:
            f = f.replace(patient=f.patient.strip() or None)
        if f.image_id:
            f = f.replace(image_id=f.image_id.strip() or None)
        sort = flat.get("sort") or DEFAULT_SORT
        if sort not in SORT_SLUGS:
            ignored.append(f"sort={sort}")
            sort = DEFAULT_SORT
        size = _int_param(flat, "size", DEFAULT_PAGE_SIZE, ignored)
        if size not in PAGE_SIZES:
            ignored.append(f"size={size}")
            size = DEFAULT_PAGE_SIZE
        page = _int_param(flat, "page", 1, ignored)
        if page < 1:
            ignored.append(f"page={page}")
            page = 1
        cell = (flat.get("cell") or "").strip() or None
        return cls(f, sort, size, page, cell, tuple(ignored))

    def to_params(self, page: bool = True, cell: bool = True) -> dict[str, str]:
        """URL query parameters for this view (defaults left out)."""
        out = self.filter.to_params()
        if self.sort != DEFAULT_SORT:
            out["sort"] = self.sort
        if self.size != DEFAULT_PAGE_SIZE:
            out["size"] = str(self.size)
        if page and self.page != 1:
            out["page"] = str(self.page)
        if cell and self.cell:
            out["cell"] = self.cell
        return out

    def replace(self, **changes) -> BrowseState:
        """A copy with some fields changed (and nothing ignored)."""
        values = {
            "filter": self.filter,
            "sort": self.sort,
            "size": self.size,
            "page": self.page,
            "cell": self.cell,
        }
        values.update(changes)
        return BrowseState(**values)

    def signature(self) -> str:
        """A canonical text of the view without the open cell (to notice changed links)."""
        return urlencode(sorted(self.to_params(cell=False).items()))

    def view_signature(self) -> str:
        """A canonical text of the view without the page and the open cell (the list paged)."""
        return urlencode(sorted(self.to_params(page=False, cell=False).items()))


def _int_param(flat: dict, name: str, default: int, ignored: list) -> int:
    raw = flat.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        ignored.append(f"{name}={raw}")
        return default


def cell_key(config: str, image_id: str) -> str:
    """The `cell` query parameter of one row: "<config>:<image_id>"."""
    return f"{config}:{image_id}"


def parse_cell(value: str | None) -> tuple[str | None, str] | None:
    """Split a `cell` parameter into (config or None, image_id); None if it is empty."""
    text = (value or "").strip()
    if not text:
        return None
    config, sep, image_id = text.partition(":")
    if not sep:
        return None, text
    return (config if config in CONFIGS else None), image_id.strip()


def page_count(total: int, size: int) -> int:
    """Pages needed for `total` rows, at least one."""
    return max(1, -(-int(total) // int(size)))


def href(page: str, params: Mapping[str, str]) -> str:
    """A relative link to an app page with query parameters (e.g. `Cell?cell=...`)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{page}?{query}" if query else page


# --- the thumbnail grid ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One thumbnail of the grid: image, caption parts and the link that opens the cell."""

    uri: str  # a data: URI of a small JPEG
    label: str
    severity: str
    image_id: str
    link: str | None = None
    config: str = ""
    note: str = ""  # a short extra line, e.g. "was MO"
    current: bool = False


GRID_CSS = """
.wbc-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(var(--wbc-tile),1fr));
  gap:8px;margin:0 0 .5rem 0}
.wbc-tile{position:relative;display:flex;flex-direction:column;align-items:center;
  padding:4px 4px 3px;border:1px solid rgba(128,128,128,.28);border-radius:8px;
  text-decoration:none!important;color:inherit!important;background:rgba(128,128,128,.05)}
a.wbc-tile:hover{border-color:#ff4b4b;box-shadow:0 1px 6px rgba(0,0,0,.18)}
.wbc-tile.wbc-current{border:2px solid #ff4b4b;padding:3px 3px 2px}
.wbc-tile img{width:var(--wbc-img);height:var(--wbc-img);object-fit:contain;border-radius:4px;
  background:#f3efe9;display:block}
.wbc-cap{display:flex;gap:4px;align-items:center;justify-content:center;flex-wrap:wrap;
  width:100%;margin-top:3px;font-size:12px;line-height:16px}
.wbc-code{font-weight:700;letter-spacing:.02em}
.wbc-sev{padding:0 5px;border-radius:8px;font-size:11px;color:#111}
.wbc-id{width:100%;text-align:center;font-size:10.5px;opacity:.65;font-variant-numeric:tabular-nums}
.wbc-note{width:100%;text-align:center;font-size:10.5px;color:#d13c3c;font-weight:600}
.wbc-empty{padding:1.5rem;opacity:.7}
"""


def _severity_badge(severity: str) -> str:
    colour = SEVERITY_COLOURS.get(severity, "#bbbbbb")
    return f'<span class="wbc-sev" style="background:{colour}">{html.escape(str(severity))}</span>'


def _config_tag(config: str) -> str:
    return "deg · " if config == "degraded" else ("pri · " if config == "pristine" else "")


def tile_html(tile: Tile, img_px: int = 128) -> str:
    """The HTML of one tile: image, class code, severity badge, image id (all escaped)."""
    title = str(tile_fields(tile)["title"])
    body = (
        f'<img src="{html.escape(tile.uri, quote=True)}" width="{img_px}" height="{img_px}" '
        f'alt="{html.escape(f"{tile.label} {tile.severity} {tile.image_id}", quote=True)}" '
        f'decoding="async">'
        f'<span class="wbc-cap"><span class="wbc-code">{html.escape(str(tile.label))}</span>'
        f"{_severity_badge(tile.severity)}</span>"
        f'<span class="wbc-id">{html.escape(_config_tag(tile.config))}'
        f"{html.escape(str(tile.image_id))}</span>"
    )
    if tile.note:
        body += f'<span class="wbc-note">{html.escape(tile.note)}</span>'
    cls = "wbc-tile wbc-current" if tile.current else "wbc-tile"
    attrs = (
        f'class="{cls}" title="{html.escape(title, quote=True)}" '
        f'data-image-id="{html.escape(str(tile.image_id), quote=True)}"'
    )
    if tile.link:
        return f'<a {attrs} href="{html.escape(tile.link, quote=True)}" data-wbc-nav="1">{body}</a>'
    return f"<div {attrs}>{body}</div>"


def tile_fields(tile: Tile) -> dict[str, str | bool]:
    """One tile as plain text fields for the Browse grid component (ui/browse.py `grid`),
    which sets them as text and attributes, never as markup: cell key `k`, image id,
    label, severity and its colour, config tag, title, alt text, link, note, current."""
    name = CELL_TYPES.get(tile.label, "unknown class")
    title = f"{tile.config + ':' if tile.config else ''}{tile.image_id} · {tile.label} ({name}) · {tile.severity}"
    if tile.note:
        title += f" · {tile.note}"
    return {
        "k": cell_key(tile.config, tile.image_id),
        "id": str(tile.image_id),
        "label": str(tile.label),
        "sev": str(tile.severity),
        "colour": SEVERITY_COLOURS.get(tile.severity, "#bbbbbb"),
        "tag": _config_tag(tile.config),
        "title": title,
        "alt": f"{tile.label} {tile.severity} {tile.image_id}",
        "href": tile.link or "",
        "note": tile.note,
        "cur": tile.current,
    }


def grid_html(
    tiles: Sequence[Tile], img_px: int = 128, empty: str = "No cells match these filters."
) -> str:
    """One HTML block: a CSS grid of tiles, with its style (for `st.html`)."""
    if not tiles:
        return f'<div class="wbc-empty">{html.escape(empty)}</div>'
    style = f"--wbc-img:{int(img_px)}px;--wbc-tile:{int(img_px) + 12}px"
    inner = "".join(tile_html(t, img_px) for t in tiles)
    return f'<style>{GRID_CSS}</style><div class="wbc-grid" style="{style}">{inner}</div>'


def tiles_from_rows(
    rows: pd.DataFrame,
    uris: Sequence[str],
    link_params: Mapping[str, str] | None = None,
    current: str | None = None,
    notes: Mapping[str, str] | None = None,
    page: str = CELL_PAGE,
) -> list[Tile]:
    """Tiles for a frame of catalog rows and their thumbnail data URIs (same order).

    Each tile links to `page` with `link_params` plus `cell=<config>:<image_id>`; the tile
    whose cell key equals `current` is outlined; `notes` maps cell keys to a short note.
    """
    tiles = []
    base = dict(link_params or {})
    for rec, uri in zip(rows.to_dict("records"), uris, strict=True):
        key = cell_key(rec["config"], rec["image_id"])
        tiles.append(
            Tile(
                uri=uri,
                label=str(rec["label"]),
                severity=str(rec["severity"]),
                image_id=str(rec["image_id"]),
                config=str(rec["config"]),
                link=href(page, {**base, "cell": key}),
                note=(notes or {}).get(key, ""),
                current=key == current,
            )
        )
    return tiles


def chip_link(state: BrowseState, code: str) -> str:
    """The Browse link a class chip opens: only that class, or every class if it is the
    only one chosen already (a second click undoes the first). Page 1, no open cell."""
    labels = () if state.filter.labels == (code,) else (code,)
    view = state.replace(filter=state.filter.replace(labels=labels), page=1, cell=None)
    return href(BROWSE_PAGE, view.to_params())


def class_chips_html(
    counts: Mapping[str, int], selected: Iterable[str] = (), state: BrowseState | None = None
) -> str:
    """A line of class-code chips with their row counts (selected classes highlighted).

    With `state`, each chip is a link that filters the view to its class (`chip_link`).
    """
    chosen = set(selected)
    order = [c for c in CLASS_CODES if c in counts] + sorted(set(counts) - set(CLASS_CODES))
    chips = []
    for code in order:
        n = int(counts[code])
        on = not chosen or code in chosen
        cls = "wbc-chip" if on else "wbc-chip wbc-off"
        name = CELL_TYPES.get(code, "unknown class")
        body = f"<b>{html.escape(str(code))}</b> {n:,}"
        if state is None:
            chips.append(
                f'<span class="{cls}" title="{html.escape(name, quote=True)}">{body}</span>'
            )
            continue
        only = state.filter.labels == (code,)
        tip = f"{name}: show every class again" if only else f"{name}: show only this class"
        chips.append(
            f'<a class="{cls}" href="{html.escape(chip_link(state, code), quote=True)}" '
            f'data-wbc-nav="1" data-class="{html.escape(str(code), quote=True)}" '
            f'title="{html.escape(tip, quote=True)}">{body}</a>'
        )
    css = (
        ".wbc-chips{display:flex;flex-wrap:wrap;gap:4px 6px;margin:.1rem 0 .4rem 0}"
        ".wbc-chip{font-size:12.5px;padding:1px 8px;border-radius:10px;"
        "background:rgba(128,128,128,.12);font-variant-numeric:tabular-nums;"
        "text-decoration:none!important;color:inherit!important;border:1px solid transparent}"
        "a.wbc-chip:hover{border-color:#ff4b4b}"
        ".wbc-chip.wbc-off{opacity:.4}"
    )
    return f'<style>{css}</style><div class="wbc-chips">{"".join(chips)}</div>'


# --- the cell view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """An image shown in the comparison row."""

    uri: str
    caption: str
    width: int  # natural pixel width
    height: int
    kind: str = "image"  # "image" or "difference"
    legend: str = ""  # HTML made by this module (e.g. difference_legend_html), shown below


def image_size(data: bytes | None) -> tuple[int, int] | None:
    """(width, height) of an encoded image, or None if it cannot be read."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # what Pillow raises for bytes that are not an image it can read


def compare_html(figures: Sequence[Figure], zoom: float = 0.0) -> str:
    """The images of a cell side by side: `zoom` 0 fits them to the page width, else a scale.

    From 2x up the pixels are drawn as squares (no smoothing), to judge noise and blur.
    Zoomed, each image sits in its own viewport of the same size (a share of the row);
    the page's link component (ui/browse.py `navigation`) keeps every viewport of the row
    on the same spot, so scrolling or dragging one pans all of them together.
    """
    zoom = float(zoom)
    parts = []
    for fig in figures:
        alt = html.escape(fig.caption, quote=True)
        uri = html.escape(fig.uri, quote=True)
        if zoom:
            w, h = max(1, round(fig.width * zoom)), max(1, round(fig.height * zoom))
            pixelated = "image-rendering:pixelated;" if zoom >= 2 else ""
            size = f'width="{w}" height="{h}" style="width:{w}px;height:{h}px;{pixelated}"'
            image = (
                f'<div class="wbc-view" style="max-width:{w}px;max-height:min({h}px,70vh)">'
                f'<img src="{uri}" {size} alt="{alt}" decoding="async" draggable="false"></div>'
            )
            box = "flex:1 1 0"
        else:
            size = f'width="{fig.width}" height="{fig.height}" style="width:100%;height:auto"'
            image = f'<img src="{uri}" {size} alt="{alt}" decoding="async">'
            box = f"flex:1 1 0;max-width:{2 * fig.width}px"
        parts.append(
            f'<figure class="wbc-fig wbc-{html.escape(fig.kind)}" style="{box}">{image}'
            f"<figcaption>{html.escape(fig.caption)}{fig.legend}</figcaption></figure>"
        )
    css = (
        ".wbc-compare{display:flex;gap:14px;align-items:flex-start;padding-bottom:6px}"
        ".wbc-fig{margin:0;min-width:0}"
        ".wbc-fig img{display:block;border-radius:4px;max-width:none}"
        ".wbc-view{overflow:auto;cursor:grab;border-radius:4px;overscroll-behavior:contain}"
        ".wbc-view.wbc-dragging{cursor:grabbing}"
        ".wbc-fig figcaption{font-size:13px;margin-top:4px;opacity:.85}"
        ".wbc-legend{font-size:12px;margin-top:4px}"
        ".wbc-bar{height:10px;width:100%;max-width:240px;border-radius:3px;margin:4px 0 2px 0}"
    )
    sync = " wbc-sync" if zoom else ""
    return f'<style>{css}</style><div class="wbc-compare{sync}">{"".join(parts)}</div>'


# Anchor colours of a perceptually ordered dark-to-bright map (close to "inferno").
_CMAP_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)


def false_colour(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map a 2-D array (0..vmax) to an RGB uint8 image with a dark-to-bright colour map."""
    t = np.clip(values.astype(np.float64) / max(float(vmax), 1e-9), 0.0, 1.0)
    pos = t * (len(_CMAP_ANCHORS) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(_CMAP_ANCHORS) - 1)
    frac = (pos - lo)[..., None]
    rgb = _CMAP_ANCHORS[lo] * (1 - frac) + _CMAP_ANCHORS[hi] * frac
    return np.round(rgb).astype(np.uint8)


_PALETTE = false_colour(np.arange(256.0), 255.0).tobytes()  # the map in 256 colours


def colour_bar_css() -> str:
    """A CSS linear-gradient of the difference colour map (for a legend bar)."""
    stops = ", ".join(f"rgb({r},{g},{b})" for r, g, b in _CMAP_ANCHORS.astype(int))
    return f"linear-gradient(to right, {stops})"


def difference_legend_html(diff: Difference) -> str:
    """A colour bar and the numbers of a difference map (numbers only: nothing to escape)."""
    same = "<br><b>identical to the source</b>" if diff.identical else ""
    return (
        f'<div class="wbc-legend"><div class="wbc-bar" style="background:{colour_bar_css()}">'
        f"</div>0 → {diff.scale:.0f} of 255 · mean {diff.mean:.1f} · max {diff.max:.0f}<br>"
        f"{diff.changed:.0%} of pixels differ by more than 8{same}</div>"
    )


@dataclass(frozen=True)
class Difference:
    """The per-pixel difference of a degraded image from its source."""

    png: bytes  # false-colour PNG, the size of the degraded image
    mean: float  # mean absolute difference, 0..255 (mean over the RGB channels)
    p99: float
    max: float
    scale: float  # the value shown as the brightest colour
    changed: float  # share of pixels whose difference is above 8
    note: str = ""  # e.g. why the source was resized

    @property
    def identical(self) -> bool:
        """True when no pixel differs."""
        return self.max == 0


def _rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def difference(degraded: bytes, source: bytes, scale: float | None = None) -> Difference:
    """Per-pixel absolute difference of `degraded` from `source`, as a false-colour PNG.

    The difference of a pixel is the mean over R, G, B of |degraded - source|. The colour
    scale runs from 0 to `scale`, by default the 99.5th percentile (at least 8) so mild
    noise is visible; pixels above it are drawn in the brightest colour. Images of different
    sizes (the release says they match) are compared after resizing the source, and `note`
    says so. Raises OSError (or PIL's errors) if either image cannot be decoded.
    """
    deg = _rgb(degraded)
    src = _rgb(source)
    note = ""
    if src.size != deg.size:
        note = (
            f"The source is {src.size[0]}x{src.size[1]} px and the degraded image "
            f"{deg.size[0]}x{deg.size[1]} px: the source was resized to compare them."
        )
        src = src.resize(deg.size, Image.Resampling.BILINEAR)
    diff = np.abs(np.asarray(deg, np.int16) - np.asarray(src, np.int16)).mean(axis=2)
    p99 = float(np.percentile(diff, 99.5))
    top = float(diff.max())
    vmax = float(scale) if scale else max(p99, 8.0)
    # A 256-colour palette PNG of the map: one byte a pixel, so about half the bytes of the
    # RGB one and half the time to make (no per-pixel interpolation); colours differ from the
    # continuous map by at most one step of 256, which no eye sees.
    levels = np.rint(np.clip(diff * (255.0 / vmax), 0.0, 255.0)).astype(np.uint8)
    mapped = Image.frombytes("P", (levels.shape[1], levels.shape[0]), levels.tobytes())
    mapped.putpalette(_PALETTE)
    buf = io.BytesIO()
    mapped.save(buf, format="PNG", optimize=False)
    return Difference(
        png=buf.getvalue(),
        mean=float(diff.mean()),
        p99=p99,
        max=top,
        scale=vmax,
        changed=float((diff > 8).mean()),
        note=note,
    )


def difference_heatmap(degraded: bytes, source: bytes) -> go.Figure:
    """The same difference as an interactive plotly heat map (hover shows each pixel's value)."""
    import plotly.graph_objects as go  # lazy: only the interactive heat map needs it

    deg, src = _rgb(degraded), _rgb(source)
    if src.size != deg.size:
        src = src.resize(deg.size, Image.Resampling.BILINEAR)
    diff = np.abs(np.asarray(deg, np.int16) - np.asarray(src, np.int16)).mean(axis=2)
    fig = go.Figure(go.Heatmap(z=diff, colorscale="Inferno", colorbar=dict(title="|Δ|")))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=420)
    return escape_figure(fig)


# Catalog columns that say where the bytes lie, not what the cell is: not shown.
INTERNAL_FIELDS = frozenset({"shard_id", "row", "img_offset", "img_length"})


def format_value(value) -> str:
    """A value for people: floats (also float text, as the CSV gives them) to 6 significant
    digits (1.7999999999999998 -> 1.8), integers with thousands separators, the rest as is."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    text = str(value)
    if any(c in text for c in ".eE") and not text.strip().isalpha():
        try:
            return f"{float(text):.6g}"
        except ValueError:
            return text
    return text


def metadata_table(row: Mapping, extra: Mapping[str, object] | None = None) -> pd.DataFrame:
    """A two-column (field, value) table of a catalog row and any extra facts, as text.

    Internal columns (where the image bytes lie in the shard) are left out; numbers are
    formatted by `format_value`. Identifiers stay exactly as stored.
    """
    items = [(k, row[k]) for k in row if k not in INTERNAL_FIELDS and not k.startswith("ord_")]
    items += list((extra or {}).items())
    return pd.DataFrame(
        {
            "field": [str(k) for k, _ in items],
            "value": [
                "" if _missing(v) else (str(v) if isinstance(v, str) else format_value(v))
                for _, v in items
            ],
        }
    )


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def params_table(params: Mapping[str, object]) -> pd.DataFrame:
    """Degradation parameters (whatever columns the CSV has) as a (parameter, value) table."""
    return pd.DataFrame(
        {
            "parameter": [str(k) for k in params],
            "value": [format_value(v) for v in params.values()],
        }
    )


# --- patients and the class atlas -------------------------------------------------------------


def class_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per class and config of a frame of rows (class order of the release, with names)."""
    if rows.empty:
        return pd.DataFrame(columns=["class", "cell type", *CONFIGS, "total"])
    table = rows.groupby(["label", "config"]).size().unstack("config", fill_value=0)
    for config in CONFIGS:
        if config not in table:
            table[config] = 0
    order = [c for c in CLASS_CODES if c in table.index] + sorted(
        set(table.index) - set(CLASS_CODES)
    )
    table = table.loc[order, list(CONFIGS)]
    table["total"] = table.sum(axis=1)
    table = table.reset_index().rename(columns={"label": "class"})
    table.insert(1, "cell type", table["class"].map(CELL_TYPES).fillna("unknown class"))
    return table


def class_counts_figure(table: pd.DataFrame, configs: Sequence[str] = CONFIGS) -> go.Figure:
    """A bar chart of a `class_counts` table: rows per class, one bar per config in `configs`."""
    import plotly.express as px  # lazy: only the Patient page draws it

    long = table.melt(id_vars=["class", "cell type"], value_vars=list(configs), var_name="config")
    fig = px.bar(
        long,
        x="class",
        y="value",
        color="config",
        barmode="group",
        text="value",
        hover_data=["cell type"],
        color_discrete_map=CONFIG_COLOURS,
        category_orders={"class": list(table["class"])},
    )
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_layout(yaxis_title="rows", xaxis_title="class", margin=dict(t=30, b=10), height=320)
    return escape_figure(fig)


def atlas_examples(rows: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """Pick up to `n` rows of one class, spread over patients (one per patient first).

    Deterministic for a given `seed`; changing the seed shows other examples.
    """
    if rows.empty or n <= 0:
        return rows.iloc[0:0]
    rng = random.Random(seed)
    groups = {}
    for index, patient in zip(rows.index, rows["patient_hash"].fillna(""), strict=True):
        groups.setdefault(patient, []).append(index)
    patients = sorted(groups)
    rng.shuffle(patients)
    for patient in patients:
        rng.shuffle(groups[patient])
    picked: list = []
    depth = 0
    while len(picked) < n:
        added = False
        for patient in patients:
            if depth < len(groups[patient]):
                picked.append(groups[patient][depth])
                added = True
                if len(picked) == n:
                    break
        if not added:
            break
        depth += 1
    return rows.loc[picked]


__all__ = [
    "ATLAS_PAGE",
    "BROWSE_PAGE",
    "BrowseState",
    "CELL_PAGE",
    "Difference",
    "Figure",
    "PAGE_SIZES",
    "PATIENT_PAGE",
    "SORT_SLUGS",
    "Tile",
    "ZOOMS",
    "atlas_examples",
    "cell_key",
    "chip_link",
    "class_chips_html",
    "class_counts",
    "class_counts_figure",
    "colour_bar_css",
    "compare_html",
    "difference",
    "difference_heatmap",
    "difference_legend_html",
    "false_colour",
    "format_value",
    "grid_html",
    "href",
    "image_size",
    "metadata_table",
    "page_count",
    "params_table",
    "parse_cell",
    "tile_fields",
    "tile_html",
    "tiles_from_rows",
]
