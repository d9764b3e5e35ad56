"""Home: the data source, its health report, and what the copy holds."""

from wbcreview import ui
from wbcreview.ui import home

home.home_page(ui.setup("Home"))
