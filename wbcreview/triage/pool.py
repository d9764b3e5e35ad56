"""Batches computed in worker processes, results yielded in order (features, signatures)."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import TypeVar

B = TypeVar("B")
R = TypeVar("R")


def ordered_map(fn: Callable[[B], R], batches: Iterator[B], workers: int) -> Iterator[R]:
    """`fn` of each batch, in the batches' order, with a few batches in flight per worker.

    `fn` must be a module-level function (workers are spawned: no forked threads of
    Streamlit or DuckDB). If worker processes cannot start (a host whose main module cannot
    be re-imported, say), the remaining batches are computed in this process.
    """
    batches = iter(batches)
    if workers <= 1:
        yield from map(fn, batches)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque = deque()
        for batch in islice(batches, 2 * workers):
            pending.append((batch, pool.submit(fn, batch)))
        while pending:
            batch, future = pending.popleft()
            try:
                block = future.result()
            except BrokenProcessPool:
                yield fn(batch)
                for rest, _ in pending:
                    yield fn(rest)
                yield from map(fn, batches)
                return
            nxt = next(batches, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(fn, nxt)))
            yield block
