"""The store under concurrent writers and a killed writer: no vote lost, none duplicated."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from wbcreview.review.store import Reviewer, Store

pytest_plugins = ["tests.store_fixtures"]  # store_url, raw_engine (SQLite and PostgreSQL)

REPO = Path(__file__).resolve().parent.parent
THREADS, THREAD_VOTES = 10, 100
PROCESSES, PROCESS_VOTES = 4, 250


def fixtures():
    """tests.store_fixtures as pytest loaded it (its worker must be importable by children)."""
    return importlib.import_module("tests.store_fixtures")


def test_threads_and_processes_lose_and_duplicate_nothing(store_url, raw_engine):
    fx = fixtures()
    Store.open(store_url).close()  # create the schema before the writers race
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=fx.write_votes, args=(store_url, f"p{n}", PROCESS_VOTES))
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    errors: list[BaseException] = []

    def thread_worker(name: str) -> None:
        try:
            fx.write_votes(store_url, name, THREAD_VOTES)
        except BaseException as exc:  # reported below, with the worker's name
            errors.append(exc)

    threads = [threading.Thread(target=thread_worker, args=(f"t{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for process in processes:
        process.join(timeout=120)
    assert not errors, errors
    assert [p.exitcode for p in processes] == [0] * PROCESSES

    expected = {fx.vote_uid(f"t{n}", i) for n in range(THREADS) for i in range(THREAD_VOTES)}
    expected |= {fx.vote_uid(f"p{n}", i) for n in range(PROCESSES) for i in range(PROCESS_VOTES)}
    assert len(expected) == 2000
    with raw_engine.connect() as conn:
        rows, distinct = conn.execute(
            sa.text("SELECT count(*), count(DISTINCT uid) FROM votes")
        ).one()
        stored = set(conn.execute(sa.text("SELECT uid FROM votes")).scalars())
    assert (rows, distinct) == (2000, 2000)
    assert stored == expected


def test_concurrent_retries_of_one_vote_store_it_once(store_url, raw_engine):
    fx = fixtures()
    store = Store.open(store_url)
    uid = fx.vote_uid("same", 0)
    who = Reviewer("Retry", "Load", "annotator")
    barrier = threading.Barrier(8)

    def retry() -> None:
        barrier.wait()
        store.add_vote(who, "00000001", "retain", uid=uid)

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    store.close()
    with raw_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM votes")).scalar_one() == 1


CHILD = textwrap.dedent(
    """
    import sys
    from wbcreview.review.store import Reviewer, Store

    store = Store.open(sys.argv[1])
    who = Reviewer("Killed", "Team 1", "annotator")
    number = 0
    while True:
        uid = store.add_vote(who, f"{number % 100:08d}", "correct", label="BNE")
        print(uid, flush=True)
        number += 1
    """
)


def test_a_vote_acknowledged_before_sigkill_is_kept(store_url):
    Store.open(store_url).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    acknowledged = []
    try:
        for _ in range(25):
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the writer died: {child.stderr.read()}")
            acknowledged.append(line.strip())
        child.send_signal(signal.SIGKILL)  # right after reading an acknowledged vote
    finally:
        child.kill()
        rest, _ = child.communicate(timeout=30)
    acknowledged += rest.split()  # printed before the kill landed: acknowledged too
    assert child.returncode == -signal.SIGKILL
    with Store.open(store_url) as store:
        stored = set(store.votes_frame()["uid"])
    assert set(acknowledged) <= stored
    assert len(acknowledged) >= 25
