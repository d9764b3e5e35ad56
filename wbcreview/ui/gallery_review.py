"""Streamlit widgets of gallery review: the galleries, the key bar, sign-off and undo.

Keys and clicks reach Python through one JavaScript-only `st.components.v2` component
(`_events`): a document keydown listener for the keys of `gallery_review.KEYS` (any key,
R and C included, skipped while typing in an input) and a click listener on the tiles of
the `st.html` grid. Each sends one trigger value; the page applies it at the top of the
run (selection, vote, sign-off, undo) and paints the grid once. The component's code is
static and receives only key names; every cell id and label in the grid is escaped by
`gallery_review.grid_html`. Every vote is stored the moment its key is pressed, with a uid
made here: when the database does not answer the votes are kept and Retry sends the same
uids (never stored twice).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import streamlit as st

from wbcreview.data import query
from wbcreview.data.catalog import Catalog
from wbcreview.data.release import CELL_TYPES
from wbcreview.review import gallery as gr
from wbcreview.review import workflow as review
from wbcreview.review.store import (
    REMOVE_REASONS,
    InvalidVote,
    PermissionDenied,
    Reviewer,
    Store,
    StoreError,
)
from wbcreview.ui import browse
from wbcreview.ui import review as review_ui
from wbcreview.ui import session as session_ui

THUMB_PX = 96
_PENDING = "gr_pending"  # votes the store did not acknowledge: (queue_id, [vote dicts])
_CONFIRM = "gr_confirm"  # the page a sign-off waits to be confirmed for
_SAVED = "gr_saved"  # the last action, one line

_EVENTS_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  const keys = new Set((data && data.keys) || []);
  let n = 0;
  const columns = () => {
    const cur = document.querySelector('.gr-tile.gr-cur');
    const grid = cur ? cur.closest('.gr-grid') : document.querySelector('.gr-grid');
    if (!grid) return 1;
    return getComputedStyle(grid).gridTemplateColumns.split(' ').filter(Boolean).length || 1;
  };
  const onKey = (event) => {
    const t = event.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' ||
              t.isContentEditable)) return;
    if (event.altKey || event.metaKey || (event.ctrlKey && event.key.toLowerCase() !== 'a')) return;
    const key = event.key === ' ' ? ' ' : event.key.toUpperCase();
    const name = event.ctrlKey ? 'G' : key;  // Ctrl+A: select the gallery
    if (!keys.has(name)) return;
    event.preventDefault();
    event.stopPropagation();
    setTriggerValue('event', {kind: 'key', key: name, shift: event.shiftKey, cols: columns(), n: ++n});
  };
  const onClick = (event) => {
    const tile = event.target.closest ? event.target.closest('[data-gr-cell]') : null;
    if (!tile || event.button !== 0) return;
    event.preventDefault();
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    setTriggerValue('event', {kind: 'click', cell: tile.getAttribute('data-gr-cell'),
      shift: event.shiftKey, toggle: event.ctrlKey || event.metaKey, n: ++n});
  };
  if (window.__wbcGallery) {
    document.removeEventListener('keydown', window.__wbcGallery[0], true);
    document.removeEventListener('click', window.__wbcGallery[1], true);
  }
  window.__wbcGallery = [onKey, onClick];
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('click', onClick, true);
  return () => {
    document.removeEventListener('keydown', onKey, true);
    document.removeEventListener('click', onClick, true);
    if (window.__wbcGallery && window.__wbcGallery[0] === onKey) window.__wbcGallery = null;
  };
}
"""
_events_component = st.components.v2.component("wbcreview_gallery_events", js=_EVENTS_JS)

KEY_BAR_CSS = """
.gr-keys{display:flex;flex-wrap:wrap;gap:2px 9px;font-size:12.5px;line-height:20px;margin:.2rem 0}
.gr-keys kbd{display:inline-block;min-width:18px;padding:0 5px;margin-right:3px;border-radius:4px;
  border:1px solid rgba(128,128,128,.5);border-bottom-width:2px;font:700 12px monospace;text-align:center;
  background:rgba(128,128,128,.08)}
.gr-keys .gr-sep{flex-basis:100%;height:0}
.gr-keys .gr-help{opacity:.75;font-size:12px}
"""


# --- cached reads ----------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _labels(_cur, fingerprint: str) -> dict[str, str]:
    del fingerprint
    return review.labels_of(review.catalog_cells(_cur))


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _thumbs(_cat: Catalog, fingerprint: str, cells: tuple[str, ...]) -> dict[str, str]:
    """cell -> data URI of its pristine thumbnail (placeholder-free: unreadable cells are left out)."""
    del fingerprint
    if not cells:
        return {}
    rows = query.page(
        _cat.cursor(), query.Filter(configs=("pristine",), cell_ids=cells), "image id", len(cells)
    )
    uris = browse.thumb_uris(_cat, rows, THUMB_PX)
    return dict(zip(rows["cell_id"].astype(str), uris, strict=True))


# --- state -----------------------------------------------------------------------------------


def _sel_key(queue_id: int) -> str:
    return f"gr_sel:{queue_id}"


def _page_key(queue_id: int) -> str:
    return f"gr_page:{queue_id}"


def selection(queue_id: int) -> gr.Selection:
    """The session's selection in a queue's gallery."""
    return st.session_state.get(_sel_key(queue_id), gr.Selection())


def _my_votes(store: Store, reviewer: Reviewer, cells: list[str]) -> dict:
    """cell -> (action, label, reason) of the reviewer's current vote, for `cells`."""
    if not cells:
        return {}
    mine = store.current_votes(reviewer, reviewer=reviewer.name, cell_ids=cells)
    return {
        str(r["cell_id"]): (r["action"], r["label"], r["reason"]) for r in mine.to_dict("records")
    }


class _View:
    """Everything one run knows about the page shown: queue, cells, galleries, votes."""

    def __init__(self, cat: Catalog, store: Store, reviewer: Reviewer, queue) -> None:
        self.store, self.reviewer, self.queue = store, reviewer, queue
        self.labels = _labels(cat.cursor(), cat.fingerprint)
        self.cells = store.queue_cells(queue.id, reviewer)
        self.pages = gr.page_total(self.cells)
        ss = st.session_state
        if _page_key(queue.id) not in ss:
            ss[_page_key(queue.id)] = self._first_open_page()
        self.page = min(max(int(ss[_page_key(queue.id)]), 0), self.pages - 1)
        ss[_page_key(queue.id)] = self.page
        self.refresh()

    def _first_open_page(self) -> int:
        voted = set(_my_votes(self.store, self.reviewer, self.cells))
        for i, cell in enumerate(self.cells):
            if cell not in voted:
                return i // gr.PAGE_SIZE
        return 0

    def refresh(self) -> None:
        """Read the reviewer's votes on the page again and rebuild the galleries."""
        self.on_page = gr.page_cells(self.cells, self.page)
        self.votes = _my_votes(self.store, self.reviewer, self.on_page)
        self.hidden = bool(self.queue.options.get("hide_label"))
        unvoted = [c for c in self.on_page if c not in self.votes]
        voted = [c for c in self.on_page if c in self.votes]
        if self.hidden:  # blind first read: one gallery; voted cells show their label again
            self.groups = gr.galleries(unvoted, self.labels, hidden=True) + [
                (f"{g} ✓", m) for g, m in gr.galleries(voted, self.labels)
            ]
        else:
            self.groups = gr.galleries(self.on_page, self.labels)
        self.order = gr.display_order(self.groups)
        key = _sel_key(self.queue.id)
        st.session_state[key] = gr.keep_valid(selection(self.queue.id), self.order)

    @property
    def sel(self) -> gr.Selection:
        return selection(self.queue.id)

    @sel.setter
    def sel(self, value: gr.Selection) -> None:
        st.session_state[_sel_key(self.queue.id)] = value


# --- actions ---------------------------------------------------------------------------------


def _note(text: str) -> None:
    now = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
    st.session_state[_SAVED] = f"{now} · {text}"


def apply_event(view: _View, event: dict) -> None:
    """Apply one click or key event of the grid to the selection or the store."""
    if event.get("kind") == "click":
        view.sel = gr.click(
            view.sel, view.order, str(event.get("cell")),
            shift=bool(event.get("shift")), toggle=bool(event.get("toggle")),
        )  # fmt: skip
        return
    command = gr.command_for(str(event.get("key", "")))
    if command is None:
        return
    cols = max(1, int(event.get("cols") or 1))
    shift = bool(event.get("shift"))
    steps = {"left": -1, "right": 1, "up": -cols, "down": cols}
    if command.kind in steps:
        view.sel = gr.move(view.sel, view.order, steps[command.kind], extend=shift)
    elif command.kind == "toggle":
        view.sel = gr.toggle_cursor(view.sel)
    elif command.kind == "select_gallery":
        view.sel = gr.select_gallery(view.sel, view.groups)
    elif command.kind == "clear":
        st.session_state.pop(_CONFIRM, None)
        view.sel = gr.Selection(frozenset(), view.sel.cursor, view.sel.cursor)
    elif command.kind == "undo":
        undo(view)
    elif command.kind == "sign_off":
        if st.session_state.get(_CONFIRM) == (view.queue.id, view.page):
            sign_off(view)
        else:
            ask_sign_off(view)
    elif command.kind in ("next_page", "previous_page"):
        go_page(view, view.page + (1 if command.kind == "next_page" else -1))
    else:
        vote(view, command)


def go_page(view: _View, page: int) -> None:
    st.session_state.pop(_CONFIRM, None)
    st.session_state[_page_key(view.queue.id)] = min(max(page, 0), view.pages - 1)
    view.page = st.session_state[_page_key(view.queue.id)]
    view.refresh()


def vote(view: _View, command: gr.Command) -> None:
    """Store the votes `command` makes for the selection (or the cursor tile), as one batch."""
    targets = [c for c in view.sel.targets() if c in set(view.order)]
    if not targets:
        session_ui.post_notice(
            "info", "Select a tile first: click it, or move with the arrow keys."
        )
        return
    if command.kind == "retain" and view.hidden and any(c not in view.votes for c in targets):
        session_ui.post_notice("warning", "Blind first read: press the key of the class you see.")
        return
    batch = str(uuid.uuid4())
    rows = [
        {"uid": str(uuid.uuid4()), "batch": batch, "cell_id": v.cell_id, "action": v.action,
         "label": v.label, "reason": v.reason}
        for v in gr.votes_for(command, targets, view.labels)
    ]  # fmt: skip
    if _store_votes(view, rows):
        what = review.describe_decision(rows[0]["action"], rows[0]["label"], rows[0]["reason"])
        if command.kind == "class":
            what = f"class {command.value}"
        _note(f"✓ Saved: {len(rows)} cell{'s' if len(rows) > 1 else ''} · {what}")
        view.refresh()
        view.sel = gr.after_vote(view.sel, view.order, view.votes)


def _store_votes(view: _View, rows: list[dict]) -> bool:
    """Write the rows (each with its uid); keep what was not written for Retry."""
    st.session_state.pop(_CONFIRM, None)
    for i, row in enumerate(rows):
        try:
            view.store.add_vote(
                view.reviewer, row["cell_id"], row["action"], label=row["label"],
                reason=row["reason"], queue_id=view.queue.id, uid=row["uid"], batch=row["batch"],
            )  # fmt: skip
        except (InvalidVote, PermissionDenied) as exc:
            st.session_state.pop(_PENDING, None)
            session_ui.post_notice("error", f"The vote was refused: {browse.md(exc)}")
            return False
        except StoreError as exc:
            st.session_state[_PENDING] = (view.queue.id, rows[i:])
            session_ui.post_notice("error", f"Database error: {browse.md(exc)}")
            return False
    st.session_state.pop(_PENDING, None)
    session_ui.after_write()
    return True


def ask_sign_off(view: _View) -> None:
    """Open the confirmation of signing off the page (blocked while labels are hidden and
    tiles are unvoted)."""
    counts = gr.sign_off_counts(view.on_page, {c: v[0] for c, v in view.votes.items()})
    if view.hidden and counts.retain:
        session_ui.post_notice(
            "warning",
            f"Blind first read: {counts.retain} tiles have no vote yet. Vote on every tile "
            "before signing off (there is no label to keep).",
        )
        return
    st.session_state[_CONFIRM] = (view.queue.id, view.page)


def sign_off(view: _View) -> None:
    """Record 'retain' for every unvoted tile of the page, then go to the next open page."""
    st.session_state.pop(_CONFIRM, None)
    request = st.session_state.setdefault(
        f"gr_signoff:{view.queue.id}:{view.page}", str(uuid.uuid4())
    )
    try:
        written = view.store.sign_off(view.reviewer, view.queue.id, view.on_page, uid=request)
    except StoreError as exc:
        session_ui.post_notice("error", f"The page was not signed off: {browse.md(exc)}")
        return
    st.session_state.pop(f"gr_signoff:{view.queue.id}:{view.page}", None)
    session_ui.after_write()
    _note(f"✓ Signed off page {view.page + 1}: {len(written)} kept")
    voted = set(_my_votes(view.store, view.reviewer, view.cells))
    following = next((i for i, c in enumerate(view.cells) if c not in voted), None)
    if following is None:
        session_ui.post_notice("success", "Queue complete: every cell has your vote. Thank you!")
        view.refresh()
    else:
        go_page(view, following // gr.PAGE_SIZE)


def undo(view: _View) -> None:
    """Undo the reviewer's last action in the queue (a whole selection or sign-off)."""
    st.session_state.pop(_CONFIRM, None)
    try:
        undone = view.store.undo_last(view.reviewer, queue_id=view.queue.id, uid=str(uuid.uuid4()))
    except StoreError as exc:
        session_ui.post_notice("error", f"Nothing was undone: {browse.md(exc)}")
        return
    session_ui.after_write()
    if not undone:
        session_ui.post_notice("info", "Nothing to undo: you have no vote in this queue.")
        return
    rows = view.store.votes_frame(view.reviewer)
    cells = [c for c in rows.loc[rows["uid"].isin(undone), "cell_id"] if c in view.cells]
    _note(f"↶ Undone: {len(undone)} vote{'s' if len(undone) > 1 else ''}")
    if cells:
        page = view.cells.index(cells[0]) // gr.PAGE_SIZE
        if page != view.page:
            go_page(view, page)
        else:
            view.refresh()
        view.sel = gr.Selection(frozenset(c for c in cells if c in view.order), cells[0], cells[0])


def _retry(view: _View) -> None:
    pending = st.session_state.get(_PENDING)
    if pending and pending[0] == view.queue.id and _store_votes(view, pending[1]):
        _note(f"✓ Saved {len(pending[1])} votes on retry")
        view.refresh()


# --- widgets ---------------------------------------------------------------------------------


def key_bar_html() -> str:
    """The keys of gallery mode as <kbd> chips: classes, then actions, then moving (escaped)."""
    import html

    legend = gr.key_legend()
    chips = []
    for i, (key, meaning) in enumerate(legend):
        if i == 13:
            chips.append('<span class="gr-sep"></span>')
        title = CELL_TYPES.get(meaning, meaning)
        chips.append(
            f'<span title="{html.escape(title, quote=True)}"><kbd>{html.escape(key)}</kbd>'
            f"{html.escape(meaning)}</span>"
        )
    chips.append(
        '<span class="gr-sep"></span><span class="gr-help"><kbd>click</kbd>select · '
        "<kbd>shift</kbd>+click range · <kbd>ctrl</kbd>+click add · <kbd>← ↑ → ↓</kbd>move "
        "(<kbd>shift</kbd> extends) · <kbd>space</kbd>toggle · <kbd>G</kbd>whole gallery · "
        "<kbd>Esc</kbd>clear · <kbd>Enter</kbd>sign off, <kbd>Enter</kbd>confirm · "
        "<kbd>N</kbd>next page</span>"
    )
    return f'<style>{KEY_BAR_CSS}</style><div class="gr-keys">{"".join(chips)}</div>'


def gallery_page(cat: Catalog, store: Store, reviewer: Reviewer | None) -> None:
    """Choose a queue, then review it a page of galleries at a time with the keyboard."""
    session_ui.demo_banner(store)
    queues = store.list_queues()
    picker, status = st.columns([2, 3], vertical_alignment="bottom", gap="large")
    with picker:
        queue_id = review_ui.queue_picker(queues)
    if queues.empty:
        st.info("No review queue yet: an admin creates one on the Review page.")
        return
    if reviewer is None:
        st.info("Enter your name in the sidebar to start reviewing.")
        return
    if queue_id is None:
        return
    view = _View(cat, store, reviewer, store.queue(queue_id))
    if not view.cells:
        st.info("This queue has no cells.")
        return
    result = _events_component(
        key="gr_events", data={"keys": sorted(gr.KEYS)}, on_event_change=lambda: None, height=0
    )
    event = getattr(result, "event", None)
    if isinstance(event, dict):
        apply_event(view, event)
    session_ui.show_notice()
    _render(cat, view, status)


def _render(cat: Catalog, view: _View, status) -> None:
    total_voted = len(_my_votes(view.store, view.reviewer, view.cells))
    status.progress(
        total_voted / len(view.cells),
        text=f"**{total_voted:,}** of {len(view.cells):,} cells voted · page "
        f"**{view.page + 1}** of {view.pages}",
    )
    st.html(key_bar_html())
    _pending_panel(view)
    _confirm_panel(view)
    _controls(view)
    uris = _thumbs(cat, cat.fingerprint, tuple(view.on_page))
    st.html(gr.grid_html(view.groups, uris, view.sel, view.votes, THUMB_PX))


def _controls(view: _View) -> None:
    sel = view.sel
    n = len(sel.targets())
    cols = st.columns([5, 2, 2, 2, 2, 2, 3], vertical_alignment="center")
    line = st.session_state.get(_SAVED, "")
    cols[0].markdown(
        f"**{n}** selected · cursor {browse.code(sel.cursor or '-')}"
        + (f"  \n{browse.md(line)}" if line else "")
    )
    cols[1].button("Gallery · G", key="gr_all", on_click=_press, args=(view, "G"), width="stretch")
    cols[2].button(
        "Clear · Esc", key="gr_clear", on_click=_press, args=(view, "Escape"), width="stretch"
    )
    cols[3].button("Undo · Z", key="gr_undo", on_click=_press, args=(view, "Z"), width="stretch")
    cols[4].button(
        "◀ Page", key="gr_prev", on_click=go_page, args=(view, view.page - 1),
        disabled=view.page <= 0, width="stretch",
    )  # fmt: skip
    cols[5].button(
        "Page ▶ · N", key="gr_next", on_click=go_page, args=(view, view.page + 1),
        disabled=view.page >= view.pages - 1, width="stretch",
    )  # fmt: skip
    cols[6].button(
        "Sign off · ⏎", key="gr_signoff", type="primary", on_click=ask_sign_off, args=(view,),
        width="stretch", help="Keep the label of every tile on this page you have not voted on",
    )  # fmt: skip
    with st.expander("Buttons for every key (mouse)", expanded=False):
        row = st.columns(13)
        for col, code in zip(row, review.CLASS_ORDER, strict=True):
            col.button(
                code, key=f"gr_class_{code}", on_click=_press,
                args=(view, review.CLASS_KEYS[code]), help=CELL_TYPES[code], width="stretch",
            )  # fmt: skip
        row = st.columns(8)
        row[0].button("Keep", key="gr_keep", on_click=_press, args=(view, "K"), width="stretch")
        row[1].button("Unsure", key="gr_unsure", on_click=_press, args=(view, "U"), width="stretch")
        for col, (key, reason) in zip(row[2:], gr.REMOVE_KEYS.items(), strict=True):
            col.button(
                f"✗ {reason}", key=f"gr_remove_{reason}", on_click=_press, args=(view, key),
                help=f"Remove: {REMOVE_REASONS[reason]}", width="stretch",
            )  # fmt: skip


def _press(view: _View, key: str) -> None:
    """A button does what its key does."""
    apply_event(view, {"kind": "key", "key": key, "cols": 1})


def _confirm_panel(view: _View) -> None:
    if st.session_state.get(_CONFIRM) != (view.queue.id, view.page):
        return
    counts = gr.sign_off_counts(view.on_page, {c: v[0] for c, v in view.votes.items()})
    with st.container(border=True, key="gr_confirm_box"):
        st.markdown(f"**Sign off page {view.page + 1}?** {counts.describe()}")
        cols = st.columns([1, 1, 3])
        cols[0].button(
            f"Confirm: keep {counts.retain}", key="gr_confirm_yes", type="primary",
            on_click=sign_off, args=(view,), width="stretch",
        )  # fmt: skip
        cols[1].button(
            "Cancel", key="gr_confirm_no", on_click=st.session_state.pop, args=(_CONFIRM,),
            width="stretch",
        )  # fmt: skip
        cols[2].caption("Enter confirms, Esc cancels.")


def _pending_panel(view: _View) -> None:
    pending = st.session_state.get(_PENDING)
    if not pending or pending[0] != view.queue.id:
        return
    st.error(
        f"{len(pending[1])} votes were **NOT saved**: the review database did not answer. "
        "Press Retry when it is back (each is stored once, never twice).",
        icon=":material/cloud_off:",
    )
    cols = st.columns(2)
    cols[0].button("Retry saving", key="gr_retry", type="primary", on_click=_retry, args=(view,))
    cols[1].button(
        "Discard them", key="gr_discard", on_click=st.session_state.pop, args=(_PENDING,)
    )
