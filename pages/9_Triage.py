"""Triage: prediction files (import, built-in baseline), the suspect ranking, a review queue
from its top in one click."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.review import store
from wbcreview.triage import predictions
from wbcreview.triage import ranking as triage
from wbcreview.ui import browse
from wbcreview.ui import session as session_ui
from wbcreview.ui import triage as triage_ui

src = ui.setup("Triage")
browse.navigation()
st.title("Triage")
st.caption(
    "Find the likely label errors first: cells whose label the models doubt most, ranked by "
    "cleanlab's label-quality score."
)
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = session_ui.identity_sidebar()
        decisions = session_ui.open_store(src, cat)
        try:
            infos = triage_ui.prediction_files(cat)
            triage_ui.ranking_section(cat, infos, decisions, reviewer)
        except (
            predictions.PredictionsError,
            triage.TriageError,
            store.StoreError,
            duckdb.Error,
            OSError,
        ) as exc:
            st.error(f"The triage could not be shown: {exc}")
