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
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from wbcreview import config
from wbcreview.data import catalog as catalog_mod
from wbcreview.data import source as source_mod
from wbcreview.data.source import DataSource, SourceError
from wbcreview.review import workflow
from wbcreview.review.store import Reviewer, Store, default_url

Progress = Callable[[int, int, str], None]


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
        view._parts, view._owner = self._parts, False
        return view

    @property
    def root(self) -> Path:
        """The data root."""
        return self.source.root

    @property
    def has_copy(self) -> bool:
        """False only for a demo copy that has not been built yet."""
        return not self.source.is_demo or (self.source.root / "README.md").exists()

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
                parts.store = Store.open(self.store_url)
            return parts.store

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
        """The final decision of every decided cell (the correction list)."""
        from wbcreview.curation import export

        return export.final_decisions(
            self.catalog.cursor(), self.store, include_agreed=include_agreed
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
            report = self.health()  # a copy that fails `check` gives no challenge labels
            return export.challenge_bytes(self.catalog.cursor(), frame, split, report), frame
        return export.export_bytes(frame, fmt), frame

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

        return imports.import_vote_file(file, team, self.store, self.catalog.cursor(), name=name)
