"""A long session in headless Chromium, and the server's memory every 50 actions.

    .venv/bin/python bench/soak.py [DATA] [--pages 500] [--cells 200] [--votes 500] [--json]
        [--app DIR] [--env NAME=VALUE]

Starts `streamlit run app.py` on a free loopback port against DATA (default
data/bench/demo-100000; see bench/paint.py) with a fresh WBCREVIEW_HOME (catalog, review
store) in a temporary folder, and a review queue of VOTES cells in the store the Review page
uses (for a demo copy: the demo store, seeded first with its simulated votes, as the app
does). Debian's Chromium (/usr/bin/chromium) then works in two tabs of one browser, as a
reviewer would: on Browse it turns pages (Next; back to page 1 at the end) and opens cells
(a tile click to the Cell page, then "Back to the grid"); on Review it types a name and
presses K (keep label) on each cell of the queue. Actions are interleaved in blocks (10 page
turns, 4 cells, 10 votes) until every count is done. Every 50 actions the server process's
resident set (VmRSS from /proc, children included), its anonymous part (RssAnon: the heaps,
where a leak or allocator fragmentation shows) and its CPU seconds so far are printed.
`--app DIR` runs another checkout's app.py (a baseline), `--env NAME=VALUE` sets a variable
for the server only (e.g. MALLOC_ARENA_MAX=2).

The verdict: the plateau (RSS growth over the last 200 actions) must be under 5 MB and the
peak at most 450 MB (issue 19). Prints a table, or with --json one object: samples, peak,
growth over the last 200 actions, the load average before and after, and whether the
targets hold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import paint  # noqa: E402  (the server and browser helpers of the paint benchmark)
import typist  # noqa: E402  (what the review loop exposes to benchmarks)

from bench import harness  # noqa: E402

EVERY = 50
PLATEAU_ACTIONS = 200
PLATEAU_MB = 5.0
PEAK_MB = 450.0
BLOCK = {"page": 10, "cell": 4, "vote": 10}
# The review loop is ready (its first page and cursor are in the browser), and its cursor cell.
LOOP_READY_JS = "() => window.__wbcLoop && window.__wbcLoop.cursor"
CURSOR_JS = "() => window.__wbcLoop && window.__wbcLoop.cursor"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident set of a process and its children, in MB (from /proc); `field` RssAnon for
    its anonymous part only (the heaps: what a leak or fragmentation grows, not mapped files)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
        todo += [int(c) for c in children]
    return total / 1024


def sample(pid: int) -> dict:
    """The server's resident set, its anonymous part and its CPU seconds so far."""
    return {
        "rss_mb": round(rss_mb(pid), 1),
        "anon_mb": round(rss_mb(pid, "RssAnon"), 1),
        "cpu_s": round(harness.cpu_seconds(pid), 1),
    }


def review_store(data: Path) -> str:
    """The store URL the Review page will use for `data` (seeding the demo store first)."""
    from wbcreview.data import source
    from wbcreview.demo import votes as demo_votes
    from wbcreview.review import store as store_mod

    src = source.resolve(data)
    if not src.is_demo:
        return os.environ["WBCREVIEW_DB"]
    from wbcreview.workspace import Workspace

    url = demo_votes.demo_store_url()
    with store_mod.Store.open(url) as opened:
        seeded = opened.is_demo
    if not seeded:
        paint.log("seeding the demo review store (as the Review page does on first use)")
        # stdout is for the result
        with contextlib.redirect_stdout(sys.stderr), Workspace.open(data=src.root) as ws:
            ws.seed_demo_votes(0)
    return url


def make_queue(url: str, data: Path, votes: int) -> int:
    from wbcreview.data import catalog
    from wbcreview.review import workflow as review
    from wbcreview.review.store import Reviewer, Store

    with catalog.open_catalog(data) as cat:
        cells = list(review.catalog_cells(cat.cursor())["cell_id"])
    step = max(1, len(cells) // (votes + 10))
    picked = cells[::step][: votes + 10]
    with Store.open(url) as store:
        return store.create_queue(Reviewer("Soak admin", "", "admin"), "Soak", "manual", picked)


class Session:
    """The two tabs and the counts of what they did."""

    def __init__(self, browser, base: str, queue: int):
        self.base, self.queue = base, queue
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.browse = context.new_page()
        self.review = context.new_page()
        self.direction = "next"
        self.errors: list[str] = []

    def open(self) -> None:
        self.browse.goto(f"{self.base}/Browse", timeout=180_000)
        paint.settle(self.browse)
        self.browse.wait_for_selector(".wbc-grid img", timeout=180_000)
        page = self.review
        page.goto(f"{self.base}/Review?queue={self.queue}", timeout=180_000)
        paint.settle(page)
        # The identity box may come a rerun later (a fresh server's first deep link reruns
        # once): wait for it rather than skip it, or the loop never starts.
        page.locator(".st-key-id_name input").wait_for(timeout=120_000)
        for key, text in (("id_name", "Soak reviewer"), ("id_team", "Soak")):
            box = page.locator(f".st-key-{key} input")
            box.fill(text)
            box.press("Enter")
            paint.settle(page)
        page.wait_for_function(LOOP_READY_JS, timeout=120_000)
        page.locator("[data-testid='stMain']").click(position=harness.UNFOCUS)

    def turn_page(self) -> None:
        page = self.browse
        button = page.locator(f".st-key-bf_{self.direction} button:visible").first
        if button.is_disabled():
            self.direction = "prev" if self.direction == "next" else "next"
            button = page.locator(f".st-key-bf_{self.direction} button:visible").first
        button.click()
        paint.settle(page)
        page.wait_for_selector(".wbc-grid img", timeout=120_000)

    def open_cell(self, number: int) -> None:
        page = self.browse
        tiles = page.locator(".wbc-grid a.wbc-tile")
        tiles.nth(number % max(1, tiles.count())).click()
        paint.settle(page)
        page.wait_for_selector(".wbc-compare img", timeout=120_000)
        page.get_by_role("link", name="Back to the grid").first.click()
        paint.settle(page)
        page.wait_for_selector(".wbc-grid img", timeout=120_000)

    def vote(self) -> None:
        """Keep the current cell's label (K) in the review loop and wait for the store's
        acknowledgement (no event left unacknowledged)."""
        page = self.review
        cell = page.evaluate(CURSOR_JS)
        page.keyboard.press("k")
        try:
            page.wait_for_function(typist.SAVED_JS, timeout=60_000)
        except Exception as exc:  # noqa: BLE001 (counted and reported)
            self.errors.append(f"vote on {cell}: no acknowledgement ({type(exc).__name__})")


def plan(pages: int, cells: int, votes: int) -> list[str]:
    """The order of the actions: blocks of page turns, cell opens and votes."""
    left = {"page": pages, "cell": cells, "vote": votes}
    out: list[str] = []
    while any(left.values()):
        for kind, n in BLOCK.items():
            take = min(n, left[kind])
            out += [kind] * take
            left[kind] -= take
    return out


def run(
    data: Path, pages: int, cells: int, votes: int, app: Path = REPO, env: dict | None = None
) -> dict:
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["WBCREVIEW_HOME"] = str(home)
        os.environ["WBCREVIEW_DB"] = f"sqlite:///{home / 'reviews.sqlite'}"
        paint.class_counts(data)  # builds this home's catalog before the server starts
        url = review_store(data)
        queue = make_queue(url, data, votes)
        process, base = paint.start_server(
            data, Path(tmp) / "streamlit.log", app=app, env_extra=env
        )
        samples: list[dict] = []
        actions = plan(pages, cells, votes)
        done = {"page": 0, "cell": 0, "vote": 0}
        started = time.perf_counter()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=paint.CHROMIUM, args=paint.CHROMIUM_ARGS
                )
                session = Session(browser, base, queue)
                session.open()
                samples.append({"actions": 0, **sample(process.pid)})
                paint.log(f"after opening both tabs: {samples[-1]['rss_mb']} MB")
                for number, kind in enumerate(actions, start=1):
                    try:
                        if kind == "page":
                            session.turn_page()
                        elif kind == "cell":
                            session.open_cell(done["cell"])
                        else:
                            session.vote()
                    except Exception as exc:  # noqa: BLE001 (counted and reported)
                        session.errors.append(f"{kind} {number}: {type(exc).__name__}")
                    done[kind] += 1
                    if number % EVERY == 0 or number == len(actions):
                        samples.append(
                            {
                                "actions": number,
                                **done,
                                **sample(process.pid),
                                "seconds": round(time.perf_counter() - started, 1),
                            }
                        )
                        paint.log(json.dumps(samples[-1]))
                errors = session.errors
                browser.close()
        finally:
            harness.stop(process)
    last = samples[-1]
    before = [s for s in samples if s["actions"] <= last["actions"] - PLATEAU_ACTIONS]
    growth = round(last["rss_mb"] - before[-1]["rss_mb"], 1) if before else None
    peak = max(s["rss_mb"] for s in samples)
    return {
        "data": str(data),
        "app": str(app),
        "env": env or {},
        "pages": done["page"],
        "cells": done["cell"],
        "votes": done["vote"],
        "errors": errors[:20],
        "error_count": len(errors),
        "samples": samples,
        "peak_rss_mb": peak,
        "growth_last_200_actions_mb": growth,
        "plateau_met": growth is not None and growth < PLATEAU_MB,
        "peak_met": peak <= PEAK_MB,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": last.get("seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data", nargs="?", default=str(REPO / "data" / "bench" / "demo-100000"),
        help="data root (built as a 100,000-cell demo copy if missing)",
    )  # fmt: skip
    parser.add_argument("--pages", type=int, default=500, help="page turns on Browse")
    parser.add_argument("--cells", type=int, default=200, help="cells opened from Browse")
    parser.add_argument("--votes", type=int, default=500, help="votes on the Review page")
    parser.add_argument("--build-cells", type=int, default=100_000, help="cells if built")
    parser.add_argument("--app", default=str(REPO), help="checkout whose app.py runs (a baseline)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="an environment variable for the server (repeat), e.g. MALLOC_ARENA_MAX=2",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    harness.require_chromium()
    data = Path(args.data).resolve()
    paint.ensure_copy(data, args.build_cells)
    result = run(data, args.pages, args.cells, args.votes, Path(args.app).resolve(), env)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['pages']} pages, {result['cells']} cells, {result['votes']} votes")
        for s in result["samples"]:
            print(
                f"  after {s['actions']:5d} actions: {s['rss_mb']:7.1f} MB "
                f"({s['anon_mb']:.1f} anonymous), server CPU {s['cpu_s']:.1f} s"
            )
        print(
            f"  peak {result['peak_rss_mb']} MB (target <= {PEAK_MB:g}); last "
            f"{PLATEAU_ACTIONS} actions added {result['growth_last_200_actions_mb']} MB "
            f"(target < {PLATEAU_MB:g}); errors {result['error_count']}"
        )
    return 0 if result["plateau_met"] and result["peak_met"] and not result["error_count"] else 1


if __name__ == "__main__":
    sys.exit(main())
