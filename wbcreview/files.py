"""Folder safety shared by the commands that write a new copy (optimize, apply, export)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
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


@contextmanager
def building_folder(out: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder to write into; rename it to `out` only on success.

    A crash or an exception leaves no half-written `out` (the partial folder is removed).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
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
