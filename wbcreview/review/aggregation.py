"""Probabilistic aggregation of votes and routing by confidence: pure functions on DataFrames.

Every method turns the current votes (store.current_votes()) into a posterior over each
cell's outcome: the class the cell is left with ('retain' counts as the current label),
or 'remove'. 'unsure' votes are not an answer and do not enter the models.

- majority: one vote each, the posterior is the share of the votes (today's rule);
- calibration: votes weighted by each annotator's accuracy on calibration cells;
- dawid-skene: Dawid and Skene (1979), each annotator's confusion matrix by EM (crowd-kit);
- glad: GLAD (Whitehill et al. 2009), annotator skill and cell difficulty (crowd-kit);
- semi-supervised: Dawid-Skene with the expert's calibration cells as known labels;
- hard-group: a Dawid-Skene with few parameters that knows the hard groups and takes the
  current label as each cell's prior, the calibration cells as known answers
  (hard_group_model.py). The one that beats majority with 3 votes a cell (bench-aggregation).

A cell is agreed when its leading posterior reaches the threshold (consensus_table's
`quorum`); the expected number of wrong agreed decisions is the sum of (1 - p) over the
agreed cells. Nothing here writes: changing the method or the threshold recomputes from the
append-only votes and adjudications, and an adjudication always wins.
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from wbcreview import config
from wbcreview.review import consensus, hard_group_model
from wbcreview.review.consensus import Labels

METHODS: dict[str, str] = {
    "majority": "Plain majority (one vote each)",
    "calibration": "Weighted by calibration accuracy",
    "dawid-skene": "Dawid-Skene (each annotator's confusion matrix)",
    "glad": "GLAD (annotator skill and cell difficulty)",
    "semi-supervised": "Dawid-Skene with calibration cells as known labels",
    "hard-group": "Hard-group model (current label as prior, calibration cells as known)",
}
SHARE_METHODS = ("majority", "calibration")  # the threshold is a share of the votes
MODEL_THRESHOLD = 0.95  # default threshold of the model methods (a posterior probability)
MIN_CALIBRATION_CELLS = 5  # below this an annotator's calibration accuracy is not a weight
DS_ITERATIONS = 100
PRIOR_RIGHT, PRIOR_WRONG = 4.0, 1.0  # Dawid-Skene's Dirichlet pseudo-votes, see _prior_counts
GLAD_ITERATIONS = 20
# Models see each vote as the outcome it leaves the cell with (a class or 'remove'), so a
# confusion matrix is over classes. Measured on bench-aggregation (seed 0, 1,000 cells):
# votes as decisions (retain, correct:X, remove) pool every class's 'retain' and did
# worse with 10 votes per cell (88 % of agreed decisions right at 0.95, against 99 %);
# adding the current label as one more annotator made 3 votes worse (it outvoted teams).
MODEL_SPACE = "outcome"
HARD_IMPORTANCE = 2.0  # an error inside a hard group costs this much more (expert queue)
CACHED_FITS = 8  # model aggregations kept, keyed by the votes' state (see _remembered)


class AggregationError(consensus.ConsensusError):
    """An aggregation method or threshold cannot be used as given."""


# --- settings --------------------------------------------------------------------------


def method_setting() -> str:
    """Setting WBCREVIEW_AGGREGATION: the aggregation method (a key of METHODS)."""
    return check_method(config.get("WBCREVIEW_AGGREGATION"))


def threshold_setting(method: str) -> float:
    """Setting WBCREVIEW_THRESHOLD, else the method's default threshold."""
    raw = config.get("WBCREVIEW_THRESHOLD").strip()
    if not raw:
        return default_threshold(method)
    try:
        return check_threshold(float(raw))
    except (ValueError, AggregationError):
        raise config.SettingError(
            f"WBCREVIEW_THRESHOLD={raw!r} is not a probability above 0 and at most 1"
        ) from None


def check_method(method: str) -> str:
    """`method` if it is a key of METHODS; AggregationError naming the choices otherwise."""
    if method not in METHODS:
        raise AggregationError(f"aggregation method {method!r} is not one of {', '.join(METHODS)}")
    return method


def check_threshold(threshold: float) -> float:
    """`threshold` as a float if 0 < threshold <= 1; AggregationError otherwise."""
    value = float(threshold)
    if not 0 < value <= 1:
        raise AggregationError(f"threshold {threshold!r} is not above 0 and at most 1")
    return value


def default_threshold(method: str) -> float:
    """The quorum (WBCREVIEW_QUORUM) for the share methods, MODEL_THRESHOLD for models."""
    check_method(method)
    return consensus.quorum_setting() if method in SHARE_METHODS else MODEL_THRESHOLD


def choice(stored: Mapping[str, str] | None = None) -> tuple[str, float]:
    """The project's (method, threshold): what the store holds, else the settings."""
    stored = stored or {}
    method = check_method(stored.get("method") or method_setting())
    raw = stored.get("threshold")
    if raw:
        return method, check_threshold(float(raw))
    if stored.get("method"):
        return method, default_threshold(method)
    return method, threshold_setting(method)


# --- the aggregation --------------------------------------------------------------------


@dataclass
class Aggregation:
    """What a method makes of the votes.

    posterior: cells x outcome categories, rows sum to 1 (cells with only 'unsure' votes
    have no row). leading: cell_id, decision (key as in consensus.decisions), probability,
    second (the runner-up's probability), outcome. confusion: reviewer -> estimated true x
    voted outcome, rows sum to 1. annotators: reviewer, team, votes, accuracy (the
    expected share of their answers that are right), skill (GLAD's alpha, else NaN), and
    for 'hard-group' the model's own parameters (hard_group_model.Fit.annotators).
    difficulty: cell_id -> GLAD's 1/beta (higher is harder); empty for other methods.
    """

    method: str
    posterior: pd.DataFrame
    leading: pd.DataFrame
    confusion: dict[str, pd.DataFrame] = field(default_factory=dict)
    annotators: pd.DataFrame = field(default_factory=pd.DataFrame)
    difficulty: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


def _answers(votes: pd.DataFrame, labels: Labels, space: str = "outcome") -> pd.DataFrame:
    d = consensus.decisions(votes, labels)
    d = d[d["outcome"].notna() & (d["outcome"] != "unsure")]
    return d.assign(outcome=d[space].astype(str), reviewer=d["reviewer"].astype(str))


def known_outcomes(calibration: pd.DataFrame | None, labels: Labels = None) -> pd.Series:
    """cell_id -> outcome category of each calibration answer (retain: the cell's label)."""
    if calibration is None or calibration.empty:
        return pd.Series(dtype=object)
    current = consensus._labels(labels)
    values = {}
    for cell, action, label in zip(
        calibration["cell_id"], calibration["action"], calibration["label"], strict=True
    ):
        keep = current.get(cell) if isinstance(current.get(cell), str) else label
        outcome = consensus.outcome(action, label, keep if action == "retain" else label)
        if outcome is not None:
            values[cell] = outcome
    return pd.Series(values, dtype=object)


def _shares(answers: pd.DataFrame, weights: Mapping[str, float] | None) -> pd.DataFrame:
    w = consensus._weights(answers, weights)
    table = w.groupby([answers["cell_id"], answers["outcome"]]).sum().unstack(fill_value=0.0)
    table = table.astype(float)
    return table.div(table.sum(axis=1).where(lambda s: s > 0, 1.0), axis=0)


def _crowdkit_frame(answers: pd.DataFrame) -> pd.DataFrame:
    frame = answers[["cell_id", "reviewer", "outcome"]].reset_index(drop=True)
    return frame.set_axis(["task", "worker", "label"], axis=1)


def _dawid_skene(answers: pd.DataFrame, known: pd.Series | None) -> pd.DataFrame:
    from crowdkit.aggregation import DawidSkene  # heavy import: only when asked for

    data = _crowdkit_frame(answers)
    truth = None
    if known is not None and len(known):
        categories = set(data["label"])
        truth = known[known.index.isin(set(data["task"])) & known.isin(categories)]
        truth = truth.astype(str) if len(truth) else None
    model = DawidSkene(n_iter=DS_ITERATIONS, initial_error_strategy="addition")
    with warnings.catch_warnings():  # crowd-kit 1.4.2 uses pandas keywords deprecated in 3.x
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        model.fit(data, true_labels=truth, initial_error=_prior_counts(data))
    return model.probas_.astype(float)


def _prior_counts(data: pd.DataFrame) -> pd.DataFrame:
    """Dirichlet pseudo-counts added to every annotator's confusion counts at each M-step.

    Without them Dawid-Skene fits a class an annotator met twice with certainty and its
    posteriors are overconfident on sparse votes (measured: 22 wrong agreed decisions
    where it expected 0.7, 270 cells, 3 votes each). PRIOR_RIGHT pseudo-votes on the
    diagonal, PRIOR_WRONG spread over the other outcomes, for each true outcome.
    """
    categories = sorted(set(data["label"]))
    workers = sorted(set(data["worker"]))
    k = len(categories)
    block = np.full((k, k), PRIOR_WRONG / max(k - 1, 1))
    np.fill_diagonal(block, PRIOR_RIGHT)
    index = pd.MultiIndex.from_product([workers, categories], names=["worker", "label"])
    values = np.tile(block, (len(workers), 1))  # rows: (worker, voted), columns: true
    return pd.DataFrame(values, index=index, columns=pd.Index(categories, name="label"))


def _glad(answers: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    from crowdkit.aggregation import GLAD  # heavy import: only when asked for

    model = GLAD(n_iter=GLAD_ITERATIONS, tol=1e-4)
    with warnings.catch_warnings():  # as in _dawid_skene
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        model.fit(_crowdkit_frame(answers))
    difficulty = 1.0 / np.exp(model.betas_.astype(float))
    return model.probas_.astype(float), model.alphas_.astype(float), difficulty


def aggregate(
    votes: pd.DataFrame,
    labels: Labels = None,
    *,
    method: str = "majority",
    calibration: pd.DataFrame | None = None,
    weights: Mapping[str, float] | None = None,
) -> Aggregation:
    """Aggregate the current votes with `method` (a key of METHODS).

    `calibration` is store.calibration_frame(): the 'calibration' method weights each
    annotator by their accuracy on it (or by `weights` when given), 'semi-supervised'
    and 'hard-group' fix those cells' posteriors to the known answer. Model methods are
    fitted once per state of the votes (see _remembered). Raises AggregationError for an
    unknown method.
    """
    check_method(method)
    answers = _answers(votes, labels, "outcome" if method in SHARE_METHODS else MODEL_SPACE)
    columns = ["cell_id", "decision", "probability", "second", "outcome"]
    if answers.empty:
        return Aggregation(method, pd.DataFrame(dtype=float), pd.DataFrame(columns=columns))
    if method in SHARE_METHODS:
        return _aggregate(answers, votes, labels, method, calibration, weights)
    return _remembered(answers, labels, method, calibration)


_FITS: OrderedDict[str, Aggregation] = OrderedDict()
_FITS_LOCK = threading.Lock()


def _digest(*frames: pd.DataFrame | pd.Series) -> str:
    h = hashlib.sha256()
    for frame in frames:
        h.update(pd.util.hash_pandas_object(frame, index=isinstance(frame, pd.Series)).values)
        h.update(b"|")
    return h.hexdigest()


def _remembered(
    answers: pd.DataFrame, labels: Labels, method: str, calibration: pd.DataFrame | None
) -> Aggregation:
    """A model method's aggregation, fitted once per state of the votes: the answers,
    the voted cells' current labels and the known calibration answers (GLAD takes seconds
    to minutes; the Consensus page asks again at every rerun and every cache expiry)."""
    current = consensus._labels(labels)
    cells = sorted(set(answers["cell_id"].astype(str)))
    known = known_outcomes(calibration, labels) if method in _USES_CALIBRATION else None
    key = method + _digest(
        answers[["cell_id", "reviewer", "outcome"]].astype(str),
        current.reindex(cells).astype(str),
        pd.Series(dtype=str) if known is None else known.astype(str).sort_index(),
    )
    with _FITS_LOCK:
        hit = _FITS.get(key)
        if hit is not None:
            _FITS.move_to_end(key)
    if hit is None:
        hit = _aggregate(answers, None, labels, method, calibration, None)
        with _FITS_LOCK:
            _FITS[key] = hit
            while len(_FITS) > CACHED_FITS:
                _FITS.popitem(last=False)
    return _copy(hit)


def _copy(result: Aggregation) -> Aggregation:
    return replace(
        result,
        posterior=result.posterior.copy(),
        leading=result.leading.copy(),
        confusion={r: m.copy() for r, m in result.confusion.items()},
        annotators=result.annotators.copy(),
        difficulty=result.difficulty.copy(),
    )


_USES_CALIBRATION = ("semi-supervised", "hard-group")


def _aggregate(
    answers: pd.DataFrame,
    votes: pd.DataFrame | None,
    labels: Labels,
    method: str,
    calibration: pd.DataFrame | None,
    weights: Mapping[str, float] | None,
) -> Aggregation:
    skill = pd.Series(dtype=float)
    difficulty = pd.Series(dtype=float)
    extra = None
    if method == "majority":
        posterior = _shares(answers, None)
    elif method == "calibration":
        if weights is None and calibration is not None:
            weights = calibration_weights(votes, calibration, labels)
        posterior = _shares(answers, weights or None)
    elif method == "glad":
        posterior, skill, difficulty = _glad(answers)
    elif method == "hard-group":
        fitted = hard_group_model.fit(
            answers, consensus._labels(labels), known_outcomes(calibration, labels)
        )
        posterior, extra = fitted.posterior, fitted.annotators
    else:
        known = known_outcomes(calibration, labels) if method == "semi-supervised" else None
        if known is not None and MODEL_SPACE == "decision":
            current = consensus._labels(labels)
            known = pd.Series({c: _decision_of(c, o, current) for c, o in known.items()})
        posterior = _dawid_skene(answers, known)
    posterior = posterior.fillna(0.0)
    posterior.index = posterior.index.astype(str)
    posterior = posterior.reindex(columns=sorted(posterior.columns, key=str))
    leading = leading_decisions(posterior, labels)
    confusion, annotators = annotator_estimates(answers, posterior)
    if len(skill):
        annotators["skill"] = annotators["reviewer"].map(skill).astype(float)
    if extra is not None:
        annotators = annotators.merge(extra, on="reviewer", how="left")
    return Aggregation(method, posterior, leading, confusion, annotators, difficulty)


def calibration_weights(
    votes: pd.DataFrame, calibration: pd.DataFrame, labels: Labels = None
) -> dict[str, float]:
    """reviewer -> accuracy on calibration cells (with MIN_CALIBRATION_CELLS or more)."""
    if calibration is None or calibration.empty or votes.empty:
        return {}
    known = known_outcomes(calibration, labels)
    d = consensus.decisions(votes[votes["cell_id"].isin(known.index)], labels)
    if d.empty:
        return {}
    right = d["outcome"] == d["cell_id"].map(known)
    counts = right.groupby(d["reviewer"]).agg(["size", "mean"])
    counts = counts[counts["size"] >= MIN_CALIBRATION_CELLS]
    return {str(r): float(a) for r, a in counts["mean"].items()}


def _decision_of(cell: str, outcome: str, current: pd.Series) -> str:
    if outcome in ("remove", "retain") or outcome.startswith("correct:"):
        return outcome
    return "retain" if current.get(cell) == outcome else f"correct:{outcome}"


def leading_decisions(posterior: pd.DataFrame, labels: Labels = None) -> pd.DataFrame:
    """cell_id, decision, probability, second, outcome: each cell's most probable outcome.

    Ties go to the first category in sort order; `second` shows them (equal to probability).
    """
    columns = ["cell_id", "decision", "probability", "second", "outcome"]
    if posterior.empty:
        return pd.DataFrame(columns=columns)
    values = posterior.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")
    top = values[np.arange(len(values)), order[:, 0]]
    second = values[np.arange(len(values)), order[:, 1]] if values.shape[1] > 1 else 0.0 * top
    outcomes = posterior.columns.to_numpy()[order[:, 0]].astype(str)
    current = consensus._labels(labels)
    cells = posterior.index.astype(str)
    return pd.DataFrame(
        {
            "cell_id": cells,
            "decision": [_decision_of(c, o, current) for c, o in zip(cells, outcomes, strict=True)],
            "probability": top,
            "second": second,
            "outcome": outcomes,
        }
    )


def annotator_estimates(
    answers: pd.DataFrame, posterior: pd.DataFrame
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Each annotator's estimated confusion matrix (true x voted outcome, rows sum to 1)
    and accuracy (mean posterior of their answer), weighting each vote by the posterior."""
    categories = list(posterior.columns)
    position = {c: i for i, c in enumerate(categories)}
    post = posterior.reindex(answers["cell_id"].astype(str)).to_numpy(dtype=float)
    voted = answers["outcome"].map(position).to_numpy()
    confusion: dict[str, pd.DataFrame] = {}
    rows = []
    reviewers = answers["reviewer"].to_numpy()
    teams = answers["team"].to_numpy() if "team" in answers.columns else [None] * len(answers)
    for reviewer in sorted(set(reviewers)):
        mine = reviewers == reviewer
        matrix = np.zeros((len(categories), len(categories)))
        np.add.at(matrix.T, voted[mine], post[mine])  # column = voted, row = true
        mass = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, mass, out=np.full_like(matrix, np.nan), where=mass > 0)
        seen = (mass[:, 0] > 1e-9) | (matrix.sum(axis=0) > 0)
        kept = [c for c, s in zip(categories, seen, strict=True) if s]
        frame = pd.DataFrame(normalised, index=categories, columns=categories)
        confusion[reviewer] = frame.loc[kept, kept].rename_axis(index="true", columns="voted")
        right = post[mine, voted[mine]]
        team = next((t for t in np.asarray(teams)[mine] if isinstance(t, str)), None)
        rows.append([reviewer, team, int(mine.sum()), float(np.mean(right))])
    annotators = pd.DataFrame(rows, columns=["reviewer", "team", "votes", "accuracy"])
    annotators["skill"] = np.nan
    return confusion, annotators


# --- routing by confidence --------------------------------------------------------------


def consensus_table(
    votes: pd.DataFrame,
    adjudications: pd.DataFrame | None = None,
    labels: Labels = None,
    *,
    method: str = "majority",
    threshold: float | None = None,
    calibration: pd.DataFrame | None = None,
    min_votes: int | None = None,
    result: Aggregation | None = None,
) -> pd.DataFrame:
    """consensus.consensus_table under `method` and `threshold` (None: the method's default).

    Share methods keep today's rule (the leading decision's share of the votes, 'unsure'
    included, reaches the threshold); model methods agree a cell when its leading
    posterior reaches it. Adds the columns probability (the leading posterior; the share
    for share methods), method and threshold. Calibration cells are scored like any other.
    """
    check_method(method)
    threshold = default_threshold(method) if threshold is None else check_threshold(threshold)
    if method in SHARE_METHODS:
        weights = None
        if method == "calibration" and calibration is not None:
            weights = calibration_weights(votes, calibration, labels) or None
        table = consensus.consensus_table(
            votes, adjudications, labels, min_votes=min_votes, quorum=threshold, weights=weights
        )
        table["probability"] = table["share"]
    else:
        result = result or aggregate(votes, labels, method=method, calibration=calibration)
        table = consensus.consensus_table(
            votes, adjudications, labels, min_votes=min_votes, quorum=threshold,
            leading=result.leading,
        )  # fmt: skip
        table["probability"] = table["share"]
    table["method"] = method
    table["threshold"] = threshold
    return table


def expected_wrong(table: pd.DataFrame) -> float:
    """Expected number of wrong agreed decisions: the sum of (1 - p) over agreed cells."""
    agreed = table[table["status"] == "agreed"]
    return float((1.0 - agreed["probability"].astype(float)).clip(lower=0).sum())


def routing(table: pd.DataFrame) -> dict:
    """What a choice of method and threshold means: cells, agreed, to_expert (disputed),
    pending, adjudicated, expected_wrong (agreed cells), expected_accuracy (of agreed)."""
    counts = table["status"].value_counts()
    agreed = int(counts.get("agreed", 0))
    wrong = expected_wrong(table)
    return {
        "cells": len(table),
        "agreed": agreed,
        "to_expert": int(counts.get("disputed", 0)),
        "pending": int(counts.get("pending", 0)),
        "adjudicated": int(counts.get("adjudicated", 0)),
        "expected_wrong": wrong,
        "expected_accuracy": 1.0 - wrong / agreed if agreed else float("nan"),
    }


def routing_curve(leading: pd.DataFrame, thresholds: Iterable[float]) -> pd.DataFrame:
    """For each threshold: agreed cells, cells to the expert and expected wrong agreed
    decisions, from an Aggregation's `leading` (votes and adjudications not considered)."""
    p = leading["probability"].astype(float).to_numpy()
    tied = np.isclose(leading["second"].astype(float).to_numpy(), p)
    rows = []
    for t in thresholds:
        agreed = (p >= t - 1e-9) & ~tied
        rows.append(
            [float(t), int(agreed.sum()), int((~agreed).sum()), float((1 - p[agreed]).sum())]
        )
    return pd.DataFrame(rows, columns=["threshold", "agreed", "to_expert", "expected_wrong"])


def routing_at(table: pd.DataFrame, thresholds: Iterable[float]) -> pd.DataFrame:
    """threshold, agreed, to_expert, expected_wrong for other thresholds (each above 0.5,
    so that two decisions cannot tie), from a consensus table of this module: only cells
    that are agreed or disputed now move; adjudicated and pending cells stay as they are."""
    open_ = table[table["status"].isin(["agreed", "disputed"])]
    p = open_["probability"].astype(float).to_numpy()
    answer = (open_["decision"] != "unsure").to_numpy()
    rows = []
    for t in thresholds:
        agreed = answer & (p >= max(float(t), 0.5 + 1e-9) - 1e-12)
        rows.append(
            [float(t), int(agreed.sum()), int((~agreed).sum()), float((1 - p[agreed]).sum())]
        )
    return pd.DataFrame(rows, columns=["threshold", "agreed", "to_expert", "expected_wrong"])


def expert_queue(table: pd.DataFrame) -> pd.DataFrame:
    """The disputed cells of a consensus table, highest expected benefit first.

    The benefit of the expert's look is the chance the leading decision is wrong
    (1 - probability) times its importance (HARD_IMPORTANCE for a dispute inside a hard
    group, 1 otherwise). Adds the column `benefit`.
    """
    disputed = table[table["status"] == "disputed"].copy()
    p = disputed["probability"] if "probability" in disputed else disputed["share"]
    importance = np.where(disputed["hard_group"].notna(), HARD_IMPORTANCE, 1.0)
    disputed["benefit"] = (1.0 - p.astype(float)) * importance
    ordered = disputed.sort_values(["benefit", "votes", "cell_id"], ascending=[False, False, True])
    return ordered.reset_index(drop=True)


# --- what produced an accepted decision -------------------------------------------------

_NOTE = re.compile(r"\[method=(?P<method>[a-z-]+) threshold=(?P<threshold>[0-9.]+)\]")


def accept_note(method: str, threshold: float, note: str | None = None) -> str:
    """The note of an accepted consensus, naming the method and threshold that agreed it."""
    tag = f"[method={check_method(method)} threshold={check_threshold(threshold):g}]"
    return f"{note} {tag}" if note else tag


def produced_by(note: object) -> tuple[str | None, float | None]:
    """(method, threshold) named in an accepted consensus's note, else (None, None)."""
    match = _NOTE.search(note) if isinstance(note, str) else None
    if not match or match["method"] not in METHODS:
        return None, None
    return match["method"], float(match["threshold"])
