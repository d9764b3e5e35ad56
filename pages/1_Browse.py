"""Browse: filter the cells in the sidebar and page through a grid of thumbnails (and vote
from a tile: point at it and press a class key, once "Vote from the tiles" is on)."""

from wbcreview.ui import browse, review_loop
from wbcreview.ui.page import page

with page("Browse", links=True) as ws:
    cur = ws.cursor()
    state = browse.view_state()
    browse.ignored_warning(state)
    state = browse.register_suspects(cur, ws, state)
    state = browse.filter_sidebar(cur, ws, state)
    rows = browse.browse(cur, ws, state)
    review_loop.browse_vote(ws, rows)
