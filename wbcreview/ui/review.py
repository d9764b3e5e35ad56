"""Streamlit widgets of the review pages: who reviews, which store, the review, consensus,
adjudication and audit views.

Who reviews comes from one function, `current_reviewer()`: today it reads the name, team
and role chosen in the sidebar (kept for the session); with sign-in (issue 8) it will read
the signed-in user, and no page builds a Reviewer itself. The store enforces roles and
blind review anyway; pages only avoid offering what would be refused.

Every vote is written the moment a button (or its key) is pressed, with a uid made on the
client side: when the database is unreachable the vote is kept in the session and Retry
sends the same uid, so it can never be stored twice. The position in a queue is derived
from the store (the next cell without a vote of yours), so a reload or a restart loses
nothing. User text (names, comments, notes) is only ever shown as text.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from wbcreview import config
from wbcreview.data import images, query, source
from wbcreview.data.catalog import Catalog
from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.demo import votes as demo_votes
from wbcreview.review import workflow as review
from wbcreview.review.store import (
    REMOVE_REASONS,
    ROLES,
    InvalidVote,
    PermissionDenied,
    Reviewer,
    Store,
    StoreError,
    StoreUnavailable,
    can,
)
from wbcreview.ui import browse
from wbcreview.ui import finders as finders_ui
from wbcreview.views import browse as gallery
from wbcreview.views.browse import BrowseState

ROLE_HELP = {
    "annotator": "votes on cells; sees others' votes on a cell only after voting on it",
    "adjudicator": "also sees every vote and makes the final decisions",
    "admin": "also creates queues",
}
PAGE_FILES = {
    "review": "pages/5_Review.py",
    "consensus": "pages/6_Consensus.py",
    "adjudication": "pages/7_Adjudication.py",
    "audit": "pages/8_Audit.py",
}
IMAGE_PX = 96
_IDENTITY = "wbc_identity"  # the reviewer chosen in this session: name, team, role
_ID_KEYS = {"name": "id_name", "team": "id_team", "role": "id_role"}
_DEMO_KEY = "id_demo_store"
_DEMO_SAVED = "wbc_demo_store"
_PENDING = "rv_pending"
_NOTICE = "rv_notice"  # (kind, text) shown once on the next run
_SAVED = "rv_saved"  # the last vote acknowledged by the store


# --- who reviews ---------------------------------------------------------------------------


def identity_sidebar() -> Reviewer | None:
    """Draw name, team and role in the sidebar (kept for the session); return the reviewer.

    In server mode the signed-in user is the reviewer and nothing is drawn."""
    from wbcreview.ui.auth import signed_in_reviewer

    signed = signed_in_reviewer()
    if signed is not None:
        return signed
    ss = st.session_state
    saved = ss.setdefault(_IDENTITY, {"name": "", "team": "", "role": "annotator"})
    for field, key in _ID_KEYS.items():
        # A widget's value does not follow it to another page: set it from the saved copy
        # (a change made this run is already saved by its on_change callback).
        ss[key] = saved[field]
    with st.sidebar:
        st.subheader("Reviewer")
        st.text_input(
            "Your name",
            key=_ID_KEYS["name"],
            max_chars=80,
            placeholder="e.g. Dr A. Rossi",
            on_change=_save_identity,
        )
        st.text_input(
            "Team",
            key=_ID_KEYS["team"],
            max_chars=80,
            placeholder="optional",
            on_change=_save_identity,
        )
        st.selectbox(
            "Role",
            ROLES,
            key=_ID_KEYS["role"],
            format_func=str.capitalize,
            help="; ".join(f"{r}: {h}" for r, h in ROLE_HELP.items()),
            on_change=_save_identity,
        )
        reviewer, problem = _reviewer_from_session()
        if problem:
            st.error(_md(problem))
        elif reviewer is None:
            st.info("Enter your name to review.")
    return reviewer


def _save_identity() -> None:
    ss = st.session_state
    ss[_IDENTITY] = {field: ss.get(key) or "" for field, key in _ID_KEYS.items()}


def _reviewer_from_session() -> tuple[Reviewer | None, str | None]:
    saved = st.session_state.get(_IDENTITY) or {}
    name = (saved.get("name") or "").strip()
    if not name:
        return None, None
    try:
        return Reviewer(name, saved.get("team") or "", saved.get("role") or "annotator"), None
    except InvalidVote as exc:
        return None, f"Reviewer: {exc}"


def current_reviewer() -> Reviewer | None:
    """The reviewer of this session, or None when nobody is chosen (the one place pages ask).

    In server mode it is the signed-in user."""
    from wbcreview.ui.auth import signed_in_reviewer

    return signed_in_reviewer() or _reviewer_from_session()[0]


# --- which store -----------------------------------------------------------------------------


def store_url(src: source.DataSource | None) -> str:
    """The store this session uses: the demo store for the demo copy (unless switched off),
    else setting WBCREVIEW_DB / the default SQLite file."""
    if src is not None and src.is_demo and st.session_state.get(_DEMO_SAVED, True):
        return demo_votes.demo_store_url()
    from wbcreview.review.store import default_url

    return default_url()


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_store(url: str, blind: str) -> Store:
    del blind  # part of the key: the setting is read by Store.open
    return Store.open(url)


@st.cache_resource(show_spinner="Seeding the demo store with simulated votes...", max_entries=4)
def _seed_demo(url: str, _cat: Catalog, fingerprint: str) -> dict:
    del fingerprint
    cells = review.catalog_cells(_cat.cursor())
    return demo_votes.seed_demo_votes(url, cells, seed=0)


def open_store(src: source.DataSource | None, cat: Catalog | None = None) -> Store | None:
    """The session's decision store (one per URL and process), shown in the sidebar.

    For the demo copy a toggle (on by default) picks the separate demo store, seeded with
    simulated votes on first use (needs `cat`). None after an error, which is shown.
    """
    if src is not None and src.is_demo:
        ss = st.session_state
        ss[_DEMO_KEY] = ss.get(_DEMO_SAVED, True)
        st.sidebar.toggle(
            "Use the demo review store",
            key=_DEMO_KEY,
            on_change=lambda: ss.__setitem__(_DEMO_SAVED, ss[_DEMO_KEY]),
            help="Simulated votes from ten teams, kept apart from real reviews. Switch off "
            "to review into the real store (WBCREVIEW_DB).",
        )
    url = store_url(src)
    try:
        opened = _open_store(url, config.get("WBCREVIEW_BLIND"))
        if url == demo_votes.demo_store_url() and cat is not None and not opened.is_demo:
            _seed_demo(url, cat, cat.fingerprint)
    except StoreUnavailable as exc:
        st.error(f"The review database cannot be reached: {exc}")
        return None
    except (StoreError, config.SettingError, demo_votes.DemoVotesError) as exc:
        st.error(f"Review store: {exc}")
        return None
    try:
        demo = opened.is_demo
    except StoreError:  # the database went away after opening: the page says so elsewhere
        demo = False
    st.sidebar.caption(f"Review store: `{opened.url}`" + (" · **DEMO DATA**" if demo else ""))
    return opened


def demo_banner(store: Store) -> None:
    """Say loudly that the votes shown are simulated (on every review page)."""
    try:
        demo = store.is_demo
    except StoreError:
        return
    if demo:
        st.warning(
            "**DEMO DATA**: the votes and decisions in this store are simulated (ten teams of "
            "annotators and an expert, made for the demo copy). Switch off *Use the demo "
            "review store* in the sidebar to review for real.",
            icon=":material/science:",
        )


def _after_write() -> None:
    """Drop the cached review data: the next run reads the store again."""
    _consensus_data.clear()


def _notice(kind: str, text: str) -> None:
    st.session_state[_NOTICE] = (kind, text)


def show_notice() -> None:
    """Show (once) the message a callback left."""
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(text)


# --- cached reads ----------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _cells(_cur, fingerprint: str) -> pd.DataFrame:
    del fingerprint
    return review.catalog_cells(_cur)


@st.cache_data(ttl=30, max_entries=32, show_spinner="Computing consensus...")
def _consensus_data(_store: Store, url: str, who: tuple, fingerprint: str, _cells_frame):
    del url, fingerprint  # cache key
    viewer = Reviewer(*who)
    votes = _store.current_votes(viewer)
    adjudications = _store.current_adjudications(viewer)
    table = review.consensus_overview(votes, adjudications, _cells_frame)
    return votes, adjudications, table


def review_statuses(cat: Catalog) -> dict[str, str]:
    """cell_id -> consensus status (pending, agreed, disputed, adjudicated) of every voted
    cell in the session's store; for the Browse filter. Empty when no store is reachable."""
    reviewer = current_reviewer()
    try:
        src = source.resolve(None)
    except (source.SourceError, config.SettingError):
        return {}
    store = open_store(src, cat)
    if store is None or reviewer is None:
        return {}
    cells = _cells(cat.cursor(), cat.fingerprint)
    who = (reviewer.name, reviewer.team, reviewer.role)
    _votes, _adj, table = _consensus_data(store, store.url, who, cat.fingerprint, cells)
    return dict(zip(table["cell_id"], table["status"], strict=True))


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with missing text shown as blank instead of 'None'."""
    text = [
        c
        for c in frame.columns
        if frame[c].dtype == object and all(isinstance(v, str) for v in frame[c] if v is not None)
    ]
    return frame.assign(**{c: frame[c].map(lambda v: "" if v is None else v) for c in text})


def _table_height(rows: int, most: int = 420) -> int:
    return min(most, 35 * (rows + 1) + 3)


def _who(reviewer: Reviewer) -> tuple[str, str, str]:
    return (reviewer.name, reviewer.team, reviewer.role)


def _code(text) -> str:
    return browse.code(text)


def _md(text) -> str:
    return browse.md(text)


# --- the images of a cell --------------------------------------------------------------------


def cell_images(cat: Catalog, cur, cell_id: str, zoom: float) -> pd.DataFrame:
    """Show the cell's pristine image and its degraded copies side by side; return the rows."""
    rows = query.cell_rows(cur, cell_id)
    figures = []
    for rec in rows.to_dict("records"):
        data = browse.full_image(cat, rec)
        size = gallery.image_size(data)
        if size is None:
            continue
        kind = "Pristine" if rec["config"] == "pristine" else f"Degraded · {rec['severity']}"
        caption = f"{kind} · {rec['image_id']} · {size[0]}×{size[1]} px"
        figures.append(gallery.Figure(images.data_uri(data), caption, size[0], size[1]))
    if figures:
        st.html(gallery.compare_html(figures, zoom))
    else:
        st.error(f"No image of cell {_code(cell_id)} can be read in this copy.")
    return rows


def _zoom(key: str, default: float = 0.0) -> float:
    value = st.segmented_control(
        "Zoom",
        gallery.ZOOMS,
        key=key,
        default=default,
        required=True,
        format_func=lambda z: "Fit" if not z else f"{z:g}×",
        persist_state="session",
        label_visibility="collapsed",
    )
    return float(value or 0)


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _examples(_cur, fingerprint: str, label: str, n: int, seed: int) -> pd.DataFrame:
    del fingerprint
    rows = query.page(_cur, query.Filter(configs=("pristine",), labels=(label,)), "patient", 300)
    return gallery.atlas_examples(rows, n, seed)


def _examples_grid(cat: Catalog, cur, label: str, exclude: str, n: int = 8) -> None:
    rows = _examples(cur, cat.fingerprint, label, n + 1, 0)
    rows = rows[rows["cell_id"] != exclude].head(n)
    uris = browse.thumb_uris(cat, rows)
    tiles = [
        gallery.Tile(uri, str(r["label"]), str(r["severity"]), str(r["image_id"]), None, "pristine")
        for r, uri in zip(rows.to_dict("records"), uris, strict=True)
    ]
    st.markdown(f"**{_md(label)}** · {_md(CELL_TYPES.get(label, label))}")
    st.html(gallery.grid_html(tiles, IMAGE_PX, empty="No other cell of this class in this copy."))


# --- the review page -------------------------------------------------------------------------


def review_page(cat: Catalog, store: Store, reviewer: Reviewer | None) -> None:
    """Choose or create a queue, then review its cells one at a time."""
    cur = cat.cursor()
    demo_banner(store)
    show_notice()
    queues = store.list_queues()
    wanted = BrowseState.from_params(st.query_params.to_dict()).filter
    from_browse = bool(wanted.to_params())
    picker, status = st.columns([2, 3], vertical_alignment="bottom", gap="large")
    with picker:
        queue_id = _queue_picker(queues)
        if queue_id is not None:
            st.page_link(
                "pages/11_Gallery_review.py",
                label="Gallery mode: many cells at once, by class",
                icon=":material/grid_view:",
                query_params={"queue": str(queue_id)},
            )
    if reviewer is not None and can(reviewer, "manage_queues"):
        _new_queue(cur, store, reviewer, wanted, expanded=from_browse or queues.empty)
        _calibration_admin(cat, store, reviewer)
    elif from_browse:
        st.info(
            f"To review the Browse selection ({_md(review.describe_filter(wanted))}), an admin "
            "makes it a queue: choose the admin role in the sidebar, or ask one."
        )
    elif queues.empty:
        st.info(
            "No review queue yet: an admin creates one (from a Browse filter, a list of image ids, or the relabelled cells)."
        )
    if reviewer is None:
        st.info("Enter your name in the sidebar to start reviewing.")
        return
    if queue_id is None:
        return
    _review_queue(cat, cur, store, reviewer, store.queue(queue_id), status)


def _queue_picker(queues: pd.DataFrame) -> int | None:
    if queues.empty:
        return None
    ids = [int(i) for i in queues["id"]]
    names = dict(zip(ids, queues["name"], strict=True))
    sizes = dict(zip(ids, queues["cells"], strict=True))
    raw = st.query_params.get("queue")
    try:
        chosen = int(raw) if raw is not None else None
    except ValueError:
        chosen = None
    if raw is not None and chosen not in ids:
        st.warning(f"No queue {_code(raw)} in this store: choose one below.")
    if chosen in ids:
        st.session_state["rv_queue"] = chosen
    elif st.session_state.get("rv_queue") not in ids:
        st.session_state["rv_queue"] = ids[-1]

    def changed():
        st.query_params["queue"] = str(st.session_state["rv_queue"])

    return st.selectbox(
        "Queue",
        ids,
        key="rv_queue",
        format_func=lambda i: f"{names[i]} · {sizes[i]:,} cells",
        on_change=changed,
    )


def _calibration_admin(cat: Catalog, store: Store, admin: Reviewer) -> None:
    """Admins turn the expert's decisions into calibration cells (cells with a known answer)."""
    calibration = store.calibration_frame(admin)
    adjudications = store.current_adjudications(admin)
    labels = review.labels_of(_cells(cat.cursor(), cat.fingerprint))
    todo = review.calibration_candidates(adjudications, calibration, labels)
    with st.expander(
        f"Calibration cells ({len(calibration):,})", icon=":material/fact_check:", expanded=False
    ):
        st.caption(
            "Cells with a known answer, mixed unmarked into queues (see the share in New queue)."
        )
        if st.button(
            f"Use the expert's decisions as calibration cells ({len(todo):,} new)",
            key="rq_calibrate",
            disabled=not todo,
        ):
            try:
                for row in todo:
                    store.add_calibration(
                        admin,
                        row["cell_id"],
                        row["action"],
                        label=row["label"],
                        reason=row["reason"],
                    )
            except StoreError as exc:
                st.error(f"Not all were added: {_md(exc)}")
                return
            _after_write()
            _notice("success", f"{len(todo):,} calibration cells added.")
            st.rerun()


def _new_queue(cur, store: Store, admin: Reviewer, wanted: query.Filter, expanded: bool) -> None:
    kinds = {
        "filter": "The Browse filter",
        "import": "A list of image ids (CSV)",
        "differs": "Label differs from the original",
    }
    with st.expander("New queue", expanded=expanded, icon=":material/playlist_add:"):
        kind = st.radio(
            "Cells from",
            list(kinds),
            format_func=kinds.get,
            horizontal=True,
            key="rq_kind",
            index=0 if wanted.to_params() else 1,
        )
        detail, data, file_name = "", None, None
        if kind == "filter":
            if wanted.to_params():
                detail = review.describe_filter(wanted)
                st.markdown(f"Browse filter: **{_md(detail)}**")
            else:
                st.info(
                    "No Browse filter in this page's address. Filter the cells in Browse and "
                    "follow its link to Review, or choose another source."
                )
        elif kind == "import":
            upload = st.file_uploader(
                "CSV of image ids",
                type=["csv", "txt"],
                key="rq_file",
                help="One id per line, "
                "or a CSV with an image_id or ID column (the challenge's label files work).",
            )
            pasted = st.text_area(
                "…or paste image ids", key="rq_paste", height=90, placeholder="00173214\n00528789"
            )
            if upload is not None:
                data, file_name = upload.getvalue(), upload.name
            elif pasted.strip():
                data, file_name = pasted, "pasted list"
            detail = file_name or ""
        left, right = st.columns([3, 2])
        name = left.text_input("Queue name", key="rq_name", placeholder="named after its source")
        hide = right.checkbox(
            "Hide the current label (blind first read)",
            key="rq_hide",
            help="Reviewers pick a class without seeing the current label; it shows after they vote.",
        )
        seeded = right.checkbox(
            "Shuffle the order for each reviewer",
            key="rq_seeded",
            help="Each reviewer sees the cells in their own order (seeded by queue and name).",
        )
        share = (
            right.number_input(
                "Calibration cells mixed in (%)",
                min_value=0,
                max_value=50,
                value=0,
                step=5,
                key="rq_calibration",
                help="Cells with a known answer, mixed in unmarked; each annotator's accuracy on "
                "them shows on the Consensus page.",
            )
            / 100
        )
        if not st.button("Create queue", key="rq_create", type="primary"):
            return
        try:
            if kind == "filter":
                if not wanted.to_params():
                    raise review.ReviewError("no Browse filter: choose another source")
                cells = review.cells_for_filter(cur, wanted)
                definition = review.queue_definition(
                    kind, f=wanted, hide_label=hide, seeded_order=seeded, calibration_share=share
                )
            elif kind == "import":
                if data is None:
                    raise review.ReviewError("upload a CSV or paste image ids first")
                result = review.cells_from_ids(cur, data, file_name or "the list")
                cells = result.cell_ids
                definition = review.queue_definition(
                    kind,
                    file=file_name,
                    hide_label=hide,
                    seeded_order=seeded,
                    calibration_share=share,
                )
            else:
                cells = review.cells_differing(cur)
                definition = review.queue_definition(
                    kind, hide_label=hide, seeded_order=seeded, calibration_share=share
                )
            title = name.strip() or review.default_queue_name(kind, detail, len(cells))
            queue_id = store.create_queue(admin, title, kind, cells, definition=definition)
        except (review.ReviewError, StoreError) as exc:
            st.error(f"The queue was not created: {_md(exc)}")
            return
        _after_write()
        _notice("success", f"Queue {_code(title)} created with {len(cells):,} cells.")
        st.query_params.from_dict({"queue": str(queue_id)})
        st.rerun()


def _position_key(store: Store, queue_id: int, reviewer: Reviewer) -> str:
    return f"rv_pos:{store.url}:{queue_id}:{reviewer.name}"


def _review_queue(cat: Catalog, cur, store: Store, reviewer: Reviewer, queue, status) -> None:
    progress = store.progress(queue.id, reviewer)
    cells = progress.cells
    if not cells:
        st.info("This queue has no cells.")
        return
    mine = store.current_votes(reviewer, reviewer=reviewer.name)
    mine = mine[mine["cell_id"].isin(set(cells))]
    voted = set(mine["cell_id"])
    key = _position_key(store, queue.id, reviewer)
    if key not in st.session_state:
        start = progress.next_position
        st.session_state[key] = start if start is not None else len(cells) - 1
    position = review.clamp(st.session_state[key], len(cells))
    st.session_state[key] = position
    cell = cells[position]
    own = mine[mine["cell_id"] == cell]
    own_vote = own.iloc[-1].to_dict() if len(own) else None
    labels = _cells(cur, cat.fingerprint)
    info = labels[labels["cell_id"] == cell]
    label = str(info["label"].iloc[0]) if len(info) else None
    original = info["original_label"].iloc[0] if len(info) else None
    original = original if isinstance(original, str) else None
    hidden = bool(queue.options.get("hide_label")) and own_vote is None

    done = len(voted)
    status.progress(
        progress.share,
        text=f"**{done:,}** of {len(cells):,} cells voted · cell **{position + 1:,}** of {len(cells):,}"
        + (" · queue complete" if done == len(cells) else ""),
    )
    context = {
        "store": store,
        "reviewer": reviewer,
        "queue_id": queue.id,
        "cells": cells,
        "voted": voted,
        "position": position,
        "cell": cell,
        "label": label,
        "key": key,
    }
    left, right = st.columns([11, 9], gap="large")
    with left:
        st.markdown(f"#### Cell {_code(cell)}")
        zoom = float(st.session_state.get("rv_zoom") or 0)
        cell_images(cat, cur, cell, zoom)
        _navigation(context)
        _zoom("rv_zoom")
        _atlas_expander(cat, cur, cell, label, hidden)
    with right:
        _label_card(label, original, hidden)
        _your_vote(own_vote)
        _pending_panel(context)
        _vote_buttons(context, hidden, disabled=_PENDING in st.session_state)


def _atlas_expander(cat: Catalog, cur, cell: str, label: str | None, hidden: bool) -> None:
    with st.expander("Class atlas examples", icon=":material/menu_book:"):
        partners = review.hard_partners(label) if not hidden else []
        options = list(review.CLASS_ORDER)
        compare = st.selectbox(
            "Compare with",
            options,
            index=options.index(partners[0]) if partners else 0,
            key=f"rv_compare_{label if not hidden else 'hidden'}",
            format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
        )
        if not hidden and label in CELL_TYPES:
            _examples_grid(cat, cur, label, cell, n=6)
        _examples_grid(cat, cur, compare, cell, n=6)


def _label_card(label: str | None, original: str | None, hidden: bool) -> None:
    if hidden:
        st.markdown("##### Current label hidden")
        st.caption("Blind first read: pick the class you see. The label shows after your vote.")
        return
    name = CELL_TYPES.get(label or "", "unknown class")
    st.markdown(f"##### Current label: **{_md(label)}** · {_md(name)}")
    if original and original != label:
        st.caption(
            f"Original challenge label: **{_md(original)}** ({_md(CELL_TYPES.get(original, '?'))})"
        )


def _your_vote(vote: dict | None) -> None:
    if vote is None:
        st.caption("You have not voted on this cell.")
        return
    text = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    st.success(f"Your vote: **{_md(text)}**", icon=":material/how_to_vote:")
    if vote.get("comment"):
        st.caption("Your comment:")
        st.text(vote["comment"])


def _vote_buttons(ctx: dict, hidden: bool, disabled: bool) -> None:
    keys = review.ACTION_KEYS
    comment_key = f"rv_comment_{ctx['cell']}"
    common = {"width": "stretch", "disabled": disabled, "on_click": _cast}
    row = st.columns(3)
    if not hidden:
        row[0].button(
            "Keep label",
            key="rv_keep",
            shortcut=keys["retain"],
            type="primary",
            args=(ctx, "retain", None, comment_key),
            help="Retain the current label",
            **common,
        )
    row[1].button(
        "Unsure",
        key="rv_unsure",
        shortcut=keys["unsure"],
        args=(ctx, "unsure", None, comment_key),
        help="Cannot tell: refer to the expert",
        **common,
    )
    row[2].button(
        "Remove",
        key="rv_remove",
        shortcut=keys["remove"],
        args=(ctx, "remove", None, comment_key),
        help="Remove the cell from the dataset, for the reason chosen below",
        **common,
    )
    st.radio(
        "Remove because",
        list(REMOVE_REASONS),
        key="rv_reason",
        format_func=REMOVE_REASONS.get,
        horizontal=True,
        help="The reason stored with Remove (X). It stays chosen for the next cells.",
    )
    st.caption("Your class" if hidden else "Correct to")
    for group in review.CLASS_ROWS:
        cols = st.columns(4, gap="small")
        for col, code in zip(cols, group, strict=False):
            col.button(
                code,
                key=f"rv_class_{code}",
                shortcut=review.CLASS_KEYS[code],
                args=(ctx, "class", code, comment_key),
                help=CELL_TYPES[code],
                **common,
            )
    st.text_input(
        "Comment (optional, saved with your vote)",
        key=comment_key,
        max_chars=2000,
        placeholder="e.g. nucleus looks band-shaped",
    )


def _navigation(ctx: dict) -> None:
    keys = review.ACTION_KEYS
    position, total = ctx["position"], len(ctx["cells"])
    cols = st.columns(3)
    cols[0].button(
        "Previous",
        key="rv_prev",
        shortcut=keys["previous"],
        width="stretch",
        disabled=position <= 0,
        on_click=_go,
        args=(ctx["key"], position - 1),
    )
    cols[1].button(
        "Next",
        key="rv_next",
        shortcut=keys["next"],
        width="stretch",
        disabled=position >= total - 1,
        on_click=_go,
        args=(ctx["key"], position + 1),
    )
    cols[2].button(
        "Undo",
        key="rv_undo",
        shortcut=keys["undo"],
        width="stretch",
        on_click=_undo,
        args=(ctx,),
        help="Undo your last vote in this queue",
    )
    saved = st.session_state.get(_SAVED)
    if saved:
        st.caption(_md(saved))


def _go(key: str, position: int) -> None:
    st.session_state[key] = position


def _cast(ctx: dict, action: str, code: str | None, comment_key: str) -> None:
    """A vote button was pressed: build the vote (with a new uid) and store it."""
    label = None
    if action == "class":
        action, label = review.vote_for_class(code, ctx["label"])
    reason = (st.session_state.get("rv_reason") or "multi-cell") if action == "remove" else None
    vote = {
        "uid": str(uuid.uuid4()),
        "reviewer": ctx["reviewer"],
        "cell_id": ctx["cell"],
        "action": action,
        "label": label,
        "reason": reason,
        "comment": (st.session_state.get(comment_key) or "").strip() or None,
        "queue_id": ctx["queue_id"],
        "comment_key": comment_key,
    }
    _submit(ctx, vote)


def _submit(ctx: dict, vote: dict) -> None:
    """Store a vote; on StoreUnavailable keep it for Retry (same uid: never stored twice)."""
    store: Store = ctx["store"]
    try:
        store.add_vote(
            vote["reviewer"],
            vote["cell_id"],
            vote["action"],
            label=vote["label"],
            reason=vote["reason"],
            comment=vote["comment"],
            queue_id=vote["queue_id"],
            uid=vote["uid"],
        )
    except StoreUnavailable as exc:
        st.session_state[_PENDING] = vote
        _notice("error", f"Database error: {_md(exc)}")
        return
    except (InvalidVote, PermissionDenied) as exc:
        st.session_state.pop(_PENDING, None)
        _notice("error", f"The vote was refused: {_md(exc)}")
        return
    except StoreError as exc:
        st.session_state[_PENDING] = vote
        _notice("error", f"Database error: {_md(exc)}")
        return
    st.session_state.pop(_PENDING, None)
    st.session_state.pop(vote["comment_key"], None)
    _after_write()
    what = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    now = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
    st.session_state[_SAVED] = f"✓ Saved {now} · cell {vote['cell_id']} · {what}"
    cells, position = ctx["cells"], ctx["position"]
    here = cells.index(vote["cell_id"]) if vote["cell_id"] in cells else position
    following = review.next_unvoted(cells, ctx["voted"] | {vote["cell_id"]}, here)
    if following is None:
        _notice("success", "Queue complete: every cell has your vote. Thank you!")
        st.session_state[ctx["key"]] = here
    else:
        st.session_state[ctx["key"]] = following


def _pending_panel(ctx: dict) -> None:
    vote = st.session_state.get(_PENDING)
    if not vote:
        return
    what = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    st.error(
        f"Your vote on cell {_code(vote['cell_id'])} ({_md(what)}) was **NOT saved**: the "
        "review database did not answer. It is kept here; press Retry when the database is "
        "back (it will be stored once, never twice).",
        icon=":material/cloud_off:",
    )
    cols = st.columns(2)
    cols[0].button(
        "Retry saving the vote",
        key="rv_retry",
        type="primary",
        width="stretch",
        on_click=_retry,
        args=(ctx,),
    )
    cols[1].button(
        "Discard it",
        key="rv_discard",
        width="stretch",
        on_click=st.session_state.pop,
        args=(_PENDING,),
    )


def _retry(ctx: dict) -> None:
    vote = st.session_state.get(_PENDING)
    if vote:
        _submit(ctx, vote)


def _undo(ctx: dict) -> None:
    store: Store = ctx["store"]
    reviewer: Reviewer = ctx["reviewer"]
    try:
        undone = store.undo_last(reviewer, queue_id=ctx["queue_id"], uid=str(uuid.uuid4()))
    except StoreError as exc:
        _notice("error", f"Nothing was undone: {_md(exc)}")
        return
    _after_write()
    if not undone:
        _notice("info", "Nothing to undo: you have no vote in this queue.")
        return
    rows = store.votes_frame(reviewer)
    cells = rows.loc[rows["uid"].isin(undone), "cell_id"]
    if len(cells) and cells.iloc[0] in ctx["cells"]:
        st.session_state[ctx["key"]] = ctx["cells"].index(cells.iloc[0])
        st.session_state[_SAVED] = f"↶ Undone: your vote on cell {cells.iloc[0]}"
    _notice("info", f"Undone: {len(undone)} vote{'s' if len(undone) > 1 else ''}.")


# --- consensus page --------------------------------------------------------------------------


def consensus_page(cat: Catalog, store: Store, reviewer: Reviewer | None) -> None:
    """Tallies and status per cell with filters, and the agreement statistics and charts."""
    demo_banner(store)
    if reviewer is None:
        st.info("Enter your name in the sidebar to see the consensus.")
        return
    cur = cat.cursor()
    cells = _cells(cur, cat.fingerprint)
    votes, _adjudications, table = _consensus_data(
        store, store.url, _who(reviewer), cat.fingerprint, cells
    )
    if store.blind and not can(reviewer, "see_all_votes"):
        st.caption(
            "Blind review: as an annotator you see the cells you have voted on. Adjudicators "
            "see every cell."
        )
    counts = review.status_counts(table)
    metrics = st.columns(7)
    metrics[0].metric("Cells with votes", f"{len(table):,}")
    for col, status in zip(
        metrics[1:5], ("pending", "agreed", "disputed", "adjudicated"), strict=True
    ):
        col.metric(status.capitalize(), f"{counts[status]:,}")
    metrics[5].metric("Votes", f"{len(votes):,}")
    metrics[6].metric("Reviewers", f"{votes['reviewer'].nunique():,}")
    from wbcreview.review import consensus as consensus_mod

    st.caption(
        f"A cell is agreed when it has at least {consensus_mod.min_votes_setting()} votes and "
        f"the leading decision has {consensus_mod.quorum_setting():.0%} of them "
        "(settings WBCREVIEW_MIN_VOTES and WBCREVIEW_QUORUM); 'unsure' never agrees."
    )
    cols = st.columns(3)
    statuses = cols[0].multiselect(
        "Status", consensus_mod.STATUSES, key="cs_status", placeholder="Every status"
    )
    classes = cols[1].multiselect(
        "Class",
        CLASS_CODES,
        key="cs_class",
        placeholder="Every class",
        format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
        help="The current label, the leading decision or the final decision is this class.",
    )
    teams = cols[2].multiselect(
        "Team", review.team_names(votes), key="cs_team", placeholder="Every team"
    )
    shown = review.filter_consensus(table, statuses, classes, teams)
    st.markdown(f"**{len(shown):,}** of {len(table):,} cells shown")
    st.dataframe(
        _display(shown[list(review.CONSENSUS_COLUMNS)]),
        hide_index=True,
        width="stretch",
        height=_table_height(len(shown)),
        key="cs_table",
        column_config={
            "cell_id": st.column_config.TextColumn("cell"),
            "label": st.column_config.TextColumn("current label"),
            "original_label": st.column_config.TextColumn("original"),
            "share": st.column_config.ProgressColumn(
                "leading share", format="percent", min_value=0.0, max_value=1.0
            ),
            "hard_group": st.column_config.TextColumn("hard group"),
            "adjudicated_by": st.column_config.TextColumn("adjudicated by"),
        },
    )
    tabs = st.tabs(
        [
            "Original vs consensus",
            "Annotator agreement",
            "Progress over time",
            "Agreement statistics",
        ]
    )
    labels = review.labels_of(cells)
    with tabs[0]:
        st.caption(
            "Rows: the original challenge label. Columns: what the final decision (agreed or "
            "adjudicated) leaves the cell with; undecided cells are counted as disputed or pending."
        )
        st.plotly_chart(
            review.original_vs_consensus_figure(review.original_vs_consensus(shown)),
            key="cs_heatmap",
        )
    with tabs[1]:
        pairs = consensus_mod.pairwise_cohen(votes, labels)
        st.caption("Cohen's kappa between annotators on the cells both voted on (two or more).")
        st.plotly_chart(
            review.kappa_figure(review.kappa_matrix(pairs, sorted(votes["reviewer"].unique()))),
            key="cs_kappa",
        )
        st.markdown("**Each reviewer's agreement with the final decisions**")
        with_final = consensus_mod.agreement_with_final(votes, table, labels)
        st.dataframe(
            with_final,
            hide_index=True,
            width="stretch",
            column_config={
                "share": st.column_config.ProgressColumn(
                    "agreement", format="percent", min_value=0.0, max_value=1.0
                )
            },
        )
    with tabs[2]:
        freq = st.segmented_control(
            "Step", ["hour", "day"], default="day", key="cs_freq", required=True
        )
        all_votes = store.votes_frame(reviewer)
        st.plotly_chart(
            review.votes_over_time_figure(review.votes_over_time(all_votes, freq), freq),
            key="cs_time",
        )
    with tabs[3]:
        stats = consensus_mod.agreement(votes, labels)
        overall = stats[stats["category"] == "all"].iloc[0]
        m = st.columns(3)
        m[0].metric("Fleiss' kappa", _number(overall["fleiss_kappa"]))
        m[1].metric("Krippendorff's alpha", _number(overall["krippendorff_alpha"]))
        m[2].metric("Observed agreement", _number(overall["observed"], percent=True))
        st.plotly_chart(review.agreement_figure(stats), key="cs_agreement")
        st.dataframe(stats, hide_index=True, width="stretch")
        st.markdown("**Confusable groups** (fine labels, and with the group merged)")
        st.dataframe(
            consensus_mod.hard_group_agreement(votes, labels), hide_index=True, width="stretch"
        )
        _calibration_section(store, reviewer, votes, _adjudications, labels)


def _calibration_section(store: Store, reviewer: Reviewer, votes, adjudications, labels) -> None:
    """Each annotator's accuracy on calibration cells, and consensus weighted by it."""
    from wbcreview.review import calibration
    from wbcreview.review import consensus as consensus_mod

    st.markdown("**Calibration cells: each annotator's accuracy** (cells with a known answer)")
    if not can(reviewer, "see_all_votes"):
        st.caption("Calibration results are shown to adjudicators and admins.")
        return
    calib = store.calibration_frame(reviewer)
    if calib.empty:
        st.caption("No calibration cells yet: an admin marks cells with a known answer.")
        return
    acc = calibration.accuracy(votes, calib, labels)
    st.dataframe(calibration.accuracy_overall(acc), hide_index=True, width="stretch")
    st.dataframe(calibration.accuracy_by_class(acc), width="stretch")
    weights = calibration.weights_for("calibration", votes, calib, labels)
    if weights:
        plain = consensus_mod.consensus_table(votes, adjudications, labels)
        weighted = consensus_mod.consensus_table(votes, adjudications, labels, weights=weights)
        compare = (
            pd.DataFrame(
                {
                    rule: table["status"].value_counts()
                    for rule, table in (
                        (calibration.RULES["majority"], plain),
                        (calibration.RULES["calibration"], weighted),
                    )
                }
            )
            .fillna(0)
            .astype(int)
        )
        st.markdown("**Cells per status under each consensus rule**")
        st.dataframe(compare, width="stretch")


def _number(value, percent: bool = False) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value:.0%}" if percent else f"{value:.3f}"


# --- adjudication page -----------------------------------------------------------------------


def adjudication_page(cat: Catalog, store: Store, reviewer: Reviewer | None) -> None:
    """The expert's worklist: disputed cells first, every vote and comment, the decision."""
    demo_banner(store)
    show_notice()
    if reviewer is None:
        st.info("Enter your name in the sidebar, with the adjudicator role, to adjudicate.")
        return
    if not can(reviewer, "adjudicate"):
        st.error(
            f"Adjudication is for the adjudicator and admin roles: {_md(reviewer.name)} reviews "
            f"as **{reviewer.role}**. Annotators vote on the Review page; an adjudicator makes "
            "the final decisions here.",
            icon=":material/lock:",
        )
        return
    cur = cat.cursor()
    cells = _cells(cur, cat.fingerprint)
    votes, _adjudications, table = _consensus_data(
        store, store.url, _who(reviewer), cat.fingerprint, cells
    )
    counts = review.status_counts(table)
    st.markdown(
        f"**{counts['disputed']:,}** disputed · **{counts['agreed']:,}** agreed, not yet "
        f"accepted · {counts['adjudicated']:,} adjudicated · {counts['pending']:,} pending"
    )
    cols = st.columns([2, 2, 2])
    from wbcreview.review import consensus as consensus_mod

    statuses = cols[0].multiselect(
        "Status",
        consensus_mod.STATUSES,
        default=["disputed", "agreed"],
        key="aj_status",
        help="Disputed cells come first (disagreements inside a confusable group first), then agreed ones.",
    )
    classes = cols[1].multiselect(
        "Class",
        CLASS_CODES,
        key="aj_class",
        placeholder="Every class",
        format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
    )
    teams = cols[2].multiselect(
        "Team", review.team_names(votes), key="aj_team", placeholder="Every team"
    )
    shown = review.worklist(review.filter_consensus(table, (), classes, teams), statuses)
    _bulk_accept(store, reviewer, shown)
    if shown.empty:
        st.info("No cell matches these filters.")
        return
    ids = list(shown["cell_id"])
    current = st.session_state.get("aj_cell")
    if current not in ids:
        current = ids[0]
        st.session_state["aj_cell"] = current
    position = ids.index(current)
    # A fixed label: an expander whose label changes is a new one, and would close.
    with st.expander("Worklist: disputed cells first", icon=":material/format_list_numbered:"):
        st.caption(
            f"{len(ids):,} cells; cell {position + 1:,} is open. Click a row to open another; "
            "← / → step through the list."
        )
        view = shown[["cell_id", "status", "hard_group", "label", "tally", "share", "votes"]]
        # A key per list: a selection made in an older list must not point into this one.
        list_key = f"aj_list_{len(ids)}_{'-'.join(statuses)}_{'-'.join(classes)}"
        st.dataframe(
            _display(view),
            hide_index=True,
            width="stretch",
            height=_table_height(len(view), 250),
            key=list_key,
            on_select=functools.partial(_pick_row, list_key, ids),
            selection_mode="single-row",
            column_config={
                "cell_id": "cell",
                "hard_group": "hard group",
                "label": "current",
                "share": st.column_config.ProgressColumn(
                    "lead", format="percent", min_value=0.0, max_value=1.0
                ),
            },
        )
    row = shown.iloc[position].to_dict()
    _adjudicate_cell(cat, cur, store, reviewer, row, ids, position)


def _pick_row(key: str, ids: list[str]) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        st.session_state["aj_cell"] = ids[rows[0]]


def _adjudicate_cell(cat, cur, store: Store, expert: Reviewer, row: dict, ids, position: int):
    cell = row["cell_id"]
    nav = st.columns([4, 1, 1], vertical_alignment="center")
    nav[0].markdown(f"#### Cell {_code(cell)}")
    nav[1].button(
        "Previous",
        key="aj_prev",
        shortcut="ArrowLeft",
        disabled=position == 0,
        width="stretch",
        on_click=st.session_state.__setitem__,
        args=("aj_cell", ids[max(position - 1, 0)]),
    )
    nav[2].button(
        "Next",
        key="aj_next",
        shortcut="ArrowRight",
        disabled=position >= len(ids) - 1,
        width="stretch",
        on_click=st.session_state.__setitem__,
        args=("aj_cell", ids[min(position + 1, len(ids) - 1)]),
    )
    label = row.get("label")
    original = row.get("original_label")
    st.markdown(
        f"**{_md(row['status'])}**"
        + (f" · hard group **{_md(row['hard_group'])}**" if row.get("hard_group") else "")
        + f" · current label **{_md(label)}** · {_md(CELL_TYPES.get(label or '', 'unknown class'))}"
        + (
            f" · original challenge label **{_md(original)}**"
            if original and original != label
            else ""
        )
    )
    left, right = st.columns([1, 1], gap="large")
    with left:
        zoom = float(st.session_state.get("aj_zoom", 1.0) or 0)
        cell_images(cat, cur, cell, zoom)
        _zoom("aj_zoom", 1.0)
        finders_ui.lookalikes(cat, cell)
    with right:
        votes = store.votes_for_cell(cell, expert)
        st.markdown(f"**Votes** ({len(votes)}) · tally {_md(row.get('tally') or '—')}")
        st.dataframe(review.cell_votes_table(votes), hide_index=True, width="stretch")
        if row.get("final"):
            by = row.get("adjudicated_by")
            st.info(
                f"Final decision: **{_md(row['final'])}**"
                + (f" by {_md(by)}" if by else " (agreed consensus, not yet accepted)")
            )
        if row["status"] == "adjudicated":
            _undo_decision(store, expert, cell)
        _decision_form(store, expert, row, ids, position)


def _undo_decision(store: Store, expert: Reviewer, cell: str) -> None:
    current = store.current_adjudications(expert)
    current = current[current["cell_id"] == cell]
    if current.empty:
        return
    if st.button(
        "Undo this decision",
        key="aj_undo",
        help="The cell's previous decision, if any, becomes current again; nothing is deleted.",
    ):
        try:
            store.undo_adjudication(expert, current["uid"].iloc[-1], uid=str(uuid.uuid4()))
        except StoreError as exc:
            st.error(f"Nothing was undone: {_md(exc)}")
            return
        _after_write()
        _notice("info", f"Decision on cell {_code(cell)} undone.")
        st.rerun()


def _decision_form(store: Store, expert: Reviewer, row: dict, ids, position: int) -> None:
    cell = row["cell_id"]
    label = row.get("label")
    lead = row.get("action")
    default = lead if lead in ("retain", "correct", "remove") else "retain"
    with st.container(border=True):
        st.markdown("**Your decision** (applies to the cell and its degraded copies)")
        action = st.segmented_control(
            "Decision",
            ["retain", "correct", "remove"],
            default=default,
            required=True,
            key=f"aj_action_{cell}",
            format_func=lambda a: {
                "retain": f"Retain {label}",
                "correct": "Correct to…",
                "remove": "Remove",
            }[a],
            label_visibility="collapsed",
        )
        new_label, reason = None, None
        if action == "correct":
            lead_label = row.get("leading_label")
            choices = [c for c in review.CLASS_ORDER if c != label]
            new_label = st.selectbox(
                "Correct to",
                choices,
                index=choices.index(lead_label) if lead_label in choices else 0,
                key=f"aj_label_{cell}",
                format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
            )
        elif action == "remove":
            reasons = list(REMOVE_REASONS)
            lead_reason = row.get("reason")
            reason = st.selectbox(
                "Reason",
                reasons,
                index=reasons.index(lead_reason) if lead_reason in reasons else 0,
                key=f"aj_reason_{cell}",
                format_func=REMOVE_REASONS.get,
            )
        note = st.text_input("Note (optional)", key=f"aj_note_{cell}", max_chars=2000)
        if st.button("Record decision", key="aj_decide", type="primary", shortcut="Ctrl+Enter"):
            uid_key = f"aj_uid_{cell}_{action}_{new_label}_{reason}"
            uid = st.session_state.setdefault(uid_key, str(uuid.uuid4()))
            try:
                store.adjudicate(
                    expert, cell, action, label=new_label, reason=reason, note=note or None, uid=uid
                )
            except StoreError as exc:
                st.error(f"The decision was NOT saved: {_md(exc)}")
                return
            st.session_state.pop(uid_key, None)
            _after_write()
            following = ids[position + 1] if position + 1 < len(ids) else None
            if following:
                st.session_state["aj_cell"] = following
            what = review.describe_decision(action, new_label, reason)
            _notice("success", f"Decision saved for cell {_code(cell)}: {_md(what)}.")
            st.rerun()


def _bulk_accept(store: Store, expert: Reviewer, shown: pd.DataFrame) -> None:
    decisions = review.acceptable(shown)
    if decisions.empty:
        return
    confirm = st.session_state.get("aj_confirm")
    title = "Accept agreed consensus decisions in one step"
    with st.expander(title, expanded=bool(confirm), icon=":material/done_all:"):
        top = st.columns([4, 2], vertical_alignment="center")
        top[0].markdown(
            f"**{len(decisions):,}** agreed cells in this list have no final decision yet. "
            "Accept their consensus decisions in one step?"
        )
        if not confirm:
            top[1].button(
                f"Accept {len(decisions):,} agreed decisions…",
                key="aj_accept",
                width="stretch",
                on_click=st.session_state.__setitem__,
                args=("aj_confirm", str(uuid.uuid4())),
            )
            return
        st.markdown("**Please confirm**: these decisions will be recorded as final:")
        st.dataframe(review.decision_counts(decisions), hide_index=True, width="stretch")
        note = st.text_input(
            "Note (optional)", key="aj_accept_note", placeholder="e.g. accepted after spot checks"
        )
        cols = st.columns(2)
        if cols[0].button(
            f"Confirm: accept {len(decisions):,} decisions", key="aj_accept_confirm", type="primary"
        ):
            try:
                added = store.accept_consensus(decisions, expert, note=note or None, uid=confirm)
            except StoreError as exc:
                st.error(
                    f"Nothing was accepted: {_md(exc)}. Confirm again to retry (no double entries)."
                )
                return
            st.session_state.pop("aj_confirm", None)
            _after_write()
            _notice("success", f"Accepted {len(added):,} agreed decisions.")
            st.rerun()
        cols[1].button(
            "Cancel", key="aj_accept_cancel", on_click=st.session_state.pop, args=("aj_confirm",)
        )


# --- audit page ------------------------------------------------------------------------------


def audit_page(store: Store, reviewer: Reviewer | None) -> None:
    """Every vote and adjudication, with filters, and the history of one cell."""
    demo_banner(store)
    if reviewer is None:
        st.info("Enter your name in the sidebar to see the audit log.")
        return
    log = review.audit_log(store.votes_frame(reviewer), store.adjudications_frame(reviewer))
    if store.blind and not can(reviewer, "see_all_votes"):
        st.caption(
            "Blind review: as an annotator you see your own rows and the cells you voted on."
        )
    if log.empty:
        st.info("Nothing recorded yet.")
        return
    cols = st.columns(4)
    who = cols[0].multiselect(
        "Reviewer", sorted(log["who"].unique()), key="au_who", placeholder="Anyone"
    )
    teams = cols[1].multiselect(
        "Team", sorted({t for t in log["team"] if t}), key="au_team", placeholder="Every team"
    )
    actions = cols[2].multiselect(
        "Action", sorted(log["action"].unique()), key="au_action", placeholder="Every action"
    )
    kinds = cols[3].multiselect(
        "Kind", ["vote", "adjudication"], key="au_kind", placeholder="Votes and adjudications"
    )
    cols = st.columns([2, 2, 4])
    cell = cols[0].text_input("Cell id starts with", key="au_cell")
    first = log["created_at"].min().date()
    last = log["created_at"].max().date()
    days = cols[1].date_input(
        "Between (UTC days)", value=(first, last), key="au_days", format="YYYY-MM-DD"
    )
    start, end = (days + (None, None))[:2] if isinstance(days, tuple) else (days, None)
    shown = review.filter_audit(
        log, who=who, teams=teams, actions=actions, kinds=kinds, cell=cell, start=start, end=end
    )
    st.markdown(f"**{len(shown):,}** of {len(log):,} rows")
    st.dataframe(
        _display(shown),
        hide_index=True,
        width="stretch",
        height=_table_height(len(shown)),
        column_config={
            "created_at": st.column_config.DatetimeColumn(
                "when (UTC)", format="YYYY-MM-DD HH:mm:ss"
            ),
            "cell_id": "cell",
            "text": "comment / note",
        },
    )
    st.subheader("History of one cell")
    cells = list(dict.fromkeys(shown["cell_id"]))
    default = cell.strip() if cell and cell.strip() in set(log["cell_id"]) else None
    picked = st.selectbox(
        "Cell",
        cells,
        index=cells.index(default) if default in cells else (0 if cells else None),
        key="au_history_cell",
        placeholder="Choose a cell",
    )
    if picked:
        cell_history(picked, store=store, viewer=reviewer)


def cell_history(cell_id: str, store: Store | None = None, viewer: Reviewer | None = None) -> None:
    """Show every vote and adjudication of a cell, undo rows included, oldest first.

    For the Cell page: with no `store` the session's store is used, and the viewer is the
    session's reviewer (blind review applies: an annotator sees a cell's history after
    voting on it).
    """
    if store is None:
        try:
            src = source.resolve(None)
        except (source.SourceError, config.SettingError):
            src = None
        store = open_store(src)
        if store is None:
            return
    viewer = viewer or current_reviewer()
    if viewer is None and store.blind:
        st.caption("Choose who you are on a review page to see this cell's review history.")
        return
    try:
        history = store.history(cell_id, viewer)
    except PermissionDenied as exc:
        st.info(f"{_md(exc)}.")
        return
    except StoreError as exc:
        st.error(f"The history could not be read: {_md(exc)}")
        return
    if history.empty:
        st.caption(f"No vote or decision on cell {_code(cell_id)} yet.")
        return
    st.dataframe(review.history_table(history), hide_index=True, width="stretch")
