"""Review: one cell at a time from a queue, a key for every action, each vote stored at once."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.review import store
from wbcreview.review import workflow as review
from wbcreview.ui import review as review_ui
from wbcreview.ui import session as session_ui

src = ui.setup("Review")
st.title("Review")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        if decisions is not None:
            try:
                review_ui.review_page(cat, decisions, reviewer)
            except (store.StoreError, review.ReviewError, duckdb.Error, OSError) as exc:
                st.error(f"The review could not be shown: {exc}")
