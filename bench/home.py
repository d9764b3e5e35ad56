"""What a visit to the home page costs: server CPU seconds and time to first paint.

    .venv/bin/python bench/home.py [DATA] [--cells 2000] [--visits 8] [--json]

Starts `streamlit run app.py` on a free loopback port against DATA (default: a demo copy of
--cells cells built in a temporary folder, with its own WBCREVIEW_HOME, as `make run` would),
then opens the home page in Debian's headless Chromium (/usr/bin/chromium) `--visits` times,
each in a new browser tab (a new Streamlit session) of one browser profile, so Streamlit's
static files come from the browser cache after the first visit, as for a person who comes back
(`--empty-cache`: every visit in a new profile, so the server sends those files each time).
The first visit is on the fresh server (imports, catalog open, health report); the others are
warm. For each visit:
- `title_s`: from `page.goto` to the page title (the `h1`) being visible: the first paint;
- `done_s`: to the script run being over and every chart drawn (plotly SVG present);
- `cpu_s`: user + system CPU seconds the server process used, from just before `goto` until
  `done` plus 0.5 s (read from /proc/<pid>/stat).
Prints the first visit and the median of the warm ones; --json prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
# True when no element is still a loading placeholder and every plotly chart (at least one)
# has drawn its SVG.
CHARTS_DRAWN_JS = """() => {
  if (document.querySelector("[data-testid='stMain'] [data-testid='stSkeleton']")) return false;
  const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
  return charts.length > 0 && charts.every((c) => c.querySelector('.main-svg'));
}"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict, log_path: Path) -> tuple[subprocess.Popen, str, float]:
    """Start the app; return the process, its URL and the seconds until it answered."""
    port = free_port()
    out = log_path.open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
            "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"streamlit exited:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return process, url, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"streamlit did not answer:\n{log_path.read_text(errors='replace')[-3000:]}")


def visit(context, url: str, pid: int) -> dict:
    """Open the home page in a new tab; the times and the server's CPU for that visit."""
    page = context.new_page()
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("h1", state="visible", timeout=120_000)
    title = time.perf_counter() - t0
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_function(CHARTS_DRAWN_JS, timeout=120_000)
    done = time.perf_counter() - t0
    if page.locator("[data-testid='stException']").count():
        raise SystemExit(f"exception on the home page:\n{page.inner_text('body')[:3000]}")
    page.wait_for_timeout(500)
    cpu = cpu_seconds(pid) - cpu0
    page.close()
    return {"title_s": round(title, 3), "done_s": round(done, 3), "cpu_s": round(cpu, 3)}


def run(data: Path | None, cells: int, visits: int, empty_cache: bool) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "WBCREVIEW_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        if data is None:
            data = Path(tmp) / "demo"
            log(f"building a demo copy of {cells:,} cells in {data}")
            subprocess.run(
                [sys.executable, "-m", "wbcreview", "demo", "--out", str(data)]
                + ["--cells", str(cells), "--with-votes"],
                check=True,
                cwd=REPO,
                env=env,
                stdout=sys.stderr,
            )
        env["WBCREVIEW_DATA"] = str(data)
        subprocess.run(
            [sys.executable, "-m", "wbcreview", "catalog"],
            check=True,
            cwd=REPO,
            env=env,
            stdout=sys.stderr,
        )  # the catalog is built before the server starts, as `make run` does
        process, url, boot = start_server(env, Path(tmp) / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                viewport = {"width": 1366, "height": 768}
                context = browser.new_context(viewport=viewport)
                results = []
                for number in range(visits):
                    if empty_cache and number:
                        context.close()
                        context = browser.new_context(viewport=viewport)
                    results.append(visit(context, url, process.pid))
                    log(f"visit {number + 1}: {results[-1]}")
                browser.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    warm = results[1:]
    summary = {
        "data": str(data),
        "visits": visits,
        "empty_cache": empty_cache,
        "server_start_s": round(boot, 3),
        "first_title_s": results[0]["title_s"],
        "first_done_s": results[0]["done_s"],
        "first_cpu_s": results[0]["cpu_s"],
        "load_average": os.getloadavg()[0],
    }
    if warm:
        for key in ("title_s", "done_s", "cpu_s"):
            summary[f"warm_{key.replace('_s', '')}_median_s"] = round(
                statistics.median(r[key] for r in warm), 3
            )
    summary["runs"] = results
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help="data root (default: a new demo copy)")
    parser.add_argument("--cells", type=int, default=2000, help="cells of the demo copy")
    parser.add_argument("--visits", type=int, default=8, help="visits (the first is cold)")
    parser.add_argument("--empty-cache", action="store_true", help="a new profile every visit")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium missing: apt-get install chromium (never `playwright install`)")
    data = Path(args.data).resolve() if args.data else None
    summary = run(data, args.cells, max(1, args.visits), args.empty_cache)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            if key != "runs":
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
