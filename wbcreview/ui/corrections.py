"""Widgets of the Corrections page: export the final decisions, bring votes and labels in."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from wbcreview import config
from wbcreview import files as fsutil
from wbcreview.curation import export as decisions
from wbcreview.data import catalog as catalog_mod
from wbcreview.data import labels
from wbcreview.data.catalog import Catalog
from wbcreview.data.release import SPLITS
from wbcreview.review.store import Store, StoreError, can
from wbcreview.ui import session as session_ui

MIME = {"csv": "text/csv", "parquet": "application/octet-stream", "json": "application/json"}


def exports_dir() -> Path:
    """The folder the page saves exports into (file names typed by users stay inside it)."""
    return config.data_dir() / "exports"


@st.cache_data(ttl=30, max_entries=8, show_spinner="Collecting the final decisions...")
def _final(_cat: Catalog, _store: Store, url: str, fingerprint: str, include_agreed: bool):
    del url, fingerprint  # cache key
    return decisions.final_decisions(_cat.cursor(), _store, include_agreed=include_agreed)


def export_section(cat: Catalog, store: Store) -> None:
    """The final decisions as a table, downloads in every format, and save-to-folder."""
    st.subheader("Export the final decisions")
    include = st.toggle(
        "Also agreed consensus not yet adjudicated",
        key="cx_agreed",
        help="By default only the expert's decisions are final.",
    )
    frame = _final(cat, store, store.url, cat.fingerprint, include)
    st.markdown(f"**{decisions.summary_line(frame)}** · {len(frame):,} cells decided")
    if frame.empty:
        st.info("No final decision yet: adjudicate cells on the Adjudication page first.")
    st.dataframe(
        frame, hide_index=True, width="stretch", height=min(420, 38 + 35 * max(1, len(frame)))
    )
    cols = st.columns(4)
    for col, fmt in zip(cols, decisions.FORMATS, strict=False):
        col.download_button(
            f"Download {fmt.upper()}",
            data=decisions.export_bytes(frame, fmt),
            file_name=f"wbcreview-decisions.{fmt}",
            mime=MIME[fmt],
            key=f"cx_dl_{fmt}",
        )
    with cols[3]:
        split = st.selectbox(
            "Challenge format for", SPLITS, key="cx_split", label_visibility="collapsed"
        )
    try:
        challenge = decisions.challenge_bytes(cat.cursor(), frame, split)
        cols[3].download_button(
            f"Download {split} as ID,labels",
            data=challenge,
            file_name=f"{split}.csv",
            mime="text/csv",
            key="cx_dl_challenge",
        )
    except decisions.DecisionsError as exc:
        cols[3].caption(str(exc))
    with st.form("cx_save"):
        st.markdown(f"Save into `{exports_dir()}`")
        left, right = st.columns([3, 1])
        name = left.text_input("File name", value="decisions.csv", key="cx_name")
        fmt = right.selectbox("Format", decisions.FORMATS, key="cx_fmt")
        if st.form_submit_button("Save"):
            try:
                folder = exports_dir()
                folder.mkdir(parents=True, exist_ok=True)
                path = fsutil.safe_child(folder, name)
                path.write_bytes(decisions.export_bytes(frame, fmt))
                st.success(f"Saved {path}")
            except (fsutil.UnsafePath, OSError) as exc:
                st.error(f"Not saved: {exc}")
    st.caption(
        "Apply the decisions to a curated copy of the shards with "
        "`python -m wbcreview apply --out DIR` (or `--decisions FILE` with a downloaded file)."
    )


def import_section(cat: Catalog, store: Store) -> None:
    """Votes of a team that worked offline, and the original challenge label files."""
    reviewer = session_ui.current_reviewer()
    st.subheader("Import votes made offline")
    st.caption("CSV columns: image_id, annotator, action, label, reason, comment, time")
    if reviewer is None or not can(reviewer, "import_votes"):
        st.info("Importing votes needs the admin role (choose it in the sidebar).")
    else:
        with st.form("cx_votes", clear_on_submit=False):
            upload = st.file_uploader("Vote file", type=["csv"], key="cx_vote_file")
            team = st.text_input("Team that made these votes", key="cx_team")
            if st.form_submit_button("Import votes") and upload is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / Path(upload.name).name
                    path.write_bytes(upload.getvalue())
                    try:
                        added = decisions.import_vote_file(path, team, store, cat.cursor())
                        st.cache_data.clear()
                        st.success(f"{added} new vote(s) imported for {team}.")
                    except (decisions.DecisionsError, StoreError) as exc:
                        st.error("Nothing imported.")
                        st.code(str(exc), language=None)
    st.subheader("Import the original challenge label files")
    st.caption("CSV with CRLF, `ID,labels,split` (IDs like 01416766.jpg); one file per split.")
    with st.form("cx_labels"):
        uploads = st.file_uploader(
            "Label files", type=["csv"], accept_multiple_files=True, key="cx_label_files"
        )
        if st.form_submit_button("Import label files") and uploads:
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for upload in uploads:
                    path = Path(tmp) / Path(upload.name).name
                    path.write_bytes(upload.getvalue())
                    paths.append(path)
                try:
                    for s in catalog_mod.import_label_files(cat.root, paths):
                        st.success(
                            f"{s['file']}: {s['rows']:,} rows, {s['known']:,} cells of this copy, "
                            f"{s['differing']:,} labels differ from the current ones"
                        )
                    st.cache_resource.clear()  # the catalog is rebuilt with the labels
                    st.cache_data.clear()
                except labels.LabelFileError as exc:
                    st.error("Nothing imported.")
                    st.code(str(exc), language=None)
