"""What every command shares: the progress line, and opening the Workspace from arguments."""

from __future__ import annotations

import sys
import time

from wbcreview.workspace import Workspace


class Bar:
    """A progress line on stderr: redrawn in place on a terminal, every 10 % otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_decile = -1
        self.last_draw = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        share = done / total if total else 1.0
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and done < total:
                return
            self.last_draw = now
            filled = int(share * 30)
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} {message[:60]:<60}"
            )
            if done >= total:
                self.stream.write("\n")
        else:
            decile = int(share * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.stream.write(f"{share:6.1%} {message}\n")
        self.stream.flush()


def workspace(args, *, require_copy: bool = True) -> Workspace:
    """The Workspace of `--data` and `--db` (when the command has them)."""
    return Workspace.open(
        getattr(args, "data", None),
        getattr(args, "db", None),
        require_copy=require_copy,
        progress=Bar(),
    )
