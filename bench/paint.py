"""Time from a filter change to a painted page of 48 thumbnails, in headless Chromium.

    .venv/bin/python bench/paint.py [DATA] [--runs 13] [--passes 2] [--json]

Starts `streamlit run app.py` on a free loopback port against DATA (default
data/bench/demo-100000, built with `python -m wbcreview demo --cells 100000` if missing,
which takes minutes), opens the Browse page in Debian's Chromium (/usr/bin/chromium),
then, for each run, picks one class in the sidebar's Class filter (types its code, clicks
its option). A run's time is from that click (its event timestamp, in the page) to the frame
after every one of the 48 new grid images is complete with naturalWidth > 0. "Clear
filters" between runs is timed too. The first pass meets every class's thumbnails for
the first time (cold server caches); the second pass repeats the same changes (warm).
Prints the medians; --json prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
sys.path.insert(0, str(REPO))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
PAGE = 48
TARGET_MS = 1000

# Resolves with performance.now() one frame after the grid shows `expected` new, decoded images.
MEASURE_JS = """([previous, expected]) => {
  window.__wbcPainted = new Promise((resolve) => {
    const check = () => {
      const tiles = [...document.querySelectorAll('.wbc-grid a.wbc-tile')];
      const ids = tiles.map((t) => t.dataset.imageId).join(',');
      const imgs = tiles.map((t) => t.querySelector('img'));
      const done = tiles.length === expected && ids !== previous &&
        imgs.every((i) => i && i.complete && i.naturalWidth > 0);
      if (done) requestAnimationFrame(() => resolve(performance.now()));
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
    setTimeout(() => resolve(null), 60000);
  });
  return true;
}"""
# The time of the event that changes the filter: a click on a dropdown option or on "Clear".
EVENT_JS = """() => {
  window.__wbcT0 = null;
  document.addEventListener('click', (e) => {
    const t = e.target.closest ? e.target : null;
    if (t && (t.closest("[role='option']") || t.closest('.st-key-bf_clear'))) {
      window.__wbcT0 = e.timeStamp;
    }
  }, {capture: true});
  return true;
}"""
GRID_IDS_JS = """() => [...document.querySelectorAll('.wbc-grid a.wbc-tile')]
  .map((t) => t.dataset.imageId).join(',')"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_copy(data: Path, cells: int) -> None:
    """Build the demo copy at `data` if it is missing (in a child process, minutes)."""
    if (data / "README.md").exists():
        return
    log(f"building a demo copy of {cells:,} cells in {data} (once; this takes minutes)")
    subprocess.run(
        [sys.executable, "-m", "wbcreview", "demo", "--out", str(data), "--cells", str(cells)],
        check=True,
        cwd=REPO,
    )


def class_counts(data: Path) -> dict[str, int]:
    """Build the catalog here (before the server opens it) and count rows per class."""
    from wbcreview.data import catalog, query

    with catalog.open_catalog(data, progress=lambda d, t, m: log(f"catalog: {m}")) as cat:
        return query.facet(cat.cursor(), query.Filter(), "label")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "WBCREVIEW_DATA": str(data)}
    out = log_path.open("wb")
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
                    return process, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    process.terminate()
    raise SystemExit(f"streamlit did not answer:\n{log_path.read_text(errors='replace')[-3000:]}")


def settle(page) -> None:
    page.wait_for_timeout(150)
    page.wait_for_selector(IDLE, timeout=120_000)


def timed(page, expected: int, action) -> float:
    """Milliseconds from the action's event to the painted grid of `expected` new images."""
    previous = page.evaluate(GRID_IDS_JS)
    page.evaluate(MEASURE_JS, [previous, expected])
    action()
    painted = page.evaluate("() => window.__wbcPainted")
    started = page.evaluate("() => window.__wbcT0")
    settle(page)
    if painted is None or started is None:
        raise SystemExit(f"no painted grid of {expected} new images within 60 s at {page.url}")
    return painted - started


def pick_class(page, code: str) -> None:
    box = page.locator(".st-key-bf_labels input").first
    box.click()
    box.fill(code)
    page.get_by_role("option", name=re.compile(rf"^{re.escape(code)} · ")).first.click()


def close_dropdown(page) -> None:
    """Close the class dropdown and leave its input: a focused multiselect is taller, and
    the blur of a later click would move the sidebar under the pointer."""
    page.keyboard.press("Escape")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(100)


def clear_filters(page) -> None:
    page.locator(".st-key-bf_clear button:visible").first.click()


def run(data: Path, runs: int, passes: int) -> dict:
    from playwright.sync_api import sync_playwright

    counts = class_counts(data)
    total = sum(counts.values())
    classes = [c for c, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= PAGE][:runs]
    if not classes:
        raise SystemExit(f"no class in {data} has {PAGE} rows")
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(data, Path(tmp) / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(f"{url}/Browse")
                settle(page)
                page.wait_for_selector(".wbc-grid img")
                page.evaluate(EVENT_JS)
                results = []
                for number in range(passes):
                    pick, clear = [], []
                    for code in classes:
                        pick.append(timed(page, PAGE, lambda code=code: pick_class(page, code)))
                        close_dropdown(page)
                        clear.append(timed(page, PAGE, lambda: clear_filters(page)))
                        log(
                            f"pass {number + 1} {code}: {pick[-1]:.0f} ms, clear {clear[-1]:.0f} ms"
                        )
                    results.append({"pick_class_ms": pick, "clear_ms": clear})
                browser.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    summary = {
        "data": str(data),
        "rows": total,
        "runs_per_pass": len(classes),
        "thumbnails": PAGE,
        "target_ms": TARGET_MS,
    }
    for number, result in enumerate(results, start=1):
        label = "cold" if number == 1 else f"warm{number - 1 if passes > 2 else ''}"
        every = result["pick_class_ms"] + result["clear_ms"]
        summary[f"{label}_median_ms"] = round(statistics.median(every), 1)
        summary[f"{label}_max_ms"] = round(max(every), 1)
        summary[f"{label}_pick_class_median_ms"] = round(
            statistics.median(result["pick_class_ms"]), 1
        )
        summary[f"{label}_clear_median_ms"] = round(statistics.median(result["clear_ms"]), 1)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data", nargs="?", default=str(REPO / "data" / "bench" / "demo-100000"),
        help="data root (built as a 100,000-cell demo copy if missing)",
    )  # fmt: skip
    parser.add_argument("--cells", type=int, default=100_000, help="cells if it must be built")
    parser.add_argument("--runs", type=int, default=13, help="filter changes per pass (classes)")
    parser.add_argument("--passes", type=int, default=2, help="passes (first cold, then warm)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium missing: apt-get install chromium (never `playwright install`)")
    data = Path(args.data).resolve()
    ensure_copy(data, args.cells)
    summary = run(data, args.runs, args.passes)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['rows']:,} rows, {summary['runs_per_pass']} changes per pass")
        for key, value in summary.items():
            if key.endswith("_ms") and key != "target_ms":
                print(f"  {key:32s} {value:8.1f}")
        print(f"  target: {TARGET_MS} ms to paint {PAGE} thumbnails after a filter change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
