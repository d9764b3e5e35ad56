"""Review: one cell at a time from a queue, a key for every action, each vote stored at once."""

from wbcreview.ui import review as review_ui
from wbcreview.ui.page import page

# store="optional": while the database is down the page still shows the one outage banner
# and the vote kept for Retry (review_ui.review_or_outage).
with page("Review", store="optional") as ws:
    review_ui.review_or_outage(ws)
