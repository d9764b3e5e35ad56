"""Adjudication: the expert's final decisions, disputed cells first (adjudicators only)."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.review import consensus, store
from wbcreview.review import workflow as review
from wbcreview.ui import adjudication as adjudication_ui
from wbcreview.ui import session as session_ui

src = ui.setup("Adjudication")
st.title("Adjudication")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        if decisions is not None:
            try:
                adjudication_ui.adjudication_page(cat, decisions, reviewer)
            except (
                store.StoreError,
                review.ReviewError,
                consensus.ConsensusError,
                duckdb.Error,
                OSError,
            ) as exc:
                st.error(f"The adjudication page could not be shown: {exc}")
