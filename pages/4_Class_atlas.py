"""Class atlas: example cells of every class, to calibrate the eye before reviewing."""

import duckdb
import streamlit as st

from wbcreview import ui
from wbcreview.data import query
from wbcreview.ui import browse

src = ui.setup("Class atlas")
browse.navigation()
st.title("Class atlas")
st.caption("Example cells of each class, spread over patients. Click one to open it.")
if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        cur = cat.cursor()
        try:
            browse.atlas(cur, cat)
        except (query.QueryError, duckdb.Error, OSError) as exc:
            st.error(f"The atlas could not be shown: {exc}")
