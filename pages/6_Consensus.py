"""Consensus: tallies and status of every voted cell, and how well the annotators agree."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.review import consensus, store
from wbcreview.review import workflow as review
from wbcreview.ui import consensus as consensus_ui
from wbcreview.ui import session as session_ui

src = ui.setup("Consensus")
st.title("Consensus")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        if decisions is not None:
            try:
                consensus_ui.consensus_page(cat, decisions, reviewer)
            except (
                store.StoreError,
                review.ReviewError,
                consensus.ConsensusError,
                duckdb.Error,
            ) as exc:
                st.error(f"The consensus could not be computed: {exc}")
