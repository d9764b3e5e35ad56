"""Widgets shared by the review screens: a cell's images with zoom, class atlas examples."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.data import images, query
from wbcreview.data.release import CELL_TYPES
from wbcreview.ui import browse
from wbcreview.ui.session import IMAGE_PX, as_code, as_md
from wbcreview.views import browse as gallery
from wbcreview.workspace import Workspace

# --- the images of a cell --------------------------------------------------------------------


def cell_images(cat: Workspace, cur, cell_id: str, zoom: float) -> pd.DataFrame:
    """Show the cell's pristine image and its degraded copies side by side; return the rows."""
    rows = query.cell_rows(cur, cell_id)
    figures = []
    for rec in rows.to_dict("records"):
        data = browse.full_image(cat, rec)
        size = gallery.image_size(data)
        if size is None:
            continue
        kind = "Pristine" if rec["config"] == "pristine" else f"Degraded · {rec['severity']}"
        caption = f"{kind} · {rec['image_id']} · {size[0]}×{size[1]} px"
        figures.append(gallery.Figure(images.data_uri(data), caption, size[0], size[1]))
    if figures:
        st.html(gallery.compare_html(figures, zoom))
    else:
        st.error(f"No image of cell {as_code(cell_id)} can be read in this copy.")
    return rows


def zoom_control(key: str, default: float = 0.0) -> float:
    value = st.segmented_control(
        "Zoom",
        gallery.ZOOMS,
        key=key,
        default=default,
        required=True,
        format_func=lambda z: "Fit" if not z else f"{z:g}×",
        persist_state="session",
        label_visibility="collapsed",
    )
    return float(value or 0)


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _examples(_cur, fingerprint: str, label: str, n: int, seed: int) -> pd.DataFrame:
    del fingerprint
    rows = query.page(_cur, query.Filter(configs=("pristine",), labels=(label,)), "patient", 300)
    return gallery.atlas_examples(rows, n, seed)


def examples_grid(cat: Workspace, cur, label: str, exclude: str, n: int = 8) -> None:
    rows = _examples(cur, cat.fingerprint, label, n + 1, 0)
    rows = rows[rows["cell_id"] != exclude].head(n)
    uris = browse.thumb_uris(cat, rows)
    tiles = [
        gallery.Tile(uri, str(r["label"]), str(r["severity"]), str(r["image_id"]), None, "pristine")
        for r, uri in zip(rows.to_dict("records"), uris, strict=True)
    ]
    st.markdown(f"**{as_md(label)}** · {as_md(CELL_TYPES.get(label, label))}")
    st.html(gallery.grid_html(tiles, IMAGE_PX, empty="No other cell of this class in this copy."))
