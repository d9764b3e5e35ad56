"""wbcreview: `streamlit run app.py`. The top bar groups the pages the way the work goes
(Explore, Review, Decide, Results); each page is a script in pages/ with its own URL.

Streamlit runs this file as `__main__` for every page run. `streamlit run app.py` itself
imports it first as a module, finds `app` (an `st.App`) and serves that: its lifespan starts
the warm-up (`wbcreview.ui.warmup`) on a thread at process start, so the first page finds
its imports done, the catalog open and Browse's first page ready.
"""

import threading
import time
from contextlib import asynccontextmanager

import streamlit as st

if __name__ == "__main__":  # a page run
    from wbcreview.ui import navigation

    navigation.run()
else:  # `streamlit run app.py` (or an ASGI server) serving `app`

    def _warm_up() -> None:
        started = time.perf_counter()
        try:
            from wbcreview.ui import warmup  # here: off the thread that starts the server
        except Exception:  # noqa: BLE001
            # Stopped (Ctrl+C) during the imports, or a broken install: the first page
            # imports the same modules and reports it there.
            return
        warmup.run(started)

    @asynccontextmanager
    async def _lifespan(_app):
        threading.Thread(target=_warm_up, name="wbcreview-warm-up", daemon=True).start()
        yield

    app = st.App(__file__, lifespan=_lifespan)
