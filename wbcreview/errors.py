"""The one error family: every error wbcreview raises on purpose is a WbcreviewError.

The edges catch it once: the CLI prints its message as one line and exits 1; `ui.page()`
shows it once as `st.error`. Anything else that escapes is a bug: it is logged with its
traceback and shown to the user as one line with an id to quote.
"""

from __future__ import annotations

from collections.abc import Sequence


class WbcreviewError(Exception):
    """Base of every error wbcreview raises on purpose; its message is for the user."""


def listing(problems: Sequence[str], limit: int, sep: str = "\n  ") -> str:
    """The first `limit` problems joined by `sep`, then "... and N more" when there are more
    (a message stays readable when a file has thousands of bad lines)."""
    shown = sep.join(problems[:limit])
    extra = len(problems) - limit
    return shown + (f"{sep}... and {extra:,} more" if extra > 0 else "")
