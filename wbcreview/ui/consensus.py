"""The Consensus screen: tallies, status, agreement statistics and calibration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.data.catalog import Catalog
from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.review import workflow as review
from wbcreview.review.store import (
    Reviewer,
    Store,
    can,
)
from wbcreview.ui.session import (
    cached_cells,
    cached_consensus,
    demo_banner,
    display_frame,
    table_height,
    who_key,
)

# --- consensus page --------------------------------------------------------------------------


def consensus_page(cat: Catalog, store: Store, reviewer: Reviewer | None) -> None:
    """Tallies and status per cell with filters, and the agreement statistics and charts."""
    demo_banner(store)
    if reviewer is None:
        st.info("Enter your name in the sidebar to see the consensus.")
        return
    cur = cat.cursor()
    cells = cached_cells(cur, cat.fingerprint)
    votes, _adjudications, table = cached_consensus(
        store, store.url, who_key(reviewer), cat.fingerprint, cells
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
        display_frame(shown[list(review.CONSENSUS_COLUMNS)]),
        hide_index=True,
        width="stretch",
        height=table_height(len(shown)),
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
