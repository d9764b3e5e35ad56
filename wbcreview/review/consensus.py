"""Consensus and agreement: pure functions on a votes DataFrame.

The input is `store.current_votes()` (one current vote per reviewer and cell, with at least
the columns cell_id, reviewer, action, label, and reason for removals) and, where given,
`store.current_adjudications()`. `labels` maps each cell to its current label, the one a
'retain' vote keeps: with it, 'correct to the current label' counts as 'retain', and
agreement can be measured per class.

A decision is written as a key: 'retain', 'correct:LY', 'remove', 'unsure'. For agreement
statistics each vote becomes a category, the outcome of the vote: the class it leaves the
cell with (retain: the current label, or 'retain' when labels are not given), 'remove'.
'unsure' votes are not an answer and are left out of every agreement statistic.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from wbcreview import config
from wbcreview.errors import WbcreviewError

STATUSES: tuple[str, ...] = ("pending", "agreed", "disputed", "adjudicated")
# Classes that experts confuse (issue 9); PMY is in two groups.
HARD_GROUPS: dict[str, tuple[str, ...]] = {
    "SNE/BNE": ("SNE", "BNE"),
    "LY/VLY/PLY": ("LY", "VLY", "PLY"),
    "BL/MO/PMY": ("BL", "MO", "PMY"),
    "PMY/MY/MMY": ("PMY", "MY", "MMY"),
}
VOTE_FIELDS = ("cell_id", "reviewer", "action", "label")

Labels = Mapping[str, str] | pd.Series | None


class ConsensusError(WbcreviewError, ValueError):
    """The votes given to a consensus function cannot be used as they are."""


# --- settings --------------------------------------------------------------------------


def min_votes_setting() -> int:
    """Setting WBCREVIEW_MIN_VOTES: votes a cell needs before it is agreed or disputed."""
    return config.get_int("WBCREVIEW_MIN_VOTES", minimum=1)


def quorum_setting() -> float:
    """Setting WBCREVIEW_QUORUM: share of the votes the leading decision needs."""
    raw = config.get("WBCREVIEW_QUORUM")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise config.SettingError(f"WBCREVIEW_QUORUM={raw!r} is not a share above 0 and at most 1")
    return value


# --- decisions -------------------------------------------------------------------------


def _check_votes(votes: pd.DataFrame) -> None:
    missing = [c for c in VOTE_FIELDS if c not in votes.columns]
    if missing:
        raise ConsensusError(f"votes have no column {missing[0]!r}: pass store.current_votes()")
    if (votes["action"] == "undo").any():
        raise ConsensusError(
            "votes contain undo rows: pass store.current_votes(), not votes_frame()"
        )
    if votes.duplicated(["cell_id", "reviewer"]).any():
        first = votes[votes.duplicated(["cell_id", "reviewer"])].iloc[0]
        raise ConsensusError(
            f"reviewer {first['reviewer']!r} has two votes on cell {first['cell_id']!r}: "
            "pass store.current_votes()"
        )


def _labels(labels: Labels) -> pd.Series:
    if labels is None:
        return pd.Series(dtype=object)
    return pd.Series(labels, dtype=object) if not isinstance(labels, pd.Series) else labels


def decisions(votes: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """The votes with columns `decision` (the key) and `outcome` (the category) added.

    With `labels`, 'correct' to the cell's current label is turned into 'retain'.
    """
    _check_votes(votes)
    out = votes.copy()
    current = out["cell_id"].map(_labels(labels)).astype(object)
    action = out["action"].astype(object)
    label = out["label"].astype(object).where(out["label"].notna(), None)
    same = (action == "correct") & (label == current) & current.notna()
    action = action.where(~same, "retain")
    label = label.where(~same, None)
    out["action"], out["label"] = action, label
    is_correct = action == "correct"
    out["decision"] = action.where(~is_correct, "correct:" + label.fillna("?").astype(str))
    outcome = action.copy()
    outcome[is_correct] = label[is_correct]
    keep = (action == "retain") & current.notna()
    outcome[keep] = current[keep]
    out["outcome"] = outcome
    return out


def outcome(action: object, label: object, current: object) -> object:
    """The category of one decision: the class it ends in (a correction's label, or the
    current label for retain), else the action (remove, unsure); None for no decision."""
    if action is None or (isinstance(action, float) and np.isnan(action)):
        return None
    if action == "correct" and isinstance(label, str):
        return label
    if action == "retain":
        return current if isinstance(current, str) else "retain"
    return action


# --- tallies and status ----------------------------------------------------------------


def _weights(votes: pd.DataFrame, weights: Mapping[str, float] | None) -> pd.Series:
    """Each vote's weight: its reviewer's weight; reviewers not in `weights` get their mean."""
    if weights is None:
        return pd.Series(1.0, index=votes.index)
    fallback = float(np.mean(list(weights.values()))) if weights else 1.0
    return votes["reviewer"].map(lambda r: float(weights.get(r, fallback))).astype(float)


def tally(
    votes: pd.DataFrame, labels: Labels = None, weights: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Per cell and decision: cell_id, decision, action, label, reason, votes, weight.

    `reason` is the most common removal reason among a 'remove' decision's votes. Rows are
    ordered by cell, then weight (highest first), then decision.
    """
    d = decisions(votes, labels)
    d["weight"] = _weights(d, weights)
    if "reason" not in d.columns:
        d["reason"] = None
    columns = ["cell_id", "decision", "action", "label", "reason", "votes", "weight"]
    if d.empty:
        empty = pd.DataFrame(columns=columns).astype(object)
        return empty.astype({"votes": "int64", "weight": float})
    grouped = d.groupby(["cell_id", "decision"], sort=False)
    out = grouped.agg(votes=("reviewer", "size"), weight=("weight", "sum")).reset_index()
    reasons = d[d["action"] == "remove"].dropna(subset=["reason"])
    top = (
        reasons.groupby(["cell_id", "reason"]).size().rename("n").reset_index()
        .sort_values(["cell_id", "n", "reason"], ascending=[True, False, True])
        .drop_duplicates("cell_id").set_index("cell_id")["reason"]
    )  # fmt: skip
    parts = out["decision"].str.split(":", n=1, expand=True).reindex(columns=[0, 1])
    out["action"] = parts[0].astype(object)
    out["label"] = parts[1].astype(object).where(parts[1].notna(), None)
    out["reason"] = out["cell_id"].map(top).where(out["action"] == "remove", None)
    out = out.sort_values(["cell_id", "weight", "decision"], ascending=[True, False, True])
    return out[columns].reset_index(drop=True)


def _hard_groups(decided: pd.DataFrame) -> pd.Series:
    """cell_id -> the hard group when the cell's votes name two or more classes, all in it."""
    classes = decided[~decided["outcome"].isin(["remove", "unsure", "retain"])]
    classes = classes.dropna(subset=["outcome"]).drop_duplicates(["cell_id", "outcome"])
    distinct = classes.groupby("cell_id")["outcome"].size()
    result = pd.Series(None, index=distinct.index, dtype=object)
    for name, members in reversed(HARD_GROUPS.items()):  # the first group wins
        inside = classes["outcome"].isin(members).groupby(classes["cell_id"]).all()
        result[(distinct >= 2) & inside] = name
    return result


def consensus_table(
    votes: pd.DataFrame,
    adjudications: pd.DataFrame | None = None,
    labels: Labels = None,
    *,
    min_votes: int | None = None,
    quorum: float | None = None,
    weights: Mapping[str, float] | None = None,
    leading: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per cell with votes or an adjudication: the tally, the leading decision and
    its share, the status, and the final decision.

    Status: 'adjudicated' when the cell has a current adjudication (it wins); else
    'pending' with fewer than `min_votes` votes; 'agreed' when the leading decision has at
    least `quorum` of the (weighted) votes, is not tied and is not 'unsure'; else
    'disputed'. `weights` (reviewer -> weight, e.g. calibration accuracy) weights the
    shares; reviewers without a weight get the mean weight; the vote count for `min_votes`
    is not weighted. `hard_group` names the confusable group when the votes disagree only
    within one (those go to the expert first). `leading` (cell_id, decision, probability,
    second: a probabilistic aggregation's, see aggregation.py) replaces the tally's leading
    decision and share: a cell is agreed when that probability reaches `quorum`; cells
    missing from it (only 'unsure' votes) lead with 'unsure'. Columns: cell_id, votes, weight, tally,
    decision, action, label, reason, share, status, hard_group, final_action, final_label,
    final_reason, adjudicated_by, basis.
    """
    min_votes = min_votes_setting() if min_votes is None else int(min_votes)
    quorum = quorum_setting() if quorum is None else float(quorum)
    if min_votes < 1:
        raise ConsensusError(f"min_votes={min_votes} is below 1")
    if not 0 < quorum <= 1:
        raise ConsensusError(f"quorum={quorum} is not a share above 0 and at most 1")
    columns = [
        "cell_id", "votes", "weight", "tally", "decision", "action", "label", "reason", "share",
        "status", "hard_group", "final_action", "final_label", "final_reason", "adjudicated_by",
        "basis",
    ]  # fmt: skip
    t = tally(votes, labels, weights)
    d = decisions(votes, labels)
    lead = t.drop_duplicates("cell_id").set_index("cell_id")  # tally rows are best first
    totals = t.groupby("cell_id").agg(votes=("votes", "sum"), weight=("weight", "sum"))
    rank = t.groupby("cell_id").cumcount()
    second = t[rank == 1].set_index("cell_id")["weight"].reindex(lead.index)
    parts = t["decision"] + " " + t["votes"].astype(str)
    text = parts.groupby(t["cell_id"]).agg(", ".join)
    out = pd.DataFrame(index=lead.index)
    out["votes"] = totals["votes"]
    out["weight"] = totals["weight"].astype(float)
    out["tally"] = text
    for column in ("decision", "action", "label", "reason"):
        out[column] = lead[column]
    out["share"] = (lead["weight"] / out["weight"].where(out["weight"] > 0)).fillna(0.0)
    tied = np.isclose(second.astype(float).fillna(-1.0), lead["weight"].astype(float))
    if leading is not None:
        model = leading.set_index("cell_id").reindex(out.index)
        decision = model["decision"].astype(object).where(model["decision"].notna(), "unsure")
        parts = decision.str.split(":", n=1, expand=True).reindex(columns=[0, 1])
        out["decision"] = decision
        out["action"] = parts[0].astype(object)
        out["label"] = parts[1].astype(object).where(parts[1].notna(), None)
        removal = t[t["action"] == "remove"].drop_duplicates("cell_id").set_index("cell_id")
        reason = removal["reason"].reindex(out.index)
        out["reason"] = reason.where(out["action"] == "remove", None)
        out["share"] = model["probability"].astype(float).fillna(0.0)
        tied = np.isclose(model["second"].astype(float).fillna(-1.0), out["share"])
        lead = out
    agreed = ~tied & (out["share"] >= quorum - 1e-9) & (lead["decision"] != "unsure")
    out["status"] = np.where(
        out["votes"] < min_votes, "pending", np.where(agreed, "agreed", "disputed")
    )
    out["hard_group"] = _hard_groups(d).reindex(out.index)
    is_agreed = out["status"] == "agreed"
    for column in ("action", "label", "reason"):
        out[f"final_{column}"] = out[column].where(is_agreed, None)
    out["adjudicated_by"] = None
    out["basis"] = None
    out = out.reset_index()
    if adjudications is not None and not adjudications.empty:
        adj = adjudications.drop_duplicates("cell_id", keep="last").set_index("cell_id")
        missing = adj.index.difference(pd.Index(out["cell_id"]))
        empty = pd.DataFrame(
            {"cell_id": missing, "votes": 0, "weight": 0.0, "tally": "", "share": 0.0}
        )
        out = pd.concat([out, empty], ignore_index=True) if len(missing) else out
        hit = out["cell_id"].isin(adj.index)
        cells = out.loc[hit, "cell_id"]
        out.loc[hit, "status"] = "adjudicated"
        for column, source in (
            ("final_action", "action"),
            ("final_label", "label"),
            ("final_reason", "reason"),
            ("adjudicated_by", "adjudicator"),
            ("basis", "basis"),
        ):
            values = adj[source].reindex(cells) if source in adj.columns else None
            out[column] = out[column].astype(object)
            out.loc[hit, column] = None if values is None else values.to_numpy(dtype=object)
    out = out.sort_values("cell_id").reset_index(drop=True)[columns]
    for column in columns:
        if column not in ("votes", "weight", "share"):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    out["votes"] = out["votes"].astype("int64")
    out["weight"] = out["weight"].astype(float)
    out["share"] = out["share"].astype(float)
    return out


def final_outcomes(table: pd.DataFrame, labels: Labels = None) -> pd.Series:
    """cell_id -> category of the final decision (adjudicated, or agreed), from consensus_table."""
    current = _labels(labels)
    decided = table[table["final_action"].notna()]
    values = [
        outcome(a, lab, current.get(c))
        for c, a, lab in zip(
            decided["cell_id"], decided["final_action"], decided["final_label"], strict=True
        )
    ]
    return pd.Series(values, index=decided["cell_id"].to_numpy(), dtype=object)


# --- agreement -------------------------------------------------------------------------


def ratings(votes: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """cell_id, reviewer, category (the outcome) of every vote but 'unsure' ones."""
    d = decisions(votes, labels)
    d = d[d["outcome"] != "unsure"]
    return (
        d[["cell_id", "reviewer", "outcome"]]
        .rename(columns={"outcome": "category"})
        .reset_index(drop=True)
    )


def category_counts(ratings_frame: pd.DataFrame) -> pd.DataFrame:
    """Cells x categories: how many ratings each cell got in each category.

    Only cells with at least two ratings are kept (a single rating cannot agree).
    """
    if ratings_frame.empty:
        return pd.DataFrame(dtype="int64")
    counts = pd.crosstab(ratings_frame["cell_id"], ratings_frame["category"])
    return counts[counts.sum(axis=1) >= 2]


def fleiss_kappa(counts: np.ndarray | pd.DataFrame) -> float:
    """Fleiss' kappa from a subjects x categories matrix of rating counts.

    Subjects may have different numbers of ratings (each needs at least two; others are
    dropped): P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), p_j over all ratings.
    Returns NaN when chance agreement is 1 (a single category) or no subject is left.
    """
    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.size == 0:
        return float("nan")
    n = m.sum(axis=1)
    m, n = m[n >= 2], n[n >= 2]
    if len(n) == 0:
        return float("nan")
    p_i = ((m * (m - 1)).sum(axis=1)) / (n * (n - 1))
    p_bar = p_i.mean()
    p_j = m.sum(axis=0) / m.sum()
    p_e = float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def fleiss_kappa_by_category(counts: pd.DataFrame) -> pd.Series:
    """Fleiss' kappa of each category (that category against all others), by column."""
    values = {}
    for column in counts.columns:
        hit = counts[column].to_numpy(dtype=float)
        binary = np.column_stack([hit, counts.to_numpy(dtype=float).sum(axis=1) - hit])
        values[column] = fleiss_kappa(binary)
    return pd.Series(values, dtype=float)


def krippendorff_alpha(counts: np.ndarray | pd.DataFrame) -> float:
    """Krippendorff's alpha (nominal) from a units x categories matrix of rating counts.

    Uses the `krippendorff` package; units may have any number of ratings (units with
    fewer than two are not pairable and do not count). NaN when undefined (one category).
    """
    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2 or m.shape[0] == 0:
        return float("nan")
    m = m[m.sum(axis=1) >= 2]
    if m.shape[0] == 0 or (m.sum(axis=0) > 0).sum() < 2:
        return float("nan")
    import krippendorff  # lazy: only the Consensus page needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(krippendorff.alpha(value_counts=m, level_of_measurement="nominal"))


def observed_agreement(counts: np.ndarray | pd.DataFrame) -> float:
    """The share of agreeing rating pairs within cells (Fleiss' P-bar); NaN without pairs."""
    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.size == 0:
        return float("nan")
    n = m.sum(axis=1)
    m, n = m[n >= 2], n[n >= 2]
    if len(n) == 0:
        return float("nan")
    return float(((m * (m - 1)).sum(axis=1) / (n * (n - 1))).mean())


def agreement(votes: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """Agreement over all cells with two or more ratings, then per category.

    Columns: category ('all' first), cells, ratings, observed, fleiss_kappa,
    krippendorff_alpha. A category's row measures that category against all others, on
    every cell (as Fleiss' per-category kappa does).
    """
    columns = ["category", "cells", "ratings", "observed", "fleiss_kappa", "krippendorff_alpha"]
    counts = category_counts(ratings(votes, labels))
    if counts.empty:
        return pd.DataFrame([["all", 0, 0, np.nan, np.nan, np.nan]], columns=columns)
    rows = [
        [
            "all",
            len(counts),
            int(counts.to_numpy().sum()),
            observed_agreement(counts),
            fleiss_kappa(counts),
            krippendorff_alpha(counts),
        ]
    ]
    per_kappa = fleiss_kappa_by_category(counts)
    total = counts.sum(axis=1).to_numpy()
    for category in sorted(counts.columns):
        hit = counts[category].to_numpy()
        binary = np.column_stack([hit, total - hit])
        rows.append(
            [
                category,
                int((hit > 0).sum()),
                int(hit.sum()),
                observed_agreement(binary),
                float(per_kappa[category]),
                krippendorff_alpha(binary),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


def pairwise_cohen(
    votes: pd.DataFrame, labels: Labels = None, *, min_shared: int = 2
) -> pd.DataFrame:
    """Cohen's kappa (scikit-learn) for every pair of reviewers with `min_shared` cells in common.

    Columns: reviewer_a, reviewer_b (a < b), shared, agreement (share of equal ratings),
    kappa (NaN when both rated everything the same single category).
    """
    columns = ["reviewer_a", "reviewer_b", "shared", "agreement", "kappa"]
    r = ratings(votes, labels)
    if r.empty:
        return pd.DataFrame(columns=columns)
    from sklearn.metrics import cohen_kappa_score  # lazy: scikit-learn costs ~2 s to import

    wide = r.pivot(index="cell_id", columns="reviewer", values="category")
    rows = []
    for a, b in itertools.combinations(sorted(wide.columns), 2):
        both = wide[[a, b]].dropna()
        if len(both) < max(1, min_shared):
            continue
        x, y = both[a].astype(str).to_numpy(), both[b].astype(str).to_numpy()
        if len(set(x) | set(y)) < 2:
            kappa = float("nan")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                kappa = float(cohen_kappa_score(x, y))
        rows.append([a, b, len(both), float((x == y).mean()), kappa])
    return pd.DataFrame(rows, columns=columns)


def agreement_with_final(
    votes: pd.DataFrame, table: pd.DataFrame, labels: Labels = None
) -> pd.DataFrame:
    """Each reviewer's agreement with the final decisions (adjudicated or agreed cells).

    `table` is consensus_table(...). Columns: reviewer, team, cells (rated cells with a
    final decision, 'unsure' votes left out), agreed, share, unsure.
    """
    columns = ["reviewer", "team", "cells", "agreed", "share", "unsure"]
    final = final_outcomes(table, labels)
    d = decisions(votes, labels)
    d = d[d["cell_id"].isin(final.index)]
    if d.empty:
        return pd.DataFrame(columns=columns)
    d = d.assign(final=d["cell_id"].map(final))
    rows = []
    for reviewer, group in d.groupby("reviewer", sort=True):
        team = group["team"].iloc[0] if "team" in group.columns else None
        unsure = int((group["outcome"] == "unsure").sum())
        rated = group[group["outcome"] != "unsure"]
        agreed = int((rated["outcome"] == rated["final"]).sum())
        share = agreed / len(rated) if len(rated) else float("nan")
        rows.append([reviewer, team, len(rated), agreed, share, unsure])
    return pd.DataFrame(rows, columns=columns)


def merged_groups(groups: Mapping[str, tuple[str, ...]] = HARD_GROUPS) -> dict[str, str]:
    """label -> merged group name, joining groups that share a label (BL/MO/PMY/MY/MMY)."""
    parents: dict[str, str] = {}

    def find(x: str) -> str:
        while parents.setdefault(x, x) != x:
            x = parents[x]
        return x

    for members in groups.values():
        for other in members[1:]:
            parents[find(other)] = find(members[0])
    components: dict[str, list[str]] = {}
    for label in parents:
        components.setdefault(find(label), []).append(label)
    order = {label: i for i, label in enumerate(dict.fromkeys(itertools.chain(*groups.values())))}
    names = {root: "/".join(sorted(m, key=order.__getitem__)) for root, m in components.items()}
    return {label: names[find(label)] for label in parents}


def hard_group_agreement(votes: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """Agreement within each confusable group, on fine labels and with the group merged.

    For each group of HARD_GROUPS, the cells where some rating falls in the group: observed
    agreement, Fleiss' kappa and Krippendorff's alpha on the fine labels and with the
    group's labels merged into one. The last row, 'all groups merged', compares all cells
    with fine labels against labels merged by `merged_groups()`. Pass `labels` so that
    'retain' votes count as the class they keep.
    """
    columns = [
        "group", "cells", "ratings", "agreement_fine", "agreement_merged", "kappa_fine",
        "kappa_merged", "alpha_fine", "alpha_merged",
    ]  # fmt: skip
    r = ratings(votes, labels)
    rows = []
    scopes = [
        (name, set(members), dict.fromkeys(members, name)) for name, members in HARD_GROUPS.items()
    ]
    scopes.append(("all groups merged", None, merged_groups()))
    for name, members, mapping in scopes:
        if members is None:
            sub = r
        else:
            cells = r.loc[r["category"].isin(members), "cell_id"].unique()
            sub = r[r["cell_id"].isin(cells)]
        fine = category_counts(sub)
        merged = category_counts(
            sub.assign(category=sub["category"].map(lambda c, m=mapping: m.get(c, c)))
        )
        rows.append(
            [
                name,
                len(fine),
                int(fine.to_numpy().sum()) if not fine.empty else 0,
                observed_agreement(fine),
                observed_agreement(merged),
                fleiss_kappa(fine),
                fleiss_kappa(merged),
                krippendorff_alpha(fine),
                krippendorff_alpha(merged),
            ]
        )
    return pd.DataFrame(rows, columns=columns)


# --- calibration -----------------------------------------------------------------------


def calibration_accuracy(
    votes: pd.DataFrame, calibration: pd.DataFrame, labels: Labels = None
) -> pd.DataFrame:
    """Each reviewer's accuracy on calibration cells, overall ('all') and per answer class.

    `calibration` is store.calibration_frame() (cell_id, action, label, reason). A vote is
    right when its outcome equals the answer's (remove matches remove, whatever the
    reason); 'unsure' counts as wrong. Columns: reviewer, team, category, cells, correct,
    accuracy.
    """
    columns = ["reviewer", "team", "category", "cells", "correct", "accuracy"]
    if calibration.empty or votes.empty:
        return pd.DataFrame(columns=columns)
    current = _labels(labels).to_dict()
    for c, a, lab in zip(
        calibration["cell_id"], calibration["action"], calibration["label"], strict=True
    ):
        if a == "retain" and c not in current:
            current[c] = lab
    # A 'retain' answer has no label of its own: it keeps the cell's current label.
    answers = {
        c: outcome(a, lab, current.get(c, lab) if a == "retain" else lab)
        for c, a, lab in zip(
            calibration["cell_id"], calibration["action"], calibration["label"], strict=True
        )
    }
    d = decisions(votes[votes["cell_id"].isin(answers)], current)
    if d.empty:
        return pd.DataFrame(columns=columns)
    d = d.assign(answer=d["cell_id"].map(answers))
    d = d.assign(right=d["outcome"] == d["answer"])
    rows = []
    for reviewer, group in d.groupby("reviewer", sort=True):
        team = group["team"].iloc[0] if "team" in group.columns else None
        parts = [("all", group)] + sorted(group.groupby("answer"), key=lambda kv: str(kv[0]))
        for category, part in parts:
            right = int(part["right"].sum())
            rows.append([reviewer, team, category, len(part), right, right / len(part)])
    return pd.DataFrame(rows, columns=columns)


def calibration_weights(accuracy: pd.DataFrame, *, min_cells: int = 5) -> dict[str, float]:
    """reviewer -> overall calibration accuracy, for reviewers with `min_cells` or more.

    Feed it to consensus_table(weights=...); reviewers left out get the mean weight.
    """
    overall = accuracy[(accuracy["category"] == "all") & (accuracy["cells"] >= min_cells)]
    return {str(r): float(a) for r, a in zip(overall["reviewer"], overall["accuracy"], strict=True)}
