"""Review: one cell at a time from a queue, a key for every action, each vote stored at once."""

from wbcreview.ui import review as review_ui
from wbcreview.ui.page import page

with page("Review", store=True) as ws:
    review_ui.review_page(ws.catalog, ws.store, ws.user)
