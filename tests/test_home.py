"""The home page's charts read right, and the page draws only what its first screen shows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from wbcreview.data import catalog, health
from wbcreview.data.release import CLASS_CODES, SEVERITIES
from wbcreview.views import charts

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def summary(demo_root, session_home):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(session_home))
        with catalog.open_catalog(demo_root) as cat:
            return health.summary(cat)


def test_log_ticks_run_one_two_five_up_to_twice_the_top():
    assert charts.log_ticks(240) == [1, 2, 5, 10, 20, 50, 100, 200]
    assert charts.log_ticks(1) == [1, 2]
    assert charts.log_ticks(16_477)[-2:] == [10_000, 20_000]


def test_log_class_chart_ticks_are_written_in_full_and_in_order(summary):
    counts, _ = summary
    fig = charts.class_counts(counts, log=True)
    axis = fig.layout.yaxis
    assert axis.type == "log"
    top = int(counts.groupby(["config", "label"])["rows"].sum().max())
    assert list(axis.tickvals) == charts.log_ticks(top)
    assert list(axis.tickvals) == sorted(axis.tickvals) and axis.tickvals[-1] * 5 > top
    assert list(axis.ticktext) == [f"{t:,}" for t in axis.tickvals]  # no 2, 5 digits alone
    assert axis.minor.ticks == ""
    assert fig.layout.title.text == "Rows per class (log scale)"
    assert charts.class_counts(counts, log=False).layout.yaxis.type != "log"


def test_class_chart_bars_follow_the_release_order_and_the_counts(summary):
    counts, _ = summary
    fig = charts.class_counts(counts)
    by_config = counts.groupby(["config", "label"])["rows"].sum()
    for trace in fig.data:
        assert list(trace.x) == [c for c in CLASS_CODES if c in set(trace.x)]
        assert list(trace.y) == [int(by_config[(trace.name, c)]) for c in trace.x]
        assert list(trace.text) == [f"{n:,}" for n in trace.y]
    assert {t.name for t in fig.data} == set(counts["config"])


def test_bar_labels_stay_horizontal_and_hide_where_they_do_not_fit(summary):
    counts, patients = summary
    for fig in (
        charts.severity_counts(counts),
        charts.split_counts(patients),
        charts.class_counts(counts),
    ):
        assert all(trace.textangle == 0 for trace in fig.data)
        assert fig.layout.uniformtext.mode == "hide"
        assert fig.layout.uniformtext.minsize >= 10
    severity = charts.severity_counts(counts)
    assert [t.name for t in severity.data] == [
        s for s in SEVERITIES if s in set(counts[counts.config == "degraded"].severity)
    ]
    assert all(t.textposition == "inside" for t in severity.data)


def test_a_tiny_stacked_segment_still_gets_its_count_in_the_hover():
    counts = pd.DataFrame(
        {
            "config": ["degraded"] * 3,
            "split": ["phase2_eval"] * 3,
            "label": ["SNE"] * 3,
            "severity": ["mild", "moderate", "extreme"],
            "rows": [5000, 3, 4000],
        }
    )
    fig = charts.severity_counts(counts)
    moderate = next(t for t in fig.data if t.name == "moderate")
    assert list(moderate.y) == [3] and "%{y:,} rows" in moderate.hovertemplate


@pytest.fixture
def home(demo_root, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    return at


def test_home_page_draws_the_charts_and_keeps_the_tables_until_asked(home):
    assert [t.value for t in home.title] == ["wbcreview"]
    assert len(home.get("plotly_chart")) == 3
    assert not home.dataframe and not home.tabs  # below the fold: not computed, not sent
    home.toggle(key="home_tables").set_value(True).run()
    assert not home.exception
    assert len(home.dataframe) == 3


def test_home_page_summary_is_cached_per_copy(home, monkeypatch):
    calls = []
    real = health.summary
    monkeypatch.setattr(health, "summary", lambda cat: calls.append(cat) or real(cat))
    home.run()
    home.toggle(key="log_scale").set_value(False).run()
    assert not home.exception
    assert calls == []  # every rerun after the first reads the cached summary
