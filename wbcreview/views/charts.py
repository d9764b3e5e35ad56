"""Plotly figures built from DataFrames: no Streamlit here, so tests can build them.

Plotly draws `<a>`, `<b>`, `<br>` and other tags in every label, title, legend and hover
text as markup, so a label or a name from the data could become a live link. Every figure
builder of the package returns `escape_figure(fig)`: each text of the figure is escaped
(`<` as `&lt;`, which plotly shows as the character), except hover and text templates,
which are ours and whose %{...} values are themselves escaped data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
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


# Keys whose strings plotly does not draw as text (formats, references, ids, enumerations);
# templates are written here in the code and their substituted values are escaped data.
_NOT_TEXT = frozenset({
    "hovertemplate", "texttemplate", "type", "mode", "uid", "xaxis", "yaxis", "anchor",
    "overlaying", "matches", "scaleanchor", "colorscale", "colorway", "barmode", "hovermode",
    "orientation", "textposition", "xref", "yref", "family", "color", "bgcolor", "bordercolor",
    "fillcolor", "template", "coloraxis",
    "tickformat", "hoverformat", "xhoverformat", "yhoverformat", "zhoverformat", "valueformat",
    "categoryorder", "autorange", "side", "ticks", "showticklabels", "xpad", "ypad",
})  # fmt: skip


def _escape_text(value: str) -> str:
    # Only the tag brackets: plotly splits tags before it decodes entities, so `&lt;` shows
    # as `<`, never as a tag; leaving `&` alone makes escaping idempotent.
    return value.replace("<", "&lt;").replace(">", "&gt;")


def _escape(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return value if key in _NOT_TEXT else _escape_text(value)
    if isinstance(value, dict):
        return {k: _escape(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return np.vectorize(lambda v: _escape(v), otypes=[object])(value) if value.size else value
    return value


def escape_figure(fig: go.Figure) -> go.Figure:
    """The same figure with every text plotly would draw as markup escaped (see above)."""
    spec = fig.to_plotly_json()
    data = [_escape(trace) for trace in spec.get("data", [])]
    layout = spec.get("layout", {})
    template = layout.pop("template", None)
    layout = _escape(layout)
    if template is not None:
        layout["template"] = template
    return go.Figure({"data": data, "layout": layout}, skip_invalid=False)


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
    return escape_figure(fig)


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
    return escape_figure(fig)


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
    return escape_figure(fig)
