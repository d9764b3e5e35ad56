"""Patient: every cell of one patient (both configs), with class counts."""

from wbcreview.ui import browse
from wbcreview.ui.page import page

with page("Patient", links=True) as ws:
    cur = ws.cursor()
    patient = browse.patient_picker(cur, ws)
    if patient:
        browse.patient_view(cur, ws, patient)
