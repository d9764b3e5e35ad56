"""Heavy libraries load only on the screens that use them (issue 19: first view in 2 s).

Each test starts a fresh interpreter, so modules another test imported cannot hide (or fake)
an eager import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# scipy.ndimage and plotly.express cost ~0.5 s each to import: only the finders and the
# Consensus charts need them.
HEAVY = ("sklearn", "cleanlab", "datasets", "scipy.ndimage", "plotly.express")

_IMPORTS = """
import json, sys
import wbcreview.ui, wbcreview.ui.browse, wbcreview.ui.review, wbcreview.ui.gallery_review
import wbcreview.ui.session, wbcreview.ui.widgets, wbcreview.workspace
import wbcreview.data.query, wbcreview.review.store, wbcreview.review.workflow
import wbcreview.views.browse
print(json.dumps(sorted(m for m in sys.modules if m in %r or m.split('.')[0] in %r)))
"""

_PAGES = """
import json, sys
from streamlit.testing.v1 import AppTest
for page in ("pages/1_Browse.py", "pages/2_Cell.py", "pages/5_Review.py",
             "pages/11_Gallery_review.py"):
    at = AppTest.from_file("app.py", default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, (page, at.exception[0].message)
    assert at.title, page  # the page drew something
print(json.dumps(sorted(m for m in sys.modules if m in %r or m.split('.')[0] in %r)))
"""


def _run(code: str, env: dict | None = None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code % (HEAVY, HEAVY)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_browse_and_review_modules_import_no_heavy_library():
    assert _run(_IMPORTS) == []


def test_running_browse_cell_and_review_pages_loads_no_heavy_library(demo_root):
    loaded = _run(_PAGES, {"WBCREVIEW_DATA": str(demo_root)})
    assert loaded == []


def test_the_guard_sees_an_eager_import():
    # The check itself must be able to fail: importing the triage baseline loads sklearn.
    code = "import wbcreview.triage.baseline, sklearn\n" + _IMPORTS
    assert "sklearn" in _run(code)
