"""The built-in baseline: out-of-fold class probabilities from simple image features.

So that the suspect ranking works with no model of one's own: the colour and texture
features of every row (features.py), a standardised logistic regression with balanced
class weights, and cross-validation grouped by patient (StratifiedGroupKFold on
patient_hash, at most FOLDS folds), so that no cell is predicted by a model that saw the
cell, its degraded copies or its patient. Each row's label is its cell's label (the
pristine row's; degraded rows follow their cell). Rows without a label are predicted by a
model fitted on every labelled row. The result is stored as the prediction file
"baseline" (probabilities for every row of both configs).

Limits: a class whose labelled cells all belong to patients of one fold is absent from
that fold's training data; its cells there get probability 0 for their own class and so
rank as suspects. With fewer than two patients, folds are grouped by cell instead.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbcreview.data.catalog import Catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.triage import features, predictions

BASELINE_NAME = "baseline"
FOLDS = 5
C = 0.3  # inverse regularisation strength, chosen on the PBC copy (macro-F1 by patient folds)
Progress = Callable[[int, int, str], None]


class BaselineError(WbcreviewError):
    """The baseline cannot be fitted on this copy."""


@dataclass(frozen=True)
class BaselineResult:
    """What a baseline run stored and how well it did out of fold."""

    info: predictions.PredictionInfo
    rows: int
    cells: int
    folds: int
    grouped_by: str  # "patient" or "cell"
    macro_f1: float  # pristine rows against the current labels
    seconds: float

    def __str__(self) -> str:
        return (
            f"baseline stored as {self.info.name!r}: {self.rows:,} rows ({self.cells:,} cells), "
            f"{self.folds} folds grouped by {self.grouped_by}, out-of-fold macro-F1 "
            f"{self.macro_f1:.3f} on pristine rows, {self.seconds:.1f} s"
        )


def make_model(seed: int = 0):
    """The classifier: median imputation, standardisation, logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=1000, class_weight="balanced", random_state=seed),
    )


def _fit_predict(x_train, y_train, x_test, seed: int) -> np.ndarray:
    """Probabilities (len(x_test) x 13, CLASS_CODES order) from a model fitted on the rest."""
    out = np.zeros((len(x_test), len(CLASS_CODES)))
    classes = np.unique(y_train)
    index = {code: k for k, code in enumerate(CLASS_CODES)}
    if len(classes) == 1:  # one class: logistic regression cannot fit, the answer is certain
        out[:, index[classes[0]]] = 1.0
        return out
    model = make_model(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny folds
        model.fit(x_train, y_train)
        probs = model.predict_proba(x_test)
    out[:, [index[c] for c in model.classes_]] = probs
    return out


def out_of_fold(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds: int = FOLDS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Out-of-fold probabilities of every row (n x 13) and the number of folds used.

    Folds keep each group together (StratifiedGroupKFold, shuffled by `seed`); there are
    min(`folds`, groups) of them. Raises BaselineError with fewer than two groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold
    from threadpoolctl import threadpool_limits

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise BaselineError(
            f"cross-validation needs at least two groups of labelled rows, found {n_groups}"
        )
    k = min(folds, n_groups)
    out = np.zeros((len(y), len(CLASS_CODES)))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    # One BLAS thread: on two busy cores, more threads made each fit 20x slower (measured).
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than folds"
        splits = list(splitter.split(x, y, groups))
    with threadpool_limits(1):
        for i, (train, test) in enumerate(splits):
            out[test] = _fit_predict(x[train], y[train], x[test], seed)
            if progress:
                progress(i + 1, k)
    return out, k


def _rows(cat: Catalog) -> pd.DataFrame:
    """Every row with its cell's label (the pristine row's) and its patient."""
    return (
        cat.cursor()
        .execute(
            "SELECT c.config, c.image_id, c.cell_id, c.patient_hash, "
            "coalesce(p.label, c.label) AS label FROM cells c "
            "LEFT JOIN (SELECT image_id, any_value(label) AS label FROM cells "
            "WHERE config = 'pristine' GROUP BY image_id) p ON p.image_id = c.cell_id"
        )
        .df()
    )


def run_baseline(
    cat: Catalog,
    reader=None,
    progress: Progress | None = None,
    name: str = BASELINE_NAME,
    seed: int = 0,
    workers: int = 2,
) -> BaselineResult:
    """Compute (or reuse) the features, fit the folds, store the probabilities as `name`.

    `progress(done, total, message)` covers both stages (features, then folds). Raises
    BaselineError when the copy has too few labelled rows or patients, FeatureError when
    no image can be read.
    """
    from sklearn.metrics import f1_score

    started = time.perf_counter()
    predictions.check_name(name)
    rows = _rows(cat)
    folds_units = FOLDS + 1

    def feature_progress(done: int, total: int, message: str) -> None:
        if progress:
            progress(done, total + folds_units, message)

    feats = features.cached_features(cat, reader, feature_progress, workers)
    data = rows.merge(feats, on=["config", "image_id", "cell_id"], how="inner")
    if len(data) != len(rows):
        raise BaselineError("the feature cache does not match the catalog; run again")
    x = data[list(features.FEATURE_NAMES)].to_numpy(dtype=np.float64)
    labels = data["label"].to_numpy(dtype=object)
    labelled = np.array([lab in CLASS_CODES for lab in labels])
    if labelled.sum() < 2 or len(set(labels[labelled])) < 2:
        raise BaselineError(
            f"the baseline needs labelled cells of at least two classes; this copy has "
            f"{int(labelled.sum())} labelled rows"
        )
    groups = data["patient_hash"].fillna("").to_numpy(dtype=object)[labelled]
    grouped_by = "patient"
    if len(set(groups)) < 2:
        groups, grouped_by = data["cell_id"].to_numpy(dtype=object)[labelled], "cell"
    n = len(rows)

    def fold_progress(done: int, total: int) -> None:
        if progress:
            progress(n + done, n + folds_units, f"cross-validation: fold {done} of {total}")

    probs = np.zeros((len(data), len(CLASS_CODES)))
    probs[labelled], used = out_of_fold(
        x[labelled], labels[labelled], groups, FOLDS, seed, fold_progress
    )
    if (~labelled).any():
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            probs[~labelled] = _fit_predict(x[labelled], labels[labelled], x[~labelled], seed)
    probs = np.clip(probs, 0, None)
    probs /= probs.sum(axis=1, keepdims=True)
    codes = np.asarray(CLASS_CODES, dtype=object)
    frame = pd.DataFrame(
        {"image_id": data["image_id"].astype(str), "label": codes[probs.argmax(1)]}
    )
    for k, code in enumerate(CLASS_CODES):
        frame[code] = probs[:, k]
    # An image id in both configs (not in the release, but possible in a copy) keeps the
    # pristine row's prediction: stored predictions have one row per image id.
    order = np.argsort((data["config"] != "pristine").to_numpy(), kind="stable")
    frame = frame.iloc[order]
    frame = frame[~frame["image_id"].duplicated()].sort_index()
    covers = sorted(
        {
            f"{c}/{s}"
            for c, s in cat.cursor().execute("SELECT DISTINCT config, split FROM cells").fetchall()
        }
    )
    frame.attrs.update(kind="probabilities", covers=covers)
    info = predictions.save(
        cat.root,
        name,
        frame,
        source=f"baseline: logistic regression on {len(features.FEATURE_NAMES)} image features, "
        f"{used} folds grouped by {grouped_by}, seed {seed}",
    )
    if progress:
        progress(n + folds_units, n + folds_units, "baseline stored")
    pristine = (data["config"] == "pristine").to_numpy() & labelled
    macro = (
        float(
            f1_score(
                labels[pristine],
                frame["label"].to_numpy()[pristine],
                average="macro",
                zero_division=0,
            )
        )
        if pristine.any()
        else float("nan")
    )
    return BaselineResult(
        info=info,
        rows=n,
        cells=int(data["cell_id"].nunique()),
        folds=used,
        grouped_by=grouped_by,
        macro_f1=macro,
        seconds=time.perf_counter() - started,
    )
