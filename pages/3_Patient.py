"""Patient: every cell of one patient (both configs), with class counts."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.data import query
from wbcreview.ui import browse

src = ui.setup("Patient")
browse.navigation()
st.title("Patient")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        cur = cat.cursor()
        try:
            patient = browse.patient_picker(cur, cat)
            if patient:
                browse.patient_view(cur, cat, patient)
        except (query.QueryError, duckdb.Error, OSError) as exc:
            st.error(f"The patient could not be shown: {exc}")
