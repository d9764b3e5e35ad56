"""A shared server in a real browser: two app processes on one PostgreSQL database, a SIGKILL
during voting, a database that goes away and comes back, and hostile text on every page.

Uses the server helpers of tests/e2e/conftest.py (system Chromium; skipped loudly without it,
failed when WBCREVIEW_REQUIRE_E2E=1) and the PostgreSQL fixtures of tests/store_fixtures.py
(skipped when unreachable, failed when WBCREVIEW_REQUIRE_POSTGRES=1).
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.browser import go_to, no_exception, open_page, settle
from tests.e2e.conftest import build_copy, start_server, stop_server
from tests.e2e.test_review_e2e import SAVED, be, loop_cell
from tests.store_fixtures import pg_schema
from wbcreview.data import catalog
from wbcreview.demo.build import DEMO_MARKER
from wbcreview.review import workflow as review
from wbcreview.review.store import Reviewer, Store

pytest_plugins = ["tests.store_fixtures"]  # pg_engine
pytestmark = pytest.mark.e2e

ROOT = Reviewer("Root", "Admins", "admin")
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def copy(tmp_path_factory, monkeypatch):
    """A small copy, not the demo (votes go to WBCREVIEW_DB), catalogued for two homes."""
    base = tmp_path_factory.mktemp("e2e-server")
    data = build_copy(base / "wbcbench", base / "home-a", cells=120, seed=31)
    (data / DEMO_MARKER).unlink()
    with monkeypatch.context() as mp:
        mp.setenv("WBCREVIEW_HOME", str(base / "home-b"))
        catalog.ensure_built(data)
    monkeypatch.setenv("WBCREVIEW_HOME", str(base / "home-a"))
    with catalog.open_catalog(data) as cat:
        cells = list(review.catalog_cells(cat.cursor())["cell_id"])
    return base, data, cells


def vote_keep(page, server) -> str:
    """Press K on the cell the review loop shows; wait until the store acknowledged it (no
    event left in the loop); return the cell."""
    cell = loop_cell(page)
    page.keyboard.press("k")
    page.wait_for_function(SAVED, timeout=30_000)
    no_exception(page, server)
    return cell


def stored(url: str) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT reviewer, cell_id, uid FROM votes")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_two_app_processes_share_one_postgresql_database(page, copy, pg_engine, monkeypatch):
    base, data, cells = copy
    with pg_schema(pg_engine) as url:
        monkeypatch.setenv("WBCREVIEW_DB", url)
        one = start_server(data, base / "home-a", base / "one.log")
        two = start_server(data, base / "home-b", base / "two.log")
        try:
            open_page(page, one, "Review")  # opening the store applies the migrations
            with Store.open(url) as store:
                assert store.schema_version == 3 and store.backend == "postgresql"
                queue = store.create_queue(ROOT, "Shared", "manual", cells[:5])
            open_page(page, one, f"Review?queue={queue}")
            be(page, "Ann", "Team 1", "annotator")
            first = vote_keep(page, one)

            open_page(page, two, f"Review?queue={queue}")
            be(page, "Eve", "Experts", "adjudicator")
            go_to(page, two, "Audit")
            expect(page.get_by_text("1 of 1 rows")).to_be_visible()
            open_page(page, two, f"Review?queue={queue}")
            be(page, "Ben", "Team 2", "annotator")
            assert loop_cell(page) == first
            vote_keep(page, two)

            with Store.open(url) as store:
                seen = store.current_votes()
            assert sorted(seen["reviewer"]) == ["Ann", "Ben"] and set(seen["cell_id"]) == {first}
            open_page(page, one, "Review")
            be(page, "Eve", "Experts", "adjudicator")
            go_to(page, one, "Audit")
            expect(page.get_by_text("2 of 2 rows")).to_be_visible()
        finally:
            stop_server(one)
            stop_server(two)


def test_sigkill_during_voting_loses_no_acknowledged_vote(page, copy, monkeypatch):
    base, data, cells = copy
    url = f"sqlite:///{base / 'reviews.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DB", url)
    with Store.open(url) as store:
        queue = store.create_queue(ROOT, "Kill", "manual", cells[:40])
    server = start_server(data, base / "home-a", base / "kill-1.log")
    acknowledged: list[str] = []
    try:
        open_page(page, server, f"Review?queue={queue}")
        be(page, "Ann", "Team 1", "annotator")
        for _ in range(3):
            acknowledged.append(vote_keep(page, server))
        killer = threading.Timer(2.0, server.process.kill)  # SIGKILL, mid-voting
        killer.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.process.poll() is None:
            cell = loop_cell(page)
            page.keyboard.press("k")
            try:
                page.wait_for_function(SAVED, timeout=5_000)
            except PlaywrightError:
                break
            acknowledged.append(cell)
            try:
                settle(page, timeout=5_000)
            except PlaywrightError:
                break
        killer.join()
        assert server.process.wait(timeout=10) == -9
    finally:
        stop_server(server)
    votes = stored(url)
    assert len(acknowledged) >= 3
    assert set(acknowledged) <= {cell for _, cell, _ in votes}, "an acknowledged vote was lost"
    assert len({uid for *_, uid in votes}) == len(votes) == len({c for _, c, _ in votes})

    server = start_server(data, base / "home-a", base / "kill-2.log")
    try:
        open_page(page, server, f"Review?queue={queue}")
        be(page, "Ann", "Team 1", "annotator")
        assert loop_cell(page) == cells[len(votes)]  # resumes at the first cell without a vote
        vote_keep(page, server)
    finally:
        stop_server(server)
    assert len(stored(url)) == len(votes) + 1


class Proxy:
    """A TCP forwarder to PostgreSQL that a test can cut (every connection) and restore."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if listener is not self._listener:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone would not
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for s in self._sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self._sockets.clear()


def test_an_unreachable_database_keeps_the_vote_for_a_retry(page, copy, pg_engine, monkeypatch):
    base, data, cells = copy
    with pg_schema(pg_engine) as direct:
        with Store.open(direct) as store:
            queue = store.create_queue(ROOT, "Faults", "manual", cells[:5])
        proxy = Proxy(sa.engine.make_url(direct).port or 5432)
        proxy.start()
        through = sa.engine.make_url(direct).set(port=proxy.port)
        monkeypatch.setenv("WBCREVIEW_DB", through.render_as_string(hide_password=False))
        server = start_server(data, base / "home-a", base / "faults.log")
        try:
            open_page(page, server, f"Review?queue={queue}")
            be(page, "Ann", "Team 1", "annotator")
            first = vote_keep(page, server)
            second = loop_cell(page)

            proxy.stop()
            page.keyboard.press("k")
            # The loop keeps the decision, says it is not saved, and sends it again.
            expect(page.get_by_text(re.compile("NOT saved yet")).first).to_be_visible(
                timeout=60_000
            )
            assert [c for _, c, _ in stored(direct)] == [first]
            no_exception(page, server)

            proxy.start()
            page.wait_for_function(SAVED, timeout=60_000)  # resent once the database is back
            votes = stored(direct)
            assert sorted(c for _, c, _ in votes) == sorted([first, second])
            assert len(votes) == 2  # stored once, whatever the retries
            no_exception(page, server)
        finally:
            stop_server(server)
            proxy.stop()


def test_hostile_text_is_shown_as_text_and_never_runs(page, copy, monkeypatch):
    base, data, cells = copy
    url = f"sqlite:///{base / 'hostile.sqlite'}"
    monkeypatch.setenv("WBCREVIEW_DB", url)
    cell = cells[0]
    evil = Reviewer(IMG, SCRIPT, "annotator")
    with Store.open(url) as store:
        queue = store.create_queue(ROOT, "Hostile", "manual", cells[:3])
        store.add_vote(evil, cell, "unsure", comment=f"{SCRIPT} {IMG}")
        store.import_votes(
            ROOT,
            [{"cell_id": cell, "reviewer": SCRIPT, "team": IMG, "role": "annotator",
              "action": "remove", "reason": "multi-cell", "comment": IMG}],
            source=f"import:{IMG}.csv",
        )  # fmt: skip
        store.adjudicate(Reviewer("Eve", "Experts", "adjudicator"), cell, "retain", note=SCRIPT)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    server = start_server(data, base / "home-a", base / "hostile.log")
    shown_somewhere: set[str] = set()
    try:
        open_page(page, server, f"Review?queue={queue}")
        be(page, IMG, SCRIPT, "adjudicator")
        loop_cell(page)  # the first cell this name has not voted on
        page.locator(".rl-comment").fill(f"{SCRIPT}{IMG}")
        # an empty spot of the page, under the top bar (which takes the clicks above 60 px)
        page.locator("[data-testid='stMain']").click(position={"x": 8, "y": 90})
        page.keyboard.press("u")  # the comment is saved with the vote
        page.wait_for_function(SAVED, timeout=60_000)
        for path in ("Browse", f"Cell?cell={cell}", f"Review?queue={queue}", "Consensus",
                     "Adjudication", "Audit"):  # fmt: skip
            open_page(page, server, path)
            if page.locator(".st-key-id_name input").count():
                be(page, IMG, SCRIPT, "adjudicator")
            page.wait_for_timeout(800)
            no_exception(page, server)
            assert page.evaluate("typeof window.__xss") == "undefined", path
            assert page.locator("main img[src='x']").count() == 0, path
            for payload in (SCRIPT, IMG):
                if page.get_by_text(payload, exact=False).count():
                    shown_somewhere.add(payload)
        assert shown_somewhere == {SCRIPT, IMG}, "the payloads should be visible as text"
        assert not dialogs
    finally:
        stop_server(server)
