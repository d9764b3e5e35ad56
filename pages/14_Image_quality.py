"""Image quality: images to remove rather than relabel (blurred, dark, light, empty, odd
size, more than one nucleated cell), ranked, one click to a review queue."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.errors import WbcreviewError
from wbcreview.ui import browse
from wbcreview.ui import finders as finders_ui
from wbcreview.ui import review as review_ui

src = ui.setup("Image quality")
browse.navigation()
st.title("Unusable images")
st.caption(
    "Each pristine image is checked for blur, darkness, overexposure, low information, odd "
    "size or aspect, a crop with no nucleated cell, and a second nucleated cell; each check "
    "has a score and a threshold."
)
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        reviewer = review_ui.identity_sidebar()
        decisions = review_ui.open_store(src, cat)
        try:
            finders_ui.quality_page(cat, decisions, reviewer)
        except (WbcreviewError, duckdb.Error, OSError) as exc:
            st.error(f"The image checks could not be shown: {exc}")
