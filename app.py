"""Home page: the data source, its health report, and what the copy holds."""

import streamlit as st

from wbcreview import ui
from wbcreview.data import health
from wbcreview.views import charts

src = ui.setup("Home")
st.title("wbcreview")
st.caption("Label review for the WBCBench 2026 white-blood-cell dataset")

if src is not None and ui.ensure_demo(src):
    cat = ui.catalog(src)
    if cat is not None:
        st.markdown(f"**Data source:** `{src.root}` (from {src.origin})")
        if src.is_demo:
            st.info(
                "This is a generated demo copy. Point wbcreview at real data with "
                "`--data`, `WBCREVIEW_DATA` or `data/wbcbench/` (see the README)."
            )
        decode = st.session_state.get("decode_images", False)
        report = ui.health_report(cat, decode_images=decode)
        if report.ok:
            st.success(
                f"Healthy copy: {int(report.patients['rows'].sum()):,} rows, "
                f"{len(report.patients)} config/split pairs"
                + (f", {report.images_checked:,} images decoded" if report.images_checked else "")
            )
        else:
            st.error(f"{len(report.problems)} problem(s) found in this copy")
            st.code("\n".join(report.problems), language=None)
        for warning in report.warnings:
            st.warning(warning)
        if not decode:
            st.button(
                "Decode every image too",
                key="decode_images_button",
                help="Reads and decodes every image once; results are remembered per shard.",
                on_click=lambda: st.session_state.update(decode_images=True),
            )
        if report.patients is not None and len(report.patients):
            left, right = st.columns(2)
            left.plotly_chart(charts.split_counts(report.patients), width="stretch")
            right.plotly_chart(charts.severity_counts(report.counts), width="stretch")
            log = st.toggle(
                "Log scale",
                value=True,
                key="log_scale",
                help="The classes range from 45 % (SNE) to 0.04 % (PLY) of cells.",
            )
            st.plotly_chart(charts.class_counts(report.counts, log=log), width="stretch")
            st.subheader("Counts")
            tabs = st.tabs(["Config and split", "Class", "Severity"])
            tabs[0].dataframe(report.patients, hide_index=True, width="stretch")
            tabs[1].dataframe(health.class_table(report.counts), width="stretch")
            tabs[2].dataframe(health.severity_table(report.counts), width="stretch")
