"""Plotly figures built from DataFrames: no Streamlit here, so tests can build them."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wbcreview.data.release import CELL_TYPES, CLASS_CODES, SEVERITIES, SPLITS

CONFIG_COLOURS = {"pristine": "#4c78a8", "degraded": "#f58518"}
SEVERITY_COLOURS = {
    "pristine": "#54a24b",
    "mild": "#eeca3b",
    "moderate": "#f58518",
    "extreme": "#e45756",
}


def _class_order(labels) -> list[str]:
    present = set(labels)
    return [c for c in CLASS_CODES if c in present] + sorted(present - set(CLASS_CODES))


def class_counts(counts: pd.DataFrame, log: bool = True) -> go.Figure:
    """Rows per class and config from a counts frame (config, label, rows); log y by default.

    The log scale keeps the rare classes (PC, PLY) visible beside SNE.
    """
    frame = counts.groupby(["config", "label"], as_index=False)["rows"].sum()
    frame["cell type"] = frame["label"].map(CELL_TYPES).fillna("unknown label")
    fig = px.bar(
        frame,
        x="label",
        y="rows",
        color="config",
        barmode="group",
        log_y=log,
        category_orders={"label": _class_order(frame["label"])},
        color_discrete_map=CONFIG_COLOURS,
        hover_data=["cell type"],
        text="rows",
        title="Rows per class" + (" (log scale)" if log else ""),
    )
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_layout(
        xaxis_title="class", yaxis_title="rows", legend_title="config", margin=dict(t=50)
    )
    return fig


def split_counts(patients: pd.DataFrame) -> go.Figure:
    """Rows per split and config from a frame of config, split, rows, patients."""
    fig = px.bar(
        patients,
        x="split",
        y="rows",
        color="config",
        barmode="group",
        text="rows",
        hover_data=["patients"],
        category_orders={"split": [s for s in SPLITS if s in set(patients["split"])]},
        color_discrete_map=CONFIG_COLOURS,
        title="Rows per split",
    )
    fig.update_layout(margin=dict(t=50))
    return fig


def severity_counts(counts: pd.DataFrame) -> go.Figure:
    """Degraded rows per split, stacked by severity."""
    frame = (
        counts[counts["config"] == "degraded"]
        .groupby(["split", "severity"], as_index=False)["rows"]
        .sum()
    )
    fig = px.bar(
        frame,
        x="split",
        y="rows",
        color="severity",
        text="rows",
        category_orders={
            "severity": list(SEVERITIES),
            "split": [s for s in SPLITS if s in set(frame["split"])],
        },
        color_discrete_map=SEVERITY_COLOURS,
        title="Degraded rows per severity",
    )
    fig.update_layout(margin=dict(t=50))
    return fig
