"""The opening every page shares, and the one place errors become what the user sees.

A page file is `with page("Title") as ws:` then widgets, one call and rendering. `page()` sets
the page up (config, sign-in, the data source, the demo copy and the catalog with progress
bars, the reviewer and the decision store when asked) and skips the body when something is
missing, after saying what. Inside the body a WbcreviewError is shown once as `st.error`;
anything else is a bug: logged with its traceback under an incident id, shown as one line with
that id to quote.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from wbcreview import logs, ui
from wbcreview.errors import WbcreviewError
from wbcreview.ui import browse, navigation, session
from wbcreview.workspace import Workspace

# Every page, laid out for a 1366x768 laptop first: the page starts just under the top bar
# (Streamlit leaves 8rem), narrower side margins below 1600 px, a smaller title and tighter
# message boxes (headings keep their order: 2.25, 1.65, 1.3 rem), so a page's first controls
# and content sit above the fold.
_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 4.25rem; }
@media (max-width: 1600px) {
  [data-testid="stMainBlockContainer"] { padding-left: 2.25rem; padding-right: 2.25rem; }
}
[data-testid="stMainBlockContainer"] h1 { font-size: 2.25rem; padding: 0.25rem 0 0.5rem; }
[data-testid="stMainBlockContainer"] h2 { font-size: 1.65rem; }
[data-testid="stMainBlockContainer"] h3 { font-size: 1.3rem; }
[data-testid="stAlertContainer"] { padding: 0.6rem 0.9rem; }
</style>"""


@contextmanager
def page(
    title: str,
    *,
    store: bool | str = False,
    reviewer: bool | None = None,
    links: bool = False,
    heading: str | None = None,
) -> Iterator[Workspace]:
    """Open a page and yield its Workspace (copy, catalog, and with `store` the decision store
    and the reviewer as `ws.user`); the body is skipped when something is missing.

    `store="optional"` goes on without a store when it cannot be opened (after saying so).
    `reviewer` (default: the same as `store`) shows the identity box in the sidebar; `links`
    the browsing pages' sidebar links; `heading` the page title (default `title`; "" none).
    """
    navigation.ensure_sections()
    st.html(_CSS)  # style only: takes no space; before setup, so the sign-in page has it too
    src = ui.setup(title)
    if links:
        browse.navigation()
    if heading != "":
        st.title(heading or title)
    if src is None or not ui.ensure_demo(src):
        st.stop()
    base = ui.workspace(src)
    if base is None:
        st.stop()
    user = None
    if reviewer if reviewer is not None else bool(store):
        user = session.identity_sidebar()
    ws = session.open_store(base, user) if store else None
    if ws is None and store and store != "optional":
        st.stop()
    ws = ws or base.with_store(None, user)  # no store: its use cases raise StoreError
    try:
        yield ws
    except WbcreviewError as exc:
        st.error(browse.md(exc))
    except Exception as exc:  # a bug: keep the traceback in the log, one line for the user
        ident = logs.incident(exc, f"page {title}")
        st.error(logs.unexpected_message(exc, ident))
    finally:
        freeze_long_lived()


_modules_frozen = 0


def freeze_long_lived() -> bool:
    """Exempt what is alive now from the cyclic garbage collector, when modules were imported.

    Streamlit runs `gc.collect(2)` after every script run (`runner.postScriptGC`). With the
    libraries a page imports (pandas, DuckDB, SQLAlchemy, Arrow: ~150,000 objects) one full
    collection took 340-430 ms on the 2-core machine, most of the server's CPU per rerun.
    `gc.freeze()` moves every object alive now to a permanent generation, so later collections
    scan only what runs create. It runs when a run has imported new modules (a screen's first
    visit in this process), after a collection of the young generations (~0 ms), where this
    run's garbage is, so it is not kept (a full one would cost the 400 ms again). Objects frozen
    this way are still freed when nothing refers to them; only a reference cycle among them is
    never collected, which is why it runs once per new set of modules, not per run.
    Returns True when it froze.
    """
    global _modules_frozen
    if len(sys.modules) == _modules_frozen:
        return False
    gc.collect(1)
    gc.freeze()
    _modules_frozen = len(sys.modules)
    return True
