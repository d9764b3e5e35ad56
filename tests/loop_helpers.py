"""AppTest helpers for the review loop component: read what it was given, send it events.

AppTest runs no JavaScript; these do what the component's code does on a round trip: send
the unacknowledged events as the `events` trigger (the same widget state the browser sends),
and read the data Python gave the component (acknowledgements, pages, votes, cursor).
"""

from __future__ import annotations

import json
import uuid

from streamlit.components.v2.bidi_component.main import _make_trigger_id

_seq = iter(range(1, 10**9))


def loop_data(at) -> dict:
    """The data of the page's review loop component (fails if there is none)."""
    found = [e for e in at.get("bidi_component") if "review_loop" in e.proto.component_name]
    assert found, "no review loop on the page"
    return json.loads(found[-1].proto.json)


def event(kind: str = "vote", **fields) -> dict:
    """One event as the component makes it: a new UUID and the next sequence number."""
    return {"id": str(uuid.uuid4()), "seq": next(_seq), "kind": kind, **fields}


def send_large(at, cell: str) -> dict:
    """Ask for the enlarged view of `cell`, as the tile's ⤢ button or the I key does."""
    return send(at, [], large=cell)


def send(at, events: list[dict], page: int | None = None, large: str | None = None) -> dict:
    """Send `events` as the component does, run, and return the component's new data."""
    found = [e for e in at.get("bidi_component") if "review_loop" in e.proto.component_name]
    assert found, "no review loop on the page"
    data = json.loads(found[-1].proto.json)
    payload = {
        "events": events,
        "page": data["page"] if page is None else page,
        "need": [],
        "large": large,
        "n": next(_seq),
    }
    states = at._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(found[-1].proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": "events", "value": payload}])
    at._run(states)
    assert not at.exception, at.exception[0].message if at.exception else ""
    return loop_data(at)


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
