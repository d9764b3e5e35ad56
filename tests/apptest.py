"""How page tests drive the app headlessly (Streamlit's AppTest): start from the entry point,
switch to a page, run it, fail on an exception. Shared by the page test files."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def ok(at: AppTest) -> AppTest:
    """`at` after checking that the run raised nothing (the exception's message if it did)."""
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def open_page(script: str, /, timeout: float = 90, **params) -> AppTest:
    """Run the app, switch to `script` with the query parameters `params`, run it."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(script)
    at.query_params.update(params)
    at.run()
    return ok(at)


def open_as(script: str, identity: dict | None = None, timeout: float = 240) -> AppTest:
    """Run `script` on the real (not the demo) review store as `identity` (name, team, role)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.session_state["wbc_demo_store"] = False  # the demo copy's simulated store: not this test's
    if identity:
        at.session_state["wbc_identity"] = identity
    at.switch_page(script)
    at.run()
    return ok(at)


def html_of(at: AppTest) -> str:
    """Every st.html block of the run, joined."""
    return "\n".join(h.value for h in at.get("html"))


def component_data(at: AppTest, name: str) -> list[dict]:
    """The data of every mount of the components.v2 component `name` in the run, in order."""
    return [
        json.loads(e.proto.json)
        for e in at.get("bidi_component")
        if e.proto.component_name == name and e.proto.json
    ]


def browse_grid(at: AppTest, role: str = "grid") -> dict:
    """The data of the Browse grid component: `role` "grid" (the current page's tiles and the
    thumbnails sent with it) or "ahead" (the pages before and after it)."""
    found = [d for d in component_data(at, "wbcreview_grid") if d.get("role") == role]
    assert len(found) == 1, f"{len(found)} Browse grid mounts of role {role}"
    return found[0]
