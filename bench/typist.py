"""A scripted reviewer who types decisions at a fixed interval on Review or Gallery review.

Used by bench/throughput.py, bench/load.py and tests/e2e/test_fast_typing_e2e.py. Before each
key the reviewer looks at the screen (the review loop component's DOM) to see which cell the
cursor is on, exactly as a person would, and writes down what the key must store there.
Decision keys come from a seeded generator: class keys (a class equal to the cell's label is
a 'keep'), K, U and the remove digits; in gallery mode some decisions are preceded by an
arrow key (a skipped tile is voted later, when the cursor comes back round) and a finished
page is left with N. The store must then hold exactly these votes, in this order.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

CLASS_KEYS = {
    "SNE": "S", "BNE": "D", "MMY": "T", "MY": "Y", "PMY": "P", "BL": "B", "MO": "M", "LY": "L",
    "VLY": "V", "PLY": "O", "PC": "Q", "EO": "E", "BA": "A",
}  # fmt: skip
REMOVE_KEYS = {
    "1": "smudge", "2": "artefact", "3": "multi-cell", "4": "low-quality",
    "5": "not-classable", "6": "other",
}  # fmt: skip

# What the screen shows: the cell under the cursor (None while the next cells are on their
# way), how many tiles of the page have no vote, and how many events wait for "saved".
LOOK_JS = """() => {
  const S = window.__wbcLoop;
  if (!S || !S.root) return null;
  const root = S.root;
  const cur = root.querySelector('.rl-tile.rl-cur');
  const head = root.querySelector('.rl-cellhead b');
  let cell = null;
  if (S.data.mode === 'gallery') cell = cur ? cur.dataset.cell : null;
  else if (head && head.textContent.startsWith('Cell ') && S.cursor) cell = head.textContent.slice(5);
  // a text box with the focus takes the keys (a person would click out of it first)
  const a = document.activeElement;
  if (a && (a.tagName === 'INPUT' || a.tagName === 'TEXTAREA')) a.blur();
  return {cell, open: root.querySelectorAll('.rl-tile:not(.rl-done)').length,
          waiting: S.events.length, mode: S.data.mode, pending: S.pendingPage};
}"""
SAVED_JS = "() => window.__wbcLoop && window.__wbcLoop.events.length === 0"
STATS_JS = "() => window.__wbcLoopStats || null"


@dataclass
class Typed:
    """What the reviewer typed: the expected votes in order, and how the typing went."""

    expected: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    keys: int = 0
    waits: int = 0  # times the reviewer had to wait for the next cells to be on screen
    seconds: float = 0.0


def decision(rng: random.Random) -> str:
    """One decision key: mostly classes, some keeps, unsure and removals."""
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(list(CLASS_KEYS.values()))
    if roll < 0.8:
        return "K"
    if roll < 0.88:
        return "U"
    return rng.choice(list(REMOVE_KEYS))


def expected_vote(key: str, cell: str, labels: dict[str, str]):
    """(cell, action, label, reason) that `key` must store on `cell`."""
    code = next((c for c, k in CLASS_KEYS.items() if k == key), None)
    if code is not None:
        return (
            (cell, "retain", None, None)
            if labels.get(cell) == code
            else (cell, "correct", code, None)
        )
    if key == "K":
        return (cell, "retain", None, None)
    if key == "U":
        return (cell, "unsure", None, None)
    return (cell, "remove", None, REMOVE_KEYS[key])


def _press_name(key: str) -> str:
    return key.lower() if len(key) == 1 else key


def type_decisions(
    page, decisions: int, labels: dict[str, str], *, interval_ms: float = 80, seed: int = 0
) -> Typed:
    """Type `decisions` decision keys, one every `interval_ms`, on an open review screen."""
    rng = random.Random(seed)
    typed = Typed()
    start = time.perf_counter()
    tick = start
    while len(typed.expected) < decisions:
        look = page.evaluate(LOOK_JS)
        if look is None or look["cell"] is None:
            typed.waits += 1
            page.wait_for_timeout(20)
            continue
        if look["mode"] == "gallery" and look["open"] == 0:
            key = "N"  # the page is done: the next one
        elif look["mode"] == "gallery" and rng.random() < 0.15 and look["open"] > 1:
            key = "ArrowRight"
        else:
            key = decision(rng)
            typed.expected.append(expected_vote(key, look["cell"], labels))
        tick += interval_ms / 1000
        delay = tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        page.keyboard.press(_press_name(key))
        typed.keys += 1
    typed.seconds = time.perf_counter() - start
    return typed


async def type_decisions_async(
    page, decisions: int, labels: dict[str, str], *, interval_ms: float = 80, seed: int = 0
) -> Typed:
    """type_decisions for playwright's async API (bench/load.py: many reviewers at once)."""
    import asyncio

    rng = random.Random(seed)
    typed = Typed()
    start = time.perf_counter()
    tick = start
    while len(typed.expected) < decisions:
        look = await page.evaluate(LOOK_JS)
        if look is None or look["cell"] is None:
            typed.waits += 1
            await asyncio.sleep(0.02)
            continue
        if look["mode"] == "gallery" and look["open"] == 0:
            key = "N"
        elif look["mode"] == "gallery" and rng.random() < 0.15 and look["open"] > 1:
            key = "ArrowRight"
        else:
            key = decision(rng)
            typed.expected.append(expected_vote(key, look["cell"], labels))
        tick += interval_ms / 1000
        delay = tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await page.keyboard.press(_press_name(key))
        typed.keys += 1
    typed.seconds = time.perf_counter() - start
    return typed


PAGE_JS = """() => {
  const S = window.__wbcLoop;
  if (!S || !S.root || S.pendingPage !== null || !S.pages[S.page]) return null;
  const tiles = [...S.root.querySelectorAll('.rl-tile')];
  const cells = S.pages[S.page].cells.map((c) => c[0]);
  if (tiles.length !== cells.length || tiles.some((t) => !t.querySelector('img').complete)) return null;
  return {page: S.page, cells, open: S.root.querySelectorAll('.rl-tile:not(.rl-done)').length,
          total: S.data.pages_total};
}"""


def type_gallery_pages(
    page,
    pages: int,
    labels: dict[str, str],
    *,
    wrong: float = 0.1,
    interval_ms: float = 80,
    seed: int = 0,
) -> Typed:
    """Gallery review as it is used: on each page click the few wrong tiles (a seeded share
    `wrong` of them, at least one) and press the class they are, then Shift+Enter keeps the
    rest and turns the page. One action (click, key) every `interval_ms`; every tile of the
    page is a decision. The store must hold the corrections in order, then the page's other
    cells as 'retain' in queue order (the sign-off)."""
    rng = random.Random(seed)
    typed = Typed()
    start = time.perf_counter()
    tick = start
    codes = list(CLASS_KEYS)

    def act(fn) -> None:
        nonlocal tick
        tick += interval_ms / 1000
        delay = tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        fn()
        typed.keys += 1

    done = 0
    turned: set[int] = set()
    while done < pages:
        look = page.evaluate(PAGE_JS)
        if look is not None and look["open"] == 0 and look["page"] not in turned:
            turned.add(look["page"])  # signed off, still here (a loop that stays): N, once
            act(lambda: page.keyboard.press("n"))
            continue
        if look is None or look["open"] != len(look["cells"]):
            typed.waits += 1
            if typed.waits > 6000:
                raise TimeoutError(f"the next gallery page did not come: {look}")
            page.wait_for_timeout(20)
            tick = max(tick, time.perf_counter() - interval_ms / 1000)
            continue
        cells = look["cells"]
        marked = [c for c in cells if rng.random() < wrong] or [rng.choice(cells)]
        for cell in marked:
            code = rng.choice([c for c in codes if c != labels.get(cell)])
            act(lambda cell=cell: page.click(f".rl-tile[data-cell='{cell}']"))
            act(lambda code=code: page.keyboard.press(CLASS_KEYS[code].lower()))
            typed.expected.append((cell, "correct", code, None))
        act(lambda: page.keyboard.press("Shift+Enter"))
        if page.evaluate("() => window.__wbcLoop.confirm"):  # a loop without the one key
            act(lambda: page.keyboard.press("Enter"))
        typed.expected += [(c, "retain", None, None) for c in cells if c not in marked]
        done += 1
        if look["page"] + 1 >= look["total"]:
            break
    typed.seconds = time.perf_counter() - start
    return typed


def stored_in_order(store_url: str, reviewer: str) -> list[tuple]:
    """The reviewer's vote rows, in the order they were stored: (cell, action, label, reason)."""
    from wbcreview.review.store import Store

    with Store.open(store_url) as store:
        frame = store.votes_frame()
    frame = frame[frame["reviewer"] == reviewer].sort_values("id")
    return [
        (str(r["cell_id"]), r["action"], r["label"], r["reason"]) for r in frame.to_dict("records")
    ]


def problems(expected: list[tuple], stored: list[tuple], limit: int = 10) -> list[str]:
    """Where the store differs from what was typed (lost, extra, wrong cell, wrong order)."""
    out = []
    if len(stored) != len(expected):
        out.append(f"{len(expected)} decisions typed, {len(stored)} votes stored")
    for i, (want, got) in enumerate(zip(expected, stored, strict=False)):
        if want != got:
            out.append(f"decision {i + 1}: typed {want}, stored {got}")
            if len(out) >= limit:
                break
    return out


def percentile(values: list[float], share: float) -> float | None:
    """The `share` percentile (nearest rank) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def summary(values: list[float]) -> dict:
    """p50, p95 and max in ms, rounded."""
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p95": round(percentile(values, 0.95), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }
