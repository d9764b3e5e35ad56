"""The server's warm-up: what the first screen needs, done while the server starts.

`streamlit run app.py` serves app.py's `app` (an `st.App`); its lifespan starts a thread
at process start, which imports this module and calls `run()`. While the server binds and a
browser loads Streamlit's front end (1-2 s), the thread imports what a page run needs
(pandas, DuckDB, SQLAlchemy, the screens' modules), opens the copy's Workspace (building a
missing catalog) through the same cached resource the pages use (`ui.open_workspace`), does
Streamlit's own once-per-process work of a first run, freezes what is long-lived for the
garbage collector, and fills Browse's first page (rows, thumbnails, grid) and what the home
page reads (health report, counts). A page run that needs the catalog while it is being
built follows that build and shows its progress (`catalog._build_once`); a Browse run that
starts while the first page is being filled waits for it; any other page finds its imports
done.

Importing this module is the first half of the work (the screens' modules); `run()` the rest.
"""

from __future__ import annotations

import logging
import threading
import time

from streamlit import delta_generator, string_util

from wbcreview import logs, ui
from wbcreview.data import source
from wbcreview.ui import allocator, browse, home, navigation, page, review_loop  # noqa: F401 (first screens)
from wbcreview.ui import auth as ui_auth  # noqa: F401 (imported for the sign-in page's first run)
from wbcreview.workspace import Workspace

LOGGER = logging.getLogger("wbcreview.warmup")
_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"
done = threading.Event()  # set when run() has finished (or given up): for tests and benches


def streamlit_first_run() -> None:
    """What Streamlit does once per process, on the first page run, done here instead: load
    its emoji catalog (st.set_page_config's icon, 0.17 s) and check whether it runs in a
    REPL (on the first element: `inspect.stack()` over every loaded module, 0.19 s)."""
    string_util.is_emoji(ui.PAGE_ICON)
    delta_generator._maybe_print_use_warning()


class _QuietOutsideARun(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning from one thread: the warm-up calls
    the pages' cached functions outside any page run on purpose, and the line in the server's
    output would read as a fault."""

    def __init__(self, thread: str):
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != self.thread


def run(started: float | None = None) -> Workspace | None:
    """Warm the process up for the first visit and log how long each part took; return the
    Workspace opened (None when there was nothing to open yet, or a problem). `started` is
    the `time.perf_counter()` of the thread's start, before this module's imports. Never
    raises: a problem is left for the page that meets it to show (data source, catalog)."""
    imported = time.perf_counter()
    started = imported if started is None else started
    logs.setup()
    # Before any cache fills: its blocks must not sit among heap holes (ui/allocator.py).
    allocator.tune_allocator()
    logging.getLogger(_CONTEXT_LOGGER).addFilter(_QuietOutsideARun(threading.current_thread().name))
    navigation.sections_from_start()
    try:
        src = source.resolve(None)
        if not src.has_copy:
            LOGGER.info("warm-up: no demo copy yet (the first page builds it)")
            return None
        streamlit_first_run()
        with browse.WARMING:  # a Browse run waits for the first page instead of racing it
            ws = ui.open_workspace(src)
            opened = time.perf_counter()
            page.freeze_long_lived()
            browse.warm_first_page(ws)
        browsed = time.perf_counter()
        home.warm(ws)
        page.freeze_long_lived()
        LOGGER.info(
            "warm-up done in %.1f s: imports %.1f s, catalog %.1f s, first Browse page %.1f s, "
            "home page %.1f s",
            time.perf_counter() - started,
            imported - started,
            opened - imported,
            browsed - opened,
            time.perf_counter() - browsed,
        )
        return ws
    except Exception as exc:  # noqa: BLE001 (the page that needs it reports the problem)
        LOGGER.warning("warm-up stopped after %.1f s: %r", time.perf_counter() - started, exc)
        return None
    finally:
        done.set()
