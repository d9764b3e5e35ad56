"""Browse: filter the cells in the sidebar and page through a grid of thumbnails."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.data import query
from wbcreview.ui import browse

src = ui.setup("Browse")
browse.navigation()
st.title("Browse")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        cur = cat.cursor()
        try:
            state = browse.view_state()
            browse.ignored_warning(state)
            state = browse.register_suspects(cur, cat, state)
            state = browse.filter_sidebar(cur, cat, state)
            browse.browse(cur, cat, state)
        except (query.QueryError, duckdb.Error, OSError) as exc:
            st.error(f"The cells could not be shown: {exc}")
