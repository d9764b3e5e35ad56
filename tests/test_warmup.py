"""The server's warm-up (app.py's `st.App` lifespan -> `wbcreview.ui.warmup`): it opens the
Workspace the pages then get, and Browse's first run finds its work done."""

from __future__ import annotations

import asyncio
import gc
import logging
import runpy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.web.server.app_discovery import discover_asgi_app

from tests.apptest import APP, browse_grid, ok
from wbcreview import ui
from wbcreview.data import catalog, images, query, source
from wbcreview.ui import page, warmup
from wbcreview.views.browse import DEFAULT_PAGE_SIZE
from wbcreview.workspace import Workspace


@pytest.fixture(autouse=True)
def undo_process_state(monkeypatch):
    """What the warm-up changes for the whole process, put back after each test."""
    monkeypatch.setattr(page, "_modules_frozen", 0)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    monkeypatch.setattr(st_config, "_main_script_path", st_config._main_script_path)
    context_logger = logging.getLogger(warmup._CONTEXT_LOGGER)
    monkeypatch.setattr(context_logger, "filters", list(context_logger.filters))
    warmup.done.clear()
    yield
    gc.unfreeze()


def _recording(monkeypatch, module, name: str, calls: list) -> None:
    real = getattr(module, name)

    def recorded(*args, **kwargs):
        calls.append((name, threading.current_thread().name, args))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)


def test_the_warm_up_builds_the_catalog_and_browses_first_run_computes_nothing(
    demo_copy, monkeypatch
):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    assert catalog.needs_build(demo_copy)
    ws = warmup.run()
    assert ws is not None and not catalog.needs_build(demo_copy)
    assert ui.open_workspace(source.resolve(None)) is ws  # the object every session gets

    at = AppTest.from_file(APP, default_timeout=120)
    ok(at.run())
    calls: list = []
    for name in ("count", "facet", "page", "position"):
        _recording(monkeypatch, query, name, calls)
    _recording(monkeypatch, images, "thumbnails", calls)
    at.switch_page("pages/1_Browse.py")
    ok(at.run())
    assert len(browse_grid(at)["tiles"]) == DEFAULT_PAGE_SIZE
    # The warm-up filled the first page and the second, which the grid sends ahead: no count,
    # no page, no thumbnail decoded in the run.
    assert [(name, args[-1]) for name, _, args in calls if name != "thumbnails"] == []
    assert all(thread.startswith("prefetch") for name, thread, _ in calls if name == "thumbnails")


def test_the_home_pages_first_run_reads_what_the_warm_up_filled(demo_copy, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    assert warmup.run() is not None
    calls: list = []
    for name in ("health", "summary"):
        _recording(monkeypatch, Workspace, name, calls)
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    assert [t.value for t in at.title] == ["wbcreview"] and at.success  # the health report
    assert calls == []


def test_a_warm_up_problem_is_logged_and_left_to_the_page(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WBCREVIEW_DATA", str(tmp_path / "no such copy"))
    monkeypatch.setattr(logging.getLogger("wbcreview"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="wbcreview"):
        assert warmup.run() is None
    assert warmup.done.is_set()
    assert any("warm-up stopped" in r.getMessage() for r in caplog.records)


def test_streamlit_run_app_py_serves_an_st_app_whose_lifespan_warms_up(demo_copy, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    found = discover_asgi_app(Path(APP))
    assert found.is_asgi_app and found.import_string == "app:app"
    served = runpy.run_path(APP, run_name="app")  # as `streamlit run` imports it

    async def start_and_stop():
        async with served["_lifespan"](served["app"]):
            pass

    # On a thread of its own: a browser test before this one, in the same worker, may have
    # left Playwright's event loop running on this thread, where asyncio.run() refuses.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, start_and_stop()).result(timeout=120)
    assert warmup.done.wait(120)
    assert not catalog.needs_build(demo_copy)
    assert PagesManager.uses_pages_directory is False


def test_the_warm_up_thread_leaves_no_missing_context_warning_in_the_log(demo_copy, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    context_logger = logging.getLogger(warmup._CONTEXT_LOGGER)
    seen: list[str] = []
    catch = logging.Handler(logging.WARNING)
    catch.emit = lambda record: seen.append(record.threadName)
    context_logger.addHandler(catch)

    def warm_up_then_warn():
        warmup.run()
        context_logger.warning("Thread %r: missing ScriptRunContext!", "probe")

    try:
        thread = threading.Thread(target=warm_up_then_warn, name="wbcreview-warm-up-test")
        thread.start()
        thread.join(120)
        context_logger.warning("Thread %r: missing ScriptRunContext!", "probe")
    finally:
        context_logger.removeHandler(catch)
    # the warm-up's own thread is quiet; any other thread still warns
    assert seen == [threading.current_thread().name]


def test_the_warm_up_tunes_the_allocator_before_it_fills_a_cache(demo_copy, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_copy))
    order: list[str] = []
    monkeypatch.setattr(warmup.allocator, "tune_allocator", lambda: order.append("allocator"))
    real = ui.open_workspace
    monkeypatch.setattr(ui, "open_workspace", lambda src: order.append("workspace") or real(src))
    warmup.run()
    assert order[:2] == ["allocator", "workspace"]
