"""The page wrapper exempts long-lived objects from Streamlit's per-run full collection."""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest

from wbcreview.ui import page


class _Node:
    pass


@pytest.fixture
def thawed(monkeypatch):
    monkeypatch.setattr(page, "_modules_frozen", 0)
    yield
    gc.unfreeze()


def test_a_run_that_imported_modules_freezes_what_is_alive(thawed):
    assert page.freeze_long_lived() is True
    assert gc.get_freeze_count() > 0


def test_runs_that_import_nothing_new_do_not_freeze_again(thawed, monkeypatch):
    assert page.freeze_long_lived() is True
    assert page.freeze_long_lived() is False
    monkeypatch.setitem(sys.modules, "wbcreview_fake_screen", types.ModuleType("fake"))
    assert page.freeze_long_lived() is True


def test_the_runs_cyclic_garbage_is_collected_not_frozen(thawed):
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None
    page.freeze_long_lived()
    assert gone() is None
