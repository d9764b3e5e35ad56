"""Widgets of the Corrections page: export the final decisions, bring votes and labels in."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import streamlit as st

from wbcreview import config, ui
from wbcreview import files as fsutil
from wbcreview.curation import export as decisions
from wbcreview.data.release import SPLITS
from wbcreview.errors import WbcreviewError
from wbcreview.ui import session as session_ui
from wbcreview.workspace import Reviewer, Workspace, can

MIME = {"csv": "text/csv", "parquet": "application/octet-stream", "json": "application/json"}
# How the table names the columns: "original" is only ever the challenge file's label.
COLUMN_NAMES = {
    "current_label": st.column_config.TextColumn("current label", help="The label in this copy"),
    "original_label": st.column_config.TextColumn(
        "original label", help="The label in the original challenge label file, when imported"
    ),
    "final_label": st.column_config.TextColumn("final label"),
    "decided_at": st.column_config.DatetimeColumn("decided at (UTC)"),
    "degraded_image_ids": st.column_config.ListColumn("degraded copies"),
}


def exports_dir() -> Path:
    """The folder the page saves exports into (file names typed by users stay inside it)."""
    return config.data_dir() / "exports"


@st.cache_data(ttl=30, max_entries=8, show_spinner="Collecting the final decisions...")
def _final(_ws: Workspace, url: str, fingerprint: str, include_agreed: bool, who: tuple):
    del url, fingerprint  # cache key
    return _ws.for_user(Reviewer(*who)).final_decisions(include_agreed=include_agreed)


def export_section(ws: Workspace) -> None:
    """The final decisions as a table, downloads in every format, and save-to-folder.

    What is shown follows the one viewer check (review/permissions.py): an annotator sees
    the final label of the expert's decisions only, never tallies, votes or notes."""
    st.subheader("Export the final decisions")
    viewer = session_ui.page_viewer()
    if ws.for_user(viewer).sees_others():
        include = st.toggle(
            "Also agreed consensus not yet adjudicated",
            key="cx_agreed",
            help="By default only the expert's decisions are final.",
        )
    else:
        include = False
        st.caption(
            "Blind review: you see the final label of each cell the expert has decided, "
            "without votes, tallies or notes."
        )
    frame = _final(ws, ws.store_url, ws.fingerprint, include, session_ui.who_key(viewer))
    st.markdown(f"**{decisions.summary_line(frame)}** · {len(frame):,} cells decided")
    if frame.empty:
        st.info("No final decision yet: adjudicate cells on the Adjudication page first.")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=min(420, 38 + 35 * max(1, len(frame))),
        column_config=COLUMN_NAMES,
    )
    st.markdown("**Correction list** (one row per decided cell; see docs/FORMATS.md)")
    cols = st.columns(3)
    for col, fmt in zip(cols, decisions.FORMATS, strict=True):
        col.download_button(
            f"Download {fmt.upper()}",
            data=decisions.export_bytes(frame, fmt),
            file_name=f"wbcreview-decisions.{fmt}",
            mime=MIME[fmt],
            key=f"cx_dl_{fmt}",
        )
    st.markdown(
        "**Challenge label file** (`ID,labels,split`, corrected labels, removed cells left out)"
    )
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    split = left.selectbox("Split", SPLITS, key="cx_split")
    try:
        challenge = ws.challenge_bytes(frame, split, report=ui.health_report(ws))
        right.download_button(
            f"Download {split}.csv",
            data=challenge,
            file_name=f"{split}.csv",
            mime="text/csv",
            key="cx_dl_challenge",
        )
    except decisions.DecisionsError as exc:
        right.caption(f"Not available: {exc}")
    if not can(viewer, "save_export"):
        st.caption("Saving into the server's export folder needs the admin role; download instead.")
        return
    with st.form("cx_save"):
        st.markdown(f"Save into `{exports_dir()}`")
        left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        name = left.text_input("File name", value="decisions.csv", key="cx_name")
        fmt = mid.selectbox("Format", decisions.FORMATS, key="cx_fmt")
        force = right.checkbox("Replace if it exists", key="cx_force")
        if st.form_submit_button("Save") and session_ui.still_allowed("save_export"):
            try:
                folder = exports_dir()
                folder.mkdir(parents=True, exist_ok=True)
                path = fsutil.safe_child(folder, name)
                fsutil.check_output_file(path, force=force, protected=ws.protected_paths())
                fsutil.write_file(path, decisions.export_bytes(frame, fmt))
                st.success(f"Saved {path}")
            except (WbcreviewError, OSError) as exc:
                st.error(f"Not saved: {exc}")
    st.caption(
        "Apply the decisions to a curated copy of the shards with "
        "`python -m wbcreview apply --out DIR` (or `--decisions FILE` with a downloaded file)."
    )


def _safe_name(name: str) -> str:
    """An upload's name as a plain file name in a temporary folder (no folders, no `..`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).name).lstrip(".")
    return cleaned or "labels.csv"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def import_section(ws: Workspace) -> None:
    """Votes of a team that worked offline, and the original challenge label files."""
    reviewer = session_ui.current_reviewer()
    st.subheader("Import votes made offline")
    st.caption(
        "CSV columns: image_id, annotator, action, label, reason, comment, time (ISO 8601). "
        "The time decides which vote counts; a file already imported adds nothing. "
        "At most 64 MiB (docs/FORMATS.md)."
    )
    if reviewer is None or not can(reviewer, "import_votes"):
        st.info("Importing votes needs the admin role (choose it in the sidebar).")
    else:
        with st.form("cx_votes", clear_on_submit=False):
            upload = st.file_uploader("Vote file", type=["csv"], key="cx_vote_file")
            team = st.text_input("Team that made these votes", key="cx_team")
            if (
                st.form_submit_button("Import votes")
                and upload is not None
                and session_ui.still_allowed("import_votes")
            ):
                name = Path(upload.name).name
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "upload.csv"
                    path.write_bytes(upload.getvalue())
                    try:
                        report = ws.import_votes(path, team, name=name)
                        st.cache_data.clear()
                        st.success(str(report))
                    except (WbcreviewError, OSError) as exc:
                        st.error(f"Nothing imported. {_one_line(exc)}")
    st.subheader("Import the original challenge label files")
    st.caption(
        "CSV with CRLF, `ID,labels,split` (IDs like 01416766.jpg); one file per split, "
        "at most 64 MiB."
    )
    if reviewer is None or not can(reviewer, "import_labels"):
        st.info("Importing the original label files needs the admin role.")
        return
    with st.form("cx_labels"):
        uploads = st.file_uploader(
            "Label files", type=["csv"], accept_multiple_files=True, key="cx_label_files"
        )
        if (
            st.form_submit_button("Import label files")
            and uploads
            and session_ui.still_allowed("import_labels")
        ):
            with tempfile.TemporaryDirectory() as tmp:
                paths, names = [], []
                for upload in uploads:
                    path = Path(tmp) / _safe_name(upload.name)
                    path.write_bytes(upload.getvalue())
                    paths.append(path)
                    names.append(Path(upload.name).name)
                try:
                    for s in ws.import_labels(paths, names=names):
                        st.success(
                            f"{s['file']}: {s['rows']:,} rows, {s['known']:,} cells of this copy, "
                            f"{s['differing']:,} labels differ from the current ones"
                        )
                    st.cache_resource.clear()  # the catalog is rebuilt with the labels
                    st.cache_data.clear()
                except (WbcreviewError, OSError) as exc:
                    st.error(f"Nothing imported. {_one_line(exc)}")
