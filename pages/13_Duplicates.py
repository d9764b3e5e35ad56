"""Duplicates: the same cell image twice in the copy, across splits (leakage), patients or
labels, grouped, side by side, one click to a review queue."""

import streamlit as st

from wbcreview.ui import finders as finders_ui
from wbcreview.ui.page import page

with page("Duplicates", store="optional", links=True, heading="Duplicates and leakage") as ws:
    st.caption(
        "Exact duplicates (the same decoded pixels) and near duplicates (resized, re-encoded, "
        "cropped, colour-shifted) across the whole copy, with what each pair crosses: split "
        "(train/eval/test leakage), patient, label."
    )
    finders_ui.duplicates_page(ws)
