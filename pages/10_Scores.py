"""Scores: each prediction file's challenge metrics against the original and the curated
labels, side by side, and the decisions that moved them most."""

from wbcreview.ui import triage as triage_ui
from wbcreview.ui.page import page

with page("Scores", store=True, reviewer=False, heading="Scores before and after curation") as ws:
    triage_ui.scores_page(ws)
