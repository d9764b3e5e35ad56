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


def confusion_figure(matrix: pd.DataFrame, title: str, height: int = 300) -> go.Figure:
    """One annotator's estimated confusion matrix (true outcome x voted outcome, rows sum
    to 1) as a heat map, classes in lineage order, 'remove' last."""
    order = _class_order([*matrix.index, *matrix.columns])
    order = [c for c in order if c != "remove"] + (["remove"] if "remove" in order else [])
    frame = matrix.reindex(index=[c for c in order if c in matrix.index]).reindex(
        columns=[c for c in order if c in matrix.columns]
    )
    fig = go.Figure(
        go.Heatmap(
            z=frame.to_numpy(dtype=float),
            x=list(frame.columns),
            y=list(frame.index),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            showscale=False,
            hovertemplate="true %{y}, voted %{x}: %{z:.0%}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        height=height,
        margin={"l": 40, "r": 10, "t": 36, "b": 30},
        xaxis={"title": None, "side": "bottom", "tickfont": {"size": 10}},
        yaxis={"title": None, "autorange": "reversed", "tickfont": {"size": 10}},
    )
    return fig
