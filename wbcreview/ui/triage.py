"""Streamlit widgets of the Triage and Scores pages: prediction files (import, baseline),
the suspect ranking and its one-click review queue, and scores before and after curation.

Everything computed comes from wbcreview.triage.predictions, baseline, triage and scores; this
module only draws, caches and turns their errors into messages. Who acts and which
decision store is used come from wbcreview.ui.review (the review pages' sidebar).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview import ui
from wbcreview.curation import export as decisions
from wbcreview.data.release import CLASS_CODES
from wbcreview.triage import baseline, features, predictions, scores
from wbcreview.triage import ranking as triage
from wbcreview.ui import browse
from wbcreview.ui import session as session_ui
from wbcreview.ui.navigation import page_file
from wbcreview.ui.suspects import _ranking, _stamp, suspect_ranking  # noqa: F401 (pages)
from wbcreview.views import browse as gallery
from wbcreview.workspace import PermissionDenied, Reviewer, StoreError, Workspace, can

TOP_TILES = 24
TABLE_ROWS = 1000
MAX_PROBLEMS_SHOWN = 1000
_NOTICE = "tr_notice"  # the Triage page's own slot (see session.post_notice)


def _notice(kind: str, text: str) -> None:
    session_ui.post_notice(kind, text, _NOTICE)


def show_notice() -> None:
    """Show (once) the message a callback or a finished action left."""
    session_ui.show_notice(_NOTICE)


# --- cached reads ----------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=8, show_spinner="Scoring the prediction files...")
def _scores(_ws: Workspace, fingerprint: str, names: tuple, stamp, decided: pd.DataFrame):
    del fingerprint, stamp
    return _ws.scores(list(names), decided)


@st.cache_data(
    ttl=600, max_entries=8, show_spinner="Finding the decisions that moved the scores..."
)
def _movers(_ws: Workspace, fingerprint: str, name: str, stamp, decided: pd.DataFrame):
    del fingerprint, stamp
    return _ws.score_movers(name, decided)


@st.cache_data(ttl=30, max_entries=8, show_spinner="Reading the final decisions...")
def _decisions(_ws: Workspace, url: str, fingerprint: str, who: tuple) -> pd.DataFrame:
    del url, fingerprint
    return _ws.for_user(Reviewer(*who)).final_decisions()


def _clear() -> None:
    _ranking.clear()
    _scores.clear()
    _movers.clear()


# --- prediction files ------------------------------------------------------------------------


def prediction_files(ws: Workspace) -> list[predictions.PredictionInfo]:
    """List the stored prediction files; offer the import and the baseline. Returns them."""
    show_notice()
    infos = ws.prediction_files()
    st.subheader("Prediction files")
    pairs = _pairs(ws.cursor(), ws.fingerprint)
    if infos:
        st.dataframe(
            pd.DataFrame(
                {
                    "name": [i.name for i in infos],
                    "kind": [i.kind for i in infos],
                    "rows": [i.rows for i in infos],
                    "covers": [_covers(i.covers, pairs) for i in infos],
                    "source": [i.source for i in infos],
                    "stored (UTC)": [i.created_at for i in infos],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info(
            "No prediction file yet. Run the built-in baseline (no model needed), or import "
            "a model's predictions."
        )
    reviewer = session_ui.current_reviewer()
    may_run, may_import = (
        reviewer is not None and can(reviewer, action)
        for action in ("run_baseline", "import_predictions")
    )
    if not (may_run or may_import):
        st.caption("Running the baseline and importing predictions need the admin role.")
        return infos
    left, right = st.columns(2, gap="large")
    if may_run:
        with left, st.container(border=True):
            _baseline_form(ws, has_baseline=any(i.name == baseline.BASELINE_NAME for i in infos))
    if may_import:
        with right, st.container(border=True):
            _import_form(ws)
    return infos


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _pairs(_cur, fingerprint: str) -> tuple[str, ...]:
    del fingerprint
    rows = _cur.execute("SELECT DISTINCT config, split FROM cells ORDER BY 1, 2").fetchall()
    return tuple(f"{c}/{s}" for c, s in rows)


def _covers(covers: tuple[str, ...], pairs: tuple[str, ...]) -> str:
    """`every row` for a file that covers the whole copy, else its config/split pairs."""
    if set(pairs) <= set(covers):
        return f"every row ({len(pairs)} config/split pairs)"
    return ", ".join(covers)


def _baseline_form(ws: Workspace, has_baseline: bool) -> None:
    st.markdown("**Built-in baseline**")
    st.caption(
        "Colour and texture features of every image, a logistic regression, out-of-fold "
        "probabilities from cross-validation grouped by patient. Features are cached: a "
        "second run takes seconds."
    )
    label = "Run the baseline again" if has_baseline else "Run the baseline"
    if not st.button(label, key="tr_baseline", type="secondary" if has_baseline else "primary"):
        return
    who = session_ui.still_allowed("run_baseline")
    if who is None:
        return
    bar = st.progress(0.0, text="Starting...")
    try:
        result = ws.for_user(who).run_baseline(
            reader=ui.reader(),
            progress=lambda d, t, m: bar.progress(min(d / t, 1.0) if t else 1.0, text=m),
        )
    except (
        baseline.BaselineError,
        features.FeatureError,
        predictions.PredictionsError,
        PermissionDenied,
    ) as exc:
        bar.empty()
        st.error(f"The baseline could not run: {exc}")
        return
    bar.empty()
    _clear()
    _notice("success", f"Baseline stored: {result}")
    st.rerun()


def _import_form(ws: Workspace) -> None:
    st.markdown("**Import predictions**")
    upload = st.file_uploader(
        "CSV or parquet",
        type=["csv", "parquet", "pq", "txt"],
        key="tr_upload",
        help="image_id (or ID, e.g. 01416766.jpg) and either label / labels or one "
        f"probability column per class ({', '.join(CLASS_CODES)}). Every row of each "
        "config and split the file touches must be there.",
    )
    name = st.text_input(
        "Prediction name",
        key="tr_name",
        max_chars=80,
        placeholder="e.g. resnet50 (re-using a name replaces)",
    )
    if not st.button("Import", key="tr_import", disabled=upload is None):
        return
    who = session_ui.still_allowed("import_predictions")
    if who is None:
        return
    try:
        info = ws.for_user(who).import_predictions(upload.getvalue(), name, filename=upload.name)
    except predictions.PredictionsError as exc:
        problems = exc.problems
        st.error(
            f"Nothing imported: {len(problems):,} problem(s) in {browse.md(upload.name)}."
            if len(problems) > 1
            else f"Nothing imported: {browse.md(exc)}"
        )
        if len(problems) > 1:
            shown = problems[:MAX_PROBLEMS_SHOWN]
            st.code(
                "\n".join(shown),
                language=None,
                wrap_lines=True,
                height=min(320, 24 * len(shown) + 30),
            )
            if len(problems) > MAX_PROBLEMS_SHOWN:
                st.download_button(
                    f"Download all {len(problems):,} problems",
                    "\n".join(problems),
                    file_name="problems.txt",
                    key="tr_problems",
                )
        return
    _clear()
    _notice("success", f"Imported {info.describe()}")
    st.rerun()


# --- the ranking -----------------------------------------------------------------------------


def ranking_section(ws: Workspace, infos: list[predictions.PredictionInfo]) -> None:
    """Choose files and method, show the most suspect cells, offer the review queue.

    Draws nothing before a prediction file exists (the section above says how to make one).
    """
    if not infos:
        return
    st.subheader("Suspect ranking")
    names = [i.name for i in infos]
    left, right = st.columns([3, 2])
    default = [baseline.BASELINE_NAME] if baseline.BASELINE_NAME in names else names[:1]
    chosen = left.multiselect(
        "Prediction files",
        names,
        default=default,
        key="tr_files",
        help="Several files: cleanlab's ensemble score, over the cells they all cover.",
    )
    method = right.selectbox(
        "Score",
        list(triage.METHODS),
        key="tr_method",
        format_func=lambda m: f"{m.replace('_', ' ')}: {triage.METHODS[m]}",
    )
    if not chosen:
        st.info("Choose at least one prediction file.")
        return
    try:
        table = suspect_ranking(ws, chosen, method)
    except (triage.TriageError, predictions.PredictionsError) as exc:
        st.error(f"No ranking: {browse.md(exc)}")
        return
    if table is None or table.empty:
        st.info("No cell to rank.")
        return
    disagree = int((table["suggested_label"] != table["given_label"]).sum())
    st.markdown(
        f"**{len(table):,}** labelled cells ranked, lowest label-quality score first; the "
        f"models' best class differs from the label for **{disagree:,}** of them."
    )
    _top_tiles(ws, table)
    _table(table)
    _queue_form(table, ws)


@st.cache_data(ttl=600, max_entries=16, show_spinner=False)
def _pristine_rows(_cur, fingerprint: str, cell_ids: tuple[str, ...]) -> pd.DataFrame:
    del fingerprint
    frame = _cur.execute(
        "SELECT config, split, image_id, label, severity, cell_id, shard_id, row, img_offset, "
        "img_length FROM cells WHERE config = 'pristine' AND list_contains(?, image_id)",
        [list(cell_ids)],
    ).df()
    return frame.set_index("image_id").reindex(list(cell_ids)).dropna(subset=["config"])


def _top_tiles(ws: Workspace, table: pd.DataFrame) -> None:
    top = table.head(TOP_TILES)
    rows = _pristine_rows(ws.cursor(), ws.fingerprint, tuple(top["cell_id"])).reset_index()
    if rows.empty:
        return
    suggested = dict(zip(top["cell_id"], top["suggested_label"], strict=True))
    rank = dict(zip(top["cell_id"], top["rank"], strict=True))
    notes = {
        gallery.cell_key("pristine", c): (
            f"#{rank[c]} · model: {suggested[c]}"
            if suggested[c] != label
            else f"#{rank[c]} · low confidence"
        )
        for c, label in zip(rows["image_id"], rows["label"], strict=True)
    }
    uris = browse.thumb_uris(ws, rows)
    tiles = gallery.tiles_from_rows(rows, uris, notes=notes)
    st.caption(f"The {len(tiles)} most suspect cells (open one to see it at full size):")
    st.html(gallery.grid_html(tiles, img_px=112))


def _table(table: pd.DataFrame) -> None:
    shown = table.head(TABLE_ROWS).copy()
    shown.insert(
        2,
        "open",
        [gallery.href(gallery.CELL_PAGE, {"cell": f"pristine:{c}"}) for c in shown["cell_id"]],
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height=380,
        key="tr_table",
        column_order=[
            "rank",
            "cell_id",
            "open",
            "given_label",
            "suggested_label",
            "score",
            "given_probability",
            "suggested_probability",
            "split",
            "patient_hash",
        ],  # fmt: skip
        column_config={
            "rank": st.column_config.NumberColumn("rank", help="1 = most suspect", width="small"),
            "cell_id": st.column_config.TextColumn("cell (image id)"),
            "open": st.column_config.LinkColumn("open", display_text="Cell ↗", width="small"),
            "given_label": st.column_config.TextColumn("label", help="the cell's current label"),
            "suggested_label": st.column_config.TextColumn(
                "model says", help="class with the highest (mean) probability"
            ),
            "score": st.column_config.NumberColumn(
                "score", format="%.4f", help="cleanlab label quality: low = likely wrong"
            ),
            "given_probability": st.column_config.ProgressColumn(
                "p(label)", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "suggested_probability": st.column_config.ProgressColumn(
                "p(model's class)", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "patient_hash": st.column_config.TextColumn("patient"),
        },
    )
    caption = "Click a column header to sort."
    if len(table) > TABLE_ROWS:
        caption += f" The table shows the first {TABLE_ROWS:,} of {len(table):,} cells."
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.caption(caption)
    right.download_button(
        "Download the ranking (CSV)",
        table.to_csv(index=False),
        file_name="suspects.csv",
        mime="text/csv",
        key="tr_download",
    )


def _queue_form(table: pd.DataFrame, ws: Workspace) -> None:
    st.subheader("Review queue from the top of the ranking")
    reviewer = ws.user
    if not ws.has_store:
        st.info("The review store is not available (see the message above).")
        return
    left, mid, right = st.columns([1, 3, 2], vertical_alignment="bottom")
    k = left.number_input(
        "Top k cells",
        min_value=1,
        max_value=len(table),
        value=min(50, len(table)),
        step=10,
        key="tr_topk",
    )
    name = mid.text_input(
        "Queue name",
        key="tr_qname",
        max_chars=120,
        placeholder=triage.default_queue_name(table, int(k)),
    )
    skip = right.checkbox(
        "Leave out cells already decided",
        value=True,
        key="tr_skip",
        help="Cells with a final decision (adjudicated) are not queued again.",
    )
    allowed = reviewer is not None and can(reviewer, "manage_queues")
    if not allowed:
        st.caption(
            "Making a queue needs the admin role: enter your name and choose *Admin* in the "
            "sidebar."
        )
    if not st.button(
        f"Make a review queue of the top {int(k):,}",
        key="tr_make_queue",
        type="primary",
        disabled=not allowed,
        icon=":material/playlist_add:",
    ):
        _last_queue()
        return
    try:
        made = ws.queue_of_suspects(table, int(k), name, skip=skip)
    except (triage.TriageError, StoreError, PermissionDenied) as exc:
        st.error(f"The queue was not made: {browse.md(exc)}")
        return
    st.session_state["tr_last_queue"] = (made.id, made.title)
    _last_queue()


def _last_queue() -> None:
    session_ui.queue_made("tr_last_queue")


# --- scores ----------------------------------------------------------------------------------


def scores_page(ws: Workspace) -> None:
    """Scores of every prediction file before and after the curation, side by side."""
    infos = ws.prediction_files()
    if not infos:
        st.info("No prediction file yet: run the baseline or import one on the Triage page.")
        st.page_link(page_file("Triage"), label="Triage", icon=":material/troubleshoot:")
        return
    names = [i.name for i in infos]
    viewer = session_ui.page_viewer()
    decided = _decisions(ws, ws.store_url, ws.fingerprint, session_ui.who_key(viewer))
    st.markdown(
        f"Final decisions in the store: **{browse.md(decisions.summary_line(decided))}**. "
        "*Original*: the copy's labels; *curated*: with those decisions applied (removed "
        "cells dropped)."
    )
    top = st.columns([3, 1, 2])
    chosen = top[0].multiselect("Prediction files", names, default=names, key="sc_files")
    kind = top[1].selectbox(
        "Rows",
        scores.GROUP_KINDS,
        key="sc_kind",
        format_func=lambda k: f"by {k}" if k != "all" else "all",
    )
    if not chosen:
        st.info("Choose at least one prediction file.")
        return
    stamp = _stamp(ws, tuple(chosen))
    summary, classes = _scores(ws, ws.fingerprint, tuple(chosen), stamp, decided)
    groups = sorted(summary.loc[summary["kind"] == kind, "group"].unique())
    group = top[2].selectbox("Group", groups, key="sc_group") if kind != "all" else "all"
    if group is None:
        return
    st.subheader("Before and after")
    st.plotly_chart(scores.metrics_figure(summary, kind, group), width="stretch")
    table = scores.compare(summary, kind, group)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
                       if c.endswith(("original", "curated", "change")) and not c.startswith("rows")},
    )  # fmt: skip
    st.caption(
        "Ranked as the challenge ranks: macro-F1, then balanced accuracy, macro precision, "
        "macro specificity. Macro averages run over the classes present in the rows scored."
    )
    one = st.selectbox("Prediction file for the details", chosen, key="sc_one")
    st.subheader("F1 per class")
    st.plotly_chart(scores.per_class_figure(classes, one, kind, group), width="stretch")
    st.subheader("Confusion matrices")
    left, right = st.columns(2)
    rows = ws.scored_rows(one, decided)
    if kind != "all":
        rows = rows[rows[kind] == group]
    labels = scores.class_order(rows["original"], rows["predicted"], rows["curated"].dropna())
    for column, ref in ((left, "original"), (right, "curated")):
        kept = rows[rows[ref].notna()]
        matrix = scores.confusion(kept[ref], kept["predicted"], labels)
        column.plotly_chart(
            scores.confusion_figure(matrix, f"{ref.capitalize()} labels ({len(kept):,} rows)"),
            width="stretch",
        )
    st.subheader("Decisions that moved the score most")
    moved = _movers(ws, ws.fingerprint, one, _stamp(ws, (one,)), decided)
    st.caption(
        f"For each correction or removal: macro-F1 of {browse.code(one)} over all rows against "
        "the curated labels, minus the same with that one decision left out."
    )
    if moved.empty:
        st.info("No correction or removal decided yet.")
        return
    left, right = st.columns([2, 3])
    left.plotly_chart(scores.movers_figure(moved), width="stretch")
    right.dataframe(
        moved,
        hide_index=True,
        width="stretch",
        height=min(420, 35 * len(moved) + 40),
        column_config={
            c: st.column_config.NumberColumn(format="%+.4f")
            for c in ("delta_macro_f1", "delta_f1_original_class", "delta_f1_final_class")
        },
    )
