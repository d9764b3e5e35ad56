"""Browse: filter the cells in the sidebar and page through a grid of thumbnails."""

from wbcreview.ui import browse
from wbcreview.ui.page import page

with page("Browse", links=True) as ws:
    cur = ws.cursor()
    state = browse.view_state()
    browse.ignored_warning(state)
    state = browse.register_suspects(cur, ws, state)
    state = browse.filter_sidebar(cur, ws, state)
    browse.browse(cur, ws, state)
