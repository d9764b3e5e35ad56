"""Charts of the Consensus page: agreement, kappa between annotators, votes over time.

Built from the frames that `wbcreview.review.workflow` computes; kept apart from it so the
review core (and every screen that does not draw these) never imports plotly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wbcreview.review.workflow import label_order
from wbcreview.views.charts import escape_figure


def original_vs_consensus_figure(matrix: pd.DataFrame) -> go.Figure:
    """Heat map of original_vs_consensus (counts written in the cells, log-like colour)."""
    if matrix.empty:
        return _empty_figure("No cell has votes yet.")
    z = matrix.to_numpy(dtype=float)
    fig = go.Figure(
        go.Heatmap(
            z=np.log1p(z),
            x=list(matrix.columns),
            y=list(matrix.index),
            text=matrix.map(lambda n: f"{n:,}" if n else "").to_numpy(),
            texttemplate="%{text}",
            customdata=matrix.to_numpy(),
            hovertemplate="original %{y} → %{x}: %{customdata} cells<extra></extra>",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_yaxes(autorange="reversed", title="original challenge label", type="category")
    fig.update_xaxes(title="consensus outcome", side="top", type="category")
    fig.update_layout(height=160 + 28 * len(matrix), margin=dict(l=80, r=10, t=70, b=10))
    return escape_figure(fig)


def kappa_figure(matrix: pd.DataFrame, shared: pd.DataFrame | None = None) -> go.Figure:
    """Heat map of a kappa_matrix (red below 0, white at 0, blue up to 1)."""
    if matrix.empty:
        return _empty_figure("Not enough shared cells between annotators yet.")
    text = matrix.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=list(matrix.columns),
            y=list(matrix.index),
            text=text.to_numpy(),
            texttemplate="%{text}" if len(matrix) <= 20 else None,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            colorbar=dict(title="κ"),
            hovertemplate="%{y} · %{x}: κ = %{z:.2f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=160 + 26 * len(matrix), margin=dict(l=10, r=10, t=30, b=10))
    return escape_figure(fig)


def votes_over_time_figure(frame: pd.DataFrame, freq: str = "day") -> go.Figure:
    """Bars of votes per step and a line of the running total (second axis)."""
    if frame.empty:
        return _empty_figure("No votes yet.")
    fig = go.Figure()
    fig.add_bar(x=frame["time"], y=frame["votes"], name=f"votes per {freq}", opacity=0.6)
    fig.add_scatter(
        x=frame["time"], y=frame["total"], name="total votes", yaxis="y2", mode="lines+markers"
    )
    fig.update_layout(
        yaxis=dict(title=f"votes per {freq}"),
        yaxis2=dict(title="total", overlaying="y", side="right", rangemode="tozero"),
        legend=dict(orientation="h", y=1.12),
        height=340,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="UTC",
    )
    return escape_figure(fig)


def agreement_figure(stats: pd.DataFrame) -> go.Figure:
    """Fleiss' kappa and Krippendorff's alpha per category (from consensus.agreement)."""
    per = stats[stats["category"] != "all"]
    if per.empty:
        return _empty_figure("Not enough cells with two or more votes yet.")
    long = per.rename(
        columns={"fleiss_kappa": "Fleiss' kappa", "krippendorff_alpha": "Krippendorff's alpha"}
    ).melt(
        id_vars=["category", "cells"],
        value_vars=["Fleiss' kappa", "Krippendorff's alpha"],
        var_name="statistic",
    )
    fig = px.bar(
        long,
        x="category",
        y="value",
        color="statistic",
        barmode="group",
        hover_data=["cells"],
        category_orders={"category": label_order(per["category"])},
    )
    fig.update_layout(
        height=320, margin=dict(l=10, r=10, t=30, b=10), yaxis_range=[-0.2, 1], yaxis_title=""
    )
    return escape_figure(fig)


def _empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=160, margin=dict(l=10, r=10, t=10, b=10))
    return escape_figure(fig)
