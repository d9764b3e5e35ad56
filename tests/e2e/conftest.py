"""Browser tests: `streamlit run` on a free loopback port, driven by Debian's headless Chromium.

Chromium comes from the system (`/usr/bin/chromium`, `apt-get install chromium`), never from
`playwright install`. Without it every test here is skipped with a loud reason and a line at
the end of the run, unless WBCREVIEW_REQUIRE_E2E=1 (CI), which turns the skip into a failure.
Screenshots go to test-artifacts/e2e/ (git-ignored; see test_browse_e2e.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import harness

REPO = harness.REPO
CHROMIUM = Path(harness.CHROMIUM)
CHROMIUM_ARGS = harness.CHROMIUM_ARGS
MISSING = "Chromium missing: browser tests NOT run; apt-get install chromium"
_skipped: list[str] = []


def require_chromium() -> None:
    """Skip (or fail, when WBCREVIEW_REQUIRE_E2E=1) if the system Chromium is missing."""
    if CHROMIUM.exists():
        return
    if os.environ.get("WBCREVIEW_REQUIRE_E2E") == "1":
        pytest.fail(f"{MISSING} (WBCREVIEW_REQUIRE_E2E=1: a skip is a failure)")
    _skipped.append(MISSING)
    pytest.skip(MISSING)


@pytest.fixture(autouse=True)
def _chromium_present():
    require_chromium()


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_sep("!", MISSING, red=True, bold=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, with the system Chromium and quiet flags."""
    require_chromium()
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000}}


free_port = harness.free_port
Server = harness.Server


def start_server(
    data: Path,
    home: Path,
    log: Path,
    timeout: float = 90,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
) -> Server:
    """Start the app on the copy `data` with WBCREVIEW_HOME `home` and wait until
    /_stcore/health answers "ok".

    Fails the test with the server's output if the process dies or never answers.
    """
    env = {"WBCREVIEW_DATA": str(data), "WBCREVIEW_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    try:
        return harness.start_server(
            env, log, data=data, timeout=timeout, extra_args=extra_args, port=port
        )
    except harness.ServerError as exc:
        pytest.fail(str(exc))


def stop_server(server: Server) -> None:
    """Stop the server process (and only it)."""
    server.stop()


def build_copy(out: Path, home: Path, **demo_args) -> Path:
    """Write a demo copy and build its catalog here, before any server opens it."""
    from wbcreview.data import catalog
    from wbcreview.demo.build import build_demo

    build_demo(out, **demo_args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(home))
        catalog.ensure_built(out)
    return out


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app on a generated demo copy (600 cells)."""
    require_chromium()
    base = tmp_path_factory.mktemp("e2e-demo")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=600, seed=11)
    server = start_server(data, home, base / "streamlit.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def pbc_server(tmp_path_factory):
    """The app on a copy built from the real PBC cell images (skipped if they are absent)."""
    require_chromium()
    sample = REPO.parent / "shared" / "data" / "pbc_sample"
    if not sample.is_dir():
        pytest.skip(f"no real PBC images at {sample}")
    base = tmp_path_factory.mktemp("e2e-pbc")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, from_folder=sample)
    server = start_server(data, home, base / "streamlit.log")
    yield server
    stop_server(server)
