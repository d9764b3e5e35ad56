"""Fixtures for decision-store tests: a store on SQLite and on a real PostgreSQL server.

Test modules load them with `pytest_plugins = ["tests.store_fixtures"]`. PostgreSQL comes
from WBCREVIEW_TEST_PG_URL (default: postgres on 127.0.0.1:5432, database test); each test
gets a fresh schema, dropped afterwards. An unreachable server skips those tests, unless
WBCREVIEW_REQUIRE_POSTGRES=1 (CI), which makes it a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from wbcreview.review.store import Reviewer, Store

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_server_url() -> str:
    """The PostgreSQL server the tests use."""
    return os.environ.get("WBCREVIEW_TEST_PG_URL", PG_DEFAULT_URL)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    """An engine on the test server; skips (or fails in CI) when it cannot be reached."""
    url = sa.engine.make_url(pg_server_url())
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3}, poolclass=sa.NullPool)
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        problem = str(exc.orig or exc).strip().splitlines()[0]
    if problem is not None:
        message = (
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable "
            f"({problem}); set WBCREVIEW_TEST_PG_URL"
        )
        if os.environ.get("WBCREVIEW_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message} (WBCREVIEW_REQUIRE_POSTGRES=1: PostgreSQL tests must run)")
        pytest.skip(message)
    yield engine
    engine.dispose()


@contextmanager
def pg_schema(engine: sa.Engine) -> Iterator[str]:
    """A fresh schema on the test server; yields a store URL whose search_path is it."""
    name = f"wbc_test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = engine.url.update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    else:
        with pg_schema(request.getfixturevalue("pg_engine")) as url:
            yield url


@pytest.fixture
def store(store_url) -> Iterator[Store]:
    """An open store in blind mode, closed after the test."""
    opened = Store.open(store_url, blind=True)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:
    """A store on SQLite only, for checks made before the database is reached."""
    opened = Store.open(f"sqlite:///{tmp_path / 'reviews.sqlite'}", blind=True)
    yield opened
    opened.close()


@pytest.fixture
def raw_engine(store_url) -> Iterator[sa.Engine]:
    """A plain SQLAlchemy engine on the store's database, for checks behind the store's back."""
    engine = sa.create_engine(store_url, poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def vote_uid(worker: str, number: int) -> str:
    """The uid of vote `number` of a concurrency worker (the parent can list them all)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"wbcreview-test:{worker}:{number}"))


def write_votes(url: str, worker: str, count: int) -> None:
    """Write `count` votes as one worker, resending every tenth (a retry must not duplicate).

    Module-level so that multiprocessing (spawn) can run it in a child process.
    """
    who = Reviewer(f"Worker {worker}", "Load", "annotator")
    with Store.open(url, blind=True) as store:
        for number in range(count):
            uid = vote_uid(worker, number)
            cell = f"{number % 50:08d}"
            store.add_vote(who, cell, "correct", label="LY", uid=uid, comment=f"{worker}-{number}")
            if number % 10 == 0:
                store.add_vote(
                    who, cell, "correct", label="LY", uid=uid, comment=f"{worker}-{number}"
                )
