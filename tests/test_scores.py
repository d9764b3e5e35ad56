"""Scores before and after curation: equal to scikit-learn's metrics on the same labels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
    precision_score,
)

from wbcreview.curation import export as decisions
from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.review.store import Reviewer, Store
from wbcreview.triage import predictions, scores

EXPERT = Reviewer("Dr Expert", "Experts", "adjudicator")
SOME = list(CLASS_CODES[:6])
labels_lists = st.lists(st.sampled_from(SOME), min_size=1, max_size=60)


def sklearn_specificity(y_true, y_pred, labels):
    mcm = multilabel_confusion_matrix(y_true, y_pred, labels=labels)
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    return float(np.mean([t / (t + f) if t + f else 0.0 for t, f in zip(tn, fp, strict=True)]))


# --- metrics ---------------------------------------------------------------------------------


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_metrics_equal_sklearn(data):
    y_true = data.draw(labels_lists)
    y_pred = data.draw(st.lists(st.sampled_from(SOME), min_size=len(y_true), max_size=len(y_true)))
    got = scores.metrics(y_true, y_pred)
    assert got["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # y_pred has classes y_true lacks
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert got["macro_precision"] == pytest.approx(
        precision_score(y_true, y_pred, average="macro", zero_division=0)
    )
    labels = sorted(set(y_true) | set(y_pred))
    assert got["macro_specificity"] == pytest.approx(sklearn_specificity(y_true, y_pred, labels))
    assert got["n"] == len(y_true) and got["classes"] == len(labels)
    # The confusion-matrix shortcut used for the movers agrees too.
    matrix = scores.confusion(y_true, y_pred).to_numpy()
    assert scores.macro_f1_of_matrix(matrix) == pytest.approx(got["macro_f1"])


def test_metrics_over_all_13_classes_when_asked():
    y_true, y_pred = ["SNE", "LY", "LY"], ["SNE", "LY", "SNE"]
    got = scores.metrics(y_true, y_pred, labels=CLASS_CODES)
    assert got["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=list(CLASS_CODES), average="macro", zero_division=0)
    )
    assert got["classes"] == 13


def test_per_class_and_confusion_equal_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(SOME, 300).tolist()
    y_pred = [t if rng.random() < 0.7 else rng.choice(SOME) for t in y_true]
    table = scores.per_class(y_true, y_pred)
    labels = [c for c in CLASS_CODES if c in set(y_true) | set(y_pred)]
    assert table["class"].tolist() == labels
    np.testing.assert_allclose(
        table["f1"], f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    )
    matrix = scores.confusion(y_true, y_pred)
    np.testing.assert_array_equal(
        matrix.to_numpy(), confusion_matrix(y_true, y_pred, labels=labels)
    )
    assert list(matrix.index) == labels and list(matrix.columns) == labels


def test_empty_input_gives_nan_not_an_error():
    assert np.isnan(scores.metrics([], [])["macro_f1"])
    assert scores.per_class([], []).empty
    with pytest.raises(scores.ScoresError):
        scores.metrics(["SNE"], [])


def test_leaderboard_breaks_ties_in_the_challenges_order():
    summary = pd.DataFrame(
        {
            "prediction": ["a", "b", "c", "d"],
            "macro_f1": [0.7, 0.7, 0.7, 0.8],
            "balanced_accuracy": [0.6, 0.6, 0.65, 0.1],
            "macro_precision": [0.5, 0.55, 0.1, 0.1],
            "macro_specificity": [0.9, 0.9, 0.9, 0.9],
        }
    )
    board = scores.leaderboard(summary)
    assert board["prediction"].tolist() == ["d", "c", "b", "a"]
    assert board["rank"].tolist() == [1, 2, 3, 4]


# --- before and after curation on a copy ----------------------------------------------------------


@pytest.fixture
def curated(demo_copy, tmp_path):
    """A copy with a stored prediction file and a store where the expert decided cells."""
    with open_catalog(demo_copy) as cat:
        cur = cat.cursor()
        rows = cur.execute(
            "SELECT config, image_id, cell_id, label, severity, split FROM cells ORDER BY image_id"
        ).df()
        rng = np.random.default_rng(1)
        predicted = [
            lab if rng.random() < 0.8 else CLASS_CODES[int(rng.integers(13))]
            for lab in rows["label"]
        ]
        frame = pd.DataFrame({"image_id": rows["image_id"], "label": predicted})
        predictions.save(cat.root, "model", frame, source="test", kind="labels")
        cells = rows[rows["config"] == "pristine"].reset_index(drop=True)
        store = Store.open(f"sqlite:///{tmp_path / 'reviews.sqlite'}")
        # Correct three cells to what the model says, remove one, retain one.
        pred_of = dict(zip(rows["image_id"], predicted, strict=True))
        changed = [
            c for c in cells["cell_id"] if pred_of[c] != cells.set_index("cell_id").loc[c, "label"]
        ]
        for cell in changed[:3]:
            store.adjudicate(EXPERT, cell, "correct", label=pred_of[cell])
        store.adjudicate(EXPERT, changed[3], "remove", reason="low-quality")
        store.adjudicate(EXPERT, cells["cell_id"].iloc[0], "retain")
        decided = decisions.final_decisions(cur, store, viewer=None)
        yield cat, cur, rows, frame, decided
        store.close()


def expected_labels(rows: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Original and curated label of every row, computed independently of scores.py."""
    cell_label = rows[rows["config"] == "pristine"].set_index("cell_id")["label"]
    out = rows.copy()
    out["original"] = out["cell_id"].map(cell_label)
    final = decided.set_index("image_id")
    out["curated"] = out["original"]
    for cell, rec in final.iterrows():
        if rec["action"] == "correct":
            out.loc[out["cell_id"] == cell, "curated"] = rec["final_label"]
        elif rec["action"] == "remove":
            out.loc[out["cell_id"] == cell, "curated"] = None
    return out


def test_scores_before_and_after_match_sklearn_per_group(curated):
    cat, cur, rows, frame, decided = curated
    assert decisions.summary_line(decided) == "3 corrected, 1 removed, 1 retained"
    summary, classes = scores.score_table(cur, {"model": frame}, decided)
    truth = expected_labels(rows, decided).merge(
        frame.rename(columns={"label": "predicted"}), on="image_id"
    )
    checks = [("all", "all", np.ones(len(truth), bool))]
    checks += [("split", s, truth["split"] == s) for s in truth["split"].unique()]
    checks += [("severity", s, truth["severity"] == s) for s in truth["severity"].unique()]
    checks += [("config", c, truth["config"] == c) for c in truth["config"].unique()]
    for kind, group, mask in checks:
        part = truth[np.asarray(mask)]
        for ref in ("original", "curated"):
            kept = part[part[ref].notna()]
            row = summary[
                (summary["kind"] == kind)
                & (summary["group"] == group)
                & (summary["reference"] == ref)
            ].iloc[0]
            assert row["n"] == len(kept)
            assert row["macro_f1"] == pytest.approx(
                f1_score(kept[ref], kept["predicted"], average="macro", zero_division=0)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert row["balanced_accuracy"] == pytest.approx(
                    balanced_accuracy_score(kept[ref], kept["predicted"])
                )
            assert row["macro_precision"] == pytest.approx(
                precision_score(kept[ref], kept["predicted"], average="macro", zero_division=0)
            )
    # Removed cells are dropped (every row of the cell), only from the curated reference.
    removed = decided.loc[decided["action"] == "remove", "image_id"].iloc[0]
    dropped = int((rows["cell_id"] == removed).sum())
    everything = summary[summary["kind"] == "all"].set_index("reference")["n"]
    assert everything["original"] - everything["curated"] == dropped >= 1
    # Degraded rows take their cell's (curated) label.
    corrected = decided.loc[decided["action"] == "correct"].iloc[0]
    ref = scores.reference_labels(cur, decided).set_index("cell_id")
    assert ref.loc[corrected["image_id"], "curated"] == corrected["final_label"]
    assert set(classes["reference"]) == {"original", "curated"}


def test_compare_puts_before_and_after_side_by_side(curated):
    _, cur, _, frame, decided = curated
    other = frame.copy()
    other["label"] = "SNE"
    summary, _ = scores.score_table(cur, {"model": frame, "all-sne": other}, decided)
    table = scores.compare(summary)
    assert table["prediction"].tolist() == ["model", "all-sne"]
    assert table["rank after"].tolist() == [1, 2] and table["rank before"].tolist() == [1, 2]
    row = table.iloc[0]
    assert row["macro_f1 change"] == pytest.approx(
        row["macro_f1 curated"] - row["macro_f1 original"]
    )
    # The corrections agree with the model: its curated macro-F1 can only go up.
    assert row["macro_f1 change"] > 0


def test_movers_are_leave_one_decision_out_deltas(curated):
    _, cur, rows, frame, decided = curated
    moved = scores.movers(cur, frame, decided)
    effective = decided[decided["action"].isin(["correct", "remove"])]
    assert sorted(moved["image_id"]) == sorted(effective["image_id"])
    assert moved["delta_macro_f1"].abs().is_monotonic_decreasing
    truth = expected_labels(rows, decided).merge(
        frame.rename(columns={"label": "predicted"}), on="image_id"
    )
    kept = truth[truth["curated"].notna()]
    after = f1_score(kept["curated"], kept["predicted"], average="macro", zero_division=0)
    for rec in moved.itertuples(index=False):
        without = truth.copy()
        mask = without["cell_id"] == rec.image_id
        without.loc[mask, "curated"] = without.loc[mask, "original"]
        part = without[without["curated"].notna()]
        before = f1_score(part["curated"], part["predicted"], average="macro", zero_division=0)
        assert rec.delta_macro_f1 == pytest.approx(after - before)
    assert scores.movers(cur, frame, decided.iloc[0:0]).empty


def test_figures_are_built_from_the_tables(curated):
    _, cur, rows, frame, decided = curated
    summary, classes = scores.score_table(cur, {"model": frame}, decided)
    fig = scores.metrics_figure(summary)
    assert {t.name for t in fig.data} == {"original", "curated"}
    assert len(fig.data) == 2 * len(scores.METRICS)
    fig = scores.per_class_figure(classes, "model")
    assert list(fig.data[0].x) == [c for c in CLASS_CODES if c in set(fig.data[0].x)]
    matrix = scores.confusion(rows["label"], frame["label"])
    heat = scores.confusion_figure(matrix, "Original")
    np.testing.assert_array_equal(np.asarray(heat.data[0].text), matrix.to_numpy())
    bars = scores.movers_figure(scores.movers(cur, frame, decided))
    assert len(bars.data[0].y) == 4
    assert scores.metrics_figure(summary, "split", "nope").layout.annotations
    assert scores.movers_figure(pd.DataFrame()).layout.annotations
