"""AppTest: the Triage and Scores pages, from an empty copy to a review queue and scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_as
from wbcreview.data.catalog import open_catalog
from wbcreview.review.store import Reviewer, Store
from wbcreview.triage import predictions

TRIAGE, SCORES = "pages/9_Triage.py", "pages/10_Scores.py"
EXPERT = Reviewer("Dr Expert", "Experts", "adjudicator")


@pytest.fixture
def env(demo_copy, tmp_path, monkeypatch):
    """A private copy and a private review store for the app."""
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    return demo_copy, url


def page(script: str, identity: dict | None = None) -> AppTest:
    return open_as(script, identity, timeout=180)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info]
    parts += (
        [m.value for m in at.success] + [m.value for m in at.error] + [m.value for m in at.caption]
    )
    return "\n".join(parts)


def test_triage_page_runs_without_predictions(env):
    at = page(TRIAGE, {"name": "Ada", "team": "Core", "role": "admin"})
    assert "No prediction file yet" in texts(at)
    assert at.button(key="tr_baseline").label == "Run the baseline"


def test_baseline_ranking_and_a_queue_in_one_click(env):
    root, url = env
    at = page(TRIAGE, {"name": "Ada", "team": "Core", "role": "admin"})
    at.button(key="tr_baseline").click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    assert "Baseline stored" in texts(at)
    assert "labelled cells ranked" in texts(at)
    assert [i.name for i in predictions.list_predictions(root)] == ["baseline"]
    at.number_input(key="tr_topk").set_value(20).run()
    at.button(key="tr_make_queue").click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    assert "created" in texts(at)
    with Store.open(url) as store:
        queues = store.list_queues()
        assert queues["kind"].tolist() == ["suspects"]
        assert queues["cells"].tolist() == [20]
        assert queues["name"].iloc[0].startswith("Suspects: baseline, top 20")
    # The page's ranking is the one the queue holds, most suspect first.
    frame = next(df.value for df in at.dataframe if "given_label" in df.value.columns)
    with Store.open(url) as store:
        assert store.queue_cells(int(queues["id"].iloc[0])) == frame["cell_id"].head(20).tolist()


def test_the_queue_button_needs_an_admin(env):
    root, _ = env
    with open_catalog(root) as cat:
        rows = cat.cursor().execute("SELECT image_id, label FROM cells").df()
    predictions.save(root, "given", rows, source="test", kind="labels")
    at = page(TRIAGE, {"name": "Ann", "team": "", "role": "annotator"})
    assert at.button(key="tr_make_queue").disabled
    assert "needs the admin role" in texts(at)


def test_scores_page_shows_before_and_after(env):
    root, url = env
    with open_catalog(root) as cat:
        rows = cat.cursor().execute("SELECT image_id, label FROM cells ORDER BY image_id").df()
        pristine = (
            cat.cursor()
            .execute(
                "SELECT image_id, label FROM cells WHERE config = 'pristine' ORDER BY image_id"
            )
            .df()
        )
    rng = np.random.default_rng(0)
    noisy = [lab if rng.random() < 0.8 else "SNE" for lab in rows["label"]]
    predictions.save(
        root, "model", pd.DataFrame({"image_id": rows["image_id"], "label": noisy}), "t"
    )
    with Store.open(url) as store:
        store.adjudicate(EXPERT, pristine["image_id"].iloc[0], "correct", label="PLY")
        store.adjudicate(EXPERT, pristine["image_id"].iloc[1], "remove", reason="smudge")
    at = page(SCORES)
    assert "1 corrected, 1 removed, 0 retained" in texts(at)
    assert len(at.get("plotly_chart")) >= 5  # metrics, per class, 2 confusion matrices, movers
    at.selectbox(key="sc_kind").set_value("severity").run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    at.selectbox(key="sc_group").set_value("extreme").run()
    assert not at.exception, at.exception[0].message if at.exception else ""


def test_scores_page_without_predictions_points_to_triage(env):
    at = page(SCORES)
    assert "No prediction file yet" in texts(at)


def test_suspect_ranking_heading_appears_only_once_there_is_a_prediction_file(env):
    at = page(TRIAGE, {"name": "Ada", "team": "Core", "role": "admin"})
    headings = [h.value for h in at.subheader]
    assert "Prediction files" in headings and "Suspect ranking" not in headings
    at.button(key="tr_baseline").click().run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    assert "Suspect ranking" in [h.value for h in at.subheader]
