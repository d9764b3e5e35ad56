"""Look-alikes ("more like this") on the Cell page and in Adjudication, and the tiles of cells
that the finder pages share.

Kept apart from `wbcreview.ui.finders` so the Cell and Adjudication screens do not import
the duplicate and quality finders to show a few tiles.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview import ui
from wbcreview.data import images, query
from wbcreview.errors import WbcreviewError
from wbcreview.triage import similar
from wbcreview.ui.text import md as _md
from wbcreview.views import browse as gallery
from wbcreview.workspace import Workspace

TILE_PX = 112


def progress_bar(text: str):
    """A progress bar and the `progress(done, total, message)` callback that moves it."""
    bar = st.progress(0.0, text=text)
    return bar, lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m)


def pristine_rows(cat: Workspace, cell_ids: list[str]) -> pd.DataFrame:
    """Catalog rows of the cells' pristine images (or their orphan degraded rows), in order."""
    if not cell_ids:
        return pd.DataFrame()
    frame = (
        cat.cursor()
        .execute(
            "SELECT * FROM cells WHERE list_contains(?, cell_id) "
            "QUALIFY row_number() OVER (PARTITION BY cell_id ORDER BY config DESC) = 1",
            [list(cell_ids)],
        )
        .df()
    )
    return frame.set_index("cell_id", drop=False).reindex(cell_ids).dropna(subset=["config"])


def cell_tiles(
    cat: Workspace, cell_ids: list[str], notes: dict[str, str] | None = None, px=TILE_PX
):
    """One grid of the cells' pristine thumbnails with their notes; "" when none is in the copy."""
    rows = pristine_rows(cat, cell_ids).reset_index(drop=True)
    if rows.empty:
        return ""
    requests = query.image_requests(cat.shard_paths(), rows)
    uris = [images.data_uri(b) for b in ui.reader().thumbs(requests, px)]
    keyed = {
        gallery.cell_key(c, i): notes[cell]
        for c, i, cell in zip(rows["config"], rows["image_id"], rows["cell_id"], strict=True)
        if notes and cell in notes
    }
    return gallery.grid_html(gallery.tiles_from_rows(rows, uris, notes=keyed), img_px=px)


def lookalikes(ws: Workspace, cell_id: str, k: int = similar.DEFAULT_K) -> None:
    """ "More like this": the nearest cells of the cell's own class and of other classes."""
    with st.expander("More like this: nearest cells of the same and of other classes"):
        if not ws.lookalikes_ready():
            st.caption(
                "The look-alike index needs the baseline's image features of this copy "
                "(computed once, as the Triage page's baseline does)."
            )
            if not st.button("Build the look-alike index", key=f"fd_look_{cell_id}"):
                return
            bar, progress = progress_bar("Computing image features...")
            try:
                ws.index_lookalikes(reader=ui.reader(), progress=progress)
            except WbcreviewError as exc:
                bar.empty()
                st.error(f"No look-alikes: {_md(exc)}")
                return
            bar.empty()
        try:
            near = ws.lookalikes(str(cell_id), k=k)
        except WbcreviewError as exc:
            st.caption(f"No look-alikes: {_md(exc)}")
            return
        for same, title in ((True, "Same class"), (False, "Other classes")):
            part = near[near["same_class"] == same]
            notes = {c: f"#{r} · d {d:.2f}" for c, r, d in zip(part["cell_id"], part["rank"],
                                                                 part["distance"], strict=True)}  # fmt: skip
            st.markdown(f"**{title}**")
            st.html(cell_tiles(ws, list(part["cell_id"]), notes, px=96) or "<i>none</i>")
        st.caption(
            "Nearest by the baseline's colour and texture features (LDA projection); #n is "
            "the rank among all cells, d the distance."
        )
