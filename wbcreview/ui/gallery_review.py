"""Gallery review: a queue's cells as galleries by current label, one key per class.

The galleries, the selection (click, shift-click, ctrl-click, arrows, G), the badges,
undo, sign-off with its confirmation and the enlarged view of a tile (degraded and
pristine, with a link to the Cell page) all live in the review loop component
(ui/review_loop.py) in gallery mode: a key or a click is painted at once in the browser,
each decision is an event stored exactly once, and a round trip reruns only the loop's
fragment with the thumbnails the browser does not have yet (the next page's are sent
ahead). Keys: review.gallery.KEYS; the component shows them.
"""

from __future__ import annotations

import streamlit as st

from wbcreview.ui import review as review_ui
from wbcreview.ui import review_loop
from wbcreview.ui.navigation import page_file
from wbcreview.ui.session import after_write, cells_of, demo_banner, show_notice
from wbcreview.workspace import Workspace


def gallery_page(ws: Workspace) -> None:
    """Choose a queue, then review it a page of galleries at a time with the keyboard.

    The title, the queue and the link to single-cell mode share one row (the page passes
    `heading=""`), so that most of a page of tiles is above the fold at 1366x768.
    """
    reviewer = ws.user
    queues = ws.queues()
    title, picker, link = st.columns([4, 4, 3], vertical_alignment="bottom", gap="small")
    title.title("Gallery review")
    with picker:
        queue_id = review_ui.queue_picker(queues)
    demo_banner(ws)
    show_notice()
    if queues.empty:
        st.info("No review queue yet: an admin creates one on the Review page.")
        return
    if reviewer is None:
        st.info("Enter your name in the sidebar to start reviewing.")
        return
    if queue_id is None:
        return
    link.page_link(
        page_file("Review"),
        label="Single-cell mode",
        help="The same queue one cell at a time, full size, with its pristine source",
        icon=":material/image:",
        query_params={"queue": str(queue_id)},
    )
    queue = ws.queue(queue_id)
    cells = ws.queue_cells(queue)
    if not cells:
        st.info("This queue has no cells.")
        return
    frame = cells_of(ws)
    _loop(ws, queue, cells, review_loop.catalog_labels(ws, frame))


@st.fragment
def _loop(ws, queue, cells, labels) -> None:
    """The gallery loop; an action reruns only this fragment."""
    review_loop.show(ws, queue, cells, labels, review_loop.GALLERY, after_write=after_write)
