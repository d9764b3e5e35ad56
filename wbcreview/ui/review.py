"""The Review screen: a queue one cell at a time, a key for every decision.

Every vote is written the moment a button (or its key) is pressed, with a uid made on the
client side: when the database is unreachable the vote is kept in the session and Retry
sends the same uid, so it can never be stored twice. The position in a queue is derived
from the store (the next cell without a vote of yours), so a reload or a restart loses
nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from wbcreview.data import query
from wbcreview.data.catalog import Catalog
from wbcreview.data.release import CELL_TYPES
from wbcreview.review import workflow as review
from wbcreview.review.store import (
    REMOVE_REASONS,
    InvalidVote,
    PermissionDenied,
    Reviewer,
    Store,
    StoreError,
    StoreUnavailable,
    can,
)
from wbcreview.ui.session import (
    PENDING,
    SAVED,
    after_write,
    as_code,
    as_md,
    cached_cells,
    demo_banner,
    post_notice,
    show_notice,
)
from wbcreview.ui.widgets import cell_images, examples_grid, zoom_control
from wbcreview.views.browse import BrowseState

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
        queue_id = queue_picker(queues)
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
            f"To review the Browse selection ({as_md(review.describe_filter(wanted))}), an admin "
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


def queue_picker(queues: pd.DataFrame) -> int | None:
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
        st.warning(f"No queue {as_code(raw)} in this store: choose one below.")
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
    labels = review.labels_of(cached_cells(cat.cursor(), cat.fingerprint))
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
                st.error(f"Not all were added: {as_md(exc)}")
                return
            after_write()
            post_notice("success", f"{len(todo):,} calibration cells added.")
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
                st.markdown(f"Browse filter: **{as_md(detail)}**")
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
            st.error(f"The queue was not created: {as_md(exc)}")
            return
        after_write()
        post_notice("success", f"Queue {as_code(title)} created with {len(cells):,} cells.")
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
    labels = cached_cells(cur, cat.fingerprint)
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
        st.markdown(f"#### Cell {as_code(cell)}")
        zoom = float(st.session_state.get("rv_zoom") or 0)
        cell_images(cat, cur, cell, zoom)
        _navigation(context)
        zoom_control("rv_zoom")
        _atlas_expander(cat, cur, cell, label, hidden)
    with right:
        _label_card(label, original, hidden)
        _your_vote(own_vote)
        _pending_panel(context)
        _vote_buttons(context, hidden, disabled=PENDING in st.session_state)


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
            examples_grid(cat, cur, label, cell, n=6)
        examples_grid(cat, cur, compare, cell, n=6)


def _label_card(label: str | None, original: str | None, hidden: bool) -> None:
    if hidden:
        st.markdown("##### Current label hidden")
        st.caption("Blind first read: pick the class you see. The label shows after your vote.")
        return
    name = CELL_TYPES.get(label or "", "unknown class")
    st.markdown(f"##### Current label: **{as_md(label)}** · {as_md(name)}")
    if original and original != label:
        st.caption(
            f"Original challenge label: **{as_md(original)}** ({as_md(CELL_TYPES.get(original, '?'))})"
        )


def _your_vote(vote: dict | None) -> None:
    if vote is None:
        st.caption("You have not voted on this cell.")
        return
    text = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    st.success(f"Your vote: **{as_md(text)}**", icon=":material/how_to_vote:")
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
    saved = st.session_state.get(SAVED)
    if saved:
        st.caption(as_md(saved))


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
        st.session_state[PENDING] = vote
        post_notice("error", f"Database error: {as_md(exc)}")
        return
    except (InvalidVote, PermissionDenied) as exc:
        st.session_state.pop(PENDING, None)
        post_notice("error", f"The vote was refused: {as_md(exc)}")
        return
    except StoreError as exc:
        st.session_state[PENDING] = vote
        post_notice("error", f"Database error: {as_md(exc)}")
        return
    st.session_state.pop(PENDING, None)
    st.session_state.pop(vote["comment_key"], None)
    after_write()
    what = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    now = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
    st.session_state[SAVED] = f"✓ Saved {now} · cell {vote['cell_id']} · {what}"
    cells, position = ctx["cells"], ctx["position"]
    here = cells.index(vote["cell_id"]) if vote["cell_id"] in cells else position
    following = review.next_unvoted(cells, ctx["voted"] | {vote["cell_id"]}, here)
    if following is None:
        post_notice("success", "Queue complete: every cell has your vote. Thank you!")
        st.session_state[ctx["key"]] = here
    else:
        st.session_state[ctx["key"]] = following


def _pending_panel(ctx: dict) -> None:
    vote = st.session_state.get(PENDING)
    if not vote:
        return
    what = review.describe_decision(vote["action"], vote["label"], vote["reason"])
    st.error(
        f"Your vote on cell {as_code(vote['cell_id'])} ({as_md(what)}) was **NOT saved**: the "
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
        args=(PENDING,),
    )


def _retry(ctx: dict) -> None:
    vote = st.session_state.get(PENDING)
    if vote:
        _submit(ctx, vote)


def _undo(ctx: dict) -> None:
    store: Store = ctx["store"]
    reviewer: Reviewer = ctx["reviewer"]
    try:
        undone = store.undo_last(reviewer, queue_id=ctx["queue_id"], uid=str(uuid.uuid4()))
    except StoreError as exc:
        post_notice("error", f"Nothing was undone: {as_md(exc)}")
        return
    after_write()
    if not undone:
        post_notice("info", "Nothing to undo: you have no vote in this queue.")
        return
    rows = store.votes_frame(reviewer)
    cells = rows.loc[rows["uid"].isin(undone), "cell_id"]
    if len(cells) and cells.iloc[0] in ctx["cells"]:
        st.session_state[ctx["key"]] = ctx["cells"].index(cells.iloc[0])
        st.session_state[SAVED] = f"↶ Undone: your vote on cell {cells.iloc[0]}"
    post_notice("info", f"Undone: {len(undone)} vote{'s' if len(undone) > 1 else ''}.")
