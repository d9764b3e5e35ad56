"""Settings: one declarative table, read from environment variables.

Every setting is listed in the README (a test checks it). Values are read at call time, so
tests and the CLI can change them with environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wbcreview.errors import WbcreviewError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """A setting: its environment variable, default (as text) and help."""

    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "WBCREVIEW_DATA",
        "",
        "Data root: a folder in the release layout. Unset: data/wbcbench/, then the Hub "
        "cache snapshot of Xin-Tian/wbcbench2026, then the demo copy.",
    ),
    Setting(
        "WBCREVIEW_HOME",
        "data",
        "Folder for what wbcreview writes: catalogs, the demo copy, the review database. "
        "Relative paths are taken from the repository root.",
    ),
    Setting(
        "WBCREVIEW_DEMO_CELLS",
        "2000",
        "Number of pristine cells in the demo copy built when no data is configured.",
    ),
    # 32 MiB: ~10,000 thumbnails of 128 px (~3.1 KB each), 220 pages of 48. At 64 MiB the cache
    # was still filling after 440 pages (a browser soak of 500 Next pages on 100,000 cells,
    # bench/soak.py), so memory never levelled off within the session and peaked over the
    # 450 MB target (issue 19). Going back to a recent page is served by the grid cache anyway.
    Setting(
        "WBCREVIEW_THUMB_CACHE_MB",
        "32",
        "Memory bound of the in-process thumbnail cache, in MiB.",
    ),
    Setting(
        "WBCREVIEW_DB",
        "",
        "Decision store URL: sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB. "
        "Unset: sqlite:///<WBCREVIEW_HOME>/reviews.sqlite.",
    ),
    Setting(
        "WBCREVIEW_MIN_VOTES",
        "3",
        "Votes a cell needs before consensus calls it agreed or disputed (fewer: pending).",
    ),
    Setting(
        "WBCREVIEW_QUORUM",
        "0.6",
        "Share of a cell's votes the leading decision needs for the cell to be agreed.",
    ),
    Setting(
        "WBCREVIEW_AGGREGATION",
        "majority",
        "How votes become a decision: majority, calibration (weighted by calibration "
        "accuracy), dawid-skene, glad, semi-supervised (Dawid-Skene with calibration cells "
        "as known labels) or hard-group (few parameters per annotator, mistakes inside the "
        "hard groups; best with 3 votes per cell). An admin's choice on the Consensus page overrides it per store.",
    ),
    Setting(
        "WBCREVIEW_THRESHOLD",
        "",
        "Leading posterior a cell needs to be agreed without the expert. Unset: "
        "WBCREVIEW_QUORUM for majority and calibration, 0.95 for the model methods.",
    ),
    Setting(
        "WBCREVIEW_BLIND",
        "1",
        "1: an annotator sees others' votes on a cell only after voting on it; 0: always.",
    ),
    Setting(
        "WBCREVIEW_AUTH",
        "none",
        "Sign-in: none (local mode, one machine), password (names and bcrypt hashes from "
        "WBCREVIEW_USERS) or oidc (Streamlit st.login with [auth] in .streamlit/secrets.toml).",
    ),
    Setting(
        "WBCREVIEW_LOG_FILE",
        "",
        "Also write the log (unexpected errors with their traceback and incident id) to this "
        "file. Unset: stderr only.",
    ),
    Setting(
        "WBCREVIEW_USERS",
        "",
        "Users file (YAML: name, team, role, e-mail, bcrypt hash), kept outside the "
        "repository. Unset: <WBCREVIEW_HOME>/users.yaml.",
    ),
    Setting(
        "WBCREVIEW_SESSION_HOURS",
        "12",
        "Hours a password sign-in lasts across reloads (a server-side session carried by a "
        "cookie); 0: one page load only.",
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


class SettingError(WbcreviewError):
    """A setting has a value that cannot be used."""


def get(name: str) -> str:
    """Return the value of setting `name` (environment first, then its default)."""
    setting = _BY_NAME[name]
    return os.environ.get(name, setting.default)


def get_int(name: str, minimum: int = 0) -> int:
    """Return setting `name` as an integer; raise SettingError if it is not one."""
    raw = get(name)
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingError(f"{name}={value} is below the minimum {minimum}")
    return value


def get_path(name: str) -> Path | None:
    """Return setting `name` as a path (`~` expanded), or None when it is unset or empty."""
    raw = get(name).strip()
    return Path(raw).expanduser() if raw else None


def get_bool(name: str) -> bool:
    """Return setting `name` as a boolean: 1/true/yes/on or 0/false/no/off."""
    raw = get(name).strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise SettingError(f"{name}={raw!r}: use 1 or 0")


def log_file() -> Path | None:
    """Where the log is also written (setting WBCREVIEW_LOG_FILE), or None."""
    return get_path("WBCREVIEW_LOG_FILE")


def environment(name: str) -> str | None:
    """An environment variable that is not a wbcreview setting (HF_HOME, HF_HUB_CACHE): the
    one place outside the settings table that reads the environment."""
    return os.environ.get(name) or None


def data_dir() -> Path:
    """The folder wbcreview writes to (WBCREVIEW_HOME), created on first use."""
    path = Path(get("WBCREVIEW_HOME")).expanduser()
    if not path.is_absolute():
        path = REPO_ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_dir() -> Path:
    """Where the demo copy is built when no data is configured."""
    return data_dir() / "demo"


def catalog_dir() -> Path:
    """Where persisted catalogs live, one DuckDB file per data root."""
    path = data_dir() / "catalog"
    path.mkdir(parents=True, exist_ok=True)
    return path
