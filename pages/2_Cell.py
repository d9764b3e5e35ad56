"""Cell: one cell at full size beside its pristine source, with its metadata and neighbours."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.data import query
from wbcreview.ui import audit as audit_ui
from wbcreview.ui import browse

src = ui.setup("Cell")
browse.navigation()
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        cur = cat.cursor()
        try:
            state = browse.view_state()
            browse.ignored_warning(state)
            state = browse.register_suspects(cur, cat, state)
            state = browse.filter_sidebar(cur, cat, state, keep_cell=True)
            row = browse.resolve_cell(cur, state)
            if row is None:
                st.title("Cell")
                if not state.cell:
                    st.info("No cell chosen: open one from Browse, or type its image id.")
                browse.cell_search(state)
            else:
                browse.cell_navigation(cur, cat, state, row)
                browse.cell_view(cur, cat, state, row)
                with st.expander("Review history of this cell"):
                    audit_ui.cell_history(row["cell_id"])
        except (query.QueryError, duckdb.Error, OSError) as exc:
            st.error(f"The cell could not be shown: {exc}")
