"""The Consensus screen: tallies, status, agreement statistics and calibration."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.data import query
from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.review import aggregation
from wbcreview.review import workflow as review
from wbcreview.ui.audit import cell_history
from wbcreview.ui.browse import thumb_uris
from wbcreview.ui.navigation import page_file
from wbcreview.ui.session import (
    after_write,
    cells_of,
    consensus_of,
    demo_banner,
    display_frame,
    post_notice,
    show_notice,
    table_height,
    who_key,
)
from wbcreview.ui.widgets import cell_images
from wbcreview.views import consensus as charts_cs
from wbcreview.views.browse import cell_key
from wbcreview.views.charts import confusion_figure
from wbcreview.workspace import Reviewer, Workspace, can

THUMB_PX = 64

# --- consensus page --------------------------------------------------------------------------


def consensus_page(ws: Workspace) -> None:
    """Tallies and status per cell with filters, and the agreement statistics and charts."""
    reviewer = ws.user
    demo_banner(ws)
    if reviewer is None:
        st.info("Enter your name in the sidebar to see the consensus.")
        return
    show_notice()
    cells = cells_of(ws)
    method, threshold = _aggregation_controls(ws)
    votes, _adjudications, table = consensus_of(ws, cells, method, threshold)
    if ws.blind and not can(reviewer, "see_all_votes"):
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

    _routing(table, method, threshold, consensus_mod.min_votes_setting())
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
    shown = review.worklist(review.filter_consensus(table, statuses, classes, teams), ())
    st.markdown(
        f"**{len(shown):,}** of {len(table):,} cells shown, disputed first (highest expected "
        "benefit of the expert's look first). Tick a row (its box on the left) to open the "
        "cell, its votes and, for adjudicators, the adjudication form."
    )
    page = _table_page(len(shown))
    rows = shown.iloc[page * PAGE_ROWS : (page + 1) * PAGE_ROWS]
    view = display_frame(rows[list(review.CONSENSUS_COLUMNS)])
    view.insert(0, "image", _thumbs(ws, tuple(rows["cell_id"])))
    table_key = f"cs_table_{page}_{len(shown)}_{method}_{threshold}"
    picked = st.dataframe(
        view,
        hide_index=True,
        width="stretch",
        height=table_height(len(view)),
        row_height=THUMB_PX + 4,
        key=table_key,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "image": st.column_config.ImageColumn("image", width="small"),
            "cell_id": st.column_config.TextColumn("cell"),
            "label": st.column_config.TextColumn("current label"),
            "original_label": st.column_config.TextColumn("original"),
            "share": st.column_config.ProgressColumn(
                "leading probability" if method not in aggregation.SHARE_METHODS else "share",
                format="percent",
                min_value=0.0,
                max_value=1.0,
            ),
            "hard_group": st.column_config.TextColumn("hard group"),
            "adjudicated_by": st.column_config.TextColumn("adjudicated by"),
        },
    )
    chosen = picked.selection.rows if picked is not None else []
    if chosen:
        _open_cell(ws, rows.iloc[chosen[0]].to_dict(), votes)
    tabs = st.tabs(
        [
            "Original vs consensus",
            "Annotator agreement",
            "Progress over time",
            "Agreement statistics and annotators",
        ]
    )
    labels = review.labels_of(cells)
    with tabs[0]:
        st.caption(
            "Rows: the original challenge label. Columns: what the final decision (agreed or "
            "adjudicated) leaves the cell with; undecided cells are counted as disputed or pending."
        )
        st.plotly_chart(
            charts_cs.original_vs_consensus_figure(review.original_vs_consensus(shown)),
            key="cs_heatmap",
        )
    with tabs[1]:
        pairs = consensus_mod.pairwise_cohen(votes, labels)
        st.caption("Cohen's kappa between annotators on the cells both voted on (two or more).")
        st.plotly_chart(
            charts_cs.kappa_figure(review.kappa_matrix(pairs, sorted(votes["reviewer"].unique()))),
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
        all_votes = ws.votes()
        st.plotly_chart(
            charts_cs.votes_over_time_figure(review.votes_over_time(all_votes, freq), freq),
            key="cs_time",
        )
    with tabs[3]:
        stats = consensus_mod.agreement(votes, labels)
        overall = stats[stats["category"] == "all"].iloc[0]
        m = st.columns(3)
        m[0].metric("Fleiss' kappa", _number(overall["fleiss_kappa"]))
        m[1].metric("Krippendorff's alpha", _number(overall["krippendorff_alpha"]))
        m[2].metric("Observed agreement", _number(overall["observed"], percent=True))
        st.plotly_chart(charts_cs.agreement_figure(stats), key="cs_agreement")
        st.dataframe(stats, hide_index=True, width="stretch")
        st.markdown("**Confusable groups** (fine labels, and with the group merged)")
        st.dataframe(
            consensus_mod.hard_group_agreement(votes, labels), hide_index=True, width="stretch"
        )
        _calibration_section(ws, votes, _adjudications, labels)
        _annotator_models(ws, cells, method)


def _calibration_section(ws: Workspace, votes, adjudications, labels) -> None:
    """Each annotator's accuracy on calibration cells, and consensus weighted by it."""
    from wbcreview.review import calibration
    from wbcreview.review import consensus as consensus_mod

    st.markdown("**Calibration cells: each annotator's accuracy** (cells with a known answer)")
    if not can(ws.user, "see_all_votes"):
        st.caption("Calibration results are shown to adjudicators and admins.")
        return
    calib = ws.calibration()
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


# --- aggregation and routing (issue 18) ------------------------------------------------------

PAGE_ROWS = 50
CURVE = (0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def _aggregation_controls(ws: Workspace) -> tuple[str, float]:
    """Method and threshold for this view; admins can make them the project's choice."""
    saved_method, saved_threshold = ws.aggregation_choice()
    cols = st.columns([3, 2, 2], vertical_alignment="bottom")
    methods = list(aggregation.METHODS)
    method = cols[0].selectbox(
        "Aggregation method",
        methods,
        index=methods.index(saved_method),
        format_func=aggregation.METHODS.get,
        key="cs_method",
        help="How the votes become a decision. Dawid-Skene, GLAD and semi-supervised estimate "
        "each annotator's confusion matrix and each cell's posterior (crowd-kit); the "
        "hard-group model also reads the current label and the hard groups (fewest cells to "
        "the expert with 3 votes a cell, see the README).",
    )
    default = saved_threshold if method == saved_method else aggregation.default_threshold(method)
    threshold = cols[1].number_input(
        "Threshold",
        min_value=0.5,
        max_value=1.0,
        value=float(max(0.5, default)),
        step=0.01,
        format="%.3f",
        key=f"cs_threshold_{method}",
        help="A cell is agreed when its leading decision's probability (majority: its share of "
        "the votes) reaches this; every other cell goes to the expert.",
    )
    if can(ws.user, "manage_queues"):
        same = (method, round(threshold, 6)) == (saved_method, round(saved_threshold, 6))
        cols[2].button(
            "Saved as the project's choice" if same else "Use for the project",
            key="cs_save_method",
            disabled=same,
            on_click=_save_choice,
            args=(ws, method, threshold),
            help="The Adjudication page, the export and Browse's status filter use the "
            "project's choice. No vote or adjudication is changed: the consensus is recomputed.",
        )
    else:
        cols[2].caption(
            f"The project uses **{aggregation.METHODS[saved_method].lower()}** at "
            f"{saved_threshold:g} (an admin chooses)."
        )
    return method, float(threshold)


def _save_choice(ws: Workspace, method: str, threshold: float) -> None:
    ws.set_aggregation(method, threshold)
    after_write()
    post_notice("success", f"The project now uses {aggregation.METHODS[method]} at {threshold:g}.")


def _routing(table: pd.DataFrame, method: str, threshold: float, min_votes: int) -> None:
    """The expected errors and the expert's load for this method and threshold."""
    r = aggregation.routing(table)
    m = st.columns(3)
    load = r["to_expert"] / r["cells"] if r["cells"] else 0.0
    m[0].metric("Expert's load (disputed cells)", f"{r['to_expert']:,} ({load:.0%})")
    m[1].metric("Expected wrong agreed decisions", f"{r['expected_wrong']:.1f}")
    acc = r["expected_accuracy"]
    m[2].metric("Expected accuracy of agreed", "—" if acc != acc else f"{acc:.1%}")
    rule = (
        "the leading decision's share of the votes"
        if method in aggregation.SHARE_METHODS
        else "the leading decision's posterior probability"
    )
    st.caption(
        f"A cell is agreed when it has at least {min_votes} votes (WBCREVIEW_MIN_VOTES) and "
        f"{rule} reaches {threshold:g}; 'unsure' never agrees. Expected wrong = the sum of "
        "(1 - probability) over agreed cells"
        + (
            ": for majority this treats the share as a probability, which it is not."
            if method in aggregation.SHARE_METHODS
            else ". With 3 votes a cell Dawid-Skene, GLAD and semi-supervised are "
            "overconfident: read their figure as a lower bound (bench-aggregation in the README)."
        )
    )
    with st.expander("Other thresholds: agreed cells, expert's load, expected errors"):
        curve = aggregation.routing_at(table, sorted({*CURVE, round(threshold, 3)}))
        st.dataframe(
            curve,
            hide_index=True,
            width="stretch",
            column_config={
                "to_expert": "to the expert",
                "expected_wrong": st.column_config.NumberColumn("expected wrong", format="%.1f"),
            },
        )


def _table_page(rows: int) -> int:
    pages = max(1, -(-rows // PAGE_ROWS))
    if pages == 1:
        return 0
    return (
        st.number_input(
            f"Page (of {pages}, {PAGE_ROWS} rows each)", 1, pages, 1, key="cs_page", width=200
        )
        - 1
    )


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _thumb_map(_cat: Workspace, fingerprint: str, cells: tuple[str, ...]) -> dict[str, str]:
    del fingerprint
    if not cells:
        return {}
    rows = query.page(
        _cat.cursor(), query.Filter(configs=("pristine",), cell_ids=cells), "image id", len(cells)
    )
    return dict(zip(rows["cell_id"].astype(str), thumb_uris(_cat, rows, THUMB_PX), strict=True))


def _thumbs(cat: Workspace, cells: tuple[str, ...]) -> list[str | None]:
    """Each cell's pristine thumbnail as a data URI (None when the copy has no such cell)."""
    found = _thumb_map(cat, cat.fingerprint, cells)
    return [found.get(c) for c in cells]


def _open_cell(ws: Workspace, row: dict, votes) -> None:
    """The picked row: its images, its votes, and the way to the Cell page and adjudication."""
    reviewer = ws.user
    cell = str(row["cell_id"])
    with st.container(border=True):
        st.markdown(
            f"**Cell `{cell}`** · {row['status']} · leading: {row['leading']} "
            f"({row['share']:.0%}) · tally: {row['tally'] or '—'}"
        )
        links = st.columns(3)
        links[0].page_link(
            page_file("Cell"),
            label="Open on the Cell page",
            icon=":material/open_in_new:",
            query_params={"cell": cell_key("pristine", cell)},
        )
        if can(reviewer, "adjudicate"):
            links[1].page_link(
                page_file("Adjudication"),
                label="Adjudicate this cell",
                icon=":material/gavel:",
                query_params={"cell": cell},
            )
        body = st.columns([3, 2])
        with body[0]:
            cell_images(ws, ws.cursor(), cell, 0.0)
        with body[1]:
            st.markdown("**Votes**")
            st.dataframe(
                review.cell_votes_table(votes[votes["cell_id"] == cell]),
                hide_index=True,
                width="stretch",
            )
            with st.expander("History"):
                cell_history(cell, ws)


@st.cache_data(ttl=60, max_entries=16, show_spinner="Estimating annotators...")
def _cached_aggregation(_ws: Workspace, url: str, who: tuple, fingerprint: str, _cells, method):
    del url, fingerprint
    return _ws.for_user(Reviewer(*who)).annotator_models(_cells, method)


def _annotator_models(ws: Workspace, cells, method: str) -> None:
    """Each annotator's estimated accuracy and confusion matrix under the method."""
    st.markdown(f"**Annotators as {aggregation.METHODS[method].lower()} sees them**")
    if not can(ws.user, "see_all_votes"):
        st.caption("Annotator estimates are shown to adjudicators and admins.")
        return
    annotators, confusion = _cached_aggregation(
        ws, ws.store_url, who_key(ws.user), ws.fingerprint, cells, method
    )
    if annotators.empty:
        st.caption("No votes yet.")
        return
    st.caption(
        "Accuracy: the expected share of an annotator's answers that are right (the mean "
        "posterior of what they voted). Heat maps: rows the estimated true outcome, columns "
        "what the annotator voted; each row sums to 100 %."
    )
    ordered = annotators.sort_values(["accuracy", "reviewer"])
    st.dataframe(
        ordered.dropna(axis=1, how="all"),
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": st.column_config.ProgressColumn(
                "estimated accuracy", format="percent", min_value=0.0, max_value=1.0
            )
        },
    )
    names = list(ordered["reviewer"])
    picked = st.multiselect(
        "Confusion matrices of",
        names,
        default=names[: min(3, len(names))],
        key="cs_confusion_of",
        help="The least accurate annotators first.",
    )
    grid = st.columns(3)
    for number, name in enumerate(picked):
        acc = float(ordered.set_index("reviewer").loc[name, "accuracy"])
        grid[number % 3].plotly_chart(
            confusion_figure(confusion[name], f"{name} · {acc:.0%}"),
            key=f"cs_confusion_{number}",
        )
