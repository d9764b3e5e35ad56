"""Triage: prediction files (import, built-in baseline), the suspect ranking, a review queue
from its top in one click."""

import streamlit as st

from wbcreview.ui import triage as triage_ui
from wbcreview.ui.page import page

with page("Triage", store="optional", links=True) as ws:
    st.caption(
        "Find the likely label errors first: cells whose label the models doubt most, ranked "
        "by cleanlab's label-quality score."
    )
    infos = triage_ui.prediction_files(ws)
    triage_ui.ranking_section(ws, infos)
