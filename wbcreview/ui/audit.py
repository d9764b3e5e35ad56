"""The Audit screen: every vote and adjudication, and one cell's history."""

from __future__ import annotations

import streamlit as st

from wbcreview import config
from wbcreview.data import source
from wbcreview.review import workflow as review
from wbcreview.ui.session import (
    as_code,
    as_md,
    current_reviewer,
    demo_banner,
    display_frame,
    open_store,
    table_height,
)
from wbcreview.workspace import PermissionDenied, StoreError, Workspace, can

# --- audit page ------------------------------------------------------------------------------


def audit_page(ws: Workspace) -> None:
    """Every vote and adjudication, with filters, and the history of one cell."""
    reviewer = ws.user
    demo_banner(ws)
    if reviewer is None:
        st.info("Enter your name in the sidebar to see the audit log.")
        return
    log = ws.audit_log()
    if ws.blind and not can(reviewer, "see_all_votes"):
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
        display_frame(shown),
        hide_index=True,
        width="stretch",
        height=table_height(len(shown)),
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
        cell_history(picked, ws)


def cell_history(cell_id: str, ws: Workspace | None = None) -> None:
    """Show every vote and adjudication of a cell, undo rows included, oldest first, as
    `ws.user` may see them.

    For the Cell page (no workspace, or one without a store): the session's store is
    opened, and the viewer is the session's reviewer (blind review applies: an annotator
    sees a cell's history after voting on it).
    """
    if ws is None:
        try:
            ws = Workspace(source.resolve(None))
        except (source.SourceError, config.SettingError):
            return
    if not ws.has_store:
        ws = open_store(ws, ws.user or current_reviewer())
        if ws is None:
            return
    if ws.user is None and ws.blind:
        st.caption("Choose who you are on a review page to see this cell's review history.")
        return
    try:
        history = ws.history(cell_id)
    except PermissionDenied as exc:
        st.info(f"{as_md(exc)}.")
        return
    except StoreError as exc:
        st.error(f"The history could not be read: {as_md(exc)}")
        return
    if history.empty:
        st.caption(f"No vote or decision on cell {as_code(cell_id)} yet.")
        return
    st.dataframe(review.history_table(history), hide_index=True, width="stretch")
