"""Corrections: export the final decisions; import offline votes and original label files."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.curation import export as decisions
from wbcreview.review import store
from wbcreview.ui import corrections
from wbcreview.ui import session as session_ui

src = ui.setup("Corrections")
st.title("Corrections")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        session_ui.identity_sidebar()
        decision_store = session_ui.open_store(src, cat)
        if decision_store is not None:
            session_ui.demo_banner(decision_store)
            try:
                export_tab, import_tab = st.tabs(["Export", "Import"])
                with export_tab:
                    corrections.export_section(cat, decision_store)
                with import_tab:
                    corrections.import_section(cat, decision_store)
            except (store.StoreError, decisions.DecisionsError, duckdb.Error, OSError) as exc:
                st.error(f"The corrections could not be shown: {exc}")
