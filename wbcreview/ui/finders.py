"""Streamlit widgets of the finders: the Duplicates and Image quality pages.

Everything computed comes from wbcreview.triage.duplicates and quality; this
module draws, caches per copy state, shows progress bars and turns errors into messages.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview import ui
from wbcreview.errors import WbcreviewError
from wbcreview.triage import duplicates, quality
from wbcreview.ui import lookalikes
from wbcreview.ui import session as session_ui
from wbcreview.ui.text import md as _md
from wbcreview.workspace import Workspace, can

GROUPS_SHOWN = 30
TABLE_ROWS = 1000


# --- cached reads ----------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _pairs(_ws: Workspace, key: str, similarity: float) -> pd.DataFrame:
    del key
    return _ws.duplicates(ui.reader(), min_similarity=similarity)


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _quality(_ws: Workspace, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    del key
    return _ws.unusable(ui.reader())


def _scan_button(ws: Workspace, key: str) -> bool:
    """Offer the scan of the copy when it is not cached; True once the signatures exist."""
    if ws.scanned():
        return True
    st.info(
        "The images of this copy have not been scanned yet. The scan decodes every pristine "
        "image once (about 5 ms an image on 2 cores) and is kept beside the catalog: later "
        "visits are instant."
    )
    if not st.button("Scan the images", key=key, type="primary", icon=":material/search:"):
        return False
    bar, progress = lookalikes.progress_bar("Starting...")
    try:
        ws.scan(ui.reader(), progress)
    except WbcreviewError as exc:
        bar.empty()
        st.error(f"The scan failed: {_md(exc)}")
        return False
    bar.empty()
    return True


def _can_queue(ws: Workspace) -> bool:
    reviewer = ws.user
    if not ws.has_store:
        st.info("The review store is not available (see the message above).")
        return False
    if reviewer is None or not can(reviewer, "manage_queues"):
        st.caption(
            "Making a queue needs the admin role: enter your name and choose *Admin* in the "
            "sidebar."
        )
        return False
    return True


def _queued(kind: str) -> None:
    session_ui.queue_made(f"fd_last_queue_{kind}")


# --- the Duplicates page ---------------------------------------------------------------------


def duplicates_page(ws: Workspace) -> None:
    """Duplicate groups with their pairs side by side, leakage first; one click to queue."""
    if not _scan_button(ws, "fd_scan_dup"):
        return
    with st.expander("Settings", expanded=False):
        similarity = st.slider(
            "Least fine-thumbnail correlation of a near duplicate",
            0.5,
            1.0,
            duplicates.MIN_SIMILARITY,
            0.01,
            key="fd_similarity",
            help="Candidates (nearest neighbours by 16 x 16 thumbnails) are near duplicates "
            "from this correlation of their high-pass 40 x 40 thumbnails on.",
        )
    with st.spinner("Finding duplicates..."):
        pairs = _pairs(ws, ws.scan_key(), float(similarity))
    counts = duplicates.summary(pairs)
    cols = st.columns(5)
    cols[0].metric("Duplicate pairs", f"{counts['pairs']:,}")
    cols[1].metric("Groups", f"{counts['groups']:,}")
    cols[2].metric("Across splits (leakage)", f"{counts['split']:,}")
    cols[3].metric("Two patients", f"{counts['patient']:,}")
    cols[4].metric("Two labels", f"{counts['label']:,}")
    st.caption(
        f"{counts['exact']:,} exact (same decoded pixels), {counts['near']:,} near (resized, "
        "re-encoded, cropped or colour-shifted). Each cell is compared by its pristine image; "
        "a degraded row is never reported against its own source."
    )
    if pairs.empty:
        st.success("No duplicate found.")
        return
    only = st.segmented_control(
        "Show",
        ["all", "split", "label", "patient"],
        default="all",
        required=True,
        key="fd_only",
        format_func=lambda k: {
            "all": "All groups",
            "split": "Leakage (split)",
            "label": "Two labels",
            "patient": "Two patients",
        }[k],  # fmt: skip
    )
    shown = pairs if only == "all" else pairs[pairs["crosses"].str.contains(only)]
    groups = list(dict.fromkeys(shown["group"]))
    allowed = _can_queue(ws)
    _queued("dup")
    if (
        allowed
        and len(groups) > 1
        and st.button(
            f"Queue all {len(groups):,} groups shown",
            key="fd_queue_all",
            icon=":material/playlist_add:",
        )
    ):
        _make_dup_queue(ws, pairs, groups)
    for g in groups[:GROUPS_SHOWN]:
        _group(ws, pairs, g, allowed)
    if len(groups) > GROUPS_SHOWN:
        st.caption(f"The first {GROUPS_SHOWN} of {len(groups):,} groups; all are in the table.")
    st.subheader("Every pair")
    st.dataframe(shown.head(TABLE_ROWS), hide_index=True, width="stretch", height=320)
    st.download_button(
        "Download the pairs (CSV)",
        pairs.to_csv(index=False),
        file_name="duplicates.csv",
        mime="text/csv",
        key="fd_download",
    )


def _make_dup_queue(ws: Workspace, pairs, groups) -> None:
    try:
        made = ws.queue_of_duplicates(pairs, groups)
    except WbcreviewError as exc:
        st.error(f"The queue was not made: {_md(exc)}")
        return
    st.session_state["fd_last_queue_dup"] = (made.id, made.title)
    st.rerun()


def _group(ws: Workspace, pairs: pd.DataFrame, group: int, allowed: bool) -> None:
    rows = pairs[pairs["group"] == group]
    what = sorted({w for c in rows["crosses"] for w in c.split(",") if w})
    cells = duplicates.group_cells(pairs, group)
    remove = duplicates.copy_to_remove(pairs, group)
    with st.container(border=True):
        head, button = st.columns([4, 1], vertical_alignment="center")
        head.markdown(
            f"**Group {group}** · {len(cells)} cells · "
            + (f"crosses **{', '.join(what)}**" if what else "same split, patient and label")
            + " · "
            + ", ".join(f"{k} {v}" for k, v in rows["kind"].value_counts().items())
        )
        if allowed and button.button(
            "Queue for review", key=f"fd_queue_{group}", icon=":material/playlist_add:"
        ):
            _make_dup_queue(ws, pairs, [group])
        notes = {}
        for c in cells:
            split = (
                rows.loc[rows["cell_a"] == c, "split_a"].tolist()
                + rows.loc[rows["cell_b"] == c, "split_b"].tolist()
            )
            notes[c] = (split[0] if split else "") + (" · remove?" if c in remove else " · keep")
        st.html(lookalikes.cell_tiles(ws, cells, notes))
        first = rows.iloc[0]
        st.caption(
            f"First pair: {first['kind']}, fine-thumbnail correlation "
            f"{float(first['similarity']):.3f}, pHash distance {int(first['phash_distance'])} "
            "of 64 bits."
        )


# --- the Image quality page ------------------------------------------------------------------


def quality_page(ws: Workspace) -> None:
    """The checks with their counts and thresholds, the ranked flagged images, a queue."""
    if not _scan_button(ws, "fd_scan_q"):
        return
    with st.spinner("Scoring the images..."):
        table, found = _quality(ws, ws.scan_key())
    counts = found["check"].value_counts() if len(found) else pd.Series(dtype=int)
    st.dataframe(
        pd.DataFrame(
            {
                "check": list(quality.CHECKS),
                "flagged": [int(counts.get(n, 0)) for n in quality.CHECKS],
                "threshold": [round(c.threshold, 3) for c in quality.CHECKS.values()],
                "means": [c.help for c in quality.CHECKS.values()],
                "remove reason": [c.reason for c in quality.CHECKS.values()],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        f"{len(table):,} pristine images scored. Blurry, dark, light and low information are "
        "robust z-scores against this copy's own images; the others are shares and ratios."
    )
    chosen = st.multiselect(
        "Checks", list(quality.CHECKS), default=[c for c in quality.CHECKS if counts.get(c, 0)],
        key="fd_checks",
    )  # fmt: skip
    shown = found[found["check"].isin(chosen)]
    cells = quality.per_cell(shown)
    if cells.empty:
        st.success("No image flagged by the chosen checks.")
        return
    st.markdown(f"**{len(cells):,}** images flagged, worst first:")
    top = cells.head(48)
    notes = {c: f"{w} ×{s:.1f}" for c, w, s in zip(top["cell_id"], top["worst"], top["severity"],
                                                     strict=True)}  # fmt: skip
    st.html(lookalikes.cell_tiles(ws, list(top["cell_id"]), notes))
    st.dataframe(shown.head(TABLE_ROWS), hide_index=True, width="stretch", height=300)
    st.download_button(
        "Download the flags (CSV)",
        shown.to_csv(index=False),
        file_name="unusable.csv",
        mime="text/csv",
        key="fd_q_download",
    )
    st.subheader("Review queue")
    _queued("q")
    if not _can_queue(ws):
        return
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    k = left.number_input("Worst k images", 1, len(cells), min(50, len(cells)), key="fd_q_topk")
    right.caption(
        "Each queued cell carries the suggested action *remove* with the reason of its worst "
        "check (multi-cell, not-classable or low-quality)."
    )
    if st.button(f"Make a review queue of the worst {int(k):,}", key="fd_q_make", type="primary",
                 icon=":material/playlist_add:"):  # fmt: skip
        try:
            made = ws.queue_of_unusable(shown, int(k))
        except WbcreviewError as exc:
            st.error(f"The queue was not made: {_md(exc)}")
            return
        st.session_state["fd_last_queue_q"] = (made.id, made.title)
        st.rerun()


# --- look-alikes -----------------------------------------------------------------------------
