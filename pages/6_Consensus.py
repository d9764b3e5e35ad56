"""Consensus: tallies and status of every voted cell, and how well the annotators agree."""

from wbcreview.ui import consensus as consensus_ui
from wbcreview.ui.page import page

with page("Consensus", store=True) as ws:
    consensus_ui.consensus_page(ws)
