"""Image quality: images to remove rather than relabel (blurred, dark, light, empty, odd
size, more than one nucleated cell), ranked, one click to a review queue."""

import streamlit as st

from wbcreview.ui import finders as finders_ui
from wbcreview.ui.page import page

with page("Image quality", store="optional", links=True, heading="Unusable images") as ws:
    st.caption(
        "Each pristine image is checked for blur, darkness, overexposure, low information, "
        "odd size or aspect, a crop with no nucleated cell, and a second nucleated cell; each "
        "check has a score and a threshold."
    )
    finders_ui.quality_page(ws)
