"""wbcreview: `streamlit run app.py`. The top bar groups the pages the way the work goes
(Explore, Review, Decide, Results); each page is a script in pages/ with its own URL."""

from wbcreview.ui import navigation

navigation.run()
