"""Review: one cell at a time from a queue, a key for every action, each vote stored at once."""

from wbcreview.ui import review as review_ui
from wbcreview.ui.page import page

# While the database is down the page shows its one banner; decisions typed meanwhile wait in
# the browser (the review loop) and are sent again once it is back.
with page("Review", store=True) as ws:
    review_ui.review_page(ws)
