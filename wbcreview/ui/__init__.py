"""Everything that touches Streamlit: page setup, cached resources, shared widgets.

Pages open with `wbcreview.ui.page.page()`, which calls `setup()`, `ensure_demo()` and
`workspace()` here. Cached resources hold connections and catalogs only; materialised
DataFrames go through `st.cache_data` with a TTL and a bound.
"""

from __future__ import annotations

import streamlit as st

from wbcreview import config
from wbcreview.data import source
from wbcreview.workspace import CatalogError, Workspace

PAGE_ICON = "🩸"


def setup(title: str, icon: str = PAGE_ICON) -> source.DataSource | None:
    """Configure the page and the sidebar; return the data source (None after an error)."""
    st.set_page_config(page_title=f"{title} · wbcreview", page_icon=icon, layout="wide")
    from wbcreview.ui import auth as ui_auth

    ui_auth.require_sign_in()  # server mode: stops the page until someone signs in
    try:
        src = source.resolve(None)
    except (source.SourceError, config.SettingError) as exc:
        st.error(f"Data source: {exc}")
        return None
    with st.sidebar:
        st.caption(
            f"Data: `{src.root}`  \nfrom {src.origin}" + (" · demo copy" if src.is_demo else "")
        )
    return src


def ensure_demo(src: source.DataSource) -> bool:
    """Build the demo copy when it is the source and missing, with a progress bar."""
    if not src.is_demo or (src.root / "README.md").exists():
        return True
    from wbcreview.demo import build as demo

    bar = st.progress(0.0, text="Building the demo copy (first start only)...")
    try:
        demo.build_demo(
            src.root,
            cells=config.get_int("WBCREVIEW_DEMO_CELLS", minimum=demo.MIN_CELLS),
            progress=lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m),
        )
    except Exception as exc:  # shown to the user, not swallowed
        st.error(f"The demo copy could not be built: {exc}")
        return False
    bar.empty()
    return True


def workspace(src: source.DataSource) -> Workspace | None:
    """The Workspace of `src` with its catalog open (one per copy state and process, shared
    by every session), the catalog built first with a progress bar when missing or stale
    (or, when the server's warm-up is building it already, that build's progress).
    None after an error, which is shown."""
    try:
        if not Workspace(src).catalog_needs_build():
            return open_workspace(src)
        bar = st.progress(0.0, text="Building the catalog...")
        ws = open_workspace(src, _bar_progress(bar))
        bar.empty()
        return ws
    except (CatalogError, source.SourceError) as exc:
        st.error(f"Catalog: {exc}")
        return None


def _bar_progress(bar):
    """A `progress(done, total, message)` callback that moves the progress bar `bar`."""
    return lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m)


def open_workspace(src: source.DataSource, progress=None) -> Workspace:
    """The Workspace of `src` with its catalog open, built first when missing or stale: the
    one object every session (and the server's warm-up, `ui.warmup`) gets for this copy
    state. `progress(done, total, message)` follows a build. Raises CatalogError or
    SourceError."""
    ws = Workspace(src)
    if ws.catalog_needs_build():
        ws.build_catalog(progress=progress)
    return _open_workspace(src, str(src.root), ws.current_fingerprint())


@st.cache_resource(show_spinner=False, max_entries=4)
def _open_workspace(_src: source.DataSource, root: str, fingerprint: str) -> Workspace:
    # The fingerprint is part of the key: a changed shard opens the rebuilt catalog.
    del root, fingerprint
    return Workspace(_src).open_catalog()


def clear_caches() -> None:
    """Drop cached data and resources (after a write, and between tests)."""
    st.cache_data.clear()
    st.cache_resource.clear()


def health_report(ws: Workspace, decode_images: bool = False):
    """The health report of the workspace's copy, cached per catalog fingerprint."""
    if decode_images:
        bar = st.progress(0.0, text="Decoding images...")
        report = ws.health(
            decode_images=True,
            progress=lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m),
        )
        bar.empty()
        return report
    return _quick_report(ws, str(ws.root), ws.fingerprint)


@st.cache_data(ttl=600, max_entries=8, show_spinner="Checking the copy...")
def _quick_report(_ws: Workspace, root: str, fingerprint: str):
    del root, fingerprint  # cache key only
    return _ws.health(decode_images=False)


@st.cache_resource(show_spinner=False)
def reader():
    """The process's image reader: open file descriptors, thumbnail LRU, decode pool."""
    from wbcreview.data import images

    return images.ImageReader(
        cache_bytes=config.get_int("WBCREVIEW_THUMB_CACHE_MB", 1) * 1024 * 1024
    )
