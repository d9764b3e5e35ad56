"""bench/soak.py's set-up works against the current code (a benchmark that cannot start
measures nothing; its set-up once imported a CLI helper that had been removed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from wbcreview.review.store import Store

REPO = Path(__file__).resolve().parent.parent


def _soak():
    spec = importlib.util.spec_from_file_location("bench_soak", REPO / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    return module


def test_soak_seeds_the_demo_store_and_makes_its_review_queue(demo_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    (demo_copy / ".wbcreview-demo").touch()  # a generated demo copy, as `demo` marks it
    soak = _soak()
    url = soak.review_store(demo_copy)
    with Store.open(url) as store:
        assert store.is_demo
        assert len(store.votes_frame()) > 0
    queue = soak.make_queue(url, demo_copy, votes=20)
    with Store.open(url) as store:
        assert len(store.queue_cells(queue)) == 30
