"""AppTest helpers for the review loop component: read what it was given, send it events.

AppTest runs no JavaScript; these do what the component's code does on a round trip: send
the unacknowledged events as the `events` trigger (the same widget state the browser sends,
with the pages it holds and the code it runs), and keep what Python sent as the browser keeps
it (Python sends only what the browser lacks), so that `loop_data` shows the pages, labels
and votes the screen has, and `answer` (what `send` returns) says what the last reply held.
"""

from __future__ import annotations

import json
import uuid

from streamlit.components.v2.bidi_component.main import _make_trigger_id

_seq = iter(range(1, 10**9))


def _element(at):
    found = [e for e in at.get("bidi_component") if "review_loop" in e.proto.component_name]
    assert found, "no review loop on the page"
    return found[-1]


def _mirror(at) -> dict:
    if not hasattr(at, "_loop_mirror"):
        at._loop_mirror = {"pages": {}, "votes": {}, "static": {}, "sig": None, "code": None}
    return at._loop_mirror


def _absorb(at, data: dict) -> dict:
    """Keep `data` as the component does; return it with the held pages and their votes."""
    m = _mirror(at)
    if data.get("static"):
        m["static"], m["code"] = data["static"], data["code_id"]
    if data["sig"] != m["sig"]:
        m.update(sig=data["sig"], pages={}, votes={})
    for p, desc in data["pages"].items():
        m["pages"][p] = [list(c) for c in desc["cells"]]
    for cell, vote in data["votes"].items():
        if vote is None:
            m["votes"].pop(cell, None)
        else:
            m["votes"][cell] = vote
    for cell, label in (data.get("labels") or {}).items():
        for cells in m["pages"].values():
            for c in cells:
                if c[0] == cell:
                    c[1] = label
    view = {**data, **m["static"], "reply_pages": sorted(data["pages"], key=int)}
    view["pages"] = {
        p: {"cells": cells, "votes": {c: m["votes"][c] for c, _ in cells if c in m["votes"]}}
        for p, cells in m["pages"].items()
    }
    return view


def loop_data(at) -> dict:
    """What the page's review loop shows (fails if there is none): the last reply, with the
    pages held so far (a page the browser lacks is asked for, as the component does)."""
    data = json.loads(_element(at).proto.json)
    view = _absorb(at, data)
    if str(view["page"]) not in view["pages"]:
        return send(at, [])
    return view


def event(kind: str = "vote", **fields) -> dict:
    """One event as the component makes it: a new UUID and the next sequence number."""
    return {"id": str(uuid.uuid4()), "seq": next(_seq), "kind": kind, **fields}


def send_large(at, cell: str) -> dict:
    """Ask for the enlarged view of `cell`, as the tile's ⤢ button or the I key does."""
    return send(at, [], large=cell)


def send(at, events: list[dict], page: int | None = None, large: str | None = None) -> dict:
    """Send `events` as the component does, run, and return the component's new data."""
    element = _element(at)
    data = _absorb(at, json.loads(element.proto.json))
    m = _mirror(at)
    payload = {
        "events": events,
        "page": data["page"] if page is None else page,
        "have": [int(p) for p in m["pages"]],
        "sig": m["sig"],
        "code": m["code"],
        "need": [],
        "large": large,
        "n": next(_seq),
    }
    states = at._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(element.proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": "events", "value": payload}])
    at._run(states)
    assert not at.exception, at.exception[0].message if at.exception else ""
    return _absorb(at, json.loads(_element(at).proto.json))


def reply_bytes(at) -> int:
    """Bytes of the loop's last render as Streamlit sends it: its data, script and CSS."""
    proto = _element(at).proto
    return sum(len(x.encode()) for x in (proto.json, proto.js_content, proto.css_content))


def cells_of(data: dict) -> list[str]:
    """The cells of the current page, in queue order."""
    return [c[0] for c in data["pages"][str(data["page"])]["cells"]]


def label_of(data: dict, cell: str) -> str | None:
    """The label the component shows for `cell` (None: hidden)."""
    for page in data["pages"].values():
        for c, label in page["cells"]:
            if c == cell:
                return label
    raise KeyError(cell)


def vote_of(data: dict, cell: str) -> list | None:
    """[action, label, reason] of the reviewer's stored vote on `cell`, as the component got it."""
    for page in data["pages"].values():
        if cell in page["votes"]:
            return page["votes"][cell]
    return None
