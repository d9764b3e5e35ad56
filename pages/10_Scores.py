"""Scores: each prediction file's challenge metrics against the original and the curated
labels, side by side, and the decisions that moved them most."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.curation import export as decisions
from wbcreview.review import store
from wbcreview.triage import predictions, scores
from wbcreview.ui import session as session_ui
from wbcreview.ui import triage as triage_ui

src = ui.setup("Scores")
st.title("Scores before and after curation")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        decided = session_ui.open_store(src, cat)
        if decided is not None:
            try:
                triage_ui.scores_page(cat, decided)
            except (
                predictions.PredictionsError,
                scores.ScoresError,
                decisions.DecisionsError,
                store.StoreError,
                duckdb.Error,
                OSError,
            ) as exc:
                st.error(f"The scores could not be computed: {exc}")
