"""The server and browser helpers the benchmarks (bench/) and the browser tests (tests/e2e)
share: `streamlit run app.py` on a free loopback port, waited for until /_stcore/health
answers; Debian's headless Chromium and its flags; a process's CPU time from /proc.

Import it as `from bench import harness` with the repository on sys.path (pytest puts it
there; a bench script inserts it). Nothing here imports wbcreview.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # the system's; never `playwright install`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"  # no script run going on
# Where a click in the page's main area takes the focus off an input (a name box) without
# hitting anything: below the top bar, which takes the clicks of its first 60 px.
UNFOCUS = {"x": 8, "y": 90}


class ServerError(SystemExit):
    """The server died or never answered; the message ends with its output. A SystemExit, so
    a benchmark stops with that message and no traceback (browser tests make it a failure)."""


def require_chromium() -> None:
    """Stop the benchmark with what to do when the system Chromium is missing."""
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium missing: apt-get install chromium (never `playwright install`)")


def stop(process: subprocess.Popen) -> None:
    """Stop `process` (and only it): terminate, then kill after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running `streamlit run app.py`: where it answers, its process, its log."""

    url: str
    process: subprocess.Popen
    log: Path
    data: Path | None = None
    boot_s: float = 0.0  # seconds from the start of the process to the first "ok"

    def output(self, chars: int = 4000) -> str:
        """The end of the server's output (stdout and stderr)."""
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Stop the server process (and only it): terminate, then kill after 10 s."""
        stop(self.process)


def start_server(
    env: Mapping[str, str],
    log: Path,
    *,
    app: Path = REPO,
    data: Path | None = None,
    timeout: float = 120,
    extra_args: tuple[str, ...] = (),
    port: int | None = None,
    poll: float = 0.25,
    command: list[str] | None = None,
) -> Server:
    """Start `streamlit run app.py` of the checkout `app` on a free loopback port (or `port`),
    with the environment updated by `env`, its output in `log`; return once it answers.
    `command` replaces the command line (it must listen on `port`, which is then required).

    Raises ServerError with the server's output when the process exits, or when it has not
    answered within `timeout` seconds (it is stopped first).
    """
    if command is not None and port is None:
        raise ValueError("a command of your own needs the port it listens on")
    port = port or free_port()
    command = command or [
        sys.executable, "-m", "streamlit", "run", str(app / "app.py"),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(port), "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false", *extra_args,
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=app,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log, data)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(f"streamlit exited with {process.returncode}:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    server.boot_s = time.perf_counter() - started
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise ServerError(
                f"streamlit did not answer within {timeout:.0f} s:\n{server.output()}"
            )
        time.sleep(poll)
