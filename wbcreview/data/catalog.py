"""The catalog: a DuckDB table of every row's metadata, persisted per data root.

The catalog holds every column but the image bytes, plus the config, the shard, the row
number in the shard and, where the byte locator could find them, the file offset and
length of the image bytes. It is built without loading image bytes into memory (only the
metadata column chunks are read) and persisted under `<WBCREVIEW_HOME>/catalog/`, keyed by
each shard's size and mtime: a second open of an unchanged copy does not rescan, a changed
shard causes a rebuild.

Concurrency: the catalog file is only ever opened read-only once built. A build writes a
new file beside it and renames it into place, so any number of processes (the app, the
CLI) can read while one rebuilds; a DuckDB file admits one writing process only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wbcreview import config
from wbcreview.data import labels, locator
from wbcreview.data.release import (
    CLASS_CODES,
    DEGRADATION_PARAMS,
    METADATA_COLUMNS,
    ORIGINAL_LABELS_DIR,
)
from wbcreview.data.source import Shard, discover
from wbcreview.errors import WbcreviewError
from wbcreview.files import process_alive

# Bump when the tables below change: older catalogs are rebuilt on open.
CATALOG_VERSION = 4

Progress = Callable[[int, int, str], None]


class CatalogError(WbcreviewError):
    """The catalog could not be built or opened."""


@dataclass(frozen=True)
class ShardSchemaProblem:
    """Why a shard's columns cannot go into the catalog."""

    relpath: str
    message: str


def catalog_prefix(root: Path) -> str:
    """The file-name prefix of every catalog version of the copy at `root`."""
    root = Path(root).resolve()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.name or "root")[:40]
    return f"{slug}-{hashlib.sha1(str(root).encode()).hexdigest()[:12]}"


def catalog_path(root: Path, fingerprint: str) -> Path:
    """The DuckDB file that holds the catalog of `root` in the state `fingerprint` names.

    Each state gets its own file: DuckDB shares one database instance per path within a
    process, so a handle still open on an old catalog would otherwise hide a rebuilt one.
    """
    return config.catalog_dir() / f"{catalog_prefix(root)}-{fingerprint[:16]}.duckdb"


def remove(root: Path) -> None:
    """Delete every persisted catalog version of `root` (open handles keep reading theirs)."""
    for old in _versions(root):
        old.unlink(missing_ok=True)


def _versions(root: Path) -> list[Path]:
    """Every built catalog file of `root` (never another process's file being built)."""
    pattern = re.compile(re.escape(catalog_prefix(root)) + r"-[0-9a-f]{16}\.duckdb")
    return [p for p in config.catalog_dir().iterdir() if pattern.fullmatch(p.name)]


def schema_problems(schema: pa.Schema) -> list[str]:
    """Return what is wrong with a shard's arrow schema (empty when it is usable).

    Accepts string or large_string for text columns and binary or large_binary for the
    image bytes; the image column must be a struct with a `bytes` field.
    """
    problems = []
    names = set(schema.names)
    for name in ("image", *METADATA_COLUMNS):
        if name not in names:
            problems.append(f"missing column {name!r}")
            continue
        typ = schema.field(name).type
        if name == "image":
            if not pa.types.is_struct(typ) or typ.get_field_index("bytes") < 0:
                problems.append(
                    f"column 'image' is {typ}, expected struct<bytes: binary, path: string>"
                )
            else:
                inner = typ.field(typ.get_field_index("bytes")).type
                if not (pa.types.is_binary(inner) or pa.types.is_large_binary(inner)):
                    problems.append(f"column 'image.bytes' is {inner}, expected binary")
        elif not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
            problems.append(f"column {name!r} is {typ}, expected string")
    return problems


def _fingerprint(root: Path, shards: list[Shard]) -> str:
    """A text that changes whenever a shard or a metadata file the catalog reads changes."""
    parts = [f"v{CATALOG_VERSION}"]
    parts += [f"{s.relpath}|{s.config}|{s.split}|{s.size}|{s.mtime_ns}" for s in shards]
    for extra in _side_files(root):
        stat = extra.stat()
        parts.append(f"{extra}|{stat.st_size}|{stat.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def imported_labels_dir(root: Path) -> Path:
    """Where `import-labels` keeps the original label files a user brought for `root`."""
    return config.data_dir() / "original_labels" / catalog_prefix(root)


def original_label_files(root: Path) -> list[Path]:
    """The original challenge label files of a copy: its own, then the imported ones."""
    root = Path(root)
    return sorted((root / ORIGINAL_LABELS_DIR).glob("*.csv")) + sorted(
        imported_labels_dir(root).glob("*.csv")
    )


def _side_files(root: Path) -> list[Path]:
    files = original_label_files(root)
    params = root / DEGRADATION_PARAMS
    if params.is_file():
        files.append(params)
    return files


@dataclass(frozen=True)
class CatalogSummary:
    """What a copy holds, as counts (`Catalog.summary()`); treat the frames as read-only.

    `counts`: config, split, label, severity, rows, cells (one row per combination present).
    `patients`: config, split, rows, patients.
    """

    fingerprint: str
    counts: pd.DataFrame
    patients: pd.DataFrame

    def total(self, by: str) -> dict[str, int]:
        """Rows per value of one column of `counts` (config, split, label or severity)."""
        return {str(k): int(v) for k, v in self.counts.groupby(by)["rows"].sum().items()}


_SUMMARIES: dict[str, CatalogSummary] = {}
_SUMMARY_ENTRIES = 8  # catalog states kept (a few copies, each a few KB)
_SUMMARY_LOCK = threading.Lock()


class Catalog:
    """A read-only handle on a built catalog. Use `cursor()` once per script run or thread."""

    def __init__(self, root: Path, path: Path, fingerprint: str):
        self.root = Path(root)
        self.path = path
        self.fingerprint = fingerprint
        self._con = duckdb.connect(str(path), read_only=True, config={"memory_limit": "256MB"})
        self._lock = threading.Lock()
        self._index = None  # built on first locate()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor: DuckDB connections must not be shared across threads."""
        with self._lock:
            return self._con.cursor()

    def close(self) -> None:
        """Close the connection (cursors made from it stop working)."""
        self._con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def shard_paths(self) -> dict[int, str]:
        """shard_id -> absolute path of the shard file."""
        rows = self.cursor().execute("SELECT shard_id, relpath FROM shards").fetchall()
        return {sid: str(self.root / rel) for sid, rel in rows}

    def skipped(self) -> list[ShardSchemaProblem]:
        """Shards left out of the catalog because their file or columns are unusable."""
        rows = (
            self.cursor()
            .execute(
                "SELECT relpath, problem FROM shards WHERE problem IS NOT NULL ORDER BY relpath"
            )
            .fetchall()
        )
        return [ShardSchemaProblem(r, p) for r, p in rows]

    def locate(self, image_ids: list[str], config: str | None = None) -> list[tuple | None]:
        """(shard_id, row, img_offset, img_length) of each image id, in order (None if absent).

        `config` None takes the pristine row where both configs have the id. A sorted
        numeric index built once per handle answers in microseconds (release ids are
        8-digit strings); other ids fall back to a DuckDB query.
        """
        index = self._id_index()
        if index is None or not all(i.isdigit() and len(i) <= 17 for i in image_ids):
            return self._locate_sql(image_ids, config)
        keys, rows = index
        out: list[tuple | None] = []
        for image_id in image_ids:
            found = None
            for cfg in [config] if config else ["pristine", "degraded"]:
                key = int(image_id) * 2 + (cfg != "pristine")
                pos = int(np.searchsorted(keys, key))
                if pos < len(keys) and keys[pos] == key:
                    found = tuple(None if v < -1 else int(v) for v in rows[pos])
                    break
            out.append(found)
        return out

    def _id_index(self):
        with self._lock:
            if self._index is None:
                cur = self._con.cursor()
                ok = cur.execute(
                    "SELECT bool_and(regexp_full_match(image_id, '[0-9]{1,17}')) AND "
                    "bool_and(config IN ('pristine', 'degraded')) FROM cells"
                ).fetchone()[0]
                if not ok:
                    self._index = False
                else:
                    a = cur.execute(
                        "SELECT CAST(image_id AS BIGINT) * 2 + (config <> 'pristine')::INT AS key, "
                        "shard_id, row, coalesce(img_offset, -2) AS off, "
                        "coalesce(img_length, -2) AS len FROM cells ORDER BY key"
                    ).fetchnumpy()
                    rows = np.column_stack([a["shard_id"], a["row"], a["off"], a["len"]])
                    self._index = (np.asarray(a["key"]), rows.astype(np.int64))
            return self._index or None

    def _locate_sql(self, image_ids, config):
        rows = (
            self.cursor()
            .execute(
                "SELECT image_id, config, shard_id, row, img_offset, img_length FROM cells "
                "WHERE list_contains(?, image_id)",
                [list(image_ids)],
            )
            .fetchall()
        )
        found: dict = {}
        for image_id, cfg, *rest in rows:
            if config and cfg != config:
                continue
            if image_id not in found or cfg == "pristine":
                found[image_id] = tuple(rest)
        return [found.get(i) for i in image_ids]

    def summary(self) -> CatalogSummary:
        """Rows per config/split/class/severity and rows and patients per config/split.

        Computed once per catalog state (fingerprint) in this process and shared by every
        handle on it: the home page reads its counts and charts from here.
        """
        with _SUMMARY_LOCK:
            cached = _SUMMARIES.get(self.fingerprint)
        if cached is not None:
            return cached
        cur = self.cursor()
        counts = cur.execute(
            "SELECT config, split, label, severity, count(*) AS rows, "
            "count(DISTINCT cell_id) AS cells FROM cells GROUP BY ALL ORDER BY ALL"
        ).df()
        patients = cur.execute(
            "SELECT config, split, count(*) AS rows, count(DISTINCT patient_hash) AS patients "
            "FROM cells GROUP BY ALL ORDER BY ALL"
        ).df()
        made = CatalogSummary(self.fingerprint, counts, patients)
        with _SUMMARY_LOCK:
            while len(_SUMMARIES) >= _SUMMARY_ENTRIES:
                _SUMMARIES.pop(next(iter(_SUMMARIES)))
            return _SUMMARIES.setdefault(self.fingerprint, made)

    def side_problems(self) -> list[str]:
        """Problems with the copy's other files (original label files) found while building."""
        rows = self.cursor().execute("SELECT problem FROM side_problems ORDER BY file").fetchall()
        return [r[0] for r in rows]

    def built_at(self) -> str:
        """When this catalog was built (UTC, ISO 8601)."""
        return self.cursor().execute("SELECT built_at FROM catalog_meta").fetchone()[0]

    def build_seconds(self) -> float:
        """How long the build of this catalog took."""
        return self.cursor().execute("SELECT build_seconds FROM catalog_meta").fetchone()[0]


def ensure_built(root: Path, progress: Progress | None = None, rebuild: bool = False) -> str:
    """Build the catalog of `root` if it is missing or stale; return its fingerprint.

    `progress(done, total, message)` is called per shard during a build. Raises
    CatalogError when `root` has no shards.
    """
    root = Path(root).resolve()
    shards = discover(root)
    if not shards:
        raise CatalogError(f"no parquet shards found under {root}")
    fingerprint = _fingerprint(root, shards)
    path = catalog_path(root, fingerprint)
    if rebuild or not path.is_file():
        _build_once(root, shards, path, fingerprint, progress, rebuild)
    return fingerprint


class _Build:
    """A build of one catalog file going on in this process: its latest progress, and done."""

    def __init__(self):
        self.done = threading.Event()
        self.latest: tuple[int, int, str] | None = None

    def report(self, progress: Progress | None) -> Progress:
        def both(done: int, total: int, message: str) -> None:
            self.latest = (done, total, message)
            if progress:
                progress(done, total, message)

        return both

    def follow(self, progress: Progress | None) -> None:
        """Wait until the build ends, passing its progress on to `progress`."""
        seen = None
        while not self.done.wait(0.2):
            if progress and self.latest is not None and self.latest != seen:
                seen = self.latest
                progress(*seen)


_BUILDS: dict[Path, _Build] = {}
_BUILDS_LOCK = threading.Lock()


def _build_once(root, shards, path: Path, fingerprint: str, progress, rebuild: bool) -> None:
    """Build `path`, once in this process: a caller that finds another thread building it
    (the server's warm-up, another session) waits for that build and sees its progress
    instead of building the same catalog a second time. If that build fails, the waiting
    caller tries once itself (and reports its own error)."""
    while True:
        with _BUILDS_LOCK:
            running = _BUILDS.get(path)
            if running is None:
                if not rebuild and path.is_file():
                    return
                running = _BUILDS[path] = _Build()
                break
        running.follow(progress)
        rebuild = False  # the build waited for was the one asked for
    try:
        _build(root, shards, path, fingerprint, running.report(progress))
        for old in _versions(root):
            if old != path:
                old.unlink(missing_ok=True)  # readers of old versions keep their open file
    finally:
        with _BUILDS_LOCK:
            del _BUILDS[path]
        running.done.set()


def needs_build(root: Path) -> bool:
    """True when opening the catalog of `root` would build it first."""
    return not catalog_path(root, current_fingerprint(root)).is_file()


def open_catalog(root: Path, progress: Progress | None = None, rebuild: bool = False) -> Catalog:
    """Open the catalog of the copy at `root`, building it first if it is missing or stale."""
    fingerprint = ensure_built(root, progress, rebuild)
    return Catalog(Path(root).resolve(), catalog_path(root, fingerprint), fingerprint)


# How often `current_fingerprint` looks at the files again (seconds).
WATCH_SECONDS = 1.0


@dataclass
class _Watched:
    fingerprint: str
    stamps: tuple  # (path, size, mtime_ns) of every file and folder the fingerprint rests on
    checked: float  # time.monotonic() of the last look
    shards: list[Shard]


_WATCHED: dict[str, _Watched] = {}
_WATCH_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_size, st.st_mtime_ns)


def _stamps(root: Path, shards: list[Shard]) -> tuple:
    """Stats of what the fingerprint is made from, plus the folders where a new shard or
    label file would appear (adding, removing or renaming a file changes its folder)."""
    folders = {root, root / ORIGINAL_LABELS_DIR, imported_labels_dir(root)}
    folders |= {s.path.parent for s in shards}
    folders |= {p for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    files = [root / "README.md", root / DEGRADATION_PARAMS, *(s.path for s in shards)]
    files += original_label_files(root)
    return tuple(_stamp(p) for p in sorted(folders) + files)


def current_fingerprint(root: Path, max_age: float | None = None) -> str:
    """The fingerprint the catalog of `root` would have now.

    Computed once per change of the copy: within `max_age` seconds (default WATCH_SECONDS)
    of the last look the known value is returned without touching the disk; after that a
    stat of the shards, side files and their folders decides whether the copy changed, and
    only then is the dataset card read and the shards listed again. Raises SourceError when
    the folder does not exist.
    """
    root = Path(root).resolve()
    key = str(root)
    age = WATCH_SECONDS if max_age is None else max_age
    now = time.monotonic()
    with _WATCH_LOCK:
        seen = _WATCHED.get(key)
    if seen is not None and now - seen.checked < age:
        return seen.fingerprint
    if seen is not None:
        try:
            unchanged = _stamps(root, seen.shards) == seen.stamps
        except OSError:
            unchanged = False
        if unchanged:
            seen.checked = now
            return seen.fingerprint
    shards = discover(root)
    fingerprint = _fingerprint(root, shards)
    with _WATCH_LOCK:
        _WATCHED[key] = _Watched(fingerprint, _stamps(root, shards), now, shards)
    return fingerprint


_CELLS_DDL = """
CREATE TABLE cells (
    config VARCHAR, split VARCHAR, shard_id INTEGER, "row" BIGINT,
    image_id VARCHAR, label VARCHAR, wbcbench_split VARCHAR, severity VARCHAR,
    original_image_id VARCHAR, patient_hash VARCHAR, image_path VARCHAR,
    img_offset BIGINT, img_length BIGINT, cell_id VARCHAR
)
"""


_BUILDING_RE = re.compile(r"\..+\.building-(\d+)-\d+\.duckdb(\.wal|\.tmp)?")


def remove_abandoned_builds(folder: Path) -> list[Path]:
    """Delete what builds of processes that are gone left in `folder` (a server stopped in
    the middle of its start-up build: the file, its WAL, DuckDB's spill folder); return
    the paths removed. A build of a live process is never touched."""
    removed = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = _BUILDING_RE.fullmatch(path.name)
        if match is None or process_alive(int(match.group(1))):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _build(root: Path, shards: list[Shard], path: Path, fingerprint: str, progress) -> None:
    started = time.perf_counter()
    remove_abandoned_builds(path.parent)
    # A hidden name no cleanup pattern matches: another process may be cleaning up.
    tmp = path.with_name(f".{path.stem}.building-{os.getpid()}-{threading.get_ident()}.duckdb")
    tmp.unlink(missing_ok=True)
    try:
        # A bounded buffer pool: DuckDB's default (80 % of RAM) let the sort ranks of a
        # 185K-row catalog take the process past 500 MB; at 96 MB it stays near 350 MB.
        with duckdb.connect(str(tmp), config={"memory_limit": "96MB", "threads": 2}) as con:
            con.execute(_CELLS_DDL)
            con.execute(
                "CREATE TABLE shards (shard_id INTEGER, relpath VARCHAR, config VARCHAR, "
                "split VARCHAR, size BIGINT, mtime_ns BIGINT, rows BIGINT, located BOOLEAN, "
                "problem VARCHAR)"
            )
            total = len(shards)
            for shard_id, shard in enumerate(shards):
                if progress:
                    progress(shard_id, total, f"indexing {shard.relpath}")
                rows, located, problem = _add_shard(con, shard_id, shard)
                con.execute(
                    "INSERT INTO shards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        shard_id,
                        shard.relpath,
                        shard.config,
                        shard.split,
                        shard.size,
                        shard.mtime_ns,
                        rows,
                        located,
                        problem,
                    ],
                )
            if progress:
                progress(total, total, "linking degraded rows to their source cells")
            # Cell identity: a degraded row belongs to the cell of its pristine source.
            con.execute(
                "UPDATE cells SET cell_id = CASE WHEN config <> 'pristine' "
                "AND coalesce(original_image_id, '') <> '' THEN original_image_id "
                "ELSE image_id END"
            )
            _sort_and_index(con)
            _add_side_tables(con, root)
            con.execute(
                "CREATE TABLE catalog_meta AS SELECT ? AS fingerprint, ? AS root, "
                "? AS built_at, ? AS build_seconds, ? AS version",
                [
                    fingerprint,
                    str(root),
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    time.perf_counter() - started,
                    CATALOG_VERSION,
                ],
            )
            con.execute("CHECKPOINT")
        os.replace(tmp, path)
    except (duckdb.Error, OSError) as exc:
        # Disk full, a read-only home, a damaged side file: say where and what, once.
        raise CatalogError(
            f"the catalog of {root} could not be built in {path.parent}: {exc}"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)


# Sort orders of the browse pages: each gets a precomputed integer rank, so a page is a
# top-N over integers (a few ms on 185K rows) instead of over strings (about 25 ms).
SORT_COLUMNS = {
    "ord_id": "image_id, config",
    # Classes in the release's order (by share), not alphabetically; unknown labels last.
    "ord_class": f"coalesce(list_position({list(CLASS_CODES)!r}, label), 99), label, image_id, config",
    "ord_patient": "patient_hash, image_id, config",
    "ord_severity": "CASE severity WHEN 'pristine' THEN 0 WHEN 'mild' THEN 1 "
    "WHEN 'moderate' THEN 2 WHEN 'extreme' THEN 3 ELSE 4 END, image_id, config",
}


def _sort_and_index(con) -> None:
    """Store the rows sorted by image id, with sort ranks and indexes for point lookups."""
    ranks = ", ".join(f"row_number() OVER (ORDER BY {o}) AS {c}" for c, o in SORT_COLUMNS.items())
    con.execute(
        f"CREATE TABLE cells_sorted AS SELECT *, {ranks} FROM cells ORDER BY image_id, config"
    )
    con.execute("DROP TABLE cells")
    con.execute("ALTER TABLE cells_sorted RENAME TO cells")
    con.execute("CREATE INDEX cells_image_id ON cells (image_id)")
    con.execute("CREATE INDEX cells_cell_id ON cells (cell_id)")
    con.execute("CREATE INDEX cells_patient ON cells (patient_hash)")


def _add_shard(con, shard_id: int, shard: Shard) -> tuple[int, bool, str | None]:
    """Insert one shard's rows; return (rows, located, problem). Unusable shards add none."""
    try:
        pf = pq.ParquetFile(shard.path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        return 0, False, f"not a readable parquet file ({_short(exc)})"
    problems = schema_problems(pf.schema_arrow)
    if problems:
        return 0, False, "; ".join(problems)
    try:
        table = pf.read(columns=[*METADATA_COLUMNS, "image.path"])
    except (pa.ArrowException, OSError) as exc:
        return 0, False, f"metadata columns cannot be read ({_short(exc)})"
    n = table.num_rows
    image_path = table.column("image").combine_chunks().field("path")
    located = None
    try:
        located = locator.locate_images(shard.path)
    except Exception:  # a layout the locator does not know: fall back to row reads
        located = None
    if located is not None and len(located.offsets) != n:
        located = None
    offsets = pa.array(located.offsets if located else [None] * n, pa.int64())
    lengths = pa.array(located.lengths if located else [None] * n, pa.int64())
    cols = {
        "config": pa.array([shard.config] * n, pa.string()),
        "split": pa.array([shard.split] * n, pa.string()),
        "shard_id": pa.array([shard_id] * n, pa.int32()),
        "row": pa.array(range(n), pa.int64()),
    }
    for name in METADATA_COLUMNS:
        cols[name] = table.column(name).cast(pa.string())
    cols["image_path"] = image_path.cast(pa.string())
    cols["img_offset"] = offsets
    cols["img_length"] = lengths
    cols["cell_id"] = pa.nulls(n, pa.string())
    batch = pa.table(cols)  # noqa: F841 (read by DuckDB through its replacement scan)
    con.execute("INSERT INTO cells SELECT * FROM batch")
    return n, located is not None, None


def _add_side_tables(con, root: Path) -> None:
    """Original challenge labels and degradation parameters, when the copy has them."""
    con.execute(
        "CREATE TABLE original_labels (image_id VARCHAR, label VARCHAR, split VARCHAR, "
        "file VARCHAR)"
    )
    con.execute("CREATE TABLE side_problems (file VARCHAR, problem VARCHAR)")

    for csv in original_label_files(root):
        try:
            frame = labels.read_original_labels(csv)  # noqa: F841 (read by DuckDB)
        except labels.LabelFileError as exc:
            con.execute("INSERT INTO side_problems VALUES (?, ?)", [str(csv), str(exc)])
            continue
        con.execute(
            "INSERT INTO original_labels SELECT image_id, label, split, ? FROM frame",
            [csv.name],
        )
    params = root / DEGRADATION_PARAMS
    if params.is_file():
        con.execute(
            "CREATE TABLE degradation_params AS SELECT * FROM read_csv(?, all_varchar=true, "
            "header=true)",
            [str(params)],
        )
    else:
        con.execute("CREATE TABLE degradation_params (image_id VARCHAR)")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def info(cat: Catalog) -> dict:
    """Rows, cells, patients and shards in the catalog, and how it was built."""
    cur = cat.cursor()
    rows, cells, patients = cur.execute(
        "SELECT count(*), count(DISTINCT cell_id), count(DISTINCT patient_hash) FROM cells"
    ).fetchone()
    shards, located = cur.execute(
        "SELECT count(*), count(*) FILTER (located) FROM shards"
    ).fetchone()
    return {
        "rows": rows,
        "cells": cells,
        "patients": patients,
        "shards": shards,
        "located_shards": located,
        "built_at": cat.built_at(),
        "build_seconds": cat.build_seconds(),
        "path": str(cat.path),
    }


def dumps_info(cat: Catalog) -> str:
    """The catalog's info as JSON text."""
    return json.dumps(info(cat), indent=2)


def import_label_files(
    root: Path | str, files: list[Path | str], names: list[str] | None = None
) -> list[dict]:
    """Validate original label files against the copy at `root`, then keep them for it.

    Every file is checked first (format, labels, duplicates, and that its IDs are cells of
    this copy); one bad file rejects all and nothing is written. Accepted files are copied
    byte for byte beside the catalog, so "label differs from the original" works on a
    user's copy. Importing the same file again replaces it (nothing is added twice).
    Returns one summary dict per file: file, rows, labelled, known, unknown, differing.
    `names` are how messages call the files (an upload's own name; default: the paths).
    """
    if not files:
        raise labels.LabelFileError("no label file given")
    frames, problems = [], []
    shown = dict(zip(map(str, files), names or [], strict=False))
    for f in files:
        path = Path(f)
        if not path.is_file():
            problems.append(f"{shown.get(str(f), path)}: no such file")
            continue
        try:
            frames.append((path, labels.read_original_labels(path, name=shown.get(str(f)))))
        except labels.LabelFileError as exc:
            problems.append(str(exc))
    names = [p.name for p, _ in frames]
    for name in {n for n in names if names.count(n) > 1}:
        problems.append(f"two files are named {name}; rename one")
    if problems:
        raise labels.LabelFileError("\n".join(problems))
    summaries = []
    with open_catalog(Path(root)) as cat:
        cur = cat.cursor()
        for path, frame in frames:
            ids = frame["image_id"].tolist()
            current = dict(
                cur.execute(
                    "SELECT image_id, label FROM cells WHERE config = 'pristine' "
                    "AND list_contains(?, image_id)",
                    [ids],
                ).fetchall()
            )
            known = sum(1 for i in ids if i in current)
            if ids and not known:
                problems.append(
                    f"{shown.get(str(path), path)}: none of its {len(ids)} IDs is a cell of "
                    "this copy (another copy?)"
                )
            differing = sum(
                1
                for i, lab in zip(ids, frame["label"], strict=True)
                if lab and i in current and current[i] != lab
            )
            summaries.append(
                {
                    "file": path.name,
                    "rows": len(ids),
                    "labelled": int(frame["label"].notna().sum()),
                    "known": known,
                    "unknown": len(ids) - known,
                    "differing": differing,
                }
            )
    if problems:
        raise labels.LabelFileError("\n".join(problems))
    target = imported_labels_dir(Path(root))
    target.mkdir(parents=True, exist_ok=True)
    for path, _ in frames:
        tmp = target / f".{path.name}.tmp"
        shutil.copyfile(path, tmp)
        tmp.replace(target / path.name)
    return summaries
