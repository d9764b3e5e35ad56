"""Plotly figures built from DataFrames: no Streamlit here, so tests can build them.

Plain `go.Bar` traces rather than plotly.express: the home page builds these on every
visit, and `px.bar` costs about 0.1 CPU-s a figure against a few ms.

Plotly draws `<a>`, `<b>`, `<br>` and other tags in every label, title, legend and hover
text as markup, so a label or a name from the data could become a live link. Every figure
builder of the package returns `escape_figure(fig)`: each text of the figure is escaped
(`<` as `&lt;`, which plotly shows as the character), except hover and text templates,
which are ours and whose %{...} values are themselves escaped data.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from wbcreview.data.release import CELL_TYPES, CLASS_CODES, SPLITS

CONFIG_COLOURS = {"pristine": "#4c78a8", "degraded": "#f58518"}
SEVERITY_COLOURS = {
    "pristine": "#54a24b",
    "mild": "#eeca3b",
    "moderate": "#f58518",
    "extreme": "#e45756",
}
# Bar labels: always horizontal; a label that does not fit inside its bar at this size is
# hidden (its count is in the hover) instead of being shrunk or turned on its side.
LABEL_PX = 11


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


def _numbers(spec: dict) -> np.ndarray:
    """A typed array as plotly's JSON encodes it ({dtype, bdata, shape}) back to numpy."""
    array = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"])
    shape = str(spec.get("shape") or "").strip()
    return array.reshape([int(n) for n in shape.split(",")]) if shape else array


def _escape(value: Any, key: str = "") -> Any:
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        return _numbers(value)  # numbers, not text: the figure keeps its arrays
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


def _order(values, known) -> list[str]:
    present = set(values)
    return [v for v in known if v in present] + sorted(present - set(known))


def _layout(fig: go.Figure, title: str, x_title: str, legend: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title="rows",
        legend_title=legend,
        margin=dict(t=50),
        uniformtext=dict(minsize=LABEL_PX, mode="hide"),
        separators=".,",
    )
    fig.update_yaxes(tickformat=",d")
    return fig


def _bars(
    frame: pd.DataFrame,
    x: str,
    categories: list[str],
    series: str,
    colours: dict[str, str],
    hover: str,
    customdata=None,
    **trace,
) -> go.Figure:
    """One bar trace per value of `series` (in the order of `colours`, unknown values last)
    over the `categories` of column `x`, each bar labelled with its `rows` in full; a
    category a series lacks has no bar. `hover` is the tooltip before the series name,
    `customdata(part)` the values it refers to; `trace` adds options to every trace."""
    fig = go.Figure()
    for name in _order(frame[series], colours):
        part = frame[frame[series] == name].set_index(x).reindex(categories)
        part = part.dropna(subset=["rows"])
        rows = part["rows"].astype(int)
        fig.add_bar(
            name=name,
            x=list(part.index),
            y=list(rows),
            text=[f"{n:,}" for n in rows],
            textangle=0,
            marker_color=colours.get(name),
            customdata=customdata(part) if customdata else None,
            hovertemplate=f"{hover}<extra>{name}</extra>",
            **trace,
        )
    fig.update_xaxes(categoryorder="array", categoryarray=categories)
    return fig


def class_counts(counts: pd.DataFrame, log: bool = True) -> go.Figure:
    """Rows per class and config from a counts frame (config, label, rows); log y by default.

    The log scale keeps the rare classes (PC, PLY) visible beside SNE; its ticks are
    1, 2, 5, 10, 20, 50, ..., written out in full (1,000 rather than 1k).
    """
    frame = counts.groupby(["config", "label"], as_index=False)["rows"].sum()
    fig = _bars(
        frame, "label", _order(frame["label"], CLASS_CODES), "config", CONFIG_COLOURS,
        "%{x} · %{customdata}<br>%{y:,} rows",
        customdata=lambda part: [CELL_TYPES.get(c, "unknown label") for c in part.index],
        textposition="outside", cliponaxis=False,
    )  # fmt: skip
    fig.update_layout(barmode="group")
    _layout(fig, "Rows per class" + (" (log scale)" if log else ""), "class", "config")
    if log:
        ticks = log_ticks(int(frame["rows"].max()) if len(frame) else 1)
        fig.update_yaxes(
            type="log", tickvals=ticks, ticktext=[f"{t:,}" for t in ticks], minor=dict(ticks="")
        )
    return escape_figure(fig)


def log_ticks(top: int) -> list[int]:
    """Ticks of a log axis up to `top`: 1, 2, 5, 10, 20, 50, ... (each written in full)."""
    ticks, decade = [], 1
    while True:
        for step in (1, 2, 5):
            if step * decade > top * 2:
                return ticks
            ticks.append(step * decade)
        decade *= 10


def split_counts(patients: pd.DataFrame) -> go.Figure:
    """Rows per split and config from a frame of config, split, rows, patients."""
    fig = _bars(
        patients, "split", _order(patients["split"], SPLITS), "config", CONFIG_COLOURS,
        "%{x}<br>%{y:,} rows, %{customdata:,} patients",
        customdata=lambda part: list(part["patients"].astype(int)),
        textposition="outside", cliponaxis=False,
    )  # fmt: skip
    fig.update_layout(barmode="group")
    return escape_figure(_layout(fig, "Rows per split", "split", "config"))


def severity_counts(counts: pd.DataFrame) -> go.Figure:
    """Degraded rows per split, stacked by severity; labels only on segments they fit."""
    frame = (
        counts[counts["config"] == "degraded"]
        .groupby(["split", "severity"], as_index=False)["rows"]
        .sum()
    )
    fig = _bars(
        frame, "split", _order(frame["split"], SPLITS), "severity", SEVERITY_COLOURS,
        "%{x}<br>%{y:,} rows", textposition="inside", insidetextanchor="middle",
    )  # fmt: skip
    fig.update_layout(barmode="stack")
    return escape_figure(_layout(fig, "Degraded rows per severity", "split", "severity"))


def confusion_figure(matrix: pd.DataFrame, title: str, height: int = 300) -> go.Figure:
    """One annotator's estimated confusion matrix (true outcome x voted outcome, rows sum
    to 1) as a heat map, classes in lineage order, 'remove' last."""
    order = _order([*matrix.index, *matrix.columns], CLASS_CODES)
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
    return escape_figure(fig)
