"""The Review screen: a queue one cell at a time, a key for every decision.

The cells, their images and every key live in the review loop component
(ui/review_loop.py): a decision is painted at once in the browser and sent as an event with
its own id, stored exactly once and acknowledged; the loop runs in an `st.fragment`, so a
vote reruns only that. The position in a queue is derived from the store (the first cell
without a vote of yours), so a reload or a restart loses nothing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.data import query
from wbcreview.data.release import CELL_TYPES
from wbcreview.review import workflow as review
from wbcreview.ui import review_loop
from wbcreview.ui.navigation import page_file
from wbcreview.ui.session import (
    after_write,
    as_code,
    as_md,
    cells_of,
    demo_banner,
    post_notice,
    show_notice,
)
from wbcreview.ui.widgets import examples_grid
from wbcreview.views.browse import BrowseState
from wbcreview.workspace import StoreError, Workspace, can

_QUEUE = "wbc_queue"  # the queue chosen on either review screen, kept for the session

# --- the review page -------------------------------------------------------------------------


def review_page(ws: Workspace) -> None:
    """Choose or create a queue, then review its cells one at a time (as `ws.user`)."""
    reviewer = ws.user
    demo_banner(ws)
    show_notice()
    queues = ws.queues()
    wanted = BrowseState.from_params(st.query_params.to_dict()).filter
    from_browse = bool(wanted.to_params())
    picker, status = st.columns([2, 3], vertical_alignment="bottom", gap="large")
    with picker:
        queue_id = queue_picker(queues)
        if queue_id is not None:
            st.page_link(
                page_file("Gallery_review"),
                label="Gallery mode: many cells at once, by class",
                icon=":material/grid_view:",
                query_params={"queue": str(queue_id)},
            )
    if reviewer is not None and can(reviewer, "manage_queues"):
        if from_browse or queues.empty:
            _new_queue(ws, wanted, expanded=True)
            _calibration_admin(ws)
        else:
            # Closed, the admin's two tools share one line: the cell stays above the fold at
            # 1366x768 (one under the other they pushed half of its images below it).
            tools = st.columns(2)
            with tools[0]:
                _new_queue(ws, wanted, expanded=False)
            with tools[1]:
                _calibration_admin(ws)
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
    _review_queue(ws, ws.queue(queue_id), status)


def queue_picker(queues: pd.DataFrame) -> int | None:
    """The queue selectbox of both review screens: the URL's queue, else the session's."""
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
    ss = st.session_state
    if chosen in ids:
        ss["rv_queue"] = chosen
    elif ss.get(_QUEUE) in ids:  # the queue of the other review screen (a sidebar link)
        ss["rv_queue"] = ss[_QUEUE]
    elif ss.get("rv_queue") not in ids:
        ss["rv_queue"] = ids[-1]
    ss[_QUEUE] = ss["rv_queue"]
    if raw != str(ss["rv_queue"]):
        st.query_params["queue"] = str(ss["rv_queue"])  # a reload keeps the queue

    def changed():
        ss[_QUEUE] = ss["rv_queue"]
        st.query_params["queue"] = str(ss["rv_queue"])

    return st.selectbox(
        "Queue",
        ids,
        key="rv_queue",
        format_func=lambda i: f"{names[i]} · {sizes[i]:,} cells",
        on_change=changed,
    )


def _calibration_admin(ws: Workspace) -> None:
    """Admins turn the expert's decisions into calibration cells (cells with a known answer)."""
    calibration = ws.calibration()
    todo = ws.calibration_candidates(cells_of(ws))
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
                ws.add_calibration(todo)
            except StoreError as exc:
                st.error(f"Not all were added: {as_md(exc)}")
                return
            after_write()
            post_notice("success", f"{len(todo):,} calibration cells added.")
            st.rerun()


def _new_queue(ws: Workspace, wanted: query.Filter, expanded: bool) -> None:
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
        options = {"hide_label": hide, "seeded_order": seeded, "calibration_share": share}
        try:
            if kind == "filter":
                made = ws.queue_from_filter(wanted, name, **options)
            elif kind == "import":
                if data is None:
                    raise review.ReviewError("upload a CSV or paste image ids first")
                made = ws.queue_from_ids(data, file_name or "the list", name, **options)
            else:
                made = ws.queue_of_differing(name, **options)
        except (review.ReviewError, StoreError) as exc:
            st.error(f"The queue was not created: {as_md(exc)}")
            return
        after_write()
        post_notice("success", f"Queue {as_code(made.title)} created with {made.cells:,} cells.")
        st.query_params.from_dict({"queue": str(made.id)})
        st.rerun()


def _review_queue(ws: Workspace, queue, status) -> None:
    cells = ws.queue_cells(queue)
    if not cells:
        st.info("This queue has no cells.")
        return
    hidden = bool(queue.options.get("hide_label"))
    status.caption(
        f"**{len(cells):,}** cells · one key per decision, stored as you type; a reload or "
        "a lost connection keeps every decision not yet saved and sends it again"
        + (" · blind first read: the label shows after your vote" if hidden else "")
    )
    frame = cells_of(ws)
    labels = review_loop.catalog_labels(ws, frame)
    original = review_loop.original_labels(ws, frame)
    _loop(ws, queue, cells, labels, original)
    _atlas_expander(ws)


@st.fragment
def _loop(ws, queue, cells, labels, original) -> None:
    """The review loop; a decision reruns only this fragment."""
    review_loop.show(
        ws, queue, cells, labels, review_loop.SINGLE,
        original=original, after_write=after_write,
    )  # fmt: skip


def _atlas_expander(ws: Workspace) -> None:
    cur = ws.cursor()
    with st.expander("Class atlas examples", icon=":material/menu_book:"):
        options = list(review.CLASS_ORDER)
        left, right = st.columns(2)
        first = left.selectbox(
            "Class", options, key="rv_atlas_a", format_func=lambda c: f"{c} · {CELL_TYPES[c]}"
        )
        second = right.selectbox(
            "Compare with",
            options,
            index=options.index((review.hard_partners(first) or [options[1]])[0]),
            key=f"rv_atlas_b_{first}",
            format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
        )
        with left:
            examples_grid(ws, cur, first, "", n=6)
        with right:
            examples_grid(ws, cur, second, "", n=6)
