"""Shared fixtures: an isolated WBCREVIEW_HOME, a seeded demo copy, cleared Streamlit caches."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Shared 2-core machines: a slow example is load, not a bug. Property tests keep their
# example counts but get no deadline.
settings.register_profile("wbcreview", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("wbcreview")

REPO = Path(__file__).resolve().parent.parent
PBC_SAMPLE = REPO.parent / "shared" / "data" / "pbc_sample"


def pytest_collection_modifyitems(items):
    """Run the browser test files first (a stable sort: the order within each group stays).

    `make test` hands whole files to two workers in collection order (`--dist loadfile
    --no-loadscope-reorder`); the browser files take 30-100 s each, and started last they
    left one worker running alone for minutes while the other had nothing left to do. First,
    the many short files fill in behind them."""
    items.sort(key=lambda item: 0 if "/e2e/" in item.nodeid else 1)


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("wbcreview-home")


@pytest.fixture(autouse=True)
def isolated_home(session_home, monkeypatch):
    """Catalogs and review data of tests go to a temporary folder, never to data/; no
    setting of the developer's shell (a WBCREVIEW_ setting) leaks into a test. The harness's
    own switches (WBCREVIEW_REQUIRE_*, WBCREVIEW_TEST_*) are not settings and stay."""
    for name in [n for n in os.environ if n.startswith("WBCREVIEW_")]:
        if not name.startswith(("WBCREVIEW_REQUIRE_", "WBCREVIEW_TEST_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WBCREVIEW_HOME", str(session_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(session_home / "no-hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture(autouse=True)
def restore_main_module():
    """AppTest makes its script `__main__` and does not put the old one back; worker
    processes started later (the demo builder's pool) would then import a deleted script."""
    saved = sys.modules.get("__main__")
    yield
    if saved is not None:
        sys.modules["__main__"] = saved


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    """Streamlit caches live in the process: clear both around every test that may have used
    them. A core test never imports Streamlit (so "the core runs without it" stays true)."""
    st = sys.modules.get("streamlit")
    if st is not None:
        st.cache_data.clear()
        st.cache_resource.clear()
    yield
    st = sys.modules.get("streamlit")
    if st is not None:
        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small seeded demo copy shared by the tests that only read it."""
    from wbcreview.demo.build import build_demo

    out = tmp_path_factory.mktemp("demo") / "wbcbench"
    build_demo(out, cells=400, seed=7)
    return out


@pytest.fixture
def demo_copy(demo_root, tmp_path) -> Path:
    """A private copy of the demo that a test may break."""
    out = tmp_path / "copy"
    shutil.copytree(demo_root, out)
    return out


@pytest.fixture(scope="module")
def cat(demo_root):
    """The shared demo copy's catalog, opened once per test module (read only)."""
    from wbcreview.data import catalog

    with catalog.open_catalog(demo_root) as opened:
        yield opened


@pytest.fixture
def cur(cat):
    """A DuckDB cursor on the shared demo copy's catalog."""
    return cat.cursor()


@pytest.fixture
def db_url(demo_root, tmp_path, monkeypatch) -> str:
    """A new SQLite decision store, and the environment an app run reads: the shared demo
    copy, a private home and that store (a test module may add settings on top)."""
    url = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WBCREVIEW_DB", url)
    return url


@pytest.fixture(autouse=True)
def keep_main_module():
    """AppTest makes its script `__main__`; put the real one back, or a later
    multiprocessing spawn (the demo builder's) would import a deleted temp script."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def cells(demo_root):
    """The demo copy's cells with their labels, first by id (a test module may define its own)."""
    from wbcreview.data import catalog
    from wbcreview.review import workflow as review

    with catalog.open_catalog(demo_root) as cat:
        return review.catalog_cells(cat.cursor())
