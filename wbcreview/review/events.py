"""The review loop's events: every key press that decides is an event, stored exactly once.

The browser (the review loop component) gives each decision an event id (a UUID it makes)
and a sequence number, applies it on screen at once and keeps it until Python acknowledges
it. Python receives the unacknowledged events in order on every round trip and applies them
here, in sequence order. Each event's id is the store uid of what it writes (a vote on
several cells gets one uid per cell derived from it), so an event sent again after a lost
acknowledgement, a rerun or a reload writes nothing new: the store's uids make a retry
harmless. An event the store refuses (a permission, an invalid vote) is acknowledged with
its message, so the browser shows it instead of sending it forever; when the store does not
answer, that event and every later one stay unacknowledged and are sent again. Nothing here
imports Streamlit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.review.store import (
    ACTIONS,
    REMOVE_REASONS,
    InvalidVote,
    PermissionDenied,
    Reviewer,
    Store,
    StoreError,
)

KINDS = ("vote", "undo", "sign_off")
MAX_EVENTS = 500  # per round trip: a browser holding more sends the rest on the next one
MAX_CELLS = 200  # per event (a gallery page is 48)
_NAMESPACE = uuid.UUID("0b6f2a4e-6d0c-4a51-9c3e-2f7d8e1a5b94")


class EventError(WbcreviewError):
    """An event from the browser is malformed (not a known kind, no id, an unknown class)."""


@dataclass(frozen=True)
class Event:
    """One decision made in the browser.

    kind 'vote': `cells` get `action` ('retain', 'correct', 'remove', 'unsure') or, with
    `code`, the class pressed (a retain where it is the cell's current label); 'undo' undoes
    the reviewer's last action in the queue; 'sign_off' keeps the label of every cell of
    `cells` without a vote.
    """

    id: str
    seq: int
    kind: str
    cells: tuple[str, ...] = ()
    action: str | None = None
    code: str | None = None
    reason: str | None = None
    comment: str | None = None


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def parse_event(raw: object) -> Event:
    """An Event from the browser's JSON object; raises EventError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise EventError(f"an event must be an object, not {type(raw).__name__}")
    try:
        event_id = str(uuid.UUID(str(raw.get("id"))))
    except ValueError:
        raise EventError(f"event id {str(raw.get('id'))[:40]!r} is not a UUID") from None
    try:
        seq = int(raw.get("seq"))
    except (TypeError, ValueError):
        raise EventError(f"event {event_id}: sequence number missing") from None
    kind = raw.get("kind")
    if kind not in KINDS:
        raise EventError(f"event {event_id}: unknown kind {str(kind)[:20]!r}")
    cells = raw.get("cells") or []
    if not isinstance(cells, list) or len(cells) > MAX_CELLS:
        raise EventError(f"event {event_id}: cells must be a list of at most {MAX_CELLS}")
    action, code, reason = raw.get("action"), raw.get("code"), raw.get("reason")
    if kind == "vote":
        if not cells:
            raise EventError(f"event {event_id}: a vote needs a cell")
        if code is not None and code not in CLASS_CODES:
            raise EventError(f"event {event_id}: {str(code)[:10]!r} is not one of the 13 classes")
        if code is None and action not in set(ACTIONS) - {"correct", "undo"}:
            raise EventError(f"event {event_id}: unknown action {str(action)[:20]!r}")
        if action == "remove" and reason not in REMOVE_REASONS:
            raise EventError(f"event {event_id}: Remove needs one of the reasons")
    return Event(
        id=event_id,
        seq=seq,
        kind=kind,
        cells=tuple(str(c) for c in cells),
        action=None if code is not None else action,
        code=code,
        reason=reason if action == "remove" and code is None else None,
        comment=_text(raw.get("comment"), 2000),
    )


def parse_events(raw: object) -> tuple[list[Event], dict[str, str]]:
    """The valid events in sequence order (first MAX_EVENTS), and {id: problem} for the rest.

    An event whose id cannot be read is dropped (nothing could acknowledge it)."""
    events: dict[str, Event] = {}
    problems: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        try:
            event = parse_event(item)
        except EventError as exc:
            bad = item.get("id") if isinstance(item, Mapping) else None
            if bad is not None:
                problems[str(bad)] = str(exc)
            continue
        events.setdefault(event.id, event)
    ordered = sorted(events.values(), key=lambda e: e.seq)
    return ordered[:MAX_EVENTS], problems


def vote_uid(event_id: str, cell: str, cells: int) -> str:
    """The store uid of an event's vote on `cell`: the event id itself for a one-cell vote,
    one derived from it per cell for a selection."""
    if cells == 1:
        return event_id
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}:{cell}"))


@dataclass
class Outcome:
    """What a round trip did: `acked` maps each event id handled to '' (stored) or the
    reason it was refused; `unsaved` is the store's message when it did not answer (the
    events from there on stay unacknowledged); `touched` the cells voted on; `undid` whether
    an undo was stored (its cells are not known here: the caller reads them again)."""

    acked: dict[str, str] = field(default_factory=dict)
    unsaved: str | None = None
    touched: set[str] = field(default_factory=set)
    undid: bool = False


def _decision(event: Event, cell: str, labels: Mapping[str, str]) -> tuple[str, str | None]:
    if event.code is not None:
        current = labels.get(cell)
        return ("retain", None) if current == event.code else ("correct", event.code)
    return str(event.action), None


def vote_rows(event: Event, labels: Mapping[str, str], queue_id: int | None) -> list[dict]:
    """The store rows (Store.add_votes items) of a vote event: one per cell, each with the
    uid vote_uid gives it, in one batch when the event covers several cells."""
    rows = []
    for cell in event.cells:
        action, label = _decision(event, cell, labels)
        rows.append({
            "cell_id": cell, "action": action, "label": label, "reason": event.reason,
            "comment": event.comment, "queue_id": queue_id,
            "uid": vote_uid(event.id, cell, len(event.cells)),
            "batch": event.id if len(event.cells) > 1 else None,
        })  # fmt: skip
    return rows


def apply_events(
    store: Store,
    reviewer: Reviewer,
    queue_id: int | None,
    events: Sequence[Event],
    labels: Mapping[str, str],
    queue_cells: Iterable[str],
    done: Iterable[str] = (),
    undo_cell: str | None = None,
) -> Outcome:
    """Store `events` in sequence order, each exactly once; return the Outcome.

    Consecutive votes go to the store in one transaction (an undo or a sign-off ends the
    run); when the store refuses one of them, the run is written again one event at a time
    so that only the refused event carries the reason. `labels` (cell -> current label)
    turns a class key on a cell of that class into a 'retain'; a cell not in `queue_cells`
    is refused; ids in `done` were acknowledged in this session already and are not sent
    to the store again. An undo takes back the reviewer's last action in the queue, or on
    its cell when the event names one (else on `undo_cell` when given): votes made outside a
    queue (`queue_id` None: the Cell page, a Browse tile) are undone cell by cell.
    """
    allowed = set(queue_cells)
    finished = set(done)
    out = Outcome()
    run: list[Event] = []

    def stored(batch: list[Event]) -> None:
        for event in batch:
            out.acked[event.id] = ""
            out.touched.update(event.cells)

    def write_run() -> bool:
        """Store the pending votes; False when the store did not answer."""
        batch = list(run)
        run.clear()
        if not batch:
            return True
        try:
            store.add_votes(reviewer, [r for e in batch for r in vote_rows(e, labels, queue_id)])
        except (InvalidVote, PermissionDenied):
            for event in batch:  # which one: one event per transaction
                try:
                    store.add_votes(reviewer, vote_rows(event, labels, queue_id))
                except (InvalidVote, PermissionDenied) as exc:
                    out.acked[event.id] = str(exc)
                    continue
                except StoreError as exc:
                    out.unsaved = str(exc)
                    return False
                stored([event])
            return True
        except StoreError as exc:
            out.unsaved = str(exc)
            return False
        stored(batch)
        return True

    for event in sorted(events, key=lambda e: e.seq):
        if event.id in finished:
            out.acked[event.id] = ""
            continue
        stray = [c for c in event.cells if c not in allowed]
        if stray:
            out.acked[event.id] = f"cell {stray[0][:40]} is not in this queue"
            continue
        if event.kind == "vote":
            run.append(event)
            continue
        if not write_run():
            return out
        try:
            if event.kind == "undo":
                cell = event.cells[0] if event.cells else undo_cell
                store.undo_last(reviewer, queue_id=queue_id, cell_id=cell, uid=event.id)
                out.undid = True
            else:  # sign_off
                store.sign_off(reviewer, queue_id, list(event.cells), uid=event.id)
                out.touched.update(event.cells)
        except (InvalidVote, PermissionDenied) as exc:
            out.acked[event.id] = str(exc)
            continue
        except StoreError as exc:
            out.unsaved = str(exc)
            return out
        out.acked[event.id] = ""
    write_run()
    return out


def vote_states(store: Store, reviewer: Reviewer, cells: Sequence[str]) -> dict[str, list]:
    """cell -> [action, label, reason] of the reviewer's current vote, for `cells`."""
    return {cell: list(vote) for cell, vote in store.own_votes(reviewer, cells).items()}
