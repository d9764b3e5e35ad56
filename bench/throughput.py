"""Votes per minute in gallery mode and in single-cell mode, on the same 96 cells, in Chromium.

    .venv/bin/python bench/throughput.py [--cells 96] [--json] [--screenshot PATH]

Builds a small demo copy (not marked as the demo, so votes go to a fresh review store in a
temporary folder), creates two queues of the same cells and starts `streamlit run app.py`
on a free loopback port. A scripted reviewer makes the same decisions in both modes: about
one cell in eight corrected to a confusable class, one in 24 removed (multi-cell), the rest
kept. Single-cell mode (pages/5_Review.py): one key per cell (K, a class key or X), waiting
for the run to finish each time. Gallery mode (pages/11_Gallery_review.py): click the tiles
to correct (ctrl+click adds to the selection), press the class key, then Enter twice to
sign off the page (the rest kept). Votes per minute = cells / wall time of the pass.

Repaint: for every vote key in gallery mode, the time from the keydown event to the frame
in which the voted tile shows its badge and every grid image is decoded. Both passes are
checked against the store at the end (the script fails if a decision is missing or wrong).
Debian's Chromium (/usr/bin/chromium) only; never `playwright install`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.paint import CHROMIUM, CHROMIUM_ARGS, log, start_server  # noqa: E402

IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
TARGET_RATIO = 3.0
TARGET_REPAINT_MS = 500

# Marks the time of the next keydown (window capture runs before the page's listeners) and
# resolves one frame after tile `cell` shows a vote badge with every grid image decoded.
ARM_JS = """(cell) => {
  window.__grT0 = null;
  window.addEventListener('keydown', (e) => { window.__grT0 = e.timeStamp; },
                          {capture: true, once: true});
  window.__grPainted = new Promise((resolve) => {
    const limit = performance.now() + 60000;
    const check = () => {
      const tile = document.querySelector(`[data-gr-cell="${cell}"]`);
      const imgs = [...document.querySelectorAll('.gr-wrap img')];
      if (tile && tile.classList.contains('gr-done') &&
          imgs.every((i) => i.complete && i.naturalWidth > 0)) {
        requestAnimationFrame(() => resolve(performance.now()));
      } else if (performance.now() > limit) resolve(null);
      else requestAnimationFrame(check);
    };
    check();
  });
}"""


SCROLL_TOP_JS = """() => {
  window.scrollTo(0, 0);
  document.querySelectorAll('*').forEach((e) => { if (e.scrollTop > 0) e.scrollTop = 0; });
}"""
SHOWN_JS = """(cell) => {
  const h = [...document.querySelectorAll('h4')].find((e) => e.innerText.startsWith('Cell '));
  return h && h.innerText.trim() !== 'Cell ' + cell;
}"""


def settle(page) -> None:
    page.wait_for_timeout(120)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")


def prepare(base: Path, cells: int):
    """A demo copy, its catalog, and two queues of the same cells; returns data, plan, ids."""
    from wbcreview.data import catalog
    from wbcreview.demo.build import DEMO_MARKER, build_demo
    from wbcreview.review import workflow as review
    from wbcreview.review.store import Reviewer, Store

    data = base / "wbcbench"
    build_demo(data, cells=max(2 * cells, 200), seed=5)
    (data / DEMO_MARKER).unlink(missing_ok=True)
    with catalog.open_catalog(data) as cat:
        frame = review.catalog_cells(cat.cursor())
    ids = list(frame["cell_id"][:cells])
    labels = dict(zip(frame["cell_id"], frame["label"], strict=True))
    plan = {}
    for i, cell in enumerate(ids):
        if i % 24 == 7:
            plan[cell] = ("remove", None)
        elif i % 8 == 3:
            partners = review.hard_partners(labels[cell]) or [
                "LY" if labels[cell] != "LY" else "MO"
            ]
            plan[cell] = ("correct", partners[0])
        else:
            plan[cell] = ("retain", None)
    admin = Reviewer("Bench admin", "", "admin")
    with Store.open(os.environ["WBCREVIEW_DB"]) as s:
        for name in ("single", "gallery"):
            s.create_queue(admin, f"Bench {name}", "manual", ids)
    return data, plan, ids, labels


def be(page, name: str) -> None:
    for key, value in (("id_name", name), ("id_team", "Bench")):
        box = page.locator(f".st-key-{key} input")
        box.fill(value)
        box.press("Enter")
        settle(page)
    page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 8})


def single_pass(page, url: str, plan: dict) -> float:
    """Vote through queue 1 one cell at a time with keys; return seconds."""
    from wbcreview.review import workflow as review

    page.goto(f"{url}/Review?queue=1")
    settle(page)
    be(page, "Single")
    heading = page.locator("h4", has_text=re.compile(r"^Cell ")).first
    start = time.perf_counter()
    for n in range(len(plan)):
        cell = heading.inner_text().removeprefix("Cell ").strip()
        action, label = plan[cell]
        key = {"retain": "k", "remove": "x"}.get(action) or review.CLASS_KEYS[label].lower()
        page.keyboard.press(key)
        if n < len(plan) - 1:  # the next cell is shown (the last vote stays on its cell)
            page.wait_for_function(SHOWN_JS, arg=cell, timeout=60_000)
        settle(page)
    return time.perf_counter() - start


def gallery_pass(page, url: str, plan: dict, ids: list[str], shot: Path | None):
    """Vote through queue 2 in gallery mode; return seconds and the repaint times (ms)."""
    from wbcreview.review import workflow as review
    from wbcreview.review.gallery import PAGE_SIZE

    page.goto(f"{url}/Gallery_review?queue=2")
    settle(page)
    be(page, "Gallery")
    repaints: list[float] = []
    start = time.perf_counter()
    for first in range(0, len(ids), PAGE_SIZE):
        on_page = ids[first : first + PAGE_SIZE]
        groups: dict[tuple, list[str]] = {}
        for cell in on_page:
            if plan[cell][0] != "retain":
                groups.setdefault(plan[cell], []).append(cell)
        for (action, label), cells in groups.items():
            for i, cell in enumerate(cells):
                tile = page.locator(f'[data-gr-cell="{cell}"]')
                tile.click(modifiers=["Control"] if i else [])
                settle(page)
            key = "3" if action == "remove" else review.CLASS_KEYS[label].lower()
            page.evaluate(ARM_JS, cells[-1])
            page.keyboard.press(key)
            painted = page.evaluate("() => window.__grPainted")
            t0 = page.evaluate("() => window.__grT0")
            if painted is not None and t0 is not None:
                repaints.append(painted - t0)
            settle(page)
        if shot is not None and first == 0:  # not timed: a selection to show, then cleared
            pause = time.perf_counter()
            page.locator(".gr-tile:not(.gr-done)").nth(1).click()
            settle(page)
            for _ in range(2):
                page.keyboard.press("Shift+ArrowRight")
                settle(page)
            page.locator("h1").first.scroll_into_view_if_needed()
            page.evaluate(SCROLL_TOP_JS)
            page.screenshot(path=str(shot), full_page=False, type="png")
            page.keyboard.press("Escape")
            settle(page)
            start += time.perf_counter() - pause
        page.keyboard.press("Enter")
        settle(page)
        page.keyboard.press("Enter")
        settle(page)
    return time.perf_counter() - start, repaints


def check(plan: dict, name: str) -> list[str]:
    """Differences between the plan and the reviewer's stored votes."""
    from wbcreview.review.store import Store

    with Store.open(os.environ["WBCREVIEW_DB"]) as s:
        votes = s.current_votes(reviewer=name)
    got = {r["cell_id"]: (r["action"], r["label"]) for r in votes.to_dict("records")}
    return [
        f"{name} {c}: want {want}, got {got.get(c)}"
        for c, want in plan.items()
        if got.get(c) != want
    ]


def run(cells: int, shot: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="wbc-throughput-") as tmp:
        base = Path(tmp)
        os.environ["WBCREVIEW_HOME"] = str(base / "home")
        os.environ["WBCREVIEW_DB"] = f"sqlite:///{base / 'reviews.sqlite'}"
        log("building the copy and the queues")
        data, plan, ids, _ = prepare(base, cells)
        process, url = start_server(data, base / "streamlit.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(f"{url}/Gallery_review")  # warm the server's caches once
                settle(page)
                log("single-cell pass")
                single = single_pass(page, url, plan)
                log("gallery pass")
                gallery, repaints = gallery_pass(page, url, plan, ids, shot)
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=20)
        problems = check(plan, "Single") + check(plan, "Gallery")
    result = {
        "cells": len(ids),
        "corrections": sum(a == "correct" for a, _ in plan.values()),
        "removals": sum(a == "remove" for a, _ in plan.values()),
        "single_s": round(single, 1),
        "gallery_s": round(gallery, 1),
        "single_votes_per_min": round(60 * len(ids) / single, 1),
        "gallery_votes_per_min": round(60 * len(ids) / gallery, 1),
        "ratio": round(single / gallery, 2),
        "repaint_ms_median": round(statistics.median(repaints), 0) if repaints else None,
        "repaint_ms_max": round(max(repaints), 0) if repaints else None,
        "repaints": len(repaints),
        "problems": problems,
    }
    result["targets_met"] = bool(
        result["ratio"] >= TARGET_RATIO
        and repaints
        and max(repaints) <= TARGET_REPAINT_MS
        and not problems
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=96)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.cells, args.screenshot)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['cells']} cells ({result['corrections']} corrections, "
            f"{result['removals']} removals)\n"
            f"single-cell: {result['single_s']} s, {result['single_votes_per_min']} votes/min\n"
            f"gallery:     {result['gallery_s']} s, {result['gallery_votes_per_min']} votes/min "
            f"({result['ratio']}x; target {TARGET_RATIO}x)\n"
            f"gallery repaint after a vote key: median {result['repaint_ms_median']} ms, "
            f"max {result['repaint_ms_max']} ms over {result['repaints']} (target "
            f"{TARGET_REPAINT_MS} ms)"
        )
        for problem in result["problems"]:
            print("PROBLEM:", problem)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
