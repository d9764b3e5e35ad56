"""A small copy of real cells with planted faults, shared by the finder tests.

Test modules load it with `pytest_plugins = ["tests.finder_fixtures"]`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import PBC_SAMPLE


@pytest.fixture(scope="session")
def planted(tmp_path_factory, session_home):
    """(root, truth): 160 real PBC cells, 6 exact and 8 near duplicates, 6 unusable images.

    The tests' home is set for the whole session: module fixtures that scan the copy run
    before the per-test isolation and must not write caches into the repository's data/."""
    if not PBC_SAMPLE.is_dir():
        pytest.skip(f"real cells not found at {PBC_SAMPLE}")
    from wbcreview.demo.build import build_demo
    from wbcreview.triage import plant

    patch = pytest.MonkeyPatch()
    patch.setenv("WBCREVIEW_HOME", str(session_home))
    root = tmp_path_factory.mktemp("planted") / "wbcbench"
    build_demo(root, cells=160, seed=5, from_folder=PBC_SAMPLE)
    truth = plant.plant(root, exact=6, near=8, unusable=6, seed=2)
    yield root, truth
    patch.undo()


@pytest.fixture
def planted_copy(planted, tmp_path) -> tuple[Path, object]:
    """A private copy of the planted copy that a test may change."""
    root, truth = planted
    out = tmp_path / "copy"
    shutil.copytree(root, out)
    return out, truth
