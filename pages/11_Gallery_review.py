"""Gallery review: a queue's cells as galleries by current label, one key per class, sign-off."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.review import store
from wbcreview.review import workflow as review
from wbcreview.ui import gallery_review
from wbcreview.ui import session as session_ui

src = ui.setup("Gallery review")
st.title("Gallery review")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        if decisions is not None:
            try:
                gallery_review.gallery_page(cat, decisions, reviewer)
            except (store.StoreError, review.ReviewError, duckdb.Error, OSError) as exc:
                st.error(f"The gallery could not be shown: {exc}")
