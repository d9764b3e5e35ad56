"""The suspect ranking: cleanlab's scores, ensembles, the review queue end to end, and the
benchmark on real PBC images with labels flipped at random."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
from cleanlab.rank import get_label_quality_ensemble_scores, get_label_quality_scores

from wbcreview import cli
from wbcreview.cli import triage as triage_cli
from wbcreview.curation import export as decisions
from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.review.store import PermissionDenied, Reviewer, Store
from wbcreview.triage import benchmark as triage_bench
from wbcreview.triage import predictions
from wbcreview.triage import ranking as triage

ADMIN = Reviewer("Ada Admin", "Core", "admin")
ANNOTATOR = Reviewer("Ann", "Team 1", "annotator")
EXPERT = Reviewer("Dr Expert", "Experts", "adjudicator")


@pytest.fixture
def cat(demo_copy):
    with open_catalog(demo_copy) as opened:
        yield opened


def catalog_rows(cur) -> pd.DataFrame:
    return cur.execute(
        "SELECT config, image_id, cell_id, label FROM cells ORDER BY config, image_id"
    ).df()


def seeded_probabilities(rows: pd.DataFrame, seed: int, wrong: set[str] = frozenset()):
    """A probability frame for `rows`: confident in the label, except for cells in `wrong`."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(CLASS_CODES)), size=len(rows)) * 0.4
    for i, (cell, label) in enumerate(zip(rows["cell_id"], rows["label"], strict=True)):
        k = CLASS_CODES.index(label)
        target = (k + 1) % len(CLASS_CODES) if cell in wrong else k
        probs[i, target] += 0.6
    frame = pd.DataFrame(probs, columns=list(CLASS_CODES))
    frame.insert(0, "label", np.asarray(CLASS_CODES, dtype=object)[probs.argmax(1)])
    frame.insert(0, "image_id", rows["image_id"].to_numpy())
    frame.attrs.update(kind="probabilities")
    return frame


def pristine_matrix(frame: pd.DataFrame, rows: pd.DataFrame, cells: list[str]) -> np.ndarray:
    pristine = rows[rows["config"] == "pristine"].set_index("cell_id")
    probs = frame.set_index("image_id").loc[pristine.loc[cells, "image_id"], list(CLASS_CODES)]
    return probs.to_numpy()


# --- scores ----------------------------------------------------------------------------------


def test_scores_are_cleanlabs_and_lowest_come_first(cat):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    cells = sorted(rows.loc[rows["config"] == "pristine", "cell_id"])
    wrong = set(cells[::37])
    frame = seeded_probabilities(rows, 1, wrong)
    table = triage.suspect_scores(cur, {"m": frame})
    assert list(table.columns) == list(triage.RANKING_COLUMNS)
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["score"].is_monotonic_increasing
    assert sorted(table["cell_id"]) == cells
    # Equal to cleanlab on the same labels and pristine-row probabilities.
    labels = rows[rows["config"] == "pristine"].set_index("cell_id").loc[cells, "label"]
    given = np.array([CLASS_CODES.index(v) for v in labels])
    expected = get_label_quality_scores(given, pristine_matrix(frame, rows, cells))
    got = table.set_index("cell_id").loc[cells, "score"].to_numpy()
    np.testing.assert_allclose(got, expected)
    # The cells the model doubts are the first ones.
    assert set(table.head(len(wrong))["cell_id"]) == wrong
    top = table.iloc[0]
    assert top["suggested_label"] != top["given_label"]
    assert table.attrs["predictions"] == ["m"] and table.attrs["method"] == "self_confidence"


@pytest.mark.parametrize("method", list(triage.METHODS))
def test_every_method_matches_cleanlab(cat, method):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    frame = seeded_probabilities(rows, 2)
    table = triage.suspect_scores(cur, {"m": frame}, method=method)
    cells = sorted(table["cell_id"])
    labels = rows[rows["config"] == "pristine"].set_index("cell_id").loc[cells, "label"]
    given = np.array([CLASS_CODES.index(v) for v in labels])
    expected = get_label_quality_scores(given, pristine_matrix(frame, rows, cells), method=method)
    np.testing.assert_allclose(table.set_index("cell_id").loc[cells, "score"], expected)


def test_an_ensemble_is_cleanlabs_over_the_cells_every_file_covers(cat):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    a = seeded_probabilities(rows, 3)
    b = seeded_probabilities(rows, 4)
    eval_ids = set(
        cur.execute("SELECT image_id FROM cells WHERE split = 'phase2_eval'").df()["image_id"]
    )
    b = b[b["image_id"].isin(eval_ids)]  # the second file covers one split only
    table = triage.suspect_scores(cur, {"a": a, "b": b})
    cells = sorted(table["cell_id"])
    assert set(table["split"]) == {"phase2_eval"}
    labels = rows[rows["config"] == "pristine"].set_index("cell_id").loc[cells, "label"]
    given = np.array([CLASS_CODES.index(v) for v in labels])
    expected = get_label_quality_ensemble_scores(
        given,
        [pristine_matrix(a, rows, cells), pristine_matrix(b, rows, cells)],
        verbose=False,
    )
    np.testing.assert_allclose(table.set_index("cell_id").loc[cells, "score"], expected)


def test_degraded_only_files_use_the_mean_of_the_cells_rows(cat):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    degraded = rows[rows["config"] == "degraded"]
    frame = seeded_probabilities(degraded.reset_index(drop=True), 5)
    table = triage.suspect_scores(cur, {"d": frame})
    assert set(table["cell_id"]) == set(degraded["cell_id"])
    one = table.iloc[0]
    mine = frame[
        frame["image_id"].isin(degraded.loc[degraded["cell_id"] == one["cell_id"], "image_id"])
    ]
    assert one["score"] == pytest.approx(mine[one["given_label"]].mean())


def test_label_files_give_two_bands_of_scores(cat):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    pristine = rows[rows["config"] == "pristine"].reset_index(drop=True)
    wrong = set(pristine["cell_id"].iloc[:5])
    labels = [
        CLASS_CODES[(CLASS_CODES.index(lab) + 1) % 13] if c in wrong else lab
        for c, lab in zip(pristine["cell_id"], pristine["label"], strict=True)
    ]
    frame = pd.DataFrame({"image_id": pristine["image_id"], "label": labels})
    table = triage.suspect_scores(cur, {"labels": frame})
    assert set(table.head(5)["cell_id"]) == wrong
    assert sorted(set(table["score"].round(9))) == pytest.approx([0.1 / 13, 0.9 + 0.1 / 13])


def test_bad_requests_are_triage_errors(cat):
    cur = cat.cursor()
    with pytest.raises(triage.TriageError, match="no prediction file"):
        triage.suspect_scores(cur, {})
    frame = seeded_probabilities(catalog_rows(cur), 0)
    with pytest.raises(triage.TriageError, match="unknown method"):
        triage.suspect_scores(cur, {"m": frame}, method="vibes")
    with pytest.raises(triage.TriageError, match="top k"):
        triage.queue_cells(triage.suspect_scores(cur, {"m": frame}), 0)


# --- the review queue, end to end --------------------------------------------------------------


def test_a_queue_from_the_top_k_works_end_to_end(cat, tmp_path):
    cur = cat.cursor()
    rows = catalog_rows(cur)
    frame = seeded_probabilities(rows, 6, wrong=set(rows["cell_id"].iloc[::50]))
    info = predictions.save(cat.root, "model", frame, source="test")
    assert info.kind == "probabilities"
    table = triage.ranking(cat, ["model"])
    with Store.open(f"sqlite:///{tmp_path / 'reviews.sqlite'}") as store:
        with pytest.raises(PermissionDenied):
            triage.make_queue(store, ANNOTATOR, "nope", table, 5)
        name = triage.default_queue_name(table, 10)
        queue_id = triage.make_queue(store, ADMIN, name, table, 10)
        queue = store.queue(queue_id)
        assert queue.kind == "suspects" and queue.size == 10 and queue.name == name
        assert queue.definition["predictions"] == ["model"]
        assert queue.definition["top_k"] == 10
        cells = store.queue_cells(queue_id)
        assert cells == table["cell_id"].head(10).tolist()
        # Review the first cell, adjudicate it, and it leaves the next queue.
        first = cells[0]
        suggested = table.set_index("cell_id").loc[first, "suggested_label"]
        store.add_vote(ANNOTATOR, first, "correct", label=suggested, queue_id=queue_id)
        assert store.progress(queue_id, ANNOTATOR).done == 1
        store.adjudicate(EXPERT, first, "correct", label=suggested)
        final = decisions.final_decisions(cur, store)
        assert final.set_index("image_id").loc[first, "final_label"] == suggested
        decided = set(store.current_adjudications()["cell_id"])
        again = triage.make_queue(store, ADMIN, "next", table, 10, skip=decided)
        assert store.queue_cells(again) == table["cell_id"].iloc[1:11].tolist()


def test_register_makes_the_ranking_joinable(cat):
    cur = cat.cursor()
    table = triage.suspect_scores(cur, {"m": seeded_probabilities(catalog_rows(cur), 7)})
    triage.register(cur, table)
    first = cur.execute(
        "SELECT c.cell_id FROM cells c JOIN suspects s USING (cell_id) "
        "WHERE c.config = 'pristine' ORDER BY s.rank LIMIT 1"
    ).fetchone()[0]
    assert first == table["cell_id"].iloc[0]


# --- the benchmark ---------------------------------------------------------------------------


def test_found_in_top_counts_and_compares_with_random():
    table = pd.DataFrame({"rank": [1, 2, 3, 4], "cell_id": ["a", "b", "c", "d"]})
    found = triage.found_in_top(table, ["a", "c"], [1, 2, 4])
    assert found["flipped_found"].tolist() == [1, 1, 2]
    assert found["share_found"].tolist() == [0.5, 0.5, 1.0]
    assert found["share_random"].tolist() == [0.25, 0.5, 1.0]


def test_flips_are_seeded_and_always_change_the_label():
    cells = pd.DataFrame(
        {"cell_id": [f"{i:08d}" for i in range(200)], "label": ["SNE", "LY"] * 100}
    )
    first = triage_bench.flip_decisions(cells, 0.05, seed=3)
    assert first.equals(triage_bench.flip_decisions(cells, 0.05, seed=3))
    assert len(first) == 10
    assert (first["final_label"] != first["current_label"]).all()
    assert set(first["final_label"]) <= {"SNE", "LY"}
    with pytest.raises(triage_bench.BenchError):
        triage_bench.flip_decisions(cells, 1.5, seed=0)


@pytest.mark.slow
def test_flipped_labels_of_real_images_come_far_ahead_of_random(request):
    folder = triage_bench.PBC_SAMPLE
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    result = triage_bench.run(folder, share=0.05, seed=0, ks=(0.05, 0.10, 0.20))
    table = result.table.set_index("share_of_cells")
    assert len(result.flipped) == round(0.05 * result.cells)
    top5, top10 = table.iloc[0], table.iloc[1]
    # A random order finds 5 % and 10 % of the flips; the ranking finds most of them.
    assert top5["share_found"] >= 4 * top5["share_random"]
    assert top10["share_found"] >= 0.6
    assert result.macro_f1 > 0.5
    assert "x random" in result.format()


# --- the CLI ---------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """The real entry point: errors become one line there, once for every command."""
    return cli.main(argv)


def test_cli_baseline_then_suspects(cat, tmp_path, capsys):
    root = str(cat.root)
    assert run_cli(["suspects", "--data", root]) == 1
    assert "no stored predictions" in capsys.readouterr().err
    assert run_cli(["baseline", "--data", root]) == 0
    assert "baseline stored as 'baseline'" in capsys.readouterr().out
    out = tmp_path / "ranking.csv"
    assert run_cli(["suspects", "--data", root, "--top", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "given_label" in printed and "ranked cells written" in printed
    assert len(pd.read_csv(out)) > 5
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    assert run_cli(["scores", "--data", root, "--db", db, "--by", "severity"]) == 0
    printed = capsys.readouterr().out
    assert "macro_f1 original" in printed and "severity: extreme" in printed


def test_cli_bench_triage_parses_percents():
    parser = argparse.ArgumentParser()
    triage_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench-triage", "--k", "1,5,50", "--share", "0.1"])
    assert args.k == [0.01, 0.05, 0.5] and args.share == 0.1
    defaults = parser.parse_args(["bench-triage"])
    assert defaults.share == triage_bench.DEFAULT_SHARE
    assert defaults.from_folder is None  # the PBC sample when present, else painted cells
    with pytest.raises(SystemExit):
        parser.parse_args(["bench-triage", "--k", "0,200"])
