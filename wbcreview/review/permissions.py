"""Who may do what: one table of actions by role, asked by the store, every page and command.

Pure (no Streamlit, no database). `can(reviewer, action)` answers, `require(...)` raises
PermissionDenied with a sentence naming the role it needs. A local caller with no reviewer
(the CLI without `--user`, local mode without sign-in) is trusted: see `trusted()`.

What a viewer sees of other people's work (votes, tallies, decisions, notes) is decided by
`sees_others(viewer, blind)` and, for final decisions, `limit_decisions(frame, viewer, ...)`:
annotators in blind mode get their own votes, others' votes only on a cell they have voted
on, and of the final decisions only the final label of cells the expert has decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wbcreview.errors import WbcreviewError

ROLES: tuple[str, ...] = ("annotator", "adjudicator", "admin")
_ALL = frozenset(ROLES)
_JUDGES = frozenset({"adjudicator", "admin"})
_ADMIN = frozenset({"admin"})


@dataclass(frozen=True)
class Action:
    """An action a page or command offers: its name, what it does (for messages), who may."""

    name: str
    what: str
    roles: frozenset[str]


# fmt: off
ACTIONS: tuple[Action, ...] = (
    Action("vote", "vote on cells", _ALL),
    Action("see_own_votes", "see their own votes", _ALL),
    Action("see_final_labels", "see the final label of decided cells", _ALL),
    Action("see_all_votes", "see others' votes, tallies, decisions and notes", _JUDGES),
    Action("adjudicate", "adjudicate cells", _JUDGES),
    Action("accept_consensus", "accept agreed consensus as final", _JUDGES),
    Action("manage_queues", "create review queues", _ADMIN),
    Action("manage_calibration", "manage calibration cells", _ADMIN),
    Action("import_votes", "import votes made offline", _ADMIN),
    Action("import_labels", "import the original challenge label files", _ADMIN),
    Action("import_predictions", "import prediction files", _ADMIN),
    Action("run_baseline", "run the built-in baseline", _ADMIN),
    Action("save_export", "save exports into the server's folder", _ADMIN),
    Action("manage_users", "manage users", _ADMIN),
)
# fmt: on
BY_NAME: dict[str, Action] = {a.name: a for a in ACTIONS}
# action -> roles, the shape the store has always used
PERMISSIONS: dict[str, frozenset[str]] = {a.name: a.roles for a in ACTIONS}

# Columns of a final-decisions frame that tell others' votes, tallies or the expert's notes.
DECISION_DETAIL_COLUMNS: tuple[str, ...] = (
    "reason", "votes", "tally", "agreement", "adjudicator", "note",
)  # fmt: skip


class PermissionDenied(WbcreviewError):
    """The reviewer's role does not allow this action."""


class HasRole(Protocol):
    name: str
    role: str


def can(reviewer: HasRole | None, action: str) -> bool:
    """Whether `reviewer` may do `action` (a key of BY_NAME). None (trusted local) may all."""
    roles = BY_NAME[action].roles  # KeyError for an unknown action: a typo must not pass
    return reviewer is None or getattr(reviewer, "role", None) in roles


def allowed_roles(action: str) -> tuple[str, ...]:
    """The roles that may do `action`, in ROLES order."""
    return tuple(r for r in ROLES if r in BY_NAME[action].roles)


def require(reviewer: HasRole | None, action: str, what: str | None = None) -> None:
    """Raise PermissionDenied unless `reviewer` may do `action` (`what` names it in the message)."""
    if can(reviewer, action):
        return
    text = what or BY_NAME[action].what
    who = getattr(reviewer, "name", None)
    role = getattr(reviewer, "role", None)
    if who is None or role is None:
        raise PermissionDenied(f"{text} needs a Reviewer, got {type(reviewer).__name__}")
    allowed = " or ".join(allowed_roles(action))
    raise PermissionDenied(f"{role} {who!r} may not {text}: it needs the role {allowed}")


def trusted(viewer: HasRole | None) -> bool:
    """Whether `viewer` is a trusted local caller (None: the CLI, local mode)."""
    return viewer is None


def sees_others(viewer: HasRole | None, blind: bool) -> bool:
    """Whether `viewer` sees everyone's votes, tallies and notes on every cell.

    True for a trusted local caller, adjudicators and admins, and everyone when blind review
    is off (setting WBCREVIEW_BLIND=0). An annotator in blind mode does not.
    """
    return viewer is None or can(viewer, "see_all_votes") or not blind


def limit_decisions(frame, viewer: HasRole | None, blind: bool):
    """The final decisions (a frame of EXPORT_COLUMNS) that `viewer` may see.

    Everything for those who `sees_others`; for an annotator in blind mode the final label
    of adjudicated cells only: agreed-but-not-adjudicated cells are dropped and the reason,
    vote count, tally, agreement, adjudicator and note are blanked.
    """
    if sees_others(viewer, blind):
        return frame
    out = frame[frame["status"] == "adjudicated"].copy()
    for col in DECISION_DETAIL_COLUMNS:
        if col in out.columns:
            out[col] = None
    return out.reset_index(drop=True)
