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
Then, on the warm server: Next-page clicks (the page was prefetched while the previous one
was shown) and cell opens (a tile click to the frame where the Cell page's images are all
decoded). For every action the server's CPU time (user + system of the streamlit process,
from /proc) is read before and after: "server CPU per rerun"; and the bytes the page received
on Streamlit's websocket ("received_kb": thumbnails sent again show here).

`--startup` also times start -> Browse with 48 thumbnails painted, the server started with
the commands of the checkout's `make run` (`make -n run`): from the server process's start
(`startup_*_s`) and from `make run`'s first command (`make_run_*_s`, `prepare` included);
with a cold catalog (a fresh WBCREVIEW_HOME, so the server builds it) and with a warm one
(a second start on the same home); `--repeat N` takes medians of N such pairs, and
`--startup-only` skips the filter runs. `--app DIR` runs another checkout (e.g. /work/main)
in the same run, as the baseline; with several, startups take turns (A, B, A, B...).
The load average is printed before and after.
Prints the medians; --json prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
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


def start_server(
    data: Path, log_path: Path, app: Path = REPO, env_extra: dict | None = None
) -> tuple[subprocess.Popen, str]:
    """The app of checkout `app` on `data` (see harness.start_server): (process, URL)."""
    env = {"WBCREVIEW_DATA": str(data), **(env_extra or {})}
    server = harness.start_server(env, log_path, app=app, data=data)
    return server.process, server.url


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


STARTUP_JS = """() => new Promise((resolve) => {
  const check = () => {
    const imgs = [...document.querySelectorAll('.wbc-grid a.wbc-tile img')];
    if (imgs.length >= PAGE && imgs.every((i) => i.complete && i.naturalWidth > 0))
      requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
    else requestAnimationFrame(check);
  };
  check();
})""".replace("PAGE", str(PAGE))
CELL_JS = """([previous]) => {
  window.__wbcPainted = new Promise((resolve) => {
    const check = () => {
      const imgs = [...document.querySelectorAll('.wbc-compare img')];
      const key = imgs.map((i) => i.alt).join('|');
      if (imgs.length >= 2 && key !== previous && imgs.every((i) => i.complete && i.naturalWidth > 0))
        requestAnimationFrame(() => resolve(performance.now()));
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
    setTimeout(() => resolve(null), 60000);
  });
  return true;
}"""


def make_run_commands(app: Path, port: int) -> list[list[str]]:
    """The commands `make run PORT=port` runs in checkout `app` (read with `make -n`, so a
    change to the Makefile is measured as it is), without its echo lines."""
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=app,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [shlex.split(line) for line in dry.splitlines() if line and not line.startswith("echo")]


def startup(data: Path, app: Path, home: Path, browser) -> dict[str, float]:
    """Seconds to 48 thumbnails painted on Browse, with the server started the way `make run`
    starts it: from `make run`'s first command (`make_run_s`, `prepare` included) and from
    the server process's start (`server_s`). Health is polled every 50 ms."""
    env = {**os.environ, "WBCREVIEW_DATA": str(data), "WBCREVIEW_HOME": str(home)}
    port = harness.free_port()
    *before, serve = make_run_commands(app, port)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        for command in before:
            subprocess.run(command, cwd=app, env=env, check=True, stdout=subprocess.DEVNULL)
        serving = time.time()
        server = harness.start_server(
            env, Path(tmp) / "streamlit.log", app=app, port=port, poll=0.05, command=serve
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{server.url}/Browse", timeout=300_000)
            page.set_default_timeout(300_000)
            painted = page.evaluate(STARTUP_JS) / 1000
            page.close()
        finally:
            server.stop()
    return {"make_run_s": round(painted - started, 2), "server_s": round(painted - serving, 2)}


class Wire:
    """Bytes the page received on Streamlit's websocket (every frame, from the server)."""

    def __init__(self, page) -> None:
        self.received = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload) -> None:
        self.received += len(payload)


def next_pages(page, pid: int, turns: int, wire: Wire) -> tuple[list, list, list]:
    """Paint times, server CPU and bytes received of `turns` clicks on Next."""
    times, cpu, received = [], [], []
    for _ in range(turns):
        before, got = cpu_seconds(pid), wire.received
        button = page.locator(".st-key-bf_next button:visible").first
        times.append(timed_click(page, PAGE, button, ".st-key-bf_next"))
        cpu.append(cpu_seconds(pid) - before)
        received.append(wire.received - got)
    return times, cpu, received


def timed_click(page, expected: int, locator, marker: str) -> float:
    page.evaluate(
        """(sel) => { window.__wbcT0 = null; document.addEventListener('click', (e) => {
             if (e.target.closest && e.target.closest(sel)) window.__wbcT0 = e.timeStamp;
           }, {capture: true, once: true}); return true; }""",
        marker,
    )
    return timed(page, expected, lambda: locator.click())


def open_cells(page, pid: int, count: int) -> tuple[list[float], list[float]]:
    """Tile click -> the Cell page's images decoded, and server CPU, `count` times."""
    times, cpu = [], []
    for number in range(count):
        before = cpu_seconds(pid)
        page.evaluate(CELL_JS, [""])
        page.evaluate(
            """() => { window.__wbcT0 = null; document.addEventListener('click', (e) => {
                 window.__wbcT0 = e.timeStamp; }, {capture: true, once: true}); return true; }"""
        )
        page.locator(".wbc-grid a.wbc-tile").nth(number * 5 % PAGE).click()
        painted = page.evaluate("() => window.__wbcPainted")
        t0 = page.evaluate("() => window.__wbcT0")
        settle(page)
        cpu.append(cpu_seconds(pid) - before)
        if painted is not None and t0 is not None:
            times.append(painted - t0)
        page.get_by_role("link", name="Back to the grid").first.click()
        settle(page)
        page.wait_for_selector(".wbc-grid img")
    return times, cpu


def _stats(values: list[float], scale: float = 1.0) -> dict:
    if not values:
        return {}
    ordered = sorted(v * scale for v in values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def run(data: Path, runs: int, passes: int, app: Path = REPO, extra: int = 12) -> dict:
    from playwright.sync_api import sync_playwright

    counts = class_counts(data)
    total = sum(counts.values())
    classes = [c for c, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= PAGE][:runs]
    if not classes:
        raise SystemExit(f"no class in {data} has {PAGE} rows")
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(data, Path(tmp) / "streamlit.log", app)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                wire = Wire(page)
                page.goto(f"{url}/Browse")
                settle(page)
                page.wait_for_selector(".wbc-grid img")
                page.evaluate(EVENT_JS)
                results = []
                for number in range(passes):
                    pick, clear, cpu, received = [], [], [], []
                    for code in classes:
                        before, got = cpu_seconds(process.pid), wire.received
                        pick.append(timed(page, PAGE, lambda code=code: pick_class(page, code)))
                        close_dropdown(page)
                        middle, got2 = cpu_seconds(process.pid), wire.received
                        clear.append(timed(page, PAGE, lambda: clear_filters(page)))
                        cpu += [middle - before, cpu_seconds(process.pid) - middle]
                        received += [got2 - got, wire.received - got2]
                        log(
                            f"pass {number + 1} {code}: {pick[-1]:.0f} ms, clear {clear[-1]:.0f} ms"
                        )
                    results.append(
                        {"pick_class_ms": pick, "clear_ms": clear, "cpu_s": cpu, "bytes": received}
                    )
                more = {}
                if extra:
                    (more["next_page_ms"], more["next_page_cpu_s"], more["next_page_bytes"]) = (
                        next_pages(page, process.pid, extra, wire)
                    )
                    more["open_cell_ms"], more["open_cell_cpu_s"] = open_cells(
                        page, process.pid, extra
                    )
                browser.close()
        finally:
            harness.stop(process)
    summary = {
        "app": str(app),
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
        summary[f"{label}_p95_ms"] = _stats(every)["p95"]
        summary[f"{label}_server_cpu_ms"] = _stats(result["cpu_s"], 1000)
        summary[f"{label}_received_kb"] = _stats(result["bytes"], 1 / 1000)
    for name in ("next_page", "open_cell"):
        if more.get(f"{name}_ms") is not None:
            summary[f"{name}_ms"] = _stats(more[f"{name}_ms"])
            summary[f"{name}_server_cpu_ms"] = _stats(more[f"{name}_cpu_s"], 1000)
    if more.get("next_page_bytes"):
        summary["next_page_received_kb"] = _stats(more["next_page_bytes"], 1 / 1000)
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
    parser.add_argument("--extra", type=int, default=12, help="Next clicks and cell opens")
    parser.add_argument("--startup", action="store_true", help="also time start -> painted")
    parser.add_argument(
        "--startup-only", action="store_true", help="time start -> painted only (no filter runs)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="startups per app and state")
    parser.add_argument(
        "--app", action="append", default=[], help="checkout whose app.py to run (repeat: "
        "each is measured in turn in this run; default this repository)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    harness.require_chromium()
    data = Path(args.data).resolve()
    ensure_copy(data, args.cells)
    out = {"load_before": [round(x, 2) for x in os.getloadavg()], "apps": []}
    apps = [Path(a).resolve() for a in args.app] or [REPO]
    if args.startup_only:
        out["apps"] = [{"app": str(app), "data": str(data)} for app in apps]
    else:
        out["apps"] = [run(data, args.runs, args.passes, app, args.extra) for app in apps]
    if args.startup or args.startup_only:
        for summary, times in zip(out["apps"], startup_times(data, apps, args.repeat), strict=True):
            summary.update(times)
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"load average before {out['load_before']}, after {out['load_after']}")
        for summary in out["apps"]:
            print(f"{summary['app']}: {summary.get('rows', '?')} rows")
            for key, value in summary.items():
                if key.endswith(("_ms", "_s")) and key != "target_ms":
                    print(f"  {key:32s} {value}")
        print(f"  target: {TARGET_MS} ms to paint {PAGE} thumbnails after a filter change")
    return 0


def startup_pair(data: Path, app: Path, browser) -> dict[str, float]:
    """One start with a cold catalog (a fresh home), then one with it warm (the same home)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for state in ("cold", "warm"):
            took = startup(data, app, Path(tmp), browser)
            log(f"{app}: start -> painted, {state} catalog: {took}")
            out[f"startup_{state}_s"] = took["server_s"]
            out[f"make_run_{state}_s"] = took["make_run_s"]
    return out


def startup_times(data: Path, apps: list[Path], repeat: int = 1) -> list[dict]:
    """Per app, medians of `repeat` cold and warm starts (every sample under `..._all_s`).
    The apps take turns (A, B, A, B...), so a change in the machine's load hits each alike."""
    from playwright.sync_api import sync_playwright

    samples: list[dict[str, list[float]]] = [{} for _ in apps]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeat):
                for app, into in zip(apps, samples, strict=True):
                    for key, value in startup_pair(data, app, browser).items():
                        into.setdefault(key, []).append(value)
        finally:
            browser.close()
    return [
        {
            **{key: round(statistics.median(values), 2) for key, values in taken.items()},
            **{key.removesuffix("_s") + "_all_s": values for key, values in taken.items()},
        }
        for taken in samples
    ]


if __name__ == "__main__":
    sys.exit(main())
