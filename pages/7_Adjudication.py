"""Adjudication: the expert's final decisions, disputed cells first (adjudicators only)."""

from wbcreview.ui import adjudication as adjudication_ui
from wbcreview.ui.page import page

with page("Adjudication", store=True) as ws:
    adjudication_ui.adjudication_page(ws)
