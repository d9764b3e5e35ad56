"""Cell: one cell at full size beside its pristine source, with its metadata and neighbours,
and your vote on it (the review loop's keys, stored once each)."""

import streamlit as st

from wbcreview.ui import browse, review_loop
from wbcreview.ui.page import page

with page("Cell", links=True, heading="", store="optional") as ws:
    cur = ws.cursor()
    state = browse.view_state()
    browse.ignored_warning(state)
    state = browse.register_suspects(cur, ws, state)
    state = browse.filter_sidebar(cur, ws, state, keep_cell=True)
    row = browse.resolve_cell(cur, state)
    if row is None:
        st.title("Cell")
        if not state.cell:
            st.info("No cell chosen: open one from Browse, or type its image id.")
        browse.cell_search(state)
    else:
        browse.cell_navigation(cur, ws, state, row)
        browse.cell_view(cur, ws, state, row)
        review_loop.cell_vote(ws, str(row["cell_id"]))
