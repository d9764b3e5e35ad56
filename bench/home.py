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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from bench.harness import CHROMIUM, CHROMIUM_ARGS, IDLE, cpu_seconds  # noqa: E402

# True when no element is still a loading placeholder and every plotly chart (at least one)
# has drawn its SVG.
CHARTS_DRAWN_JS = """() => {
  if (document.querySelector("[data-testid='stMain'] [data-testid='stSkeleton']")) return false;
  const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
  return charts.length > 0 && charts.every((c) => c.querySelector('.main-svg'));
}"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
        server = harness.start_server(env, Path(tmp) / "streamlit.log", poll=0.1)
        process, url, boot = server.process, server.url, server.boot_s
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
            server.stop()
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
    harness.require_chromium()
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
