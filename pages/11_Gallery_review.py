"""Gallery review: a queue's cells as galleries by current label, one key per class, sign-off."""

from wbcreview.ui import gallery_review
from wbcreview.ui.page import page

with page("Gallery review", store=True, heading="") as ws:
    gallery_review.gallery_page(ws)
