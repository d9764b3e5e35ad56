"""Class atlas: example cells of every class, to calibrate the eye before reviewing."""

import streamlit as st

from wbcreview.ui import browse
from wbcreview.ui.page import page

with page("Class atlas", links=True) as ws:
    st.caption("Example cells of each class, spread over patients. Click one to open it.")
    browse.atlas(ws.cursor(), ws)
