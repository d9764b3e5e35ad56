"""The server's glibc allocator settings (issue 19): big blocks in their own mappings, so they
go back to the system when freed, and every run of the app puts the settings in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

from wbcreview.ui import allocator

APP = str(Path(__file__).resolve().parent.parent / "app.py")

# In a fresh interpreter: free a 16 MB block (glibc then raises its mmap threshold to 16 MB
# unless the threshold was set), then allocate 100 blocks of 256 KB and print how many got
# their own mapping (mallinfo2().hblks counts the live mapped blocks; a block is carved from
# free heap space first where there is some, so not all 100 need to be mapped).
PROBE = """
import ctypes, sys
from wbcreview.ui import allocator
if sys.argv[1] == "tune":
    assert allocator.tune_allocator().applied
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
big = bytearray(16 << 20)
del big
before = libc.mallinfo2().hblks
blocks = [bytearray(256 * 1024) for _ in range(100)]
print(libc.mallinfo2().hblks - before)
"""


def mapped_blocks_after_a_big_free(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(APP).parent,
    )
    return int(done.stdout.split()[-1])


def test_a_tuned_process_maps_256kb_blocks_after_a_16mb_free():
    # Untuned, glibc's raised threshold puts every 256 KB block in the heap (where its hole
    # stays when it is freed); tuned, they get their own mappings, returned on free.
    assert mapped_blocks_after_a_big_free("default") == 0
    assert mapped_blocks_after_a_big_free("tune") >= 50


def test_tuning_is_done_once_and_reports_what_it_set():
    first = allocator.tune_allocator()
    assert first == allocator.AllocatorSettings(64 * 1024, 2, applied=True)
    assert allocator.tune_allocator() is first
    assert allocator.allocator_settings() is first


def test_every_run_of_the_app_tunes_the_allocator(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "tune_allocator", lambda: calls.append(1))
    monkeypatch.setenv("WBCREVIEW_DATA", str(tmp_path / "missing"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    at.run()
    assert len(calls) == 2
