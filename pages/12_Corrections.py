"""Corrections: export the final decisions; import offline votes and original label files."""

import streamlit as st

from wbcreview.ui import corrections
from wbcreview.ui import session as session_ui
from wbcreview.ui.page import page

with page("Corrections", store=True) as ws:
    session_ui.demo_banner(ws)
    export_tab, import_tab = st.tabs(["Export", "Import"])
    with export_tab:
        corrections.export_section(ws)
    with import_tab:
        corrections.import_section(ws)
