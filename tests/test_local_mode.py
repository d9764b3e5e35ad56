"""Local mode (no sign-in) listens on 127.0.0.1 only; serving others needs server mode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from wbcreview.ui.navigation import exposed_without_sign_in, is_loopback

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "app.py")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on TCP `port` (from /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.2", False),
        ("wbc.example.org", False),
    ],
)
def test_only_loopback_addresses_count_as_local(address, loopback):
    assert is_loopback(address) is loopback
    assert exposed_without_sign_in(address, "none") is (not loopback)
    assert not exposed_without_sign_in(address, "password")
    assert not exposed_without_sign_in(address, "oidc")


def test_the_repository_config_binds_streamlit_to_loopback():
    text = (REPO / ".streamlit" / "config.toml").read_text()
    assert 'address = "127.0.0.1"' in text.split("[server]", 1)[1].split("[", 1)[0]


def test_make_run_binds_to_loopback_and_honours_port():
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", "PORT=8642"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    command = next(line for line in dry.splitlines() if "streamlit run" in line)
    assert "--server.address 127.0.0.1" in command and "--server.port 8642" in command


def test_make_run_listens_on_127_0_0_1_only(demo_root, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "WBCREVIEW_DATA": str(demo_root),  # configured data: `prepare` builds nothing
        "WBCREVIEW_HOME": str(tmp_path / "home"),
        "WBCREVIEW_AUTH": "none",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped below with its children
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert make.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    if r.read().strip() == b"ok":
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.25)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, no 0.0.0.0 or ::
        output = log.read_text(errors="replace")
        assert "Network URL" not in output and "External URL" not in output
        assert f"open http://localhost:{port}" in output
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)


@pytest.fixture
def network_address():
    """Pretend Streamlit was started with --server.address 0.0.0.0."""
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    yield
    st_config.set_option("server.address", before)


def test_local_mode_on_a_network_address_shows_only_a_refusal(
    demo_root, monkeypatch, network_address
):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_AUTH", "none")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and "Local mode (no sign-in) is listening on `0.0.0.0`" in (
        at.error[0].value
    )
    assert not at.title and not at.success  # nothing of the home page


def test_server_mode_on_a_network_address_asks_for_sign_in(
    demo_root, monkeypatch, network_address, tmp_path
):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    monkeypatch.setenv("WBCREVIEW_USERS", str(tmp_path / "users.yaml"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not any("Local mode" in e.value for e in at.error)
    assert [t.value for t in at.title] == ["Sign in"]
