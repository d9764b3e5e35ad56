"""The suspect ranking as the screens see it: cached per prediction-file version.

Shared by Browse (sort by suspicion, "suspect #N" under a tile) and Triage.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from wbcreview.data.catalog import Catalog
from wbcreview.triage import predictions
from wbcreview.triage import ranking as triage


def _stamp(cat: Catalog, names: tuple[str, ...]) -> tuple:
    """What a cached result over these prediction files depends on: their file versions."""
    out = []
    for info in predictions.list_predictions(cat.root):
        if info.name in names:
            stat = info.path.stat()
            out.append((info.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


@st.cache_data(ttl=600, max_entries=16, show_spinner="Ranking the cells...")
def _ranking(_cat: Catalog, root: str, fingerprint: str, names: tuple, method: str, stamp):
    del root, fingerprint, stamp  # cache key
    return triage.ranking(_cat, list(names), method)


def suspect_ranking(
    cat: Catalog, names: list[str] | None = None, method: str = triage.DEFAULT_METHOD
) -> pd.DataFrame | None:
    """The suspect ranking of the copy (cached per prediction-file version), or None when
    no prediction file is stored. For Browse: merge on cell_id for a rank/score column."""
    stored = tuple(i.name for i in predictions.list_predictions(cat.root))
    chosen = tuple(names) if names is not None else stored
    if not chosen:
        return None
    return _ranking(cat, str(cat.root), cat.fingerprint, chosen, method, _stamp(cat, tuple(chosen)))
