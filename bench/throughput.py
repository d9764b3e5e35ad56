"""A scripted reviewer types decisions at 80 ms intervals on Review and on Gallery review.

    .venv/bin/python bench/throughput.py [--decisions 200] [--interval-ms 80] [--pages 4]
        [--modes single,gallery,sweep] [--app DIR ...] [--json]

Builds a small demo copy (not marked as the demo, so votes go to a fresh SQLite store in a
temporary folder), makes one queue per screen and starts `streamlit run app.py` on a free
loopback port. In Debian's Chromium (/usr/bin/chromium) the reviewer of bench/typist.py
types DECISIONS decision keys on each screen, one every INTERVAL ms, looking at the screen
before each key to note which cell it must land on. Then, per screen:
- every decision stored, in order, on the right cell (the bench fails otherwise);
- key -> painted (the cursor, badge or next cell drawn: keydown to the next frame) and
  key -> "saved" shown (the store's acknowledgement painted) p50/p95/max, in ms;
- websocket bytes from the server and to it per decision, round trips;
- server CPU-s per decision (the streamlit process's user+system time over the typing);
- decisions per minute (typing time, and until the last one was saved).
Mode `sweep` is gallery review as it is used (typist.type_gallery_pages): on each of PAGES
pages click the few wrong tiles (10 %), press their class, Shift+Enter keeps the rest; its
decisions per minute compare with `single` measured in the same run. Bytes from the server
are split into images (data: URIs in the frames), the loop's code, and the rest (the
protocol: acknowledgements, votes, pages). `--app DIR` (repeat it) measures other checkouts
in the same run, one server each, e.g. `--app /tmp/before --app .` for before/after.
The load average is printed before and after: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import harness, typist  # noqa: E402
from bench.harness import CHROMIUM, CHROMIUM_ARGS, IDLE, cpu_seconds  # noqa: E402
from bench.paint import log, start_server  # noqa: E402

IMAGE_URI = re.compile(rb"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")
TARGETS = {"paint_p95_ms": 100, "saved_p95_ms": 300, "cpu_s_per_vote": 0.05, "kb_per_vote": 5}


def prepare(base: Path, cells: int, names: list[str]):
    """A demo copy, its catalog, a queue of the same cells per name; returns data, labels,
    queues (name -> id)."""
    from wbcreview.data import catalog
    from wbcreview.demo.build import DEMO_MARKER, build_demo
    from wbcreview.review import workflow as review
    from wbcreview.review.store import Reviewer, Store

    data = base / "wbcbench"
    build_demo(data, cells=cells, seed=5)
    (data / DEMO_MARKER).unlink(missing_ok=True)
    with catalog.open_catalog(data) as cat:
        frame = review.catalog_cells(cat.cursor())
    labels = dict(zip(frame["cell_id"].astype(str), frame["label"].astype(str), strict=True))
    ids = list(labels)[: max(cells - 10, 10)]
    admin = Reviewer("Bench admin", "", "admin")
    with Store.open(os.environ["WBCREVIEW_DB"]) as s:
        queues = {n: s.create_queue(admin, f"Bench {n}", "manual", ids) for n in names}
    return data, labels, queues


def one_screen(browser, url: str, path: str, name: str, labels, pid: int, args, mode: str) -> dict:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    frames = {"in": 0, "out": 0, "n_in": 0, "images": 0}

    def on_ws(ws):
        def got(payload):
            raw = payload.encode() if isinstance(payload, str) else payload
            frames["in"] += len(raw)
            frames["n_in"] += 1
            frames["images"] += sum(len(m) for m in IMAGE_URI.findall(raw))

        ws.on("framereceived", got)
        ws.on("framesent", lambda payload: frames.__setitem__("out", frames["out"] + len(payload)))

    page.on("websocket", on_ws)
    page.goto(f"{url}/{path}")
    page.wait_for_selector(IDLE, timeout=120_000)
    box = page.locator(".st-key-id_name input")
    box.fill(name)
    box.press("Enter")
    page.wait_for_function("() => window.__wbcLoop && window.__wbcLoop.cursor", timeout=120_000)
    page.wait_for_timeout(1500)  # the next pages' images arrive; then the clock starts
    page.wait_for_function(typist.SAVED_JS, timeout=60_000)
    page.locator("[data-testid='stMain']").click(position=harness.UNFOCUS)
    page.evaluate("() => { window.__wbcLoopStats = null; }")
    before = {k: frames[k] for k in frames}
    cpu0 = cpu_seconds(pid)
    start = time.perf_counter()
    if mode == "sweep":
        typed = typist.type_gallery_pages(
            page, args.pages, labels, interval_ms=args.interval_ms, seed=args.seed
        )
    else:
        typed = typist.type_decisions(
            page, args.decisions, labels, interval_ms=args.interval_ms, seed=args.seed
        )
    page.wait_for_function(typist.SAVED_JS, timeout=300_000)
    until_saved = time.perf_counter() - start
    page.wait_for_timeout(300)
    cpu = cpu_seconds(pid) - cpu0
    stats = page.evaluate(typist.STATS_JS) or {}
    if args.screenshots:
        page.screenshot(path=str(Path(args.screenshots) / f"{path.split('?')[0]}-typed.png"))
    page.close()
    stored = typist.stored_in_order(os.environ["WBCREVIEW_DB"], name)
    n = len(typed.expected)
    received = frames["in"] - before["in"]
    images = frames["images"] - before["images"]
    code = stats.get("codeBytes", 0)
    return {
        "decisions": n,
        "keys": typed.keys,
        "waits_for_next_cells": typed.waits,
        "typing_s": round(typed.seconds, 2),
        "until_saved_s": round(until_saved, 2),
        "per_min_typing": round(60 * n / typed.seconds, 1),
        "per_min_saved": round(60 * n / until_saved, 1),
        "paint_ms": typist.summary(stats.get("paint", [])),
        "saved_ms": typist.summary(stats.get("saved", [])),
        "round_trips": len(stats.get("rtt", [])),
        "round_trip_ms": typist.summary(stats.get("rtt", [])),
        "kb_in_per_vote": round(received / n / 1024, 2),
        "kb_images_per_vote": round(images / n / 1024, 2),
        "kb_code_per_vote": round(code / n / 1024, 2),
        "kb_protocol_per_vote": round((received - images - code) / n / 1024, 2),
        "kb_per_reply": round((received - images) / max(len(stats.get("rtt", [])), 1) / 1024, 2),
        "kb_out_per_vote": round((frames["out"] - before["out"]) / n / 1024, 2),
        "cpu_s_per_vote": round(cpu / n, 4),
        "problems": typist.problems(typed.expected, stored),
    }


MODES = {"single": "Review", "gallery": "Gallery_review", "sweep": "Gallery_review"}


def run(args) -> dict:
    from playwright.sync_api import sync_playwright

    apps = [Path(a).resolve() for a in (args.app or [str(REPO)])]
    modes = [m for m in args.modes.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="wbc-throughput-") as tmp:
        base = Path(tmp)
        os.environ["WBCREVIEW_HOME"] = str(base / "home")
        os.environ["WBCREVIEW_DB"] = f"sqlite:///{base / 'reviews.sqlite'}"
        log("building the copy and the queues")
        cells = max(int(args.decisions * 1.6), 200, (args.pages + 1) * 48 + 10)
        data, labels, queues = prepare(
            base, cells, [f"{m} {i}" for i in range(len(apps)) for m in modes]
        )
        load_before = os.getloadavg()
        runs = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i, app in enumerate(apps):
                process, url = start_server(data, base / f"streamlit-{i}.log", app=app)
                try:
                    result = {
                        "app": str(app),
                        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
                    }
                    for mode in modes:
                        log(f"{app.name or app}: {mode}")
                        result[mode] = one_screen(
                            browser, url, f"{MODES[mode]}?queue={queues[f'{mode} {i}']}",
                            f"Bench {mode} {i}", labels, process.pid, args, mode,
                        )  # fmt: skip
                    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
                    runs.append(result)
                finally:
                    harness.stop(process)
            browser.close()
    result = {**runs[-1], "runs": runs}
    result["interval_ms"] = args.interval_ms
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["cpus"] = os.cpu_count()
    for r in runs:
        met = {}
        for mode in modes:
            m = r[mode]
            met[mode] = {
                "all_stored_in_order": not m["problems"],
                "paint_p95": (m["paint_ms"]["p95"] or 1e9) <= TARGETS["paint_p95_ms"],
                "saved_p95": (m["saved_ms"]["p95"] or 1e9) <= TARGETS["saved_p95_ms"],
                "cpu_per_vote": m["cpu_s_per_vote"] <= TARGETS["cpu_s_per_vote"],
                "kb_per_vote": m["kb_protocol_per_vote"] <= TARGETS["kb_per_vote"],
            }
        if "single" in modes and "sweep" in modes:
            met["sweep_vs_single"] = round(
                r["sweep"]["per_min_saved"] / r["single"]["per_min_saved"], 2
            )
        r["targets_met"] = met
    result["targets"] = TARGETS
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pages", type=int, default=4, help="gallery pages in mode sweep")
    parser.add_argument("--modes", default="single,gallery,sweep")
    parser.add_argument("--app", action="append", help="a checkout to measure (repeat it)")
    parser.add_argument("--screenshots", default=None, help="folder for a screenshot per screen")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for run_ in result["runs"]:
            print(run_["app"])
            for mode in (m for m in MODES if m in run_):
                r = run_[mode]
                print(
                    f"  {mode}: {r['decisions']} decisions, stored in order: {not r['problems']}; "
                    f"painted p50/p95/max {r['paint_ms']['p50']}/{r['paint_ms']['p95']}/"
                    f"{r['paint_ms']['max']} ms; saved {r['saved_ms']['p50']}/"
                    f"{r['saved_ms']['p95']}/{r['saved_ms']['max']} ms; KB per vote: "
                    f"{r['kb_protocol_per_vote']} protocol + {r['kb_images_per_vote']} images "
                    f"+ {r['kb_code_per_vote']} code; {r['cpu_s_per_vote']} CPU-s per vote; "
                    f"{r['per_min_saved']} per min"
                )
                for problem in r["problems"]:
                    print("PROBLEM:", problem)
        print("load average before/after:", result["loadavg_before"], result["loadavg_after"])
    ok = all(not r[m]["problems"] for r in result["runs"] for m in MODES if m in r)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
