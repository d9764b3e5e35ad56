"""Folder and file safety shared by the commands that write (optimize, apply, export, Save)."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wbcreview.errors import WbcreviewError


class UnsafePath(WbcreviewError):
    """A path given by the user would write where it must not."""


def check_new_folder(src: Path, out: Path, noun: str = "input") -> None:
    """Refuse an output folder that is the source, inside it, contains it, or is not empty.

    `noun` names `src` in the messages ("input", "source")."""
    src_real, out_real = Path(src).resolve(), Path(out).resolve()
    if out_real == src_real:
        raise UnsafePath(f"{out}: the output folder is the {noun}; choose a new folder")
    if out_real.is_relative_to(src_real):
        raise UnsafePath(
            f"{out}: the output folder is inside the {noun} {src}; choose one outside it"
        )
    if src_real.is_relative_to(out_real):
        raise UnsafePath(f"{out}: the output folder contains the {noun} {src}; choose a new folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UnsafePath(f"{out}: exists and is not an empty folder; remove it or choose another")


STALE_UNKNOWN_OWNER_S = 3600  # a partial folder of an older version (no pid in its name)


def process_alive(pid: int) -> bool:
    """True while process `pid` exists on this machine (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove `.OUT.partial-*` folders left beside `out` by a run that was killed.

    A partial folder's name carries the writing process's id; it is stale when that process
    is gone (a folder of an older version without an id: when untouched for an hour).
    Returns the folders removed.
    """
    out = Path(out)
    if not out.parent.is_dir():
        return []
    pattern = re.compile(rf"\.{re.escape(out.name)}\.partial-(?:(\d+)-)?[0-9a-f]{{8}}")
    removed = []
    for entry in out.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if not match or not entry.is_dir() or entry.is_symlink():
            continue
        pid = match.group(1)
        if pid is not None:
            stale = int(pid) != os.getpid() and not process_alive(int(pid))
        else:
            stale = time.time() - entry.stat().st_mtime > STALE_UNKNOWN_OWNER_S
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def building_folder(out: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder to write into; rename it to `out` only on success.

    An exception removes the partial folder; a killed process leaves it behind, and the next
    run writing `out` removes it (`remove_stale_partials`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        yield partial
        if out.exists():
            out.rmdir()  # an empty folder checked by check_new_folder
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def safe_child(folder: Path, name: str) -> Path:
    """`folder/name` for a file name typed by a user; refuse anything that leaves `folder`.

    Rejects empty names, absolute paths, `..`, path separators and NUL bytes.
    """
    name = (name or "").strip()
    if not name or name in {".", ".."} or "\x00" in name:
        raise UnsafePath(f"{name!r} is not a usable file name")
    if "/" in name or "\\" in name or Path(name).is_absolute():
        raise UnsafePath(f"{name!r}: give a file name without folders")
    path = (Path(folder) / name).resolve()
    if path.parent != Path(folder).resolve():
        raise UnsafePath(f"{name!r} would be written outside {folder}")
    return path


def sqlite_files(url: str | None) -> list[Path]:
    """The files of a SQLite decision store URL (database, journal, WAL); [] for others."""
    if not url or not url.startswith("sqlite"):
        return []
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        return []
    base = Path(database)
    return [base, *(base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal"))]


def check_output_file(out: Path, *, force: bool = False, protected: Iterable[Path] = ()) -> Path:
    """Refuse an output file that exists (unless `force`) or would write onto a protected path.

    `protected` holds files (the decision store) and folders (the data copy, the catalogs):
    `out` may not be one of them, nor inside a protected folder, nor a folder, even with
    `force`. Returns `out` resolved.
    """
    out_real = Path(out).resolve()
    for item in protected:
        item_real = Path(item).resolve()
        if out_real == item_real:
            raise UnsafePath(f"{out}: is {item}, which wbcreview needs; choose another file")
        if item_real.is_dir() and out_real.is_relative_to(item_real):
            raise UnsafePath(f"{out}: is inside {item}, which wbcreview reads; write elsewhere")
    if out_real.is_dir():
        raise UnsafePath(f"{out}: is a folder; give a file name")
    if out_real.exists() and not force:
        raise UnsafePath(f"{out}: exists; choose a new name or pass --force to replace it")
    return out_real


@contextmanager
def written_atomically(out: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `out` to write into; it replaces `out` (one rename) only
    when the block ends without an exception, so a reader sees the old file or the whole new
    one, never half of one. On an exception, or when the block wrote nothing, the temporary
    file is removed and `out` is left as it was. Creates `out`'s folder if needed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def write_file(out: Path, data: bytes) -> None:
    """Write `data` to `out` through a temporary sibling renamed at the end (never half a file)."""
    with written_atomically(out) as tmp:
        tmp.write_bytes(data)
