"""The review loop component: Review (one cell) and Gallery review (tiles) in the browser.

The component (components/review_loop/index.js) holds a window of queue pages with their
images, handles every key and click at once and sends the unacknowledged decisions as
events (id + sequence number) in one trigger per round trip. `show` runs inside an
`st.fragment`, so a round trip reruns only the fragment: the callback stores the events
(review.events.apply_events: each exactly once, in order) and the fragment answers with the
acknowledgements, the votes of the window and only the images the browser does not have
yet (the next page's are sent ahead). Nothing the component shows is markup from Python.
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
from wbcreview.ui import browse
from wbcreview.views import browse as views
from wbcreview.workspace import REMOVE_REASONS, Queue, StoreUnavailable, Workspace

_HERE = Path(__file__).parent / "components" / "review_loop"
_component = st.components.v2.component(
    "wbcreview_review_loop",
    js=(_HERE / "index.js").read_text(encoding="utf-8"),
    css=(_HERE / "style.css").read_text(encoding="utf-8"),
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


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
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


@st.cache_data(ttl=600, max_entries=256, show_spinner=False)
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


def _images(cat: Workspace, mode: Mode, cells: list[str]) -> dict[str, dict]:
    if not cells:
        return {}
    if mode is GALLERY:
        uris = _thumbs(cat, cat.fingerprint, tuple(cells))
        return {c: {"t": uris[c]} for c in cells if c in uris}
    return {c: {"d": cell_figures(cat, cat.fingerprint, c)} for c in cells}


# --- state ---------------------------------------------------------------------------------


def _state(key: str) -> dict:
    return st.session_state.setdefault(
        f"{key}:state",
        {"page": None, "sent": set(), "done": OrderedDict(), "acked": {}, "unsaved": None,
         "reply": -1, "need": [], "large": None},
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
        ctx["queue"].id, events, ctx["labels"], ctx["cells"], done=state["done"].keys()
    )
    acked = {**problems, **outcome.acked}
    for event_id, problem in outcome.acked.items():
        state["done"][event_id] = problem
    while len(state["done"]) > _DONE_KEPT:
        state["done"].popitem(last=False)
    state["acked"] = acked
    state["unsaved"] = outcome.unsaved
    if outcome.touched and ctx.get("after_write"):
        ctx["after_write"]()
    try:
        state["reply"] = int(message.get("n"))
    except (TypeError, ValueError):
        pass
    page = message.get("page")
    if isinstance(page, int):
        state["page"] = page
    need = message.get("need")
    state["need"] = [str(c) for c in need[:100]] if isinstance(need, list) else []
    large = message.get("large")
    state["large"] = str(large) if isinstance(large, str) and large in ctx["cells"] else None


def show(
    ws: Workspace,
    queue: Queue,
    cells: list[str],
    labels: dict[str, str],
    mode: Mode,
    *,
    original: dict[str, str] | None = None,
    after_write=None,
) -> None:
    """Mount the review loop for `queue` (its `cells` in the order of `ws.user`, who votes).

    `original` maps cells to their original challenge label (shown in single mode where it
    differs); `after_write` is called after events were stored (to drop cached reads).
    """
    cat, reviewer = ws, ws.user
    who = hashlib.sha1(f"{ws.store_url}\n{reviewer.name}".encode()).hexdigest()[:16]
    key = f"rl_{mode.name}_{who}_{queue.id}"
    state = _state(key)
    hidden = bool(queue.options.get("hide_label"))
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
    votes = _votes(state, ws, in_window)
    shown_label = {c: (labels.get(c) if (not hidden or c in votes) else None) for c in in_window}
    pages = {
        str(p): {
            "cells": [[c, shown_label[c]] for c in members],
            "votes": {c: votes[c] for c in members if c in votes},
        }
        for p, members in on_pages.items()
    }
    # images: the current page and the pages ahead, each sent once while in the window
    wanted = [c for p in window if p >= page for c in on_pages[p]]
    sent: set[str] = state["sent"] & set(in_window)
    fresh = [c for c in wanted if c not in sent] + [c for c in state["need"] if c in in_window]
    fresh = list(dict.fromkeys(fresh))
    sent_now = _images(cat, mode, fresh)
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
        "storage": f"wbc-loop:{who}:{queue.id}",
        "mode": mode.name,
        "page": page,
        "page_size": mode.page_size,
        "pages_total": pages_total,
        "total": len(cells),
        "pages": pages,
        "images": sent_now,
        "cursor": cursor,
        "hidden": hidden,
        "acked": state["acked"],
        "unsaved": state["unsaved"],
        "reply": state["reply"],
        "large": large,
        "names": CELL_TYPES,
        "keys": _keys(),
        "cell_link": "Cell?cell=" + quote("pristine:", safe=""),
    }
    if mode is SINGLE and original:
        data["original"] = {
            c: original[c] for c in in_window if c in original and shown_label.get(c) is not None
        }
    ctx = {
        "ws": ws, "queue": queue, "labels": labels, "cells": cells, "after_write": after_write,
    }  # fmt: skip
    _component(key=key, data=data, on_events_change=lambda: _receive(key, ctx), width="stretch")


def _keys() -> dict:
    return {
        "classes": [[c, review.CLASS_KEYS[c], CELL_TYPES[c]] for c in review.CLASS_ORDER],
        "remove": [[k, r, REMOVE_REASONS[r]] for k, r in gr.REMOVE_KEYS.items()],
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
