"""The review loop component: Review (one cell) and Gallery review (tiles) in the browser.

The component (components/review_loop/index.js) holds a window of queue pages with their
images, handles every key and click at once and sends the unacknowledged decisions as
events (id + sequence number) in one trigger per round trip. `show` runs inside an
`st.fragment`, so a round trip reruns only the fragment: the callback stores the events
(review.events.apply_events: each exactly once, in order, one transaction per run of votes)
and the fragment answers with what the browser lacks, nothing more: the acknowledgements,
the stored votes of the current page, the pages of the window it does not hold (it says
which it holds) and the images it does not have (the next pages' are sent ahead). The loop's
code and CSS travel once per session in the data (loader.js is the only script Streamlit
sends with every render). Nothing the component shows is markup from Python.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import streamlit as st

from wbcreview.data import images, query
from wbcreview.data.release import CELL_TYPES
from wbcreview.review import events as loop_events
from wbcreview.review import gallery as gr
from wbcreview.review import workflow as review
from wbcreview.ui import audit as audit_ui
from wbcreview.ui import browse
from wbcreview.ui.session import after_write, cached_cells, current_reviewer, open_store
from wbcreview.views import browse as views
from wbcreview.workspace import REMOVE_REASONS, Queue, StoreUnavailable, Workspace, can

_HERE = Path(__file__).parent / "components" / "review_loop"
_CODE = (_HERE / "index.js").read_text(encoding="utf-8")
_CSS = (_HERE / "style.css").read_text(encoding="utf-8")
CODE_ID = hashlib.sha1((_CODE + "\n" + _CSS).encode()).hexdigest()[:12]
_component = st.components.v2.component(
    "wbcreview_review_loop", js=(_HERE / "loader.js").read_text(encoding="utf-8")
)
THUMB_PX = 96
_DONE_KEPT = 5000  # event ids acknowledged in this session, remembered to skip the store


@dataclass(frozen=True)
class Mode:
    """How the loop pages a queue: cells per page and pages sent before / after the current
    one (their cells and votes; images for the current page and `ahead` pages)."""

    name: str
    page_size: int
    behind: int
    ahead: int


SINGLE = Mode("single", 10, 1, 3)
GALLERY = Mode("gallery", gr.PAGE_SIZE, 1, 1)
CELL = Mode("cell", 1, 0, 0)  # one cell voted on from its own page: no images, no queue
BARE = ("cell", "browse")  # modes outside a queue: votes on cells the page already shows


# --- labels --------------------------------------------------------------------------------


@st.cache_resource(max_entries=4, show_spinner=False)
def _label_maps(fingerprint: str, _frame) -> tuple[dict[str, str], dict[str, str]]:
    del fingerprint
    labels = review.labels_of(_frame)
    original = {
        str(c): str(o)
        for c, o in zip(_frame["cell_id"], _frame["original_label"], strict=True)
        if isinstance(o, str)
    }
    return labels, original


def catalog_labels(cat: Workspace, frame) -> dict[str, str]:
    """cell -> current label, one dict per catalog shared by every session (never copied)."""
    return _label_maps(cat.fingerprint, frame)[0]


def original_labels(cat: Workspace, frame) -> dict[str, str]:
    """cell -> original challenge label where known (shared like catalog_labels)."""
    return _label_maps(cat.fingerprint, frame)[1]


# --- images --------------------------------------------------------------------------------


# Kept in this process without a copy (browse.memo): st.cache_data would pickle a page's
# images (~200 KB of thumbnails, ~60 KB per full-size cell) on every hit. Read-only values.


@browse.memo(64)
def _thumbs(_cat: Workspace, fingerprint: str, cells: tuple[str, ...]) -> dict[str, str]:
    """cell -> data URI of its pristine thumbnail (unreadable cells left out)."""
    del fingerprint
    if not cells:
        return {}
    rows = query.page(
        _cat.cursor(), query.Filter(configs=("pristine",), cell_ids=cells), "image id", len(cells)
    )
    uris = browse.thumb_uris(_cat, rows, THUMB_PX)
    return dict(zip(rows["cell_id"].astype(str), uris, strict=True))


# 64 cells (~70 KB of full-size images each, ~4.5 MB): the browser keeps the images it was sent
# (the loop skips them), so this serves a reload or a second reviewer of the same queue; 256
# cells held 18 MB and filled only after ~250 votes (bench/soak.py, issue 19).
@browse.memo(64)
def cell_figures(_cat: Workspace, fingerprint: str, cell: str) -> list[list[str]]:
    """[[data URI, caption]] of a cell's degraded copies, then its pristine source."""
    del fingerprint
    rows = query.cell_rows(_cat.cursor(), cell)
    out = []
    for rec in rows.to_dict("records"):
        data = browse.full_image(_cat, rec)
        size = views.image_size(data) if data else None
        if size is None:
            continue
        kind = "Pristine" if rec["config"] == "pristine" else f"Degraded · {rec['severity']}"
        out.append([images.data_uri(data), f"{kind} · {rec['image_id']} · {size[0]}×{size[1]} px"])
    degraded = [f for f in out if not f[1].startswith("Pristine")]
    return degraded + [f for f in out if f[1].startswith("Pristine")]


IMAGE_BUDGET = 400_000  # characters of images per answer beyond the current page's


def _images(
    cat: Workspace, mode: Mode, pages: dict[int, list[str]], page: int, skip: set[str]
) -> dict[str, dict]:
    """The images of `pages` (the current one first) not in `skip`: all of the current
    page's, then the pages ahead up to IMAGE_BUDGET (the rest come with the next answers,
    so that a reply, and the acknowledgements in it, never waits for many images)."""
    out: dict[str, dict] = {}
    size = 0
    for p in sorted(pages, key=lambda p: (p != page, p)):
        todo = [c for c in pages[p] if c not in skip]
        if not todo or (p != page and size >= IMAGE_BUDGET):
            continue
        if mode is GALLERY:
            uris = _thumbs(cat, cat.fingerprint, tuple(pages[p]))  # a page at a time
            for c in todo:
                if c in uris:
                    out[c] = {"t": uris[c]}
                    size += len(uris[c])
            continue
        for c in todo:
            if p != page and size >= IMAGE_BUDGET:
                break
            figures = cell_figures(cat, cat.fingerprint, c)
            out[c] = {"d": figures}
            size += sum(len(f[0]) for f in figures)
    return out


# --- state ---------------------------------------------------------------------------------


def _state(key: str) -> dict:
    return st.session_state.setdefault(
        f"{key}:state",
        {"page": None, "sent": set(), "done": OrderedDict(), "acked": {}, "unsaved": None,
         "reply": -1, "need": [], "large": None, "have": set(), "code": None, "sig": None,
         "undid": False, "touched": []},
    )  # fmt: skip


def _receive(key: str, ctx: dict) -> None:
    """The component sent its unacknowledged events: store them, remember the answer."""
    value = st.session_state.get(key)
    message = value.get("events") if hasattr(value, "get") else None
    if not isinstance(message, dict):
        return
    state = _state(key)
    events, problems = loop_events.parse_events(message.get("events"))
    outcome = ctx["ws"].apply_loop_events(
        ctx["queue_id"], events, ctx["labels"], ctx["cells"],
        done=state["done"].keys(), undo_cell=ctx.get("undo_cell"),
    )  # fmt: skip
    acked = {**problems, **outcome.acked}
    for event_id, problem in outcome.acked.items():
        state["done"][event_id] = problem
    while len(state["done"]) > _DONE_KEPT:
        state["done"].popitem(last=False)
    state["acked"] = acked
    state["unsaved"] = outcome.unsaved
    state["undid"] = state["undid"] or outcome.undid
    state["touched"] = sorted(outcome.touched)
    # outside a queue (the Cell page) the cell's first vote reruns the page: its history shows
    first = ctx.get("undo_cell") is not None and ctx["undo_cell"] not in state.get(
        "known_votes", {}
    )
    state["reveal"] = bool(outcome.touched) and first
    if outcome.touched and ctx.get("after_write"):
        ctx["after_write"]()
    try:
        state["reply"] = int(message.get("n"))
    except (TypeError, ValueError):
        pass
    page = message.get("page")
    if isinstance(page, int):
        state["page"] = page
    # what the browser holds: its code, and the pages of this queue (same cells, same order)
    state["code"] = message.get("code") if isinstance(message.get("code"), str) else None
    have = message.get("have")
    fresh = message.get("sig") != state["sig"] or not isinstance(have, list)
    state["have"] = set() if fresh else {p for p in have if isinstance(p, int)}
    need = message.get("need")
    state["need"] = [str(c) for c in need[:100]] if isinstance(need, list) else []
    large = message.get("large")
    state["large"] = str(large) if isinstance(large, str) and large in ctx["cells"] else None


def show(
    ws: Workspace,
    queue: Queue | None,
    cells: list[str],
    labels: dict[str, str],
    mode: Mode,
    *,
    original: dict[str, str] | None = None,
    after_write=None,
    tiles: dict[str, str] | None = None,
) -> None:
    """Mount the review loop for `queue` (its `cells` in the order of `ws.user`, who votes).

    `original` maps cells to their original challenge label (shown in single mode where it
    differs); `after_write` is called after events were stored (to drop cached reads). With
    no queue (mode CELL: one cell, from its own page) the votes belong to no queue, and the
    reviewer's first vote on the cell reruns the whole page, which then shows the cell's
    history (blind review: an annotator sees others' votes only after voting); later votes
    rerun only the loop. Mode browse (no queue) votes on the Browse page's `cells`, the one
    under the pointer: `tiles` maps each tile's cell key (config:image_id) to its cell.
    """
    cat, reviewer = ws, ws.user
    who = hashlib.sha1(f"{ws.store_url}\n{reviewer.name}".encode()).hexdigest()[:16]
    scope = str(queue.id) if queue is not None else mode.name
    if mode is CELL:
        scope = f"cell:{cells[0]}"
    key = f"rl_{mode.name}_{who}_{scope}"
    state = _state(key)
    if state.pop("reveal", False) and queue is None:
        st.rerun(scope="app")  # the acknowledgements stay in the state for that run
    hidden = bool(queue.options.get("hide_label")) if queue is not None else False
    sig = hashlib.sha1(f"{hidden}\n{len(cells)}\n{chr(10).join(cells)}".encode()).hexdigest()[:12]
    if state["sig"] != sig:  # another order or other cells: the browser's pages are stale
        state.update(sig=sig, have=set(), sent=set())
    pages_total = gr.page_total(cells, mode.page_size)
    if state["page"] is None:
        voted = set(_votes(state, ws, cells))
        first = next((i for i, c in enumerate(cells) if c not in voted), 0)
        state["page"] = first // mode.page_size
    page = min(max(int(state["page"]), 0), pages_total - 1)
    state["page"] = page
    window = range(max(page - mode.behind, 0), min(page + mode.ahead, pages_total - 1) + 1)
    on_pages = {p: gr.page_cells(cells, p, mode.page_size) for p in window}
    in_window = [c for p in window for c in on_pages[p]]
    # pages the browser lacks go whole; the stored votes of the current page and of the
    # cells just stored (all of the window's after an undo, whose cells only the store
    # knows) go with every answer, None where there is none
    missing = [p for p in window if p not in state["have"]]
    fresh_votes = [page, *missing] if not state["undid"] else list(window)
    read = [c for p in dict.fromkeys(fresh_votes) for c in on_pages[p]]
    read += [c for c in state["touched"] if c not in set(read)]  # stored just now
    votes = _votes(state, ws, read)
    state["undid"], state["touched"] = False, []

    def shown(cell: str) -> str | None:
        return labels.get(cell) if (not hidden or cell in votes) else None

    pages = {
        str(p): {
            "cells": [[c, shown(c)] for c in on_pages[p]],
        }
        for p in missing
    }
    state["have"] = (state["have"] & set(window)) | set(missing)
    # images: the current page and the pages ahead, each sent once while in the window, and
    # any the browser says it lacks
    sent: set[str] = state["sent"] & set(in_window) - set(state["need"])
    ahead = {p: on_pages[p] for p in window if p >= page}
    for c in state["need"]:
        p = in_window.index(c) // mode.page_size if c in in_window else None
        if p is not None:
            ahead.setdefault(window[0] + p, on_pages[window[0] + p])
    sent_now = _images(cat, mode, ahead, page, sent) if mode.name not in BARE else {}
    state["sent"] = sent | set(sent_now)
    state["need"] = []
    cursor = next((c for c in on_pages[page] if c not in votes), on_pages[page][0])
    large = None
    if state["large"]:
        large = {
            "cell": state["large"],
            "images": cell_figures(cat, cat.fingerprint, state["large"]),
        }
        state["large"] = None
    data = {
        "storage": f"wbc-loop:{who}:{scope}",
        "mode": mode.name,
        "code_id": CODE_ID,
        "sig": sig,
        "page": page,
        "page_size": mode.page_size,
        "pages_total": pages_total,
        "total": len(cells),
        "hidden": hidden,
        "pages": pages,
        "votes": {c: votes.get(c) for c in read},
        "images": sent_now,
        "cursor": cursor,
        "acked": state["acked"],
        "unsaved": state["unsaved"],
        "reply": state["reply"],
        "large": large,
    }
    if tiles is not None and missing:
        data["tiles"] = tiles
    if hidden:  # labels shown once voted: the current page's, as its votes go
        data["labels"] = {c: labels.get(c) for c in read if c in votes}
    if mode is SINGLE and original:
        data["original"] = {c: original[c] for c in read if c in original and shown(c) is not None}
    if state["code"] != CODE_ID:  # the loop itself, once per session (or when asked)
        data.update(code=_CODE, css=_CSS, static=_static())
        state["code"] = CODE_ID
    state["acked"] = {}
    ctx = {
        "ws": ws, "queue_id": queue.id if queue is not None else None,
        "labels": labels, "cells": cells if mode.name != "browse" else list(labels),
        "after_write": after_write, "undo_cell": cells[0] if mode is CELL else None,
    }  # fmt: skip
    _component(key=key, data=data, on_events_change=lambda: _receive(key, ctx), width="stretch")


def cell_vote(ws: Workspace, cell: str) -> None:
    """Your vote on one cell, on its own page, and the cell's review history below it: the
    review loop's keys and events for that cell (stored once each, acknowledged), or a line
    saying what is missing to vote. `ws` is the page's workspace, with or without a store and
    a user. The history follows blind review (audit.cell_history)."""
    st.markdown("**Your vote on this cell**")
    if not ws.has_store:
        st.caption("No review store is open: votes cannot be stored from here.")
    elif ws.user is None:
        st.caption("Enter your name in the sidebar to vote on this cell.")
    elif not can(ws.user, "vote"):
        st.caption(f"The {ws.user.role} role does not vote.")
    else:
        labels = catalog_labels(ws, cached_cells(ws.cursor(), ws.fingerprint))
        _cell_loop(ws, cell, labels)
    with st.expander("Review history of this cell"):
        if not ws.has_store:
            st.caption("No review store is open.")
        else:
            audit_ui.cell_history(cell, ws)


@st.fragment
def _cell_loop(ws: Workspace, cell: str, labels) -> None:
    show(ws, None, [cell], labels, CELL, after_write=after_write)


def browse_vote(ws: Workspace, rows) -> None:
    """Vote from the Browse page's tiles (`rows`, the page shown): point at a tile and press a
    class key (K, U, X and a reason; Z undoes your last vote on the tile pointed at). Off until
    asked for (the store is opened then), and only for a reviewer chosen on a review page;
    votes go through the review loop's events, blind review as everywhere (Browse shows no
    one's votes)."""
    reviewer = current_reviewer()
    if reviewer is None or rows is None or rows.empty or not can(reviewer, "vote"):
        return
    if not st.toggle(
        "Vote from the tiles",
        key="bv_vote",
        help="Point at a tile and press a class key (the Review keys); each vote is stored "
        "once and shown as saved when the store acknowledges it.",
    ):
        return
    voter = open_store(ws, reviewer)
    if voter is None:
        return  # open_store said why
    tiles = {
        views.cell_key(str(c), str(i)): str(cell)
        for c, i, cell in zip(rows["config"], rows["image_id"], rows["cell_id"], strict=True)
    }
    labels = catalog_labels(voter, cached_cells(voter.cursor(), voter.fingerprint))
    _browse_loop(voter, list(dict.fromkeys(tiles.values())), tiles, labels)


@st.fragment
def _browse_loop(ws: Workspace, cells: list[str], tiles: dict[str, str], labels) -> None:
    mode = Mode("browse", max(len(cells), 1), 0, 0)
    show(ws, None, cells, labels, mode, after_write=after_write, tiles=tiles)


def _static() -> dict:
    """What never changes in a session: class names, keys, the Cell page link."""
    return {
        "names": CELL_TYPES,
        "keys": {
            "classes": [[c, review.CLASS_KEYS[c], CELL_TYPES[c]] for c in review.CLASS_ORDER],
            "remove": [[k, r, REMOVE_REASONS[r]] for k, r in gr.REMOVE_KEYS.items()],
        },
        "cell_link": "Cell?cell=" + quote("pristine:", safe=""),
    }


def _votes(state: dict, ws: Workspace, cells: list[str]) -> dict[str, list]:
    """The reviewer's votes on `cells`; while the database is down, the last ones read (the
    browser keeps every decision not yet saved and the screen says so: no traceback)."""
    known = state.setdefault("known_votes", {})
    try:
        votes = ws.vote_states(cells)
    except StoreUnavailable as exc:
        state["unsaved"] = state.get("unsaved") or str(exc)
        return {c: known[c] for c in cells if c in known}
    known.update(votes)
    for cell in cells:
        if cell not in votes:
            known.pop(cell, None)  # an undo removed it
    return votes
