"""The suspect ranking as the screens see it: cached per prediction-file version.

Shared by Browse (sort by suspicion, "suspect #N" under a tile) and Triage.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.triage import ranking as triage
from wbcreview.workspace import Workspace


def _stamp(ws: Workspace, names: tuple[str, ...]) -> tuple:
    """What a cached result over these prediction files depends on: their file versions."""
    return ws.predictions_stamp(names)


@st.cache_data(ttl=600, max_entries=16, show_spinner="Ranking the cells...")
def _ranking(_ws: Workspace, root: str, fingerprint: str, names: tuple, method: str, stamp):
    del root, fingerprint, stamp  # cache key
    return _ws.suspect_ranking(list(names), method)


def suspect_ranking(
    ws: Workspace, names: list[str] | None = None, method: str = triage.DEFAULT_METHOD
) -> pd.DataFrame | None:
    """The suspect ranking of the copy (cached per prediction-file version), or None when
    no prediction file is stored. For Browse: merge on cell_id for a rank/score column."""
    stored = tuple(i.name for i in ws.prediction_files())
    chosen = tuple(names) if names is not None else stored
    if not chosen:
        return None
    return _ranking(ws, str(ws.root), ws.fingerprint, chosen, method, _stamp(ws, tuple(chosen)))
