"""The error of correction lists, apart so that importing votes does not load the consensus code."""

from __future__ import annotations

from wbcreview.errors import WbcreviewError


class DecisionsError(WbcreviewError):
    """Decisions or votes cannot be exported, read or imported as given."""
