"""Audit: every vote and adjudication, who, when and why, and the history of one cell."""

import streamlit as st

from wbcreview import ui
from wbcreview.review import store
from wbcreview.review import workflow as review
from wbcreview.ui import audit as audit_ui
from wbcreview.ui import session as session_ui

src = ui.setup("Audit")
st.title("Audit")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        if decisions is not None:
            try:
                audit_ui.audit_page(decisions, reviewer)
            except (store.StoreError, review.ReviewError) as exc:
                st.error(f"The audit log could not be shown: {exc}")
