"""Benchmark scores of prediction files before and after curation.

The challenge ranks by macro-F1, ties broken by balanced accuracy, then macro precision,
then macro specificity. Each stored prediction file is scored against two references:

- original: the copy's labels as they are (a degraded row takes its cell's label);
- curated: the same with the current final decisions applied (`decisions.final_decisions`):
  corrected cells take their final label, removed cells are dropped (all their rows).

Scores are given for every row, per split, per config and per severity. Macro averages run
over the classes present in the reference or the predictions of the rows scored (as
scikit-learn does when no label list is given), so a copy without some of the 13 classes
is not charged zeros for them. Which decisions moved the scores most: for each decision,
macro-F1 of the curated labels minus macro-F1 with that one decision left out.

Figures are built by pure functions from the tables here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.triage import predictions

METRICS: dict[str, str] = {
    "macro_f1": "Macro-F1",
    "balanced_accuracy": "Balanced accuracy",
    "macro_precision": "Macro precision",
    "macro_specificity": "Macro specificity",
}
REFERENCES = ("original", "curated")
GROUP_KINDS = ("all", "split", "config", "severity")
COLOURS = {"original": "#9aa5b1", "curated": "#1f77b4"}


class ScoresError(WbcreviewError):
    """Scores cannot be computed as asked."""


# --- metrics ---------------------------------------------------------------------------------


def class_order(*columns: Sequence) -> list[str]:
    """The classes present in any of `columns`, in CLASS_CODES order (unknown codes last)."""
    present = set()
    for col in columns:
        present |= {v for v in col if isinstance(v, str)}
    known = [c for c in CLASS_CODES if c in present]
    return known + sorted(present - set(CLASS_CODES))


def metrics(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None) -> dict:
    """n, classes and the four challenge metrics of predictions against labels.

    `labels` defaults to the classes present in either (scikit-learn's default).
    Balanced accuracy is scikit-learn's (mean recall over the classes in `y_true`);
    macro specificity is the mean over `labels` of TN / (TN + FP).
    """
    from sklearn.metrics import (
        balanced_accuracy_score,
        f1_score,
        multilabel_confusion_matrix,
        precision_score,
    )

    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ScoresError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if not y_true:
        return {"n": 0, "classes": 0, **dict.fromkeys(METRICS, float("nan"))}
    labels = list(labels) if labels is not None else class_order(y_true, y_pred)
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    spec = np.divide(tn, tn + fp, out=np.zeros(len(labels)), where=(tn + fp) > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "n": len(y_true),
        "classes": len(labels),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "balanced_accuracy": float(balanced),
        "macro_precision": float(
            precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "macro_specificity": float(spec.mean()),
    }


def rank_key(row: Mapping) -> tuple[float, float, float, float]:
    """The challenge's ordering key: higher is better, compared left to right."""
    return tuple(float(row[m]) for m in METRICS)  # type: ignore[return-value]


def leaderboard(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows of a score table ordered as the challenge ranks them (best first), with a rank."""
    if summary.empty:
        return summary.assign(rank=pd.Series(dtype=int))
    keys = summary.apply(rank_key, axis=1)
    order = sorted(range(len(summary)), key=lambda i: keys.iloc[i], reverse=True)
    out = summary.iloc[order].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def per_class(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None):
    """Per-class precision, recall, F1, specificity and support (scikit-learn's)."""
    from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = list(y_true), list(y_pred)
    labels = list(labels) if labels is not None else class_order(y_true, y_pred)
    if not y_true:
        return pd.DataFrame(
            columns=["class", "precision", "recall", "f1", "specificity", "support"]
        )
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    spec = np.divide(tn, tn + fp, out=np.zeros(len(labels)), where=(tn + fp) > 0)
    return pd.DataFrame(
        {"class": labels, "precision": p, "recall": r, "f1": f, "specificity": spec, "support": s}
    )


def confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None):
    """The confusion matrix as a DataFrame: rows are labels, columns predictions."""
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = list(y_true), list(y_pred)
    labels = list(labels) if labels is not None else class_order(y_true, y_pred)
    if not y_true:
        return pd.DataFrame(
            index=pd.Index([], name="label"), columns=pd.Index([], name="predicted")
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "a single label was found": a 1 x 1 matrix is right
        matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return pd.DataFrame(
        matrix,
        index=pd.Index(labels, name="label"),
        columns=pd.Index(labels, name="predicted"),
    )


def macro_f1_of_matrix(matrix: np.ndarray) -> float:
    """Macro-F1 of a square confusion matrix over the classes present (row or column > 0)."""
    tp = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + predicted) > 0
    if not present.any():
        return float("nan")
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[present].mean())


# --- references and rows ---------------------------------------------------------------------


def reference_labels(cur, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """One row per labelled cell: cell_id, original (current label), curated (None if the
    cell is removed), action (correct/remove/retain or None) and, for decided cells, the
    decision's final label."""
    cells = cur.execute(
        "SELECT cell_id, arg_min(label, config <> 'pristine') AS original FROM cells "
        "GROUP BY cell_id ORDER BY cell_id"
    ).df()
    cells["curated"] = cells["original"]
    cells["action"] = None
    if decisions is not None and len(decisions):
        dec = decisions.drop_duplicates("image_id", keep="last").set_index("image_id")
        idx = cells["cell_id"].isin(dec.index)
        acts = cells.loc[idx, "cell_id"].map(dec["action"])
        finals = cells.loc[idx, "cell_id"].map(dec["final_label"])
        cells.loc[idx, "action"] = acts
        cells.loc[idx & (cells["cell_id"].map(dec["action"]) == "correct"), "curated"] = finals
        cells.loc[idx & (cells["cell_id"].map(dec["action"]) == "remove"), "curated"] = None
    return cells


def scored_rows(cur, frame: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """A prediction file's rows with what they are scored against: image_id, config, split,
    severity, cell_id, predicted, original, curated, action."""
    rows = predictions.with_catalog(cur, frame)
    rows = rows.rename(columns={"label": "predicted"})[
        ["image_id", "config", "split", "severity", "cell_id", "predicted"]
    ]
    out = rows.merge(references, on="cell_id", how="left")
    return out[out["original"].isin(CLASS_CODES)].reset_index(drop=True)


def _groups(rows: pd.DataFrame, kinds: Sequence[str] = GROUP_KINDS):
    """(kind, group, mask) for every group of rows that has rows."""
    yield "all", "all", np.ones(len(rows), bool)
    for kind in kinds:
        if kind == "all":
            continue
        for value in sorted(rows[kind].dropna().unique()):
            yield kind, value, (rows[kind] == value).to_numpy()


def score_table(
    cur,
    prediction_files: Mapping[str, pd.DataFrame],
    decisions: pd.DataFrame | None,
    kinds: Sequence[str] = GROUP_KINDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every prediction file against both references, per group.

    Returns (summary, classes): summary has prediction, reference, kind, group, n, classes
    and the four metrics; classes has prediction, reference, kind, group and the per-class
    table. Removed cells count only in the original reference.
    """
    refs = reference_labels(cur, decisions)
    summary, classes = [], []
    for name, frame in prediction_files.items():
        rows = scored_rows(cur, frame, refs)
        for kind, group, mask in _groups(rows, kinds):
            part = rows[mask]
            for ref in REFERENCES:
                kept = part[part[ref].notna()]
                y_true, y_pred = kept[ref].tolist(), kept["predicted"].tolist()
                base = {"prediction": name, "reference": ref, "kind": kind, "group": group}
                summary.append({**base, **metrics(y_true, y_pred)})
                table = per_class(y_true, y_pred)
                for column, value in reversed(base.items()):
                    table.insert(0, column, value)
                classes.append(table)
    cols = ["prediction", "reference", "kind", "group", "n", "classes", *METRICS]
    summary_frame = pd.DataFrame(summary, columns=cols)
    class_frame = (
        pd.concat(classes, ignore_index=True)
        if classes
        else pd.DataFrame(columns=["prediction", "reference", "kind", "group", "class", "f1"])
    )
    return summary_frame, class_frame


def compare(summary: pd.DataFrame, kind: str = "all", group: str = "all") -> pd.DataFrame:
    """One row per prediction file: the four metrics before and after and their change,
    in the challenge's order of the curated scores (best first)."""
    part = summary[(summary["kind"] == kind) & (summary["group"] == group)]
    if part.empty:
        return pd.DataFrame()
    wide = part.pivot(index="prediction", columns="reference", values=[*METRICS, "n"])
    out = pd.DataFrame(index=wide.index)
    for m in METRICS:
        out[f"{m} original"] = wide[(m, "original")]
        out[f"{m} curated"] = wide[(m, "curated")]
        out[f"{m} change"] = wide[(m, "curated")] - wide[(m, "original")]
    out["rows original"] = wide[("n", "original")].astype(int)
    out["rows curated"] = wide[("n", "curated")].astype(int)
    curated = part[part["reference"] == "curated"].set_index("prediction")
    order = sorted(out.index, key=lambda p: rank_key(curated.loc[p]), reverse=True)
    out = out.loc[order].reset_index()
    out.insert(0, "rank after", np.arange(1, len(out) + 1))
    original = part[part["reference"] == "original"].set_index("prediction")
    before = sorted(original.index, key=lambda p: rank_key(original.loc[p]), reverse=True)
    out.insert(1, "rank before", [before.index(p) + 1 for p in out["prediction"]])
    return out


# --- movers ----------------------------------------------------------------------------------


def movers(cur, frame: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Each effective decision's effect on one prediction file's macro-F1 over all rows.

    delta_macro_f1 = macro-F1 against the curated labels minus macro-F1 against the
    curated labels with that decision alone left out (its cell back with its original
    label). Also the change of the F1 of the classes the decision touches. Sorted by the
    size of the effect, largest first. Retained cells change nothing and are left out.
    """
    cols = [
        "image_id", "action", "original_label", "final_label", "predicted", "rows",
        "delta_macro_f1", "delta_f1_original_class", "delta_f1_final_class",
    ]  # fmt: skip
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=cols)
    refs = reference_labels(cur, decisions)
    rows = scored_rows(cur, frame, refs)
    labels = class_order(rows["original"], rows["predicted"], rows["curated"].dropna())
    index = {c: k for k, c in enumerate(labels)}
    k = len(labels)
    pred = rows["predicted"].map(index).to_numpy()
    orig = rows["original"].map(index).to_numpy()
    cur_lab = rows["curated"].map(lambda v: index.get(v, -1) if isinstance(v, str) else -1)
    cur_lab = cur_lab.to_numpy()
    base = np.zeros((k, k), dtype=np.int64)
    keep = cur_lab >= 0
    np.add.at(base, (cur_lab[keep], pred[keep]), 1)
    base_f1 = macro_f1_of_matrix(base)
    base_classes = _class_f1(base)
    by_cell = rows.groupby("cell_id").indices
    out = []
    effective = decisions[decisions["action"].isin(["correct", "remove"])]
    for rec in effective.itertuples(index=False):
        members = by_cell.get(rec.image_id)
        if members is None:
            continue
        m = base.copy()
        for i in members:
            if cur_lab[i] >= 0:
                m[cur_lab[i], pred[i]] -= 1
            m[orig[i], pred[i]] += 1
        without = _class_f1(m)
        o, f = index.get(rec.current_label), index.get(rec.final_label)
        pristine = [i for i in members if rows["config"].iat[i] == "pristine"]
        out.append(
            {
                "image_id": rec.image_id,
                "action": rec.action,
                "original_label": rec.current_label,
                "final_label": rec.final_label if rec.action == "correct" else None,
                "predicted": rows["predicted"].iat[(pristine or list(members))[0]],
                "rows": len(members),
                "delta_macro_f1": base_f1 - macro_f1_of_matrix(m),
                "delta_f1_original_class": (base_classes[o] - without[o]) if o is not None else 0.0,
                "delta_f1_final_class": (base_classes[f] - without[f])
                if f is not None and rec.action == "correct"
                else 0.0,
            }
        )
    result = pd.DataFrame(out, columns=cols)
    if result.empty:
        return result
    order = result["delta_macro_f1"].abs().sort_values(ascending=False, kind="stable").index
    return result.loc[order].reset_index(drop=True)


def _class_f1(matrix: np.ndarray) -> np.ndarray:
    tp = np.diag(matrix).astype(float)
    denom = matrix.sum(axis=1) + matrix.sum(axis=0)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


# --- figures ---------------------------------------------------------------------------------


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=240)
    return fig


def metrics_figure(summary: pd.DataFrame, kind: str = "all", group: str = "all") -> go.Figure:
    """Grouped bars: each prediction file's four metrics, original beside curated."""
    part = summary[(summary["kind"] == kind) & (summary["group"] == group)]
    if part.empty:
        return _empty("No scores for this group")
    long = part.melt(
        id_vars=["prediction", "reference", "n"], value_vars=list(METRICS), var_name="metric"
    )
    long["metric"] = long["metric"].map(METRICS)
    fig = px.bar(
        long,
        x="prediction",
        y="value",
        color="reference",
        barmode="group",
        facet_col="metric",
        facet_col_wrap=4,
        category_orders={"reference": list(REFERENCES), "metric": list(METRICS.values())},
        color_discrete_map=COLOURS,
        hover_data={"n": True, "value": ":.4f"},
        text_auto=".3f",
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(range=[0, 1.05], title=None)
    fig.update_xaxes(title=None)
    fig.update_traces(textposition="outside", textfont_size=10)
    fig.update_layout(height=380, margin={"t": 40, "b": 10}, legend_title_text="labels")
    return fig


def per_class_figure(classes: pd.DataFrame, prediction: str, kind="all", group="all"):
    """Grouped bars of per-class F1 of one prediction file, original beside curated."""
    part = classes[
        (classes["prediction"] == prediction)
        & (classes["kind"] == kind)
        & (classes["group"] == group)
    ]
    if part.empty:
        return _empty("No per-class scores for this choice")
    order = class_order(part["class"])
    fig = px.bar(
        part,
        x="class",
        y="f1",
        color="reference",
        barmode="group",
        category_orders={"class": order, "reference": list(REFERENCES)},
        color_discrete_map=COLOURS,
        hover_data={"support": True, "precision": ":.3f", "recall": ":.3f", "f1": ":.3f"},
    )
    fig.update_yaxes(range=[0, 1.05], title="F1")
    fig.update_xaxes(title=None)
    fig.update_layout(height=340, margin={"t": 30, "b": 10}, legend_title_text="labels")
    return fig


def confusion_figure(matrix: pd.DataFrame, title: str) -> go.Figure:
    """A heatmap of a confusion matrix (labels down, predictions across), counts written in."""
    if matrix.empty:
        return _empty("No rows to count")
    # Colour by the share of each label's row, so rare classes show their errors too.
    shares = matrix.div(matrix.sum(axis=1).replace(0, 1), axis=0)
    fig = go.Figure(
        go.Heatmap(
            z=shares.to_numpy(),
            x=list(matrix.columns),
            y=list(matrix.index),
            text=matrix.to_numpy(),
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "share<br>of row"},
            hovertemplate="label %{y}<br>predicted %{x}<br>%{text} rows (%{z:.0%} of the label)"
            "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="label")
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_layout(title=title, height=460, margin={"t": 50, "b": 10})
    return fig


def movers_figure(table: pd.DataFrame, top: int = 15) -> go.Figure:
    """Horizontal bars of the decisions that moved macro-F1 most (largest effect on top)."""
    if table.empty:
        return _empty("No corrections or removals decided yet")
    part = table.head(top).iloc[::-1]
    what = [
        f"{r.image_id}: {r.original_label}→{r.final_label}"
        if r.action == "correct"
        else f"{r.image_id}: {r.original_label} removed"
        for r in part.itertuples(index=False)
    ]
    fig = go.Figure(
        go.Bar(
            x=part["delta_macro_f1"],
            y=what,
            orientation="h",
            marker_color=np.where(part["delta_macro_f1"] >= 0, "#2ca02c", "#d62728"),
            hovertemplate="%{y}<br>macro-F1 change %{x:+.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="macro-F1 change this decision makes", tickformat="+.3f")
    fig.update_layout(height=max(240, 28 * len(part) + 80), margin={"t": 20, "b": 10})
    return fig
