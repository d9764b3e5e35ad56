"""The demo review state: simulated votes in a separate store, deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from wbcreview.data.release import CLASS_CODES, CLASSES
from wbcreview.demo import votes as demo_votes
from wbcreview.review import consensus
from wbcreview.review.store import Reviewer, Store

pytest_plugins = ["tests.store_fixtures"]  # store_url (SQLite and PostgreSQL)


def make_cells(n: int = 500, seed: int = 1) -> pd.DataFrame:
    """Cells with class shares like the release's, a few relabelled since the challenge."""
    rng = np.random.default_rng(seed)
    shares = np.array([share for _, share in CLASSES.values()])
    labels = rng.choice(CLASS_CODES, size=n, p=shares / shares.sum())
    original = labels.copy()
    changed = rng.choice(n, size=n // 20, replace=False)
    original[changed] = rng.choice(CLASS_CODES, size=len(changed))
    return pd.DataFrame(
        {"cell_id": [f"{i:08d}" for i in range(n)], "label": labels, "original_label": original}
    )


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return make_cells()


def stable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["id"]).reset_index(drop=True)


def test_demo_votes_fill_every_page(tmp_path, cells):
    url = f"sqlite:///{tmp_path / 'demo-reviews.sqlite'}"
    summary = demo_votes.seed_demo_votes(url, cells, seed=5, n_cells=200)
    assert summary["cells"] == 200 and summary["teams"] == 10
    assert 10 <= summary["annotators"] <= 20
    assert 600 <= summary["votes"] <= 1400 and summary["undos"] > 0
    assert summary["adjudications"] > 0 and summary["accepted"] > 0
    assert all(summary["statuses"][s] > 0 for s in ("agreed", "disputed", "adjudicated"))
    with Store.open(url) as store:
        assert store.is_demo and store.demo_seed == 5
        frame = store.votes_frame()
        assert set(frame["source"]) == {"demo"} and set(store.adjudications_frame()["source"]) == {
            "demo"
        }
        assert {"remove", "unsure", "correct", "retain", "undo"} <= set(frame["action"])
        assert frame["comment"].notna().any()
        assert set(frame.loc[frame["action"] == "remove", "reason"]) <= set(demo_votes._REASONS)
        assert frame["created_at"].is_monotonic_increasing
        queue = store.queue(summary["queue_id"])
        assert queue.size == 200 and queue.definition["demo"] is True
        labels = dict(zip(cells["cell_id"], cells["label"], strict=True))
        current = store.current_votes()
    # Annotators differ in accuracy; most of their mistakes stay inside the hard groups.
    agreement = consensus.agreement(current, labels).set_index("category")
    assert 0.3 < agreement.loc["all", "fleiss_kappa"] < 0.9
    groups = consensus.hard_group_agreement(current, labels).set_index("group")
    everything = groups.loc["all groups merged"]
    assert everything["agreement_merged"] > everything["agreement_fine"]


def test_demo_votes_are_deterministic_for_a_seed(tmp_path, cells):
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.sqlite", "b.sqlite", "c.sqlite")]
    summaries = [
        demo_votes.seed_demo_votes(url, cells, seed=s, n_cells=120)
        for url, s in zip(urls, (9, 9, 10), strict=True)
    ]
    frames = []
    for url in urls:
        with Store.open(url) as store:
            frames.append((stable(store.votes_frame()), stable(store.adjudications_frame())))
    pd.testing.assert_frame_equal(frames[0][0], frames[1][0])
    pd.testing.assert_frame_equal(frames[0][1], frames[1][1])
    assert {k: v for k, v in summaries[0].items() if k != "url"} == {
        k: v for k, v in summaries[1].items() if k != "url"
    }
    assert not frames[0][0]["uid"].equals(frames[2][0]["uid"])


def test_seeding_twice_writes_nothing_new(store_url, cells):
    first = demo_votes.seed_demo_votes(store_url, cells, seed=3, n_cells=100)
    with Store.open(store_url) as store:
        votes, adjudications = len(store.votes_frame()), len(store.adjudications_frame())
    again = demo_votes.seed_demo_votes(store_url, cells, seed=3, n_cells=100)
    assert again == first
    with Store.open(store_url) as store:
        assert (len(store.votes_frame()), len(store.adjudications_frame())) == (
            votes,
            adjudications,
        )
        assert len(store.list_queues()) == 1
    with pytest.raises(demo_votes.DemoVotesError, match="was seeded with 3, not 4"):
        demo_votes.seed_demo_votes(store_url, cells, seed=4, n_cells=100)


def test_demo_votes_never_go_into_a_real_review_store(tmp_path, cells):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    with Store.open(url) as store:
        store.add_vote(Reviewer("Ann", "Team 1", "annotator"), "00000001", "retain")
    with pytest.raises(demo_votes.DemoVotesError, match="holds real review votes"):
        demo_votes.seed_demo_votes(url, cells, seed=1)


def test_the_demo_store_is_its_own_file(tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path))
    assert demo_votes.demo_store_url() == f"sqlite:///{tmp_path / 'demo-reviews.sqlite'}"
    from wbcreview.review.store import default_url

    assert default_url() != demo_votes.demo_store_url()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"cell_id": ["1"]}), "cells need the columns cell_id and label"),
        (pd.DataFrame({"cell_id": ["1"], "label": [""]}), "no cell has a label among the 13"),
    ],
)
def test_unusable_cells_are_a_clear_error(tmp_path, frame, message):
    with pytest.raises(demo_votes.DemoVotesError, match=message):
        demo_votes.seed_demo_votes(f"sqlite:///{tmp_path / 'd.sqlite'}", frame)
