"""The Adjudication screen: disputed cells first, the final decision with a note, undo."""

from __future__ import annotations

import functools
import uuid

import pandas as pd
import streamlit as st

from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.review import aggregation
from wbcreview.review import workflow as review
from wbcreview.ui import lookalikes
from wbcreview.ui.session import (
    after_write,
    as_code,
    as_md,
    cells_of,
    consensus_of,
    demo_banner,
    display_frame,
    post_notice,
    show_notice,
    table_height,
)
from wbcreview.ui.widgets import cell_images, zoom_control
from wbcreview.workspace import REMOVE_REASONS, StoreError, Workspace, can

# --- adjudication page -----------------------------------------------------------------------


def adjudication_page(ws: Workspace) -> None:
    """The expert's worklist: disputed cells first, every vote and comment, the decision."""
    reviewer = ws.user
    demo_banner(ws)
    show_notice()
    if reviewer is None:
        st.info("Enter your name in the sidebar, with the adjudicator role, to adjudicate.")
        return
    if not can(reviewer, "adjudicate"):
        st.error(
            f"Adjudication is for the adjudicator and admin roles: {as_md(reviewer.name)} reviews "
            f"as **{reviewer.role}**. Annotators vote on the Review page; an adjudicator makes "
            "the final decisions here.",
            icon=":material/lock:",
        )
        return
    votes, _adjudications, table = consensus_of(ws, cells_of(ws))
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
    _bulk_accept(ws, shown)
    if shown.empty:
        st.info("No cell matches these filters.")
        return
    ids = list(shown["cell_id"])
    asked = st.query_params.get("cell")  # from a Consensus row: open that cell once
    if asked:
        del st.query_params["cell"]
        if asked in ids:
            st.session_state["aj_cell"] = asked
        else:
            st.warning(f"Cell {as_code(asked)} is not in this list (its status or filters).")
    current = st.session_state.get("aj_cell")
    if current not in ids:
        current = ids[0]
        st.session_state["aj_cell"] = current
    position = ids.index(current)
    # A fixed label: an expander whose label changes is a new one, and would close.
    with st.expander("Worklist: disputed cells first", icon=":material/format_list_numbered:"):
        st.caption(
            f"{len(ids):,} cells; cell {position + 1:,} is open. Tick a row's box (left) to "
            "open another; ← / → step through the list."
        )
        view = shown[["cell_id", "status", "hard_group", "label", "tally", "share", "votes"]]
        # A key per list: a selection made in an older list must not point into this one.
        list_key = f"aj_list_{len(ids)}_{'-'.join(statuses)}_{'-'.join(classes)}"
        st.dataframe(
            display_frame(view),
            hide_index=True,
            width="stretch",
            height=table_height(len(view), 250),
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
    _adjudicate_cell(ws, row, ids, position)


def _pick_row(key: str, ids: list[str]) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        st.session_state["aj_cell"] = ids[rows[0]]


def _adjudicate_cell(ws: Workspace, row: dict, ids, position: int):
    cell = row["cell_id"]
    nav = st.columns([4, 1, 1], vertical_alignment="center")
    nav[0].markdown(f"#### Cell {as_code(cell)}")
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
        f"**{as_md(row['status'])}**"
        + (f" · hard group **{as_md(row['hard_group'])}**" if row.get("hard_group") else "")
        + f" · current label **{as_md(label)}** · {as_md(CELL_TYPES.get(label or '', 'unknown class'))}"
        + (
            f" · original challenge label **{as_md(original)}**"
            if original and original != label
            else ""
        )
    )
    left, right = st.columns([1, 1], gap="large")
    with left:
        zoom = float(st.session_state.get("aj_zoom", 0.0) or 0)  # Fit: the whole image shows
        cell_images(ws, ws.cursor(), cell, zoom)
        zoom_control("aj_zoom", 0.0)
        lookalikes.lookalikes(ws, cell)
    with right:
        votes = ws.votes_for_cell(cell)
        st.markdown(f"**Votes** ({len(votes)}) · tally {as_md(row.get('tally') or '—')}")
        st.dataframe(review.cell_votes_table(votes), hide_index=True, width="stretch")
        if row.get("final"):
            by = row.get("adjudicated_by")
            st.info(
                f"Final decision: **{as_md(row['final'])}**"
                + (f" by {as_md(by)}" if by else " (agreed consensus, not yet accepted)")
            )
        if row["status"] == "adjudicated":
            _undo_decision(ws, cell)
        _decision_form(ws, row, ids, position)


def _undo_decision(ws: Workspace, cell: str) -> None:
    current = ws.current_adjudications()
    if not (current["cell_id"] == cell).any():
        return
    if st.button(
        "Undo this decision",
        key="aj_undo",
        help="The cell's previous decision, if any, becomes current again; nothing is deleted.",
    ):
        try:
            ws.undo_adjudication(cell, uid=str(uuid.uuid4()))
        except StoreError as exc:
            st.error(f"Nothing was undone: {as_md(exc)}")
            return
        after_write()
        post_notice("info", f"Decision on cell {as_code(cell)} undone.")
        st.rerun()


def _decision_form(ws: Workspace, row: dict, ids, position: int) -> None:
    cell = row["cell_id"]
    label = row.get("label")
    default = review.adjudication_default(row)
    with st.container(border=True):
        st.markdown("**Your decision** (applies to the cell and its degraded copies)")
        if default is None:
            st.caption(
                "The votes are split with no majority: nothing is pre-selected. Choose the "
                "decision yourself."
            )
        action = st.segmented_control(
            "Decision",
            ["retain", "correct", "remove"],
            default=default[0] if default else None,
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
            lead_label = default[1] if default else None
            choices = [c for c in review.CLASS_ORDER if c != label]
            new_label = st.selectbox(
                "Correct to",
                choices,
                index=choices.index(lead_label) if lead_label in choices else None,
                placeholder="Choose the class",
                key=f"aj_label_{cell}",
                format_func=lambda c: f"{c} · {CELL_TYPES[c]}",
            )
        elif action == "remove":
            reasons = list(REMOVE_REASONS)
            lead_reason = default[2] if default else None
            reason = st.selectbox(
                "Reason",
                reasons,
                index=reasons.index(lead_reason) if lead_reason in reasons else None,
                placeholder="Choose the reason",
                key=f"aj_reason_{cell}",
                format_func=REMOVE_REASONS.get,
            )
        note = st.text_input("Note (optional)", key=f"aj_note_{cell}", max_chars=2000)
        if st.button("Record decision", key="aj_decide", type="primary", shortcut="Ctrl+Enter"):
            missing = review.missing_choice(action, new_label, reason)
            if missing:
                st.warning(f"Nothing was recorded: {missing}", icon=":material/touch_app:")
                return
            uid_key = f"aj_uid_{cell}_{action}_{new_label}_{reason}"
            uid = st.session_state.setdefault(uid_key, str(uuid.uuid4()))
            try:
                ws.adjudicate(
                    cell, action, label=new_label, reason=reason, note=note or None, uid=uid
                )
            except StoreError as exc:
                st.error(f"The decision was NOT saved: {as_md(exc)}")
                return
            st.session_state.pop(uid_key, None)
            after_write()
            following = ids[position + 1] if position + 1 < len(ids) else None
            if following:
                st.session_state["aj_cell"] = following
            what = review.describe_decision(action, new_label, reason)
            post_notice("success", f"Decision saved for cell {as_code(cell)}: {as_md(what)}.")
            st.rerun()


def _bulk_accept(ws: Workspace, shown: pd.DataFrame) -> None:
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
                if "method" in shown.columns and len(shown):  # what agreed them, for the export
                    first = shown.iloc[0]
                    note = aggregation.accept_note(first["method"], first["threshold"], note)
                added = ws.accept_consensus(decisions, note=note or None, uid=confirm)
            except StoreError as exc:
                st.error(
                    f"Nothing was accepted: {as_md(exc)}. Confirm again to retry (no double entries)."
                )
                return
            st.session_state.pop("aj_confirm", None)
            after_write()
            post_notice("success", f"Accepted {len(added):,} agreed decisions.")
            st.rerun()
        cols[1].button(
            "Cancel", key="aj_accept_cancel", on_click=st.session_state.pop, args=("aj_confirm",)
        )
