"""The Workspace: the one door to a copy of the release, its catalog, its decision store and
every use case.

Modelled on datasette's `Datasette` and sqlite-utils' `Database`: one object a reader can hold
in mind. `Workspace.open(data, db, user)` resolves the copy (the rules of data/source.py), and
opens the catalog and the decision store the first time they are asked for, so a command that
needs neither pays for neither. The CLI parses its arguments, calls one method, prints. The UI
keeps one Workspace per (copy, store) in `st.cache_resource` and asks `for_user(reviewer)` on
each run: catalog and store are shared, the user is not.

Which decision store: `db` when given, else the separate demo store when the copy is the
generated demo (unless `demo_store=False`), else setting WBCREVIEW_DB, else the SQLite file in
WBCREVIEW_HOME. This rule lives here and nowhere else.

Every error is a WbcreviewError with a message for the user; nothing here imports Streamlit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from wbcreview import config
from wbcreview.data import catalog as catalog_mod
from wbcreview.data import source as source_mod
from wbcreview.data.catalog import CatalogError
from wbcreview.data.source import DataSource, SourceError
from wbcreview.review import aggregation, permissions, workflow
from wbcreview.review.store import (
    REMOVE_REASONS,
    ROLES,
    InvalidVote,
    PermissionDenied,
    Queue,
    Reviewer,
    Store,
    StoreError,
    StoreUnavailable,
    can,
    default_url,
)

# The vocabulary the screens use with a Workspace (they import it from here, never from the
# store or the catalog module: tests/test_layout.py checks).
__all__ = [
    "REMOVE_REASONS",
    "ROLES",
    "CatalogError",
    "InvalidVote",
    "PermissionDenied",
    "Queue",
    "QueueMade",
    "Reviewer",
    "StoreError",
    "StoreUnavailable",
    "Workspace",
    "can",
    "default_store_url",
    "open_store",
]

Progress = Callable[[int, int, str], None]


def default_store_url() -> str:
    """The real decision store of this installation (WBCREVIEW_DB, else the SQLite file in
    WBCREVIEW_HOME), never the demo store: sign-ins and sessions live there."""
    return default_url()


def open_store(url: str) -> Store:
    """Open (create and migrate) the decision store at `url`, for a caller that keeps one per
    URL and process (the UI's cached resources) and attaches it with `Workspace.attach` or
    `with_store`. Raises StoreUnavailable when the database cannot be reached."""
    return Store.open(url)


@dataclass(frozen=True)
class QueueMade:
    """A queue just stored: its id, its title and how many cells it holds."""

    id: int
    title: str
    cells: int


class _Parts:
    """What a Workspace opens lazily, shared by its per-user views (and the UI's threads)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.catalog: catalog_mod.Catalog | None = None
        self.store: Store | None = None


class Workspace:
    """A copy of the release and its decisions, seen by one user (or nobody, for the CLI)."""

    def __init__(
        self,
        source: DataSource,
        *,
        db: str | None = None,
        user: Reviewer | None = None,
        demo_store: bool = True,
        progress: Progress | None = None,
    ):
        self.source = source
        self.user = user
        self._db = db
        self._demo_store = demo_store
        self._progress = progress
        self._parts = _Parts()  # shared with the views made by for_user()
        self._owner = True  # closes what it opened; views made by for_user() do not
        self._no_store = False  # with_store(None): the store use cases raise StoreError

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data: str | Path | None = None,
        db: str | None = None,
        user: Reviewer | None = None,
        *,
        demo_store: bool = True,
        require_copy: bool = True,
        progress: Progress | None = None,
    ) -> Workspace:
        """Open the workspace of `data` (None: the data-source rules) and store `db`.

        With `require_copy` (the CLI) a demo copy that has not been built yet is an error that
        says how to build it; the UI passes False and builds it with `ensure_demo()`. Raises
        SourceError for a named folder that does not exist, SettingError for a bad setting.
        """
        src = source_mod.resolve(data)
        ws = cls(src, db=db, user=user, demo_store=demo_store, progress=progress)
        if require_copy and not ws.has_copy:
            raise SourceError(
                f"no data configured and no demo copy at {src.root}: run `python -m wbcreview "
                f"demo --out {src.root}`, pass --data DIR, or set WBCREVIEW_DATA"
            )
        return ws

    @classmethod
    def attach(
        cls,
        source: DataSource,
        *,
        catalog: catalog_mod.Catalog | None = None,
        store: Store | None = None,
        user: Reviewer | None = None,
    ) -> Workspace:
        """A workspace over a catalog and a store opened elsewhere (the UI's cached
        resources, shared by every session); it closes neither."""
        ws = cls(source, db=store.url if store is not None else None, user=user)
        ws._parts.catalog, ws._parts.store, ws._owner = catalog, store, False
        return ws

    def for_user(self, user: Reviewer | None) -> Workspace:
        """The same copy, catalog and store, seen by `user` (cheap: nothing is reopened)."""
        view = Workspace(
            self.source,
            db=self._db,
            user=user,
            demo_store=self._demo_store,
            progress=self._progress,
        )
        view._parts, view._owner, view._no_store = self._parts, False, self._no_store
        return view

    def with_store(self, store: Store | None, user: Reviewer | None = None) -> Workspace:
        """The same copy and catalog with `store` (opened elsewhere, e.g. one per URL by the
        UI) seen by `user`; closes neither. `store=None`: a workspace without a store, whose
        store use cases raise StoreError."""
        view = Workspace(self.source, db=store.url if store is not None else self._db, user=user)
        view._parts = _Parts()
        view._parts.catalog, view._parts.store = self._parts.catalog, store
        view._owner, view._no_store = False, store is None
        return view

    @property
    def root(self) -> Path:
        """The data root."""
        return self.source.root

    @property
    def has_copy(self) -> bool:
        """False only for a demo copy that has not been built yet."""
        return self.source.has_copy

    def ensure_demo(self, progress: Progress | None = None) -> None:
        """Build the demo copy when it is the source and missing (first start only)."""
        if self.has_copy:
            return
        from wbcreview.demo import build as demo  # heavy (Pillow drawing): only on first start

        demo.build_demo(
            self.root,
            cells=config.get_int("WBCREVIEW_DEMO_CELLS", minimum=demo.MIN_CELLS),
            progress=progress or self._progress,
        )

    @property
    def catalog(self) -> catalog_mod.Catalog:
        """The copy's catalog, built first (with progress) when missing or stale."""
        parts = self._parts
        with parts.lock:
            if parts.catalog is None:
                if not self.has_copy:
                    self.ensure_demo()
                parts.catalog = catalog_mod.open_catalog(self.root, progress=self._progress)
            return parts.catalog

    @property
    def store_url(self) -> str:
        """The decision store this workspace uses (see the module docstring for the rule)."""
        if self._db:
            return self._db
        if self.source.is_demo and self._demo_store:
            from wbcreview.demo import votes as demo_votes

            return demo_votes.demo_store_url()
        return default_url()

    @property
    def store(self) -> Store:
        """The decision store, opened (created and migrated) on first use."""
        parts = self._parts
        with parts.lock:
            if parts.store is None:
                if self._no_store:
                    raise StoreError("the review store is not available (see the message above)")
                parts.store = Store.open(self.store_url)
            return parts.store

    @property
    def has_store(self) -> bool:
        """True when a store is open or attached (False: the page goes on without one)."""
        return self._parts.store is not None

    @property
    def store_or_none(self) -> Store | None:
        """The store if one is open or attached, else None (never opens one)."""
        return self._parts.store

    def close(self) -> None:
        """Close the catalog and the store if this workspace opened them."""
        if not self._owner:
            return
        parts = self._parts
        with parts.lock:
            if parts.store is not None:
                parts.store.close()
                parts.store = None
            if parts.catalog is not None:
                parts.catalog.close()
                parts.catalog = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def describe(self) -> str:
        """One line: where the data is and why this folder was chosen."""
        return self.source.describe()

    # --- the copy -----------------------------------------------------------------------------

    def health(self, decode_images: bool = False, progress: Progress | None = None):
        """The health report of the copy (see data/health.py)."""
        from wbcreview.data import health

        return health.check(
            self.root, catalog=self.catalog, decode_images=decode_images, progress=progress
        )

    def cells(self) -> pd.DataFrame:
        """One row per cell: cell_id, label (current), original_label (the challenge file's),
        split, patient_hash."""
        return workflow.catalog_cells(self.catalog.cursor())

    def import_labels(self, files: list[Path], names: list[str] | None = None) -> list[dict]:
        """Bring in original challenge label files; one summary dict per file.

        `names` are how messages call the files (uploads' own names; default: the paths).
        """
        permissions.require(self.user, "import_labels")
        return catalog_mod.import_label_files(self.root, files, names=names)

    def optimize(self, out: Path, rows_per_group: int, progress: Progress | None = None):
        """Write the copy again with small row groups (fast image reads) into `out`."""
        from wbcreview.data import optimize

        return optimize.optimize_copy(
            self.root, out, rows_per_group=rows_per_group, progress=progress
        )

    # --- decisions ----------------------------------------------------------------------------

    def seed_demo_votes(self, seed: int = 0) -> dict:
        """Seed the demo store with simulated votes from ten teams (DEMO DATA)."""
        from wbcreview.demo import votes as demo_votes

        return demo_votes.seed_demo_votes(self.store_url, self.cells(), seed)

    def final_decisions(self, include_agreed: bool = False) -> pd.DataFrame:
        """The final decision of every decided cell (the correction list), as this
        workspace's user may see it (review/permissions.py; no user: everything)."""
        from wbcreview.curation import export

        return export.final_decisions(
            self.catalog.cursor(), self.store, include_agreed=include_agreed, viewer=self.user
        )

    def export_bytes(
        self, fmt: str, *, split: str | None = None, include_agreed: bool = False
    ) -> tuple[bytes, pd.DataFrame]:
        """The correction list as file bytes in `fmt` (csv, parquet, json, challenge)."""
        from wbcreview.curation import export

        frame = self.final_decisions(include_agreed=include_agreed)
        if fmt == "challenge":
            if not split:
                raise export.DecisionsError("--format challenge needs --split SPLIT")
            return self.challenge_bytes(frame, split), frame
        return export.export_bytes(frame, fmt), frame

    def challenge_bytes(self, frame: pd.DataFrame, split: str, report=None) -> bytes:
        """The split's challenge label file (`ID,labels,split`) with `frame`'s corrections.
        Raises DecisionsError for a copy whose health `report` (default: checked now) fails."""
        from wbcreview.curation import export

        report = self.health() if report is None else report
        return export.challenge_bytes(self.cursor(), frame, split, report)

    def protected_paths(self) -> list[Path]:
        """What an output file may never overwrite: the data copy, the catalogs, the store."""
        from wbcreview import files

        return [self.root, config.data_dir() / "catalog", *files.sqlite_files(self.store_url)]

    def apply(self, out: Path, decisions_file: Path | None = None, progress=None):
        """Write a curated copy into `out`: the store's final decisions, or those of a file."""
        from wbcreview.curation import apply, export

        if decisions_file is not None:
            frame = export.read_decisions(decisions_file)
        else:
            frame = self.final_decisions()
        return apply.apply_decisions(self.root, out, frame, progress=progress)

    def import_votes(self, file: Path, team: str, name: str | None = None):
        """Import a team's offline vote file; return its ImportReport (new and stored rows).

        `name` is how messages call the file (an upload's own name; default: the path).
        """
        from wbcreview.curation import imports

        permissions.require(self.user, "import_votes")
        return imports.import_vote_file(file, team, self.store, self.catalog.cursor(), name=name)

    # --- reading the catalog (the screens' grids, tiles and cached reads) -------------------

    def catalog_needs_build(self) -> bool:
        """True when the copy's catalog is missing or stale (a shard or side file changed)."""
        return catalog_mod.needs_build(self.root)

    def build_catalog(self, progress: Progress | None = None) -> str:
        """Build the catalog when it is missing or stale; return its fingerprint."""
        return catalog_mod.ensure_built(self.root, progress=progress)

    def catalog_info(self, rebuild: bool = False) -> str:
        """The catalog's description as JSON text (shards, rows, build time); with `rebuild`
        the catalog is built again first even when it is current."""
        with catalog_mod.open_catalog(self.root, progress=self._progress, rebuild=rebuild) as cat:
            return catalog_mod.dumps_info(cat)

    def current_fingerprint(self) -> str:
        """The fingerprint the copy's files have now (rechecked at most every few seconds)."""
        return catalog_mod.current_fingerprint(self.root)

    def open_catalog(self) -> Workspace:
        """Open the catalog now (building it first when needed) and return this workspace."""
        _ = self.catalog
        return self

    @property
    def fingerprint(self) -> str:
        """The opened catalog's fingerprint: the key of every cached read about the copy."""
        return self.catalog.fingerprint

    def cursor(self):
        """A new DuckDB cursor on the catalog (one per script run or thread: cursors must
        not be shared across threads)."""
        return self.catalog.cursor()

    def shard_paths(self) -> dict[int, str]:
        """shard_id -> absolute path of every shard the catalog indexes."""
        return self.catalog.shard_paths()

    def summary(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows per config/split/label/severity, rows and patients per config/split)."""
        from wbcreview.data import health

        return health.summary(self.catalog)

    # --- queues ------------------------------------------------------------------------------

    def queues(self) -> pd.DataFrame:
        """Every queue (id, name, kind, cells, ...), oldest first; empty when there is none."""
        return self.store.list_queues()

    def queue(self, queue_id: int) -> Queue:
        """The queue `queue_id`; raises StoreError when the store has no such queue."""
        return self.store.queue(queue_id)

    def queue_cells(self, queue: Queue | int) -> list[str]:
        """The queue's cells in this user's order (a seeded queue shuffles per reviewer, with
        calibration cells mixed in); empty for an empty queue."""
        return self.store.queue_cells(queue.id if isinstance(queue, Queue) else queue, self.user)

    def create_queue(
        self, title: str, kind: str, cells: list[str], definition: dict | None = None
    ) -> int:
        """Store a queue of `cells` and return its id. Raises PermissionDenied unless the
        user may manage queues, InvalidVote for an empty or over-long title or no cells."""
        return self.store.create_queue(self.user, title, kind, cells, definition=definition)

    def queue_from_filter(self, f, name: str = "", **options) -> QueueMade:
        """A queue of every pristine cell the Browse filter `f` selects. `options`:
        hide_label, seeded_order, calibration_share (see workflow.queue_definition).
        Raises ReviewError for an empty filter or one that selects no cell."""
        if not f.to_params():
            raise workflow.ReviewError("no Browse filter: choose another source")
        cells = workflow.cells_for_filter(self.cursor(), f)
        definition = workflow.queue_definition("filter", f=f, **options)
        detail = workflow.describe_filter(f)
        return self._made("filter", name, detail, cells, definition)

    def queue_from_ids(self, data: bytes | str, file_name: str, name: str = "", **options):
        """A queue of the cells a list of image ids names (a CSV with an image_id or ID
        column, or one id a line; degraded ids map to their source cell). Raises ReviewError
        listing the ids the copy does not have."""
        cells = workflow.cells_from_ids(self.cursor(), data, file_name).cell_ids
        definition = workflow.queue_definition("import", file=file_name, **options)
        return self._made("import", name, file_name, cells, definition)

    def queue_of_differing(self, name: str = "", **options) -> QueueMade:
        """A queue of the cells whose label differs from the original challenge file's.
        Raises ReviewError when no original label file was imported or none differs."""
        cells = workflow.cells_differing(self.cursor())
        definition = workflow.queue_definition("differs", **options)
        return self._made("differs", name, "", cells, definition)

    def _made(self, kind, name, detail, cells, definition) -> QueueMade:
        title = name.strip() or workflow.default_queue_name(kind, detail, len(cells))
        queue_id = self.create_queue(title, kind, cells, definition)
        return QueueMade(queue_id, title, len(cells))

    # --- votes and consensus -----------------------------------------------------------------

    @property
    def blind(self) -> bool:
        """True when the store runs blind review (annotators see others' votes on a cell only
        after voting on it)."""
        return self.store.blind

    @property
    def is_demo_store(self) -> bool:
        """True when the store holds the simulated demo votes (say so on every review page).
        Raises StoreError when the database went away."""
        return self.store.is_demo

    def sees_others(self) -> bool:
        """True when this user may see other reviewers' votes, tallies and notes."""
        return self.store.sees_others(self.user)

    def votes(self) -> pd.DataFrame:
        """Every vote row this user may see, undo rows included (the audit log's votes)."""
        return self.store.votes_frame(self.user)

    def current_votes(self) -> pd.DataFrame:
        """Each reviewer's current vote per cell (undone votes left out), as the user may
        see them."""
        return self.store.current_votes(self.user)

    def votes_for_cell(self, cell_id: str) -> pd.DataFrame:
        """The current votes on one cell, oldest first. Raises PermissionDenied for an
        annotator without a vote on it under blind review (vote first)."""
        return self.store.votes_for_cell(cell_id, self.user)

    def vote_states(self, cells: Iterable[str]) -> dict[str, list]:
        """This user's own current vote on each of `cells` that has one (the review loop's
        badges). Raises StoreUnavailable while the database is down."""
        from wbcreview.review import events

        return events.vote_states(self.store, self.user, list(cells))

    def apply_loop_events(
        self, queue_id: int | None, events: list, labels, cells, done=(), undo_cell=None
    ):
        """Store the review loop's events (votes, undo, sign-off) for this user in order,
        each exactly once; `queue_id` None: votes of no queue (the Cell page, Browse tiles),
        where `undo_cell` scopes an undo to one cell. See review/events.apply_events for what
        comes back."""
        from wbcreview.review import events as loop_events

        return loop_events.apply_events(
            self.store, self.user, queue_id, events, labels, cells, done=done, undo_cell=undo_cell
        )

    def aggregation_choice(self) -> tuple[str, float]:
        """The project's (method, threshold); the defaults when an admin has not chosen."""
        return aggregation.choice(self.store.aggregation_choice())

    def set_aggregation(self, method: str, threshold: float) -> None:
        """Make (method, threshold) the project's choice. Raises PermissionDenied unless the
        user is an admin, InvalidVote for an unknown method or a threshold outside 0.5-1."""
        self.store.set_aggregation(self.user, method, threshold)

    def consensus(
        self,
        cells: pd.DataFrame | None = None,
        method: str | None = None,
        threshold: float | None = None,
    ):
        """(current votes, current adjudications, consensus table) as this user may see them,
        under `method` and `threshold` (None: the project's choice). `cells` is
        `self.cells()` when not given (pass it when it is cached). Calibration weights are
        used only for a user who may see every vote."""
        cells = self.cells() if cells is None else cells
        votes = self.current_votes()
        adjudications = self.current_adjudications()
        if method is None:
            method, threshold = self.aggregation_choice()
        see_all = permissions.can(self.user, "see_all_votes")  # None: the trusted caller
        calibration = self.calibration() if see_all else None
        table = workflow.consensus_overview(
            votes, adjudications, cells, quorum=threshold, method=method, calibration=calibration
        )
        return votes, adjudications, table

    def annotator_models(self, cells: pd.DataFrame, method: str):
        """(each annotator's estimated accuracy, their confusion matrices) under `method`."""
        result = aggregation.aggregate(
            self.current_votes(),
            workflow.labels_of(cells),
            method=method,
            calibration=self.store.calibration_frame(self.user),
        )
        return result.annotators, result.confusion

    # --- adjudication and audit --------------------------------------------------------------

    def adjudications(self) -> pd.DataFrame:
        """Every adjudication row this user may see, undo rows included."""
        return self.store.adjudications_frame(self.user)

    def current_adjudications(self) -> pd.DataFrame:
        """The current final decision per adjudicated cell (undone ones left out)."""
        return self.store.current_adjudications(self.user)

    def adjudicate(self, cell_id: str, action: str, **decision) -> str:
        """Record this user's final decision on a cell (label for 'correct', reason for
        'remove', note, uid) and return its uid; the same uid twice stores it once. Raises
        PermissionDenied unless the user may adjudicate, InvalidVote for a bad decision."""
        return self.store.adjudicate(self.user, cell_id, action, **decision)

    def undo_adjudication(self, cell_id: str, uid: str) -> bool:
        """Undo the cell's current decision (the previous one, if any, is current again;
        nothing is deleted). False when the cell has no current decision."""
        current = self.current_adjudications()
        current = current[current["cell_id"] == cell_id]
        if current.empty:
            return False
        self.store.undo_adjudication(self.user, current["uid"].iloc[-1], uid=uid)
        return True

    def accept_consensus(self, decisions: pd.DataFrame, note: str | None, uid: str) -> list:
        """Record the agreed consensus decisions as final in one step (idempotent by `uid`:
        a retry after an error adds nothing twice); return the uids added."""
        return self.store.accept_consensus(decisions, self.user, note=note, uid=uid)

    def history(self, cell_id: str) -> pd.DataFrame:
        """Every vote and adjudication of a cell, undo rows included, oldest first. Raises
        PermissionDenied for an annotator who has not voted on it under blind review."""
        return self.store.history(cell_id, self.user)

    def audit_log(self) -> pd.DataFrame:
        """Votes and adjudications in one table, as this user may see them."""
        return workflow.audit_log(self.votes(), self.adjudications())

    # --- calibration ---------------------------------------------------------------------------

    def calibration(self) -> pd.DataFrame:
        """The calibration cells (cells with a known answer), as this user may see them."""
        return self.store.calibration_frame(self.user)

    def calibration_candidates(self, cells: pd.DataFrame | None = None) -> list[dict]:
        """The expert's current decisions that are not calibration cells yet."""
        cells = self.cells() if cells is None else cells
        return workflow.calibration_candidates(
            self.current_adjudications(), self.calibration(), workflow.labels_of(cells)
        )

    def add_calibration(self, rows: Iterable[dict]) -> int:
        """Mark each row (cell_id, action, label, reason) as a calibration cell; return how
        many. Raises PermissionDenied unless the user may manage queues; rows stored before
        an error stay stored."""
        count = 0
        for row in rows:
            self.store.add_calibration(
                self.user, row["cell_id"], row["action"], label=row["label"], reason=row["reason"]
            )
            count += 1
        return count

    # --- predictions, suspect ranking and scores ---------------------------------------------

    def prediction_files(self) -> list:
        """The stored prediction files (PredictionInfo), oldest first."""
        from wbcreview.triage import predictions

        return predictions.list_predictions(self.root)

    def predictions_stamp(self, names: Iterable[str]) -> tuple:
        """(name, size, mtime) of each named prediction file: what a cached result over
        these files depends on."""
        wanted = set(names)
        out = []
        for info in self.prediction_files():
            if info.name in wanted:
                stat = info.path.stat()
                out.append((info.name, stat.st_size, stat.st_mtime_ns))
        return tuple(out)

    def predictions(self, name: str) -> pd.DataFrame:
        """One stored prediction file; raises PredictionsError when there is none by that name."""
        from wbcreview.triage import predictions

        return predictions.load_predictions(self.root, name)

    def import_predictions(self, data: bytes, name: str, filename: str, **options):
        """Check a prediction file's bytes against the copy and store it as `name` (the same
        name replaces); raises PredictionsError listing every problem, nothing stored."""
        from wbcreview.triage import predictions

        permissions.require(self.user, "import_predictions")
        return predictions.import_predictions(
            self.root, self.cursor(), data, name, filename=filename, **options
        )

    def run_baseline(self, reader=None, progress: Progress | None = None, **options):
        """Fit the built-in baseline out of fold by patient and store it as a prediction file
        (name, seed in `options`); features are cached, a second run takes seconds."""
        from wbcreview.triage import baseline

        permissions.require(self.user, "run_baseline")
        return baseline.run_baseline(self.catalog, reader=reader, progress=progress, **options)

    def suspect_ranking(self, names: Iterable[str] | None = None, method: str | None = None):
        """The suspect ranking from the named prediction files (all by default), lowest
        label-quality score first; empty (with its columns) when no file is stored."""
        from wbcreview.triage import ranking

        return ranking.ranking(self.catalog, names, method or ranking.DEFAULT_METHOD)

    def queue_of_suspects(self, table: pd.DataFrame, top_k: int, name: str = "", skip=True):
        """A review queue of the ranking's top `top_k` cells; with `skip`, cells that already
        have a final decision are left out. Raises TriageError when no cell is left."""
        from wbcreview.triage import ranking

        decided = set(self.store.current_adjudications()["cell_id"]) if skip else set()
        title = name.strip() or ranking.default_queue_name(table, int(top_k))
        queue_id = ranking.make_queue(self.store, self.user, title, table, int(top_k), decided)
        return QueueMade(queue_id, title, len(ranking.queue_cells(table, int(top_k), decided)))

    def scores(self, names: Iterable[str] | None, decisions: pd.DataFrame, kinds=None):
        """(summary, per-class) scores of the named prediction files (all by default) before
        and after `decisions`; raises ScoresError when no prediction file is stored."""
        from wbcreview.triage import ranking, scores

        files = ranking.load_all(self.root, list(names) if names is not None else None)
        if not files:
            raise scores.ScoresError(
                "no stored predictions: run `baseline` or `import-predictions`"
            )
        kinds = scores.GROUP_KINDS if kinds is None else kinds
        return scores.score_table(self.cursor(), files, decisions, kinds=kinds)

    def scored_rows(self, name: str, decisions: pd.DataFrame) -> pd.DataFrame:
        """One prediction file's rows with the original, predicted and curated label."""
        from wbcreview.triage import scores

        cur = self.cursor()
        return scores.scored_rows(
            cur, self.predictions(name), scores.reference_labels(cur, decisions)
        )

    def score_movers(self, name: str, decisions: pd.DataFrame) -> pd.DataFrame:
        """The decisions that moved the file's macro-F1 most (each left out in turn)."""
        from wbcreview.triage import scores

        return scores.movers(self.cursor(), self.predictions(name), decisions)

    # --- duplicates, unusable images, look-alikes ---------------------------------------------

    def scanned(self) -> bool:
        """True when the images' signatures of the copy in its current state are cached."""
        from wbcreview.triage import signatures

        return signatures.is_cached(self.catalog)

    def scan(self, reader=None, progress: Progress | None = None) -> None:
        """Decode every pristine image once and cache its signature beside the catalog."""
        from wbcreview.triage import signatures

        signatures.cached(self.catalog, reader, progress)

    def scan_key(self) -> str:
        """What the finders' cached results depend on: the signature cache's name."""
        from wbcreview.triage import signatures

        return signatures.cache_path(self.catalog).name

    def duplicates(self, reader=None, progress: Progress | None = None, **options):
        """Every exact and near duplicate pair (min_similarity in `options`), leakage first."""
        from wbcreview.triage import duplicates

        return duplicates.duplicates(self.catalog, reader, progress, **options)

    def queue_of_duplicates(self, pairs: pd.DataFrame, groups: Iterable[int]) -> QueueMade:
        """A review queue of the cells of duplicate `groups` (ids of `pairs`' groups)."""
        from wbcreview.triage import duplicates

        groups = [int(g) for g in groups]
        queue_id = duplicates.make_queue(self.store, self.user, pairs, groups)
        title = duplicates.default_queue_name(pairs, groups)
        return QueueMade(queue_id, title, len(groups))

    def unusable(self, reader=None, progress: Progress | None = None, **options):
        """(scores of every scanned image, flagged issues worst first); `checks` in
        `options` limits the checks."""
        from wbcreview.triage import quality

        return quality.unusable(self.catalog, reader, progress, **options)

    def queue_of_unusable(self, found: pd.DataFrame, top_k: int) -> QueueMade:
        """A review queue of the `top_k` worst flagged cells."""
        from wbcreview.triage import quality

        queue_id = quality.make_queue(self.store, self.user, found, int(top_k))
        return QueueMade(queue_id, quality.default_queue_name(found, int(top_k)), int(top_k))

    def lookalikes_ready(self) -> bool:
        """True when the look-alike index needs no long computation (features cached)."""
        from wbcreview.triage import similar

        return similar.is_ready(self.catalog)

    def index_lookalikes(self, method: str | None = None, reader=None, progress=None) -> None:
        """Build the look-alike index of the copy (once per copy state and process)."""
        from wbcreview.triage import similar

        similar.index(
            self.catalog, method or similar.DEFAULT_EMBEDDING, reader=reader, progress=progress
        )

    def lookalikes(self, cell_id: str, k: int | None = None, method: str | None = None):
        """The `k` nearest cells of the cell's own class and of other classes, nearest
        first; raises SimilarError for a cell with no pristine row."""
        from wbcreview.triage import similar

        return similar.lookalikes(
            self.catalog,
            cell_id,
            k=k or similar.DEFAULT_K,
            method=method or similar.DEFAULT_EMBEDDING,
        )
