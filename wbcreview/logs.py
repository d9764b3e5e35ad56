"""Logging for a shared server and the CLI: unexpected errors keep their traceback.

An error wbcreview raises on purpose (a WbcreviewError) is shown to the user and is not an
incident. Anything else that reaches an edge (the CLI's main, `ui.page()`) is a bug: it is
logged with its traceback under a short incident id, and the user sees one line with that id
to quote. Logs go to stderr and, when setting WBCREVIEW_LOG_FILE names a file, to that file.
"""

from __future__ import annotations

import logging
import secrets

from wbcreview import config

LOGGER = logging.getLogger("wbcreview")
_configured = False


def setup() -> logging.Logger:
    """Attach the stderr handler (and the file handler, when configured) once per process."""
    global _configured
    if _configured:
        return LOGGER
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    path = config.log_file()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    _configured = True
    return LOGGER


def incident(exc: BaseException, where: str) -> str:
    """Log `exc` with its traceback as an incident at `where`; return its id (8 hex digits)."""
    ident = secrets.token_hex(4)
    setup().error("incident %s in %s: %r", ident, where, exc, exc_info=exc)
    return ident


def unexpected_message(exc: BaseException, ident: str) -> str:
    """The one line a user sees for an unexpected error."""
    return (
        f"unexpected error ({type(exc).__name__}): {exc}. This is a bug in wbcreview; "
        f"quote incident {ident} when you report it (details are in the server log)."
    )
