"""Audit: every vote and adjudication, who, when and why, and the history of one cell."""

from wbcreview.ui import audit as audit_ui
from wbcreview.ui.page import page

with page("Audit", store=True) as ws:
    audit_ui.audit_page(ws)
