"""Home: the data source, its health report, and what the copy holds."""

from wbcreview.ui import home
from wbcreview.ui.page import page

with page("Home", heading="wbcreview") as ws:
    home.home_page(ws)
