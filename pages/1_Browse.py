"""Browse: filter the cells in the sidebar and page through a grid of thumbnails."""

from wbcreview.ui import browse
from wbcreview.ui.page import page

with page("Browse", links=True) as ws:
    cur = ws.catalog.cursor()
    state = browse.view_state()
    browse.ignored_warning(state)
    state = browse.register_suspects(cur, ws.catalog, state)
    state = browse.filter_sidebar(cur, ws.catalog, state)
    browse.browse(cur, ws.catalog, state)
