"""Everything that touches Streamlit: page setup, cached resources, shared widgets.

Pages open with `wbcreview.ui.page.page()`, which calls `setup()`, `ensure_demo()` and
`catalog()` here. Cached resources hold connections and catalogs only; materialised
DataFrames go through `st.cache_data` with a TTL and a bound.
"""

from __future__ import annotations

import streamlit as st

from wbcreview import config
from wbcreview.data import catalog as catalog_mod
from wbcreview.data import source

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


def catalog(src: source.DataSource) -> catalog_mod.Catalog | None:
    """The catalog of `src`, built first (with a progress bar) when missing or stale."""
    try:
        if catalog_mod.needs_build(src.root):
            bar = st.progress(0.0, text="Building the catalog...")
            catalog_mod.ensure_built(
                src.root,
                progress=lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m),
            )
            bar.empty()
        return _open_catalog(str(src.root), catalog_mod.current_fingerprint(src.root))
    except (catalog_mod.CatalogError, source.SourceError) as exc:
        st.error(f"Catalog: {exc}")
        return None


@st.cache_resource(show_spinner=False, max_entries=4)
def _open_catalog(root: str, fingerprint: str) -> catalog_mod.Catalog:
    # The fingerprint is part of the key: a changed shard opens the rebuilt catalog.
    del fingerprint
    return catalog_mod.open_catalog(root)


def clear_caches() -> None:
    """Drop cached data and resources (after a write, and between tests)."""
    st.cache_data.clear()
    st.cache_resource.clear()


def health_report(cat: catalog_mod.Catalog, decode_images: bool = False):
    """The health report of the catalog's copy, cached per catalog fingerprint."""
    from wbcreview.data import health

    if decode_images:
        bar = st.progress(0.0, text="Decoding images...")
        report = health.check(
            cat.root,
            catalog=cat,
            decode_images=True,
            progress=lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m),
        )
        bar.empty()
        return report
    return _quick_report(str(cat.root), cat.fingerprint)


@st.cache_data(ttl=600, max_entries=8, show_spinner="Checking the copy...")
def _quick_report(root: str, fingerprint: str):
    from wbcreview.data import health

    del fingerprint  # cache key only
    return health.check(
        root,
        catalog=_open_catalog(root, catalog_mod.current_fingerprint(root)),
        decode_images=False,
    )


@st.cache_resource(show_spinner=False)
def reader():
    """The process's image reader: open file descriptors, thumbnail LRU, decode pool."""
    from wbcreview.data import images

    return images.ImageReader(
        cache_bytes=config.get_int("WBCREVIEW_THUMB_CACHE_MB", 1) * 1024 * 1024
    )
