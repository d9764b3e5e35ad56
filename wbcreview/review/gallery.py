"""Gallery review, the pure part: galleries by label, the selection, the key map, sign-off.

A queue page (up to PAGE_SIZE cells in queue order) is shown as galleries, one per current
label in class order, the way digital morphology analyzers show a slide. The reviewer
selects tiles (click, shift-click for a range, ctrl-click to toggle, arrow keys, G for the
whole gallery) and presses one key: a class key (the same keys as single-cell mode), K to
keep the label, a digit to remove for a reason, U for unsure. Signing off records 'retain'
for every tile without a vote (store.sign_off). Nothing here imports Streamlit.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.review.store import REMOVE_REASONS
from wbcreview.review.workflow import CLASS_KEYS, CLASS_ORDER, describe_decision

PAGE_SIZE = 48
MAX_COLUMNS = 8  # tiles across in one gallery; galleries flow side by side
HIDDEN = "?"  # the gallery of every cell when labels are hidden (blind first read)

# Remove reasons by digit, in the order a technologist meets them most.
REMOVE_KEYS: dict[str, str] = {
    "1": "smudge",
    "2": "artefact",
    "3": "multi-cell",
    "4": "low-quality",
    "5": "not-classable",
    "6": "other",
}
# Gallery mode: key (as KeyboardEvent.key, upper case) -> command kind. Single-cell review
# maps the other way (workflow.ACTION_TO_KEY: action -> its key).
KEY_TO_ACTION: dict[str, str] = {
    "K": "retain",
    "U": "unsure",
    "Z": "undo",
    "G": "select_gallery",
    "ESCAPE": "clear",
    " ": "toggle",
    "ENTER": "sign_off",
    "ARROWLEFT": "left",
    "ARROWRIGHT": "right",
    "ARROWUP": "up",
    "ARROWDOWN": "down",
    "N": "next_page",
    "PAGEDOWN": "next_page",
    "PAGEUP": "previous_page",
}


@dataclass(frozen=True)
class Command:
    """What a key does: kind is 'class', 'retain', 'remove', 'unsure', or a selection or
    page command ('left', 'select_gallery', 'sign_off', 'undo', ...); value is the class
    code or remove reason."""

    kind: str
    value: str | None = None


def key_map() -> dict[str, Command]:
    """Key name (upper case, as KeyboardEvent.key) -> Command, for every key gallery mode uses."""
    keys: dict[str, Command] = {k.upper(): Command("class", c) for c, k in CLASS_KEYS.items()}
    for key, reason in REMOVE_KEYS.items():
        keys[key] = Command("remove", reason)
    for key, kind in KEY_TO_ACTION.items():
        keys[key] = Command(kind)
    return keys


KEYS = key_map()
assert len(KEYS) == len(CLASS_KEYS) + len(REMOVE_KEYS) + len(KEY_TO_ACTION), (
    "two commands share a key"
)
assert set(REMOVE_KEYS.values()) == set(REMOVE_REASONS), "every remove reason needs a key"


def command_for(key: str) -> Command | None:
    """The command of a key as the browser names it ('s', 'ArrowLeft', ' '); None if unused."""
    return KEYS.get(key.upper() if key != " " else " ")


def key_legend() -> list[tuple[str, str]]:
    """(key, meaning) for the key bar: the 13 classes in lineage order, then the actions."""
    legend = [(CLASS_KEYS[c], c) for c in CLASS_ORDER]
    legend.append(("K", "keep label"))
    legend += [(k, f"✗ {REMOVE_REASONS[r].lower()}") for k, r in REMOVE_KEYS.items()]
    legend += [("U", "unsure → expert"), ("Z", "undo")]
    return legend


# --- galleries -------------------------------------------------------------------------------


def page_cells(cells: Sequence[str], page: int, size: int = PAGE_SIZE) -> list[str]:
    """The cells of page `page` (0-based, clamped) of a queue."""
    if not cells:
        return []
    last = (len(cells) - 1) // size
    page = min(max(int(page), 0), last)
    return list(cells[page * size : (page + 1) * size])


def page_total(cells: Sequence[str], size: int = PAGE_SIZE) -> int:
    """How many pages a queue has (at least 1)."""
    return max(1, -(-len(cells) // size))


def galleries(
    cells: Sequence[str], labels: Mapping[str, str], hidden: bool = False
) -> list[tuple[str, list[str]]]:
    """[(label, cells)] grouped by current label in class order (queue order inside).

    Unknown labels come last, sorted. With `hidden` (blind first read) one gallery HIDDEN.
    """
    if hidden:
        return [(HIDDEN, list(cells))] if cells else []
    groups: dict[str, list[str]] = {}
    for cell in cells:
        groups.setdefault(str(labels.get(cell, "unknown")), []).append(cell)
    rank = {c: i for i, c in enumerate(CLASS_ORDER)}
    order = sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))
    return [(g, groups[g]) for g in order]


def display_order(groups: Sequence[tuple[str, list[str]]]) -> list[str]:
    """The cells in the order they are shown (gallery after gallery)."""
    return [c for _, members in groups for c in members]


# --- selection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The selected cells, the cursor (the tile keys act on when nothing is selected) and the
    anchor of shift ranges."""

    selected: frozenset[str] = field(default_factory=frozenset)
    cursor: str | None = None
    anchor: str | None = None

    def targets(self) -> list[str]:
        """The cells a vote key acts on: the selection, else the cursor tile."""
        if self.selected:
            return sorted(self.selected)
        return [self.cursor] if self.cursor else []


def _index(order: Sequence[str], cell: str | None) -> int | None:
    try:
        return order.index(cell) if cell is not None else None
    except ValueError:
        return None


def click(
    sel: Selection, order: Sequence[str], cell: str, *, shift=False, toggle=False
) -> Selection:
    """A click on `cell`: select it alone; with shift the range from the anchor; with toggle
    (ctrl/cmd) add or take it away."""
    if cell not in order:
        return sel
    if shift and _index(order, sel.anchor) is not None:
        a, b = sorted((order.index(sel.anchor), order.index(cell)))
        return replace(sel, selected=frozenset(order[a : b + 1]), cursor=cell)
    if toggle:
        return Selection(sel.selected ^ {cell}, cell, cell)
    return Selection(frozenset({cell}), cell, cell)


def move(sel: Selection, order: Sequence[str], step: int, *, extend=False) -> Selection:
    """Move the cursor `step` tiles (clamped); with `extend` select from the anchor to it.

    A move without extend leaves the selection as it is, so a reviewer can look around.
    """
    if not order:
        return Selection()
    here = _index(order, sel.cursor)
    target = order[0] if here is None else order[min(max(here + step, 0), len(order) - 1)]
    if extend:
        anchor = sel.anchor if _index(order, sel.anchor) is not None else sel.cursor or target
        a, b = sorted((order.index(anchor), order.index(target)))
        return Selection(frozenset(order[a : b + 1]), target, anchor)
    return replace(sel, cursor=target, anchor=target)


def toggle_cursor(sel: Selection) -> Selection:
    """Space: add the cursor tile to the selection or take it away."""
    if sel.cursor is None:
        return sel
    return replace(sel, selected=sel.selected ^ {sel.cursor}, anchor=sel.cursor)


def select_gallery(sel: Selection, groups: Sequence[tuple[str, list[str]]]) -> Selection:
    """Select every tile of the cursor's gallery (the first gallery without a cursor)."""
    for _, members in groups:
        if sel.cursor is None or sel.cursor in members:
            cursor = sel.cursor or (members[0] if members else None)
            return Selection(frozenset(members), cursor, members[0] if members else None)
    return sel


def after_vote(sel: Selection, order: Sequence[str], voted: Iterable[str]) -> Selection:
    """After a vote: nothing selected, the cursor on the next tile without a vote (wrapping),
    or where it was when every tile has one."""
    done = set(voted)
    here = _index(order, sel.cursor)
    start = -1 if here is None else here
    for step in range(1, len(order) + 1):
        cell = order[(start + step) % len(order)]
        if cell not in done:
            return Selection(frozenset(), cell, cell)
    return Selection(frozenset(), sel.cursor, sel.cursor)


def keep_valid(sel: Selection, order: Sequence[str]) -> Selection:
    """The selection restricted to cells on the page (a page change, a new queue)."""
    on = set(order)
    cursor = sel.cursor if sel.cursor in on else (order[0] if order else None)
    anchor = sel.anchor if sel.anchor in on else cursor
    return Selection(frozenset(sel.selected & on), cursor, anchor)


# --- votes and sign-off ----------------------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """One vote a key press makes for one cell."""

    cell_id: str
    action: str
    label: str | None = None
    reason: str | None = None


def votes_for(command: Command, cells: Sequence[str], labels: Mapping[str, str]) -> list[Vote]:
    """The votes `command` makes for `cells`: a class key on a cell already of that class is
    a 'retain' (as in single-cell mode). [] for commands that do not vote."""
    if command.kind == "class":
        if command.value not in CLASS_CODES:
            raise ValueError(f"{command.value!r} is not one of the 13 classes")
        return [
            Vote(c, "retain")
            if labels.get(c) == command.value
            else Vote(c, "correct", command.value)
            for c in cells
        ]
    if command.kind == "retain":
        return [Vote(c, "retain") for c in cells]
    if command.kind == "remove":
        return [Vote(c, "remove", reason=command.value) for c in cells]
    if command.kind == "unsure":
        return [Vote(c, "unsure") for c in cells]
    return []


@dataclass(frozen=True)
class SignOffCounts:
    """What signing off a page would do: `retain` new votes, and the votes already cast."""

    tiles: int
    retain: int
    kept: int
    corrected: int
    removed: int
    unsure: int

    def describe(self) -> str:
        """The confirmation text."""
        done = self.tiles - self.retain
        return (
            f"Sign off {self.tiles} tiles: {self.retain} without a vote will be recorded as "
            f"'keep label'; {done} already voted ({self.kept} kept, {self.corrected} corrected, "
            f"{self.removed} removed, {self.unsure} unsure) stay as they are."
        )


def sign_off_counts(cells: Sequence[str], votes: Mapping[str, str]) -> SignOffCounts:
    """Counts for signing off `cells`, given the reviewer's current action per cell."""
    actions = [votes.get(c) for c in dict.fromkeys(cells)]
    return SignOffCounts(
        tiles=len(actions),
        retain=sum(a is None for a in actions),
        kept=actions.count("retain"),
        corrected=actions.count("correct"),
        removed=actions.count("remove"),
        unsure=actions.count("unsure"),
    )


# --- the grid --------------------------------------------------------------------------------

GRID_CSS = """
.gr-wrap{display:flex;flex-wrap:wrap;align-items:flex-start;gap:2px 22px;font-size:13px}
.gr-gal{flex:0 1 auto;min-width:0}
.gr-head{display:flex;align-items:baseline;gap:.45rem;margin:.35rem 0 .2rem;font-weight:700;
  white-space:nowrap}
.gr-head .gr-name{font-weight:400;opacity:.75}
.gr-head .gr-n{font-weight:400;opacity:.6;font-variant-numeric:tabular-nums}
.gr-grid{display:grid;grid-template-columns:repeat(var(--gr-cols),var(--gr-tile));gap:5px}
.gr-tile{position:relative;cursor:pointer;user-select:none;border:2px solid transparent;
  border-radius:7px;padding:2px;background:rgba(128,128,128,.07);text-align:center}
.gr-tile img{width:var(--gr-img);height:var(--gr-img);object-fit:contain;display:block;
  margin:0 auto;border-radius:4px;background:#f3efe9}
.gr-tile:hover{border-color:rgba(28,111,209,.45)}
.gr-tile.gr-sel{border-color:#1c6fd1;background:rgba(28,111,209,.18)}
.gr-tile.gr-cur{outline:3px dashed #f0a000;outline-offset:1px}
.gr-tile.gr-done img{opacity:.45}
.gr-badge{position:absolute;left:4px;right:4px;bottom:4px;border-radius:4px;font-weight:700;
  font-size:12px;line-height:17px;color:#fff;background:#2e7d32}
.gr-badge.gr-correct{background:#c62828}.gr-badge.gr-remove{background:#5d4037}
.gr-badge.gr-unsure{background:#8e24aa}
.gr-empty{padding:1rem;opacity:.7}
"""

_BADGE = {"retain": "✓ kept", "unsure": "? unsure"}


def badge(action: str | None, label: str | None, reason: str | None) -> str:
    """The short text on a voted tile: '✓ kept', '→ LY', '✗ smudge', '? unsure'."""
    if action is None:
        return ""
    if action == "correct":
        return f"→ {label}"
    if action == "remove":
        return f"✗ {reason or 'remove'}"
    return _BADGE.get(action, action)


def grid_html(
    groups: Sequence[tuple[str, list[str]]],
    uris: Mapping[str, str],
    sel: Selection,
    votes: Mapping[str, tuple[str, str | None, str | None]],
    img_px: int = 96,
) -> str:
    """One HTML block: a heading and a CSS grid per gallery; every text escaped.

    `votes` maps cell -> (action, label, reason) of the reviewer's current vote.
    """
    if not groups:
        return '<div class="gr-empty">No cells on this page.</div>'
    parts = [f"<style>{GRID_CSS}</style>"]
    style = f"--gr-img:{int(img_px)}px;--gr-tile:{int(img_px) + 8}px"
    parts.append(f'<div class="gr-wrap" style="{style}">')
    for label, members in groups:
        name = "label hidden: blind first read" if label == HIDDEN else CELL_TYPES.get(label, "")
        done = sum(c in votes for c in members)
        cols = min(len(members), MAX_COLUMNS)
        parts.append(
            f'<section class="gr-gal" style="--gr-cols:{cols}">'
            f'<div class="gr-head" data-gr-gallery="{html.escape(label, quote=True)}">'
            f'<span>{html.escape(label)}</span><span class="gr-name">{html.escape(name)}</span>'
            f'<span class="gr-n">{done}/{len(members)} voted</span></div><div class="gr-grid">'
        )
        for cell in members:
            classes = ["gr-tile"]
            if cell in sel.selected:
                classes.append("gr-sel")
            if cell == sel.cursor:
                classes.append("gr-cur")
            vote = votes.get(cell)
            mark = ""
            if vote is not None:
                classes.append("gr-done")
                text = badge(*vote)
                what = describe_decision(*vote)
                mark = (
                    f'<span class="gr-badge gr-{html.escape(vote[0], quote=True)}" '
                    f'title="{html.escape(what, quote=True)}">{html.escape(text)}</span>'
                )
            cid = html.escape(cell, quote=True)
            parts.append(
                f'<div class="{" ".join(classes)}" data-gr-cell="{cid}" title="{cid}">'
                f'<img src="{html.escape(uris.get(cell, ""), quote=True)}" alt="{cid}" '
                f'draggable="false">{mark}</div>'
            )
        parts.append("</div></section>")
    parts.append("</div>")
    return "".join(parts)
