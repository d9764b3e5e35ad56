"""N reviewers vote at once through a review queue in headless Chromium; is every vote stored once?

    .venv/bin/python bench/load.py [--reviewers 10] [--votes 50] [--db URL] [--json]

Builds a fresh demo copy (not marked as the demo, so votes go to the real store) and a fresh
store: a SQLite file by default, or with `--db postgresql+psycopg://...` a new schema on that
server (dropped afterwards unless --keep). An admin queue of VOTES cells is made through the
store; then `streamlit run app.py` starts on a free loopback port and Debian's Chromium
(/usr/bin/chromium, never `playwright install`) opens one browser context per reviewer. Each
reviewer enters a name in the sidebar and opens the queue on the Review page; when all are
there, all type VOTES decisions at once, at --interval-ms (80), with the scripted reviewer of
bench/typist.py.
Then: every reviewer's decisions stored, in order, on the right cells (rows, distinct uids
and distinct (reviewer, cell) counted too); key -> "saved" shown (the store's
acknowledgement painted by the review loop) p50/p95/max over every decision (target p95
<= 600 ms) and key -> painted; the server's CPU seconds per decision while they type; the
load average before and after.

Reviewers' browsers normally run on their own computers; here all of them share the
server's cores. `--browser-nice N` starts Chromium at that nice level (`nice -n N`), so the
server is served first, as it would be on a machine of its own, and the browsers take what
is left: a closer picture of the server's latency under ten sessions (key -> painted then
measures a starved browser, not a reviewer's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from bench import harness  # noqa: E402
from bench.harness import CHROMIUM, CHROMIUM_ARGS, IDLE  # noqa: E402

TARGET_SAVED_P95_MS = 600


def build_copy(base: Path, cells: int) -> tuple[Path, Path, list[str]]:
    """A demo copy with its catalog, unmarked as demo; return (data, home, cell ids)."""
    os.environ["WBCREVIEW_HOME"] = str(base / "home")
    from wbcreview.data import catalog
    from wbcreview.demo.build import DEMO_MARKER, build_demo
    from wbcreview.review import workflow as review

    data = base / "wbcbench"
    build_demo(data, cells=cells, seed=5)
    (data / DEMO_MARKER).unlink()
    catalog.ensure_built(data)
    with catalog.open_catalog(data) as cat:
        ids = list(review.catalog_cells(cat.cursor())["cell_id"])
    return data, base / "home", ids


def fresh_store_url(db: str | None, base: Path) -> tuple[str, str | None]:
    """(store URL, schema to drop) : a new SQLite file or a new PostgreSQL schema."""
    if not db:
        return f"sqlite:///{base / 'reviews.sqlite'}", None
    schema = f"wbc_load_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(db, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = sa.engine.make_url(db).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def drop_schema(db: str, schema: str) -> None:
    engine = sa.create_engine(db, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def cell_labels(data: Path, home: Path) -> dict[str, str]:
    """cell -> current label of the copy (what the typist expects a class key to store)."""
    from wbcreview.data import catalog
    from wbcreview.review import workflow as review

    os.environ["WBCREVIEW_HOME"] = str(home)
    with catalog.open_catalog(data) as cat:
        frame = review.catalog_cells(cat.cursor())
    return dict(zip(frame["cell_id"].astype(str), frame["label"].astype(str), strict=True))


def make_queue(url: str, cells: list[str]) -> int:
    from wbcreview.review.store import Reviewer, Store

    with Store.open(url) as store:
        return store.create_queue(Reviewer("Load admin", "", "admin"), "Load", "manual", cells)


def start_app(data: Path, home: Path, url: str, log: Path, env_extra: dict | None = None):
    """`streamlit run app.py` on a free port; return (process, base URL) once healthy."""
    env = {
        "WBCREVIEW_DATA": str(data),
        "WBCREVIEW_HOME": str(home),
        "WBCREVIEW_DB": url,
        "PYTHONUNBUFFERED": "1",
        **(env_extra or {}),
    }
    server = harness.start_server(env, log, data=data, timeout=90)
    return server.process, server.url


async def settle(page) -> None:
    await page.wait_for_timeout(100)
    await page.wait_for_selector(IDLE, timeout=60_000)
    await page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')", timeout=60_000
    )


async def fill(page, key: str, text: str) -> None:
    box = page.locator(f".st-key-{key} input")
    await box.fill(text)
    await box.press("Enter")
    await settle(page)


async def cell_shown(page) -> str:
    heading = page.locator("h4", has_text="Cell ").first
    return (await heading.inner_text()).removeprefix("Cell ").strip()


async def reviewer(
    browser, base: str, queue: int, number: int, votes: int, result: dict, start: asyncio.Barrier
) -> None:
    """One reviewer: a browser context, a name, the queue open; then, once every reviewer is
    there (`start`), `votes` decisions typed at 80 ms. All type at once: the server is timed
    under ten sessions voting, not under nine page loads and one vote."""
    from bench import typist

    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    name = f"Load {number:02d}"
    errors = result.setdefault("errors", [])
    result["name"] = name
    try:
        await page.goto(f"{base}/Review?queue={queue}", timeout=120_000)
        await settle(page)
        if result.get("password"):
            await fill(page, "auth_name", name)
            await page.locator(".st-key-auth_password input").fill(result["password"])
            await page.get_by_role("button", name="Sign in").click()
            await settle(page)
        else:
            await fill(page, "id_name", name)
            await fill(page, "id_team", f"Team {number}")
        await page.wait_for_function(
            "() => window.__wbcLoop && window.__wbcLoop.cursor", timeout=180_000
        )
        await page.locator("[data-testid='stMain']").click(position=harness.UNFOCUS)
        await page.evaluate("() => { window.__wbcLoopStats = null; }")
        await arrive(start, result)
        typed = await typist.type_decisions_async(
            page, votes, result["labels"], interval_ms=result["interval_ms"], seed=number
        )
        await page.wait_for_function(typist.SAVED_JS, timeout=600_000)
        stats = await page.evaluate(typist.STATS_JS) or {}
        result["expected"] = typed.expected
        result["saved"] = stats.get("saved", [])
        result["paint"] = stats.get("paint", [])
        if await page.locator("[data-testid='stException']").count():
            errors.append(f"{name}: exception on the page")
    except Exception as exc:  # noqa: BLE001 - counted and reported
        errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await arrive(start, result)  # a reviewer that failed early must not hold the others
        await context.close()


async def arrive(start: asyncio.Barrier, result: dict) -> None:
    """Wait at the start line once (a second call, after a failure, returns at once)."""
    if not result.get("arrived"):
        result["arrived"] = True
        await start.wait()
        result.setdefault("typing_from", time.perf_counter())


def chromium_at(nice: int, folder: Path) -> str:
    """The Chromium to start: the system's, or at `nice` > 0 a wrapper that starts it with
    `nice -n nice` (every renderer it forks inherits the level)."""
    if nice <= 0:
        return CHROMIUM
    wrapper = folder / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {int(nice)} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


async def drive(
    base, queue, reviewers, votes, password, labels, interval_ms, chromium, on_start
):  # fmt: skip
    from playwright.async_api import async_playwright

    results = [
        {"password": password, "labels": labels, "interval_ms": interval_ms}
        for _ in range(reviewers)
    ]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        begin = time.perf_counter()
        start = asyncio.Barrier(reviewers + 1)
        work = asyncio.gather(
            *(
                reviewer(browser, base, queue, i + 1, votes, results[i], start)
                for i in range(reviewers)
            )
        )
        await start.wait()  # every reviewer has the queue open (or has failed)
        typing = {"cpu": on_start(), "t": time.perf_counter()}
        await work
        wall = time.perf_counter() - begin
        typing.update(cpu=on_start() - typing["cpu"], t=time.perf_counter() - typing["t"])
        await browser.close()
    return results, wall, typing


def count_votes(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT uid), "
                "count(DISTINCT reviewer || '|' || cell_id) FROM votes"
            )
        ).one()
    engine.dispose()
    return {"rows": row[0], "distinct_uids": row[1], "distinct_reviewer_cells": row[2]}


def run(args) -> dict:
    base_dir = Path(tempfile.mkdtemp(prefix="wbc-load-"))
    data, home, cells = build_copy(base_dir, max(args.votes * 2, 100))
    labels = cell_labels(data, home)
    load_before = os.getloadavg()
    url, schema = fresh_store_url(args.db, base_dir)
    process = None
    try:
        queue = make_queue(url, cells[: args.votes])
        env_extra = {}
        if args.password_mode:
            from wbcreview.review import auth

            users = base_dir / "users.yaml"
            for i in range(args.reviewers):
                auth.add_user(users, f"Load {i + 1:02d}", f"Team {i + 1}", "annotator",
                              "load-test-pw", rounds=10)  # fmt: skip
            env_extra = {"WBCREVIEW_AUTH": "password", "WBCREVIEW_USERS": str(users)}
        process, app = start_app(data, home, url, base_dir / "streamlit.log", env_extra)
        password = "load-test-pw" if args.password_mode else None
        chromium = chromium_at(args.browser_nice, base_dir)
        server_pid = process.pid
        results, wall, typing = asyncio.run(
            drive(app, queue, args.reviewers, args.votes, password, labels, args.interval_ms,
                  chromium, lambda: harness.cpu_seconds(server_pid))
        )  # fmt: skip
        counted = count_votes(url)
        from bench import typist

        for r in results:
            if "expected" in r:
                r["problems"] = typist.problems(
                    r["expected"], typist.stored_in_order(url, r["name"])
                )
    finally:
        if process is not None:
            harness.stop(process)
        if schema:
            if args.keep:
                print(f"kept schema {schema}", file=sys.stderr)
            else:
                drop_schema(args.db, schema)
    from bench import typist

    saved = [t for r in results for t in r.get("saved", [])]
    paint = [t for r in results for t in r.get("paint", [])]
    errors = [e for r in results for e in r["errors"]]
    problems = [p for r in results for p in r.get("problems", ["nothing typed"])]
    expected = args.reviewers * args.votes
    report = {
        "backend": "postgresql" if args.db else "sqlite",
        "reviewers": args.reviewers,
        "votes_each": args.votes,
        "interval_ms": args.interval_ms,
        "browser_nice": args.browser_nice,
        "expected": expected,
        **counted,
        "all_stored_in_order": not problems and counted["rows"] == expected,
        "saved_ms": typist.summary(saved),
        "paint_ms": typist.summary(paint),
        "wall_s": round(wall, 1),
        # From the moment all were ready to the last "saved": the votes' own cost.
        "typing_s": round(typing["t"], 1),
        "server_cpu_s_per_vote": round(typing["cpu"] / max(counted["rows"], 1), 4),
        "errors": errors,
        "problems": problems[:20],
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    report["target_met"] = bool(
        report["all_stored_in_order"]
        and not errors
        and (report["saved_ms"]["p95"] or 1e9) <= TARGET_SAVED_P95_MS
    )
    report["workdir"] = str(base_dir)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviewers", type=int, default=10)
    parser.add_argument("--votes", type=int, default=50, help="decisions per reviewer")
    parser.add_argument("--interval-ms", type=float, default=80, help="between two keys")
    parser.add_argument("--db", help="PostgreSQL server URL (a fresh schema is made on it)")
    parser.add_argument("--password-mode", action="store_true", help="sign in with passwords")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument(
        "--browser-nice", type=int, default=0, help="start Chromium with nice -n N (0: as is)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key != "errors":
                print(f"{key:>24}: {value}")
        for error in report["errors"][:20]:
            print(f"error: {error}")
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
