"""How the Streamlit server process asks glibc's allocator to hand memory back (issue 19).

A long browser session (`bench/soak.py`, measured 2026-12-07) showed the server's memory
rising while everything the app keeps is bounded: glibc's free lists held 40-50 MB after a few
hundred actions (`mallinfo2().fordblks`), of which `malloc_trim(0)` returned 1-2 MB, so the
free space was fragments between live blocks, not a free top of the heap. Two glibc defaults
cause it. The threshold above which a block gets its own mapping (returned to the system on
free) starts at 128 KiB but rises to the size of any such block freed, up to 32 MiB: after
the first page's grid HTML (~250 KB) and full-size images (~100 KB) are freed, every later
one is carved from the heap between long-lived thumbnails and stays there as a hole. And
each thread may get its own arena (Streamlit runs every script run on a new thread, the
thumbnail pool and the prefetcher are more), so a block freed in one arena is not reused by
an allocation in another. A fixed 64 KiB threshold and two arenas kept the free lists at
1-2 MB in the same soak. DuckDB (jemalloc) and Arrow (mimalloc) have their own allocators
and are not affected. Nothing happens where the C library is not glibc (macOS, musl).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

# mallopt parameters, from glibc's <malloc.h>.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Blocks from this size get their own mapping. Setting it also turns off glibc's raising of
# the threshold after a large free (mallopt(3)), which is what leaves the holes.
MMAP_THRESHOLD = 64 * 1024
# Arenas for all threads together (glibc's default is 8 per core).
ARENA_MAX = 2


@dataclass(frozen=True)
class AllocatorSettings:
    """What `tune_allocator` asked glibc for, and whether glibc took each setting."""

    mmap_threshold: int
    arena_max: int
    applied: bool


_LOCK = threading.Lock()
_settings: AllocatorSettings | None = None


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (it has mallopt), else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None
    return libc


def tune_allocator() -> AllocatorSettings:
    """Set glibc's mmap threshold and arena count for this process, once (later calls return
    the first result). `applied` is False when the C library is not glibc or refused."""
    global _settings
    with _LOCK:
        if _settings is None:
            libc = _glibc()
            applied = libc is not None and all(
                libc.mallopt(param, value) == 1  # mallopt returns 1 on success
                for param, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_ARENA_MAX, ARENA_MAX))
            )
            _settings = AllocatorSettings(MMAP_THRESHOLD, ARENA_MAX, applied)
        return _settings


def allocator_settings() -> AllocatorSettings | None:
    """What `tune_allocator` set in this process, or None before its first call."""
    return _settings
