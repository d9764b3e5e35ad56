"""Duplicates: the same cell image twice in the copy, across splits (leakage), patients or
labels, grouped, side by side, one click to a review queue."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.errors import WbcreviewError
from wbcreview.ui import browse
from wbcreview.ui import finders as finders_ui
from wbcreview.ui import review as review_ui

src = ui.setup("Duplicates")
browse.navigation()
st.title("Duplicates and leakage")
st.caption(
    "Exact duplicates (the same decoded pixels) and near duplicates (resized, re-encoded, "
    "cropped, colour-shifted) across the whole copy, with what each pair crosses: split "
    "(train/eval/test leakage), patient, label."
)
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = review_ui.identity_sidebar()
        decisions = review_ui.open_store(src, cat)
        try:
            finders_ui.duplicates_page(cat, decisions, reviewer)
        except (WbcreviewError, duckdb.Error, OSError) as exc:
            st.error(f"The duplicates could not be shown: {exc}")
