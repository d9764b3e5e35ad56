"""The home page: the data source, its health report, and what the copy holds.

Kept cheap, because it is the first page everyone opens: the health report and the counts
are cached per catalog fingerprint, the charts are plain plotly bar traces built from those
counts (no plotly.express), and the count tables are drawn only when asked for.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview import ui
from wbcreview.data import health
from wbcreview.workspace import Workspace


def home_page(ws: Workspace) -> None:
    """Draw the home page's body for the workspace's copy."""
    src, cat = ws.source, ws
    st.caption("Label review for the WBCBench 2026 white-blood-cell dataset")
    st.markdown(f"**Data source:** `{src.root}` (from {src.origin})")
    if src.is_demo:
        st.info(
            "This is a generated demo copy. Point wbcreview at real data with "
            "`--data`, `WBCREVIEW_DATA` or `data/wbcbench/` (see the README)."
        )
    _health(cat)
    counts, patients = summary(cat)
    if len(patients):
        _charts(counts, patients)


def warm(ws: Workspace) -> None:
    """Fill what the home page's first run reads (the copy's health report and counts) and
    import its charts: the server's warm-up (`ui.warmup`) calls it at process start."""
    from wbcreview.views import charts  # noqa: F401 (imported by the first _charts)

    ui.health_report(ws)
    summary(ws)


def _health(cat: Workspace) -> None:
    decode = st.session_state.get("decode_images", False)
    report = ui.health_report(cat, decode_images=decode)
    if report.ok:
        rows = int(report.patients["rows"].sum()) if report.patients is not None else 0
        pairs = len(report.patients) if report.patients is not None else 0
        st.success(
            f"Healthy copy: {rows:,} rows, {pairs} config/split pairs"
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


def summary(cat: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows per config/split/label/severity and rows and patients per config/split, cached
    until the copy changes (its catalog fingerprint)."""
    return _summary(cat, str(cat.root), cat.fingerprint)


@st.cache_data(max_entries=4, show_spinner=False)
def _summary(_cat: Workspace, root: str, fingerprint: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    del root, fingerprint  # cache key only
    return _cat.summary()


def _charts(counts: pd.DataFrame, patients: pd.DataFrame) -> None:
    from wbcreview.views import charts

    left, right = st.columns(2)
    left.plotly_chart(charts.split_counts(patients), width="stretch", key="home_splits")
    right.plotly_chart(charts.severity_counts(counts), width="stretch", key="home_severity")
    log = st.toggle(
        "Log scale",
        value=True,
        key="log_scale",
        help="The classes range from 45 % (SNE) to 0.04 % (PLY) of cells.",
    )
    st.plotly_chart(charts.class_counts(counts, log=log), width="stretch", key="home_classes")
    if st.toggle("Show the counts as tables", value=False, key="home_tables"):
        tabs = st.tabs(["Config and split", "Class", "Severity"])
        tabs[0].dataframe(patients, hide_index=True, width="stretch")
        tabs[1].dataframe(health.class_table(counts), width="stretch")
        tabs[2].dataframe(health.severity_table(counts), width="stretch")
