"""The decision store: votes, adjudications, queues and calibration cells, append-only.

One small interface over SQLAlchemy Core, two backends chosen by a URL (setting WBCREVIEW_DB):

- SQLite, the default (`sqlite:///<WBCREVIEW_HOME>/reviews.sqlite`): WAL journal,
  `synchronous=NORMAL`, `busy_timeout` 30 s, foreign keys on, every write in `BEGIN IMMEDIATE`
  (a deferred transaction that later upgrades to a writer can fail with "database is
  locked" instead of waiting). In WAL mode a commit has written the transaction to the WAL
  file before it returns, so a vote acknowledged by `add_vote` survives SIGKILL of the
  process: the operating system holds the written pages. With NORMAL only an OS crash or a
  power cut can lose the last commits (FULL would fsync every commit, a cost per vote).
- PostgreSQL (`postgresql+psycopg://user@host:5432/db`, for a shared server): writes that
  depend on the current state (undo, sign-off, accepting consensus) run SERIALIZABLE and
  are retried on serialization failures.

Votes, adjudications and calibration answers are never updated or deleted (database
triggers refuse it): a change of mind is a new vote, an undo is a new row that names the
row it undoes. The current state is derived: the latest non-undone vote per reviewer and
cell, the latest non-undone adjudication per cell (latest by the row's time, then by id). Every row says who (name, team, role),
when (UTC) and why (reason, comment, note). A vote is about a cell (the pristine image_id);
a decision on a cell applies to its degraded copies.

Roles are enforced here, not only by pages (see PERMISSIONS): the store refuses what the
Reviewer's role does not allow. It trusts the Reviewer it is given; proving who someone is
(sign-in) is the app's job. Reads take an optional `viewer`: None is a trusted local caller
(the CLI, an export) and sees everything.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from wbcreview import config
from wbcreview.data.release import CLASS_CODES
from wbcreview.errors import WbcreviewError
from wbcreview.review import permissions
from wbcreview.review.permissions import PERMISSIONS, ROLES  # noqa: F401 (re-exported)

# --- vocabulary ------------------------------------------------------------------------

ACTIONS: tuple[str, ...] = ("retain", "correct", "remove", "unsure")
ADJUDICATION_ACTIONS: tuple[str, ...] = ("retain", "correct", "remove")
CALIBRATION_ACTIONS: tuple[str, ...] = ("retain", "correct", "remove")
UNDO = "undo"  # the action of a row that undoes another row
REMOVE_REASONS: dict[str, str] = {
    "multi-cell": "Multi-cell artifact",
    "low-quality": "Low quality",
    "smudge": "Smudge cell",
    "artefact": "Artefact",
    "not-classable": "Not classable",
    "other": "Other",
}
BASES: tuple[str, ...] = ("expert", "consensus")
QUEUE_KINDS: tuple[str, ...] = ("filter", "import", "differs", "suspects", "manual")
# Per-queue options kept in the queue definition under "options" (issue 9).
QUEUE_OPTIONS: dict[str, str] = {
    "hide_label": "hide the current label for a blind first read",
    "seeded_order": "each reviewer sees the cells in an order seeded by queue and name",
    "calibration_share": "share (0 to 0.5) of calibration cells mixed into the queue",
}
SOURCES: tuple[str, ...] = ("app", "demo", "signoff")  # and "import:<file name>"

MAX_NAME = 80
MAX_QUEUE_NAME = 120
MAX_TEXT = 2000
MAX_CELL_ID = 64
MAX_SOURCE = 200
SCHEMA_VERSION = 3  # = len(MIGRATIONS)
MAX_CLIENT = 64  # a client address as sign-in throttling keys it

_CELL_ID = re.compile(r"[A-Za-z0-9_.-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# In names also C1 controls, bidirectional controls and invisible characters: with them a
# name can display as another (U+202E turns the rest of a name around). ZWJ and ZWNJ stay:
# some scripts need them.
_NAME_REFUSED = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_NAMESPACE = uuid.UUID("6f1d7a52-2c1b-4d8e-9a57-3b0c1e9f4d21")  # for uids derived from a request
_PG_MIGRATION_LOCK = 0x7762637276  # advisory lock key ("wbcrv")


class StoreError(WbcreviewError):
    """The decision store could not do what was asked."""


class InvalidVote(StoreError):
    """A vote, adjudication, name or other input has a value the store refuses."""


class PermissionDenied(StoreError, permissions.PermissionDenied):
    """The reviewer's role does not allow this action (the store's refusal)."""


class StoreUnavailable(StoreError):
    """The database is unreachable or busy; retry the same call (writes are idempotent by uid)."""


# --- identity --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reviewer:
    """Who acts: a name (the identity), a team (may be empty) and a role from ROLES.

    Names and team are trimmed; empty names, names over 80 characters, control characters
    and unknown roles raise InvalidVote.
    """

    name: str
    team: str
    role: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _clean_name(self.name, "reviewer name"))
        object.__setattr__(self, "team", _clean_name(self.team, "team name", allow_empty=True))
        if self.role not in ROLES:
            raise InvalidVote(f"role {self.role!r} is not one of {', '.join(ROLES)}")


def can(reviewer: Reviewer, permission: str) -> bool:
    """Whether `reviewer`'s role has `permission` (an action of review/permissions.py)."""
    return isinstance(reviewer, Reviewer) and permissions.can(reviewer, permission)


def _require(reviewer: Reviewer, permission: str, what: str) -> None:
    if not isinstance(reviewer, Reviewer):
        raise PermissionDenied(f"{what} needs a Reviewer, got {type(reviewer).__name__}")
    try:
        permissions.require(reviewer, permission, what)
    except permissions.PermissionDenied as exc:
        raise PermissionDenied(str(exc)) from None


# --- validation ------------------------------------------------------------------------


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_name(
    value: object, what: str, *, allow_empty: bool = False, limit: int = MAX_NAME
) -> str:
    if not isinstance(value, str):
        raise InvalidVote(f"{what} {_show(value)} is not text")
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidVote(f"{what} {_show(value)} is empty: give a name")
    if len(text) > limit:
        raise InvalidVote(f"{what} {_show(text)} is longer than {limit} characters")
    refused = _NAME_REFUSED.search(text)
    if refused:
        raise InvalidVote(
            f"{what} {_show(text)} contains control characters (U+{ord(refused.group()):04X}, "
            "a control, bidirectional or invisible character); type the name without it"
        )
    _check_encodable(text, what)
    return text


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidVote(f"{what} {_show(text)} is not valid Unicode (a lone surrogate)") from None


def _clean_text(value: object, what: str) -> str | None:
    """Optional free text (comment, note): trimmed, None when empty."""
    if _opt(value) is None:
        return None
    if not isinstance(value, str):
        raise InvalidVote(f"{what} {_show(value)} is not text")
    text = value.strip()
    if "\x00" in text:
        raise InvalidVote(f"{what} {_show(text)} contains a NUL character")
    if len(text) > MAX_TEXT:
        raise InvalidVote(f"{what} {_show(text)} is longer than {MAX_TEXT} characters")
    _check_encodable(text, what)
    return text or None


def _clean_cell(value: object, what: str = "cell id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidVote(f"{what} {_show(value)} is empty or not text: give an image_id")
    text = value.strip()
    if len(text) > MAX_CELL_ID or not _CELL_ID.fullmatch(text):
        raise InvalidVote(
            f"{what} {_show(text)} is not an image_id (letters, digits, '_', '.', '-'; "
            f"at most {MAX_CELL_ID})"
        )
    return text


def _opt(value: object) -> Any:
    """None for None, NaN, pandas NA and empty text; the value otherwise."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _clean_decision(
    action: object, label: object, reason: object, allowed: tuple[str, ...], what: str
) -> tuple[str, str | None, str | None]:
    """Check an (action, label, reason) triple; return it normalised."""
    label, reason = _opt(label), _opt(reason)
    if action not in allowed:
        raise InvalidVote(f"{what} action {_show(action)} is not one of {', '.join(allowed)}")
    if action == "correct":
        if label is None:
            raise InvalidVote(f"a 'correct' {what} needs a label, one of {', '.join(CLASS_CODES)}")
    elif action == "retain" and what == "calibration answer":
        if label is None:
            raise InvalidVote("a 'retain' calibration answer needs the label it keeps")
    elif label is not None:
        raise InvalidVote(f"a {action!r} {what} takes no label (got {_show(label)})")
    if label is not None and label not in CLASS_CODES:
        raise InvalidVote(
            f"label {_show(label)} is not one of the 13 classes: {', '.join(CLASS_CODES)}"
        )
    if action == "remove":
        if reason is None:
            raise InvalidVote(f"a 'remove' {what} needs a reason: {', '.join(REMOVE_REASONS)}")
        if reason not in REMOVE_REASONS:
            raise InvalidVote(
                f"remove reason {_show(reason)} is not one of {', '.join(REMOVE_REASONS)}"
            )
    elif reason is not None:
        raise InvalidVote(f"a {action!r} {what} takes no reason (got {_show(reason)})")
    return str(action), label, reason


def _clean_source(source: object) -> str:
    if isinstance(source, str) and (source in SOURCES or source.startswith("import:")):
        if len(source) > MAX_SOURCE or _CONTROL.search(source) or source == "import:":
            raise InvalidVote(
                f"source {_show(source)} is not 'import:<file name>' (at most {MAX_SOURCE})"
            )
        return source
    raise InvalidVote(
        f"source {_show(source)} is not one of {', '.join(SOURCES)} or 'import:<file>'"
    )


def _clean_uid(value: object, what: str = "vote uid") -> str:
    """The canonical text of a UUID; a new random one for None."""
    value = _opt(value)
    if value is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidVote(f"{what} {_show(value)} is not a UUID") from None


def _when(at: datetime | None, source: str) -> datetime:
    """Now, or `at` for imported and demo rows (the app's rows always carry the write time)."""
    if at is None:
        return datetime.now(UTC)
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidVote(f"time {_show(at)} is not a datetime with a timezone")
    if source in ("app", "signoff"):
        raise InvalidVote(
            f"a time (at={at.isoformat()}) can only be given for imported or demo rows"
        )
    return at.astimezone(UTC)


def _derived_uid(request: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{request}:{key}"))


def _clean_options(definition: object) -> dict:
    if definition is None:
        return {}
    if not isinstance(definition, Mapping):
        raise InvalidVote(f"queue definition {_show(definition)} is not a mapping")
    definition = dict(definition)
    options = definition.get("options", {})
    if not isinstance(options, Mapping):
        raise InvalidVote(f"queue options {_show(options)} are not a mapping")
    for key, value in options.items():
        if key not in QUEUE_OPTIONS:
            raise InvalidVote(f"queue option {_show(key)} is not one of {', '.join(QUEUE_OPTIONS)}")
        if key in ("hide_label", "seeded_order") and not isinstance(value, bool):
            raise InvalidVote(f"queue option {key}={_show(value)} is not true or false")
        if key == "calibration_share" and not (
            isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 0.5
        ):
            raise InvalidVote(
                f"queue option calibration_share={_show(value)} is not between 0 and 0.5"
            )
    try:
        text = json.dumps(definition, sort_keys=True)
    except (TypeError, ValueError):
        raise InvalidVote(f"queue definition {_show(definition)} is not JSON") from None
    if len(text) > 100_000:
        raise InvalidVote("queue definition is longer than 100,000 characters of JSON")
    return json.loads(text)


# --- schema ----------------------------------------------------------------------------


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on both backends (SQLite keeps naive UTC text, PostgreSQL timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(f"time {value!r} has no timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id_column() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def _v1_tables(md: sa.MetaData) -> None:
    """Schema version 1 (the review issue). Frozen: later changes go in new migrations."""
    sa.Table(
        "schema_version",
        md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "meta",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    sa.Table(
        "queues",
        md,
        _id_column(),
        sa.Column("name", sa.String(MAX_QUEUE_NAME), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(MAX_NAME), nullable=False),
        sa.Column("created_team", sa.String(MAX_NAME), nullable=False),
        sa.Column("created_role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "queue_items",
        md,
        sa.Column(
            "queue_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("queues.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("cell_id", sa.String(MAX_CELL_ID), nullable=False),
        sa.UniqueConstraint("queue_id", "cell_id", name="uq_queue_items_cell"),
    )
    sa.Table(
        "votes",
        md,
        _id_column(),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("cell_id", sa.String(MAX_CELL_ID), nullable=False, index=True),
        sa.Column("image_id", sa.String(MAX_CELL_ID)),
        sa.Column(
            "queue_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("queues.id"),
        ),
        sa.Column("reviewer", sa.String(MAX_NAME), nullable=False),
        sa.Column("team", sa.String(MAX_NAME), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("label", sa.String(8)),
        sa.Column("reason", sa.String(32)),
        sa.Column("comment", sa.Text),
        sa.Column("source", sa.String(MAX_SOURCE), nullable=False),
        sa.Column("undoes", sa.String(36), index=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Index("ix_votes_reviewer_cell", "reviewer", "cell_id"),
    )
    sa.Table(
        "adjudications",
        md,
        _id_column(),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("cell_id", sa.String(MAX_CELL_ID), nullable=False, index=True),
        sa.Column("adjudicator", sa.String(MAX_NAME), nullable=False),
        sa.Column("team", sa.String(MAX_NAME), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("label", sa.String(8)),
        sa.Column("reason", sa.String(32)),
        sa.Column("note", sa.Text),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("source", sa.String(MAX_SOURCE), nullable=False),
        sa.Column("undoes", sa.String(36), index=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def _append_only(conn: Connection, table: str) -> None:
    """Triggers that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on `table`."""
    if conn.dialect.name == "sqlite":
        for op in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            )
    else:
        conn.execute(  # text(), not exec_driver_sql: psycopg would read % as a placeholder
            sa.text(
                "CREATE OR REPLACE FUNCTION wbcreview_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
            )
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION wbcreview_append_only()"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wbcreview_append_only()"
        )


def _migration_1(conn: Connection) -> None:
    """Votes, adjudications, queues, meta and the schema version; append-only triggers."""
    md = sa.MetaData()
    _v1_tables(md)
    md.create_all(conn)
    _append_only(conn, "votes")
    _append_only(conn, "adjudications")


def _migration_2(conn: Connection) -> None:
    """Issue 9: a batch id on votes and adjudications (undo of a multi-cell action), calibration."""
    conn.exec_driver_sql("ALTER TABLE votes ADD COLUMN batch VARCHAR(36)")
    conn.exec_driver_sql("ALTER TABLE adjudications ADD COLUMN batch VARCHAR(36)")
    conn.exec_driver_sql("CREATE INDEX ix_votes_batch ON votes (batch)")
    md = sa.MetaData()
    sa.Table(
        "calibration",
        md,
        _id_column(),
        sa.Column("cell_id", sa.String(MAX_CELL_ID), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("label", sa.String(8)),
        sa.Column("reason", sa.String(32)),
        sa.Column("note", sa.Text),
        sa.Column("added_by", sa.String(MAX_NAME), nullable=False),
        sa.Column("team", sa.String(MAX_NAME), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    md.create_all(conn)
    _append_only(conn, "calibration")


def _migration_3(conn: Connection) -> None:
    """Issue 14: sign-in attempts (throttling) and server-side sign-in sessions."""
    md = sa.MetaData()
    sa.Table(
        "sign_in_attempts",
        md,
        _id_column(),
        sa.Column("name", sa.String(MAX_NAME), nullable=False),
        sa.Column("client", sa.String(MAX_CLIENT), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Index("ix_sign_in_attempts_name", "name", "created_at"),
        sa.Index("ix_sign_in_attempts_client", "client", "created_at"),
    )
    sa.Table(
        "sessions",
        md,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(MAX_NAME), nullable=False, index=True),
        sa.Column("credential", sa.String(64), nullable=False),
        sa.Column("client", sa.String(MAX_CLIENT), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
    )
    md.create_all(conn)


# Applied in order, each in its own transaction, on open. Never edit a released migration.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3)
assert len(MIGRATIONS) == SCHEMA_VERSION

# The current schema, for queries (migrations above are what creates it). Columns are
# listed in the order the frames have them.
_md = sa.MetaData()
_INT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _query_table(name: str, columns: tuple[str, ...]) -> sa.Table:
    def column(col: str) -> sa.Column:
        if col == "id":
            return sa.Column(col, _INT_ID, primary_key=True)
        if col in ("queue_id", "position", "version"):
            return sa.Column(col, _INT_ID)
        if col.endswith("_at"):
            return sa.Column(col, UTCDateTime)
        return sa.Column(col, sa.String)

    return sa.Table(name, _md, *(column(c) for c in columns))


# fmt: off
VOTE_COLUMNS: tuple[str, ...] = (
    "id", "uid", "cell_id", "image_id", "queue_id", "reviewer", "team", "role", "action",
    "label", "reason", "comment", "source", "undoes", "batch", "created_at",
)
ADJUDICATION_COLUMNS: tuple[str, ...] = (
    "id", "uid", "cell_id", "adjudicator", "team", "role", "action", "label", "reason", "note",
    "basis", "source", "undoes", "batch", "created_at",
)
CALIBRATION_COLUMNS: tuple[str, ...] = (
    "id", "cell_id", "action", "label", "reason", "note", "added_by", "team", "role", "created_at",
)
QUEUE_COLUMNS: tuple[str, ...] = (
    "id", "name", "kind", "definition", "created_by", "created_team", "created_role", "created_at",
)
HISTORY_COLUMNS: tuple[str, ...] = (
    "created_at", "kind", "id", "uid", "who", "team", "role", "action", "label", "reason",
    "text", "basis", "source", "undoes", "batch", "image_id", "queue_id",
)
# fmt: on
schema_version = _query_table("schema_version", ("version", "applied_at"))
meta = _query_table("meta", ("key", "value"))
queues = _query_table("queues", QUEUE_COLUMNS)
queue_items = _query_table("queue_items", ("queue_id", "position", "cell_id"))
votes = _query_table("votes", VOTE_COLUMNS)
adjudications = _query_table("adjudications", ADJUDICATION_COLUMNS)
calibration = _query_table("calibration", CALIBRATION_COLUMNS)
sign_in_attempts = sa.Table(
    "sign_in_attempts",
    _md,
    sa.Column("id", _INT_ID, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("client", sa.String),
    sa.Column("ok", sa.Boolean),
    sa.Column("created_at", UTCDateTime),
)
sessions = _query_table(
    "sessions",
    ("token_hash", "name", "credential", "client", "created_at", "expires_at", "revoked_at"),
)


# --- engine ----------------------------------------------------------------------------


def default_url() -> str:
    """The store URL: setting WBCREVIEW_DB, else `sqlite:///<WBCREVIEW_HOME>/reviews.sqlite`."""
    url = config.get("WBCREVIEW_DB").strip()
    return url or f"sqlite:///{config.data_dir() / 'reviews.sqlite'}"


def migrate(url: str | None = None, *, to_version: int | None = None) -> int:
    """Create or migrate the database at `url` up to `to_version` (default: the latest).

    `Store.open` does this; a lower `to_version` makes an old schema (tests of migrations).
    Never downgrades. Returns the schema version reached.
    """
    target = SCHEMA_VERSION if to_version is None else int(to_version)
    if not 0 <= target <= SCHEMA_VERSION:
        raise StoreError(f"schema version {to_version} is not between 0 and {SCHEMA_VERSION}")
    store = Store(_make_engine(url or default_url()), blind=True)
    try:
        store._migrate(target)
        return store.schema_version
    finally:
        store.close()


def _blind_setting() -> bool:
    raw = config.get("WBCREVIEW_BLIND").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise config.SettingError(f"WBCREVIEW_BLIND={raw!r} is not 1 or 0")


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("wbcreview_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _make_engine(url: str) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(
            f"database URL {_show(url, 80)} is not a URL: use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            raise StoreError(
                f"database URL {url!r} is an in-memory SQLite: give a file, sqlite:///PATH"
            )
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed.set(drivername="sqlite+pysqlite"), connect_args={"timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 5}
        return sa.create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args=connect_args,
        )
    raise StoreError(
        f"database URL {parsed.render_as_string(hide_password=True)!r} is neither "
        "sqlite:///PATH nor postgresql+psycopg://USER@HOST:PORT/DB"
    )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    # 40001 serialization failure, 40P01 deadlock, 23505 unique violation (a concurrent retry
    # of the same uid: the next attempt finds the row and writes nothing).
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01", "23505")


def _translate(exc: sa.exc.DBAPIError) -> StoreError:
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    errorname = getattr(exc.orig, "sqlite_errorname", "") or ""
    if (
        exc.connection_invalidated
        or sqlstate.startswith("08")
        or errorname.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"))
        or (isinstance(exc, sa.exc.OperationalError) and not sqlstate and not errorname)
    ):
        return StoreUnavailable(
            f"the review database is unreachable or busy ({_first_line(exc)}): nothing is "
            "confirmed saved; retry"
        )
    return StoreError(f"database error: {_first_line(exc)}")


T = TypeVar("T")


@dataclass(frozen=True)
class Queue:
    """A stored queue: a named, ordered list of cells with its definition (JSON)."""

    id: int
    name: str
    kind: str
    definition: dict
    created_by: str
    created_team: str
    created_at: datetime
    size: int

    @property
    def options(self) -> dict:
        """Per-queue options (QUEUE_OPTIONS): hide_label, seeded_order, calibration_share."""
        return dict(self.definition.get("options", {}))


@dataclass(frozen=True)
class Progress:
    """How far a reviewer is through a queue."""

    queue_id: int
    reviewer: str
    total: int
    done: int
    next_position: int | None  # first cell without a current vote, in the reviewer's order
    cells: list[str] = field(repr=False, default_factory=list)  # the reviewer's order

    @property
    def share(self) -> float:
        """Done over total (1.0 for an empty queue)."""
        return self.done / self.total if self.total else 1.0


# --- the store -------------------------------------------------------------------------


class Store:
    """The decision store. Open with `Store.open(url)`; safe to share between threads."""

    def __init__(self, engine: Engine, *, blind: bool) -> None:
        self._engine = engine
        self.blind = blind
        self.backend = engine.dialect.name  # "sqlite" or "postgresql"

    @classmethod
    def open(cls, url: str | None = None, *, blind: bool | None = None) -> Store:
        """Open (creating and migrating) the store at `url` (default: `default_url()`).

        `blind` (default: setting WBCREVIEW_BLIND) hides others' votes on a cell from an
        annotator until they have voted on it. Raises StoreError for a bad URL or a database
        newer than this code, StoreUnavailable when the database cannot be reached.
        """
        engine = _make_engine(url or default_url())
        store = cls(engine, blind=_blind_setting() if blind is None else blind)
        try:
            store._migrate(SCHEMA_VERSION)
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T], *, serializable: bool = False) -> T:
        """Run `work` in one write transaction, retrying on serialization failures."""
        delay = 0.005
        for attempt in range(1, 30):
            try:
                with self._engine.connect() as conn:
                    if self.backend == "sqlite":
                        conn.execution_options(wbcreview_write=True)
                    elif serializable:
                        conn.execution_options(isolation_level="SERIALIZABLE")
                    with conn.begin():
                        return work(conn)
            except sa.exc.TimeoutError as exc:
                raise StoreUnavailable(f"no free database connection ({exc}); retry") from exc
            except sa.exc.DBAPIError as exc:
                if attempt < 29 and _retryable(exc):
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.2)
                    continue
                raise _translate(exc) from exc
        raise AssertionError("unreachable")

    def _select(self, stmt: sa.Select, columns: Sequence[str]) -> pd.DataFrame:
        """The rows of `stmt` as a frame with `columns` (one read, errors translated)."""
        return self._read(lambda conn: _frame(conn.execute(stmt).all(), columns))

    def _read(self, work: Callable[[Connection], T]) -> T:
        try:
            with self._engine.connect() as conn:
                return work(conn)
        except sa.exc.TimeoutError as exc:
            raise StoreUnavailable(f"no free database connection ({exc}); retry") from exc
        except sa.exc.DBAPIError as exc:
            raise _translate(exc) from exc

    # -- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """The schema version of the database."""
        return self._read(_version)

    def _migrate(self, target: int) -> None:
        current = self._read(_version)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the review database {self.url} has schema version {current}, newer than "
                f"this wbcreview ({SCHEMA_VERSION}): upgrade wbcreview"
            )
        for version in range(current + 1, target + 1):

            def step(conn: Connection, version: int = version) -> None:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                if _version(conn) >= version:  # another process got there first
                    return
                MIGRATIONS[version - 1](conn)
                conn.execute(
                    schema_version.insert().values(version=version, applied_at=datetime.now(UTC))
                )

            self._write(step)

    # -- votes --------------------------------------------------------------------------

    def add_vote(
        self,
        reviewer: Reviewer,
        cell_id: str,
        action: str,
        *,
        label: str | None = None,
        reason: str | None = None,
        comment: str | None = None,
        image_id: str | None = None,
        queue_id: int | None = None,
        source: str = "app",
        uid: str | None = None,
        batch: str | None = None,
        at: datetime | None = None,
    ) -> str:
        """Store one vote on a cell and return its uid, committed when this returns.

        `action` is one of ACTIONS: 'correct' needs a `label` (a class code), 'remove' a
        `reason` (a key of REMOVE_REASONS); the others take neither. `uid` is the client's
        UUID: a retry with the same uid writes nothing and returns it (a uid already used
        for another reviewer, cell or action raises InvalidVote). `image_id` is the image that
        was shown (a degraded copy, say), `queue_id` the queue it came from, `batch` groups
        the votes of one gallery action for `undo_last`. `at` is only for imported and demo
        votes. Raises PermissionDenied, InvalidVote, StoreUnavailable.
        """
        _require(reviewer, "vote", "vote")
        row = _vote_row(
            reviewer, cell_id, action, label=label, reason=reason, comment=comment,
            image_id=image_id, queue_id=queue_id, source=source, uid=uid, batch=batch, at=at,
        )  # fmt: skip
        self._write(lambda conn: _insert_votes(conn, [row]))
        return row["uid"]

    def add_votes(self, reviewer: Reviewer, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store several votes of `reviewer` in one transaction; return the uids that were new.

        Each item has cell_id and action, and optionally label, reason, comment, image_id,
        queue_id, uid and batch, as for add_vote (the review loop's votes of one round trip).
        All or nothing: one invalid vote or reused uid raises InvalidVote and nothing is
        stored; uids already stored for the same vote are skipped (a retry writes nothing).
        """
        _require(reviewer, "vote", "vote")
        fields = ("label", "reason", "comment", "image_id", "queue_id", "uid", "batch")
        rows = [
            _vote_row(reviewer, item.get("cell_id"), item.get("action"),
                      **{name: item.get(name) for name in fields})
            for item in items
        ]  # fmt: skip
        if not rows:
            return []
        return self._write(lambda conn: _insert_votes(conn, rows))

    def import_votes(
        self, importer: Reviewer, rows: Iterable[Mapping[str, Any]], *, source: str
    ) -> list[str]:
        """Store votes made elsewhere (a file, the demo) in one transaction; return new uids.

        Each row has cell_id, reviewer, team, role, action and optionally label, reason,
        comment, image_id, queue_id, uid, batch, at (aware datetime), and for an undo row
        action 'undo' with `undoes` (the uid of an earlier vote, in the store or the rows).
        Rows whose uid is already stored are skipped; a row without a uid gets one made
        from the source, its position and content, so importing the same file twice adds
        nothing. Everything is checked before anything is written: one bad row raises
        InvalidVote naming its position, and nothing is stored.
        `source` is 'demo' or 'import:<file name>'. Needs the admin role.
        """
        _require(importer, "import_votes", "import votes")
        source = _clean_source(source)
        if source in ("app", "signoff"):
            raise InvalidVote(f"import source {source!r} is not 'demo' or 'import:<file name>'")
        cleaned: list[dict] = []
        for position, raw in enumerate(rows, start=1):
            try:
                who = Reviewer(raw.get("reviewer"), _opt(raw.get("team")) or "", raw.get("role"))
                fields = (
                    "label",
                    "reason",
                    "comment",
                    "image_id",
                    "queue_id",
                    "uid",
                    "batch",
                    "at",
                )
                row = _vote_row(
                    who,
                    raw.get("cell_id"),
                    raw.get("action"),
                    source=source,
                    undoes=raw.get("undoes"),
                    **{name: raw.get(name) for name in fields},
                )
            except InvalidVote as exc:
                raise InvalidVote(f"row {position}: {exc}") from None
            if _opt(raw.get("uid")) is None:  # the same file imported again adds nothing
                content = (source, position, row["cell_id"], row["reviewer"], row["action"])
                row["uid"] = _derived_uid("import", repr((*content, row["label"])))
            cleaned.append(row)
        return self._write(lambda conn: _insert_votes(conn, cleaned))

    def undo_vote(
        self, reviewer: Reviewer, vote_uid: str, *, uid: str | None = None, source: str = "app"
    ) -> str:
        """Undo one vote by adding an undo row; return the undo row's uid.

        The reviewer's previous non-undone vote on that cell (if any) becomes current again.
        Only the vote's author or an admin may undo it. A retry with the same `uid` writes
        nothing. Raises InvalidVote for an unknown, already undone or undo row.
        """
        _require(reviewer, "vote", "undo a vote")
        target_uid = _clean_uid(vote_uid, "vote uid")
        row_uid = _clean_uid(uid, "undo uid")
        source = _clean_source(source)

        def work(conn: Connection) -> str:
            if conn.execute(sa.select(votes.c.id).where(votes.c.uid == row_uid)).first():
                return row_uid
            target = (
                conn.execute(sa.select(votes).where(votes.c.uid == target_uid)).mappings().first()
            )
            if target is None:
                raise InvalidVote(f"no vote has uid {target_uid!r}")
            if target["action"] == UNDO:
                raise InvalidVote(f"vote {target_uid!r} is itself an undo: vote again instead")
            if target["reviewer"] != reviewer.name and reviewer.role != "admin":
                raise PermissionDenied(
                    f"{reviewer.role} {reviewer.name!r} may not undo a vote of {target['reviewer']!r}"
                )
            if _undone(conn, votes, [target_uid]):
                raise InvalidVote(f"vote {target_uid!r} is already undone")
            conn.execute(votes.insert(), [_undo_row(target, reviewer, row_uid, None, source)])
            return row_uid

        return self._write(work, serializable=True)

    def undo_last(
        self,
        reviewer: Reviewer,
        *,
        cell_id: str | None = None,
        queue_id: int | None = None,
        uid: str | None = None,
    ) -> list[str]:
        """Undo the reviewer's last action; return the uids of the votes it undid ([] if none).

        The last action is the reviewer's latest non-undone vote (on `cell_id` / in `queue_id`
        when given) together with every non-undone vote of the same batch (a gallery
        selection, a sign-off). Called again, it undoes the action before. `uid` identifies
        the request: a retry with the same uid undoes nothing more.
        """
        _require(reviewer, "vote", "undo a vote")
        request = _clean_uid(uid, "undo uid")
        cell = None if cell_id is None else _clean_cell(cell_id)
        queue = _clean_queue_id(queue_id)

        def work(conn: Connection) -> list[str]:
            done = conn.execute(
                sa.select(votes.c.undoes).where(votes.c.batch == request, votes.c.action == UNDO)
            ).scalars()
            done = list(done)
            if done:
                return done
            live = _live(votes).where(votes.c.reviewer == reviewer.name)
            if cell is not None:
                live = live.where(votes.c.cell_id == cell)
            if queue is not None:
                live = live.where(votes.c.queue_id == queue)
            last = conn.execute(live.order_by(votes.c.id.desc()).limit(1)).mappings().first()
            if last is None:
                return []
            targets = [last]
            if last["batch"] is not None:
                targets = list(
                    conn.execute(
                        _live(votes)
                        .where(votes.c.reviewer == reviewer.name, votes.c.batch == last["batch"])
                        .order_by(votes.c.id)
                    ).mappings()
                )
            conn.execute(
                votes.insert(),
                [
                    _undo_row(t, reviewer, _derived_uid(request, t["uid"]), request, "app")
                    for t in targets
                ],
            )
            return [t["uid"] for t in targets]

        return self._write(work, serializable=True)

    def sign_off(
        self,
        reviewer: Reviewer,
        queue_id: int,
        cell_ids_on_page: Sequence[str],
        *,
        uid: str | None = None,
    ) -> list[str]:
        """Record 'retain' (source 'signoff') for every listed cell the reviewer has no
        current vote on, in one transaction; return the new vote uids.

        Cells must belong to the queue (in the reviewer's view of it). A second call writes
        nothing, as every cell then has a current vote; `uid` names the request so that a
        retry is a no-op even after an undo. The votes share a batch, so `undo_last` undoes
        the whole sign-off.
        """
        _require(reviewer, "vote", "sign off")
        queue = _clean_queue_id(queue_id)
        if queue is None:
            raise InvalidVote("sign-off needs a queue id")
        cells = list(dict.fromkeys(_clean_cell(c) for c in cell_ids_on_page))
        request = _clean_uid(uid, "sign-off uid")

        def work(conn: Connection) -> list[str]:
            in_queue = set(_queue_cells(conn, queue, reviewer))
            outside = [c for c in cells if c not in in_queue]
            if outside:
                raise InvalidVote(f"cell {outside[0]!r} is not in queue {queue}")
            voted = set(
                conn.execute(
                    _current(
                        votes, ("reviewer", "cell_id"), reviewer=reviewer.name
                    ).with_only_columns(votes.c.cell_id)
                ).scalars()
            )
            wanted = {c: _derived_uid(request, c) for c in cells if c not in voted}
            if not wanted:
                return []
            now = datetime.now(UTC)
            rows = [
                {
                    "uid": vote_uid,
                    "cell_id": cell,
                    "image_id": None,
                    "queue_id": queue,
                    "reviewer": reviewer.name,
                    "team": reviewer.team,
                    "role": reviewer.role,
                    "action": "retain",
                    "label": None,
                    "reason": None,
                    "comment": None,
                    "source": "signoff",
                    "undoes": None,
                    "batch": request,
                    "created_at": now,
                }
                for cell, vote_uid in wanted.items()
            ]
            return _insert_votes(conn, rows)

        return self._write(work, serializable=True)

    # -- adjudications ------------------------------------------------------------------

    def adjudicate(
        self,
        adjudicator: Reviewer,
        cell_id: str,
        action: str,
        *,
        label: str | None = None,
        reason: str | None = None,
        note: str | None = None,
        basis: str = "expert",
        uid: str | None = None,
        source: str = "app",
        at: datetime | None = None,
    ) -> str:
        """Record the final decision on a cell (retain, correct with `label`, remove with
        `reason`) and return its uid; it replaces any earlier adjudication of the cell.

        `basis` is 'expert' or 'consensus'. A retry with the same uid writes nothing. Needs
        the adjudicator or admin role.
        """
        _require(adjudicator, "adjudicate", "adjudicate")
        row = _adjudication_row(
            adjudicator, cell_id, action, label=label, reason=reason, note=note, basis=basis,
            uid=uid, source=source, at=at,
        )  # fmt: skip
        self._write(lambda conn: _insert_adjudications(conn, [row]))
        return row["uid"]

    def accept_consensus(
        self,
        cells_with_decisions: pd.DataFrame | Iterable[Mapping[str, Any]],
        adjudicator: Reviewer,
        *,
        note: str | None = None,
        uid: str | None = None,
        source: str = "app",
        at: datetime | None = None,
    ) -> list[str]:
        """Accept agreed consensus decisions in bulk, in ONE transaction; return new uids.

        Each row (a DataFrame row or a mapping) has cell_id, action and, as the action needs,
        label or reason, and optionally its own note (else `note`). Every row is checked
        first: one bad row raises InvalidVote naming it, and nothing is written. Cells that
        already have a current adjudication are left as they are. `uid` names the request:
        a retry with the same uid writes nothing more. Needs the adjudicator or admin role.
        """
        _require(adjudicator, "accept_consensus", "accept consensus")
        if isinstance(cells_with_decisions, pd.DataFrame):
            records = cells_with_decisions.to_dict("records")
        else:
            records = list(cells_with_decisions)
        request = _clean_uid(uid, "request uid")
        rows: dict[str, dict] = {}
        for position, rec in enumerate(records, start=1):
            try:
                row = _adjudication_row(
                    adjudicator, rec.get("cell_id"), rec.get("action"), label=rec.get("label"),
                    reason=rec.get("reason"), note=_opt(rec.get("note")) or note,
                    basis="consensus", source=source, at=at, batch=request,
                )  # fmt: skip
            except InvalidVote as exc:
                raise InvalidVote(
                    f"decision {position} ({_show(rec.get('cell_id'))}): {exc}"
                ) from None
            if row["cell_id"] in rows:
                raise InvalidVote(f"cell {row['cell_id']!r} appears twice in the decisions")
            row["uid"] = _derived_uid(request, row["cell_id"])
            rows[row["cell_id"]] = row

        def work(conn: Connection) -> list[str]:
            decided = _current_adjudicated_cells(conn, list(rows))
            todo = [r for cell, r in rows.items() if cell not in decided]
            return _insert_adjudications(conn, todo)

        return self._write(work, serializable=True)

    def undo_adjudication(
        self,
        adjudicator: Reviewer,
        adjudication_uid: str,
        *,
        uid: str | None = None,
        source: str = "app",
    ) -> str:
        """Undo an adjudication by adding an undo row; return its uid.

        The cell's previous non-undone adjudication, if any, becomes current again. A retry
        with the same `uid` writes nothing. Needs the adjudicator or admin role.
        """
        _require(adjudicator, "adjudicate", "undo an adjudication")
        target_uid = _clean_uid(adjudication_uid, "adjudication uid")
        row_uid = _clean_uid(uid, "undo uid")
        source = _clean_source(source)

        def work(conn: Connection) -> str:
            if conn.execute(
                sa.select(adjudications.c.id).where(adjudications.c.uid == row_uid)
            ).first():
                return row_uid
            target = (
                conn.execute(sa.select(adjudications).where(adjudications.c.uid == target_uid))
                .mappings()
                .first()
            )
            if target is None:
                raise InvalidVote(f"no adjudication has uid {target_uid!r}")
            if target["action"] == UNDO:
                raise InvalidVote(
                    f"adjudication {target_uid!r} is itself an undo: decide again instead"
                )
            if _undone(conn, adjudications, [target_uid]):
                raise InvalidVote(f"adjudication {target_uid!r} is already undone")
            row = {
                "uid": row_uid,
                "cell_id": target["cell_id"],
                "adjudicator": adjudicator.name,
                "team": adjudicator.team,
                "role": adjudicator.role,
                "action": UNDO,
                "label": None,
                "reason": None,
                "note": None,
                "basis": target["basis"],
                "source": source,
                "undoes": target_uid,
                "batch": None,
                "created_at": datetime.now(UTC),
            }
            conn.execute(adjudications.insert(), [row])
            return row_uid

        return self._write(work, serializable=True)

    # -- queues -------------------------------------------------------------------------

    def create_queue(
        self,
        admin: Reviewer,
        name: str,
        kind: str,
        cell_ids: Iterable[str],
        *,
        definition: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a queue (a named, ordered list of cells) and return its id.

        `kind` is one of QUEUE_KINDS; `definition` is JSON describing how it was made (the
        filter, the file) with optional "options" (QUEUE_OPTIONS). Repeated cells keep their
        first position. An empty list raises InvalidVote. Needs the admin role.
        """
        _require(admin, "manage_queues", "create a queue")
        name = _clean_name(name, "queue name", limit=MAX_QUEUE_NAME)
        if kind not in QUEUE_KINDS:
            raise InvalidVote(f"queue kind {_show(kind)} is not one of {', '.join(QUEUE_KINDS)}")
        definition = _clean_options(definition)
        cells = list(dict.fromkeys(_clean_cell(c) for c in cell_ids))
        if not cells:
            raise InvalidVote(f"queue {name!r} has no cells")

        def work(conn: Connection) -> int:
            queue_id = conn.execute(
                queues.insert().returning(queues.c.id),
                {
                    "name": name,
                    "kind": kind,
                    "definition": json.dumps(definition, sort_keys=True),
                    "created_by": admin.name,
                    "created_team": admin.team,
                    "created_role": admin.role,
                    "created_at": datetime.now(UTC),
                },
            ).scalar_one()
            conn.execute(
                queue_items.insert(),
                [{"queue_id": queue_id, "position": i, "cell_id": c} for i, c in enumerate(cells)],
            )
            return int(queue_id)

        return self._write(work)

    def queue(self, queue_id: int) -> Queue:
        """The queue `queue_id`; StoreError if there is none."""
        queue = _clean_queue_id(queue_id)

        def work(conn: Connection) -> Queue:
            row = conn.execute(sa.select(queues).where(queues.c.id == queue)).mappings().first()
            if row is None:
                raise StoreError(f"queue {queue} does not exist")
            size = conn.execute(
                sa.select(sa.func.count())
                .select_from(queue_items)
                .where(queue_items.c.queue_id == queue)
            ).scalar_one()
            return Queue(
                id=int(row["id"]),
                name=row["name"],
                kind=row["kind"],
                definition=json.loads(row["definition"]),
                created_by=row["created_by"],
                created_team=row["created_team"],
                created_at=row["created_at"],
                size=int(size),
            )

        return self._read(work)

    def list_queues(self) -> pd.DataFrame:
        """Every queue: id, name, kind, cells, created_by, created_team, created_at, definition."""
        count = (
            sa.select(queue_items.c.queue_id, sa.func.count().label("cells"))
            .group_by(queue_items.c.queue_id)
            .subquery()
        )
        stmt = (
            sa.select(
                queues.c.id,
                queues.c.name,
                queues.c.kind,
                sa.func.coalesce(count.c.cells, 0),
                queues.c.created_by,
                queues.c.created_team,
                queues.c.created_at,
                queues.c.definition,
            )
            .select_from(queues.outerjoin(count, count.c.queue_id == queues.c.id))
            .order_by(queues.c.id)
        )
        columns = [
            "id",
            "name",
            "kind",
            "cells",
            "created_by",
            "created_team",
            "created_at",
            "definition",
        ]
        return self._select(stmt, columns)

    def queue_cells(self, queue_id: int, reviewer: Reviewer | None = None) -> list[str]:
        """The queue's cells in order, as `reviewer` sees them (None: the stored order).

        With option seeded_order the order is shuffled by a seed made of the queue id and the
        reviewer's name; with calibration_share calibration cells are mixed in at seeded
        positions (drawn when read: adding calibration cells later changes the mix).
        """
        queue = _clean_queue_id(queue_id)
        return self._read(lambda conn: _queue_cells(conn, queue, reviewer))

    def progress(self, queue_id: int, reviewer: Reviewer) -> Progress:
        """How many of the queue's cells (in `reviewer`'s view) have a current vote of theirs.

        A vote on a cell counts wherever it was made (decisions are about cells).
        """
        _require(reviewer, "vote", "see progress")
        queue = _clean_queue_id(queue_id)

        def work(conn: Connection) -> Progress:
            cells = _queue_cells(conn, queue, reviewer)
            voted = set(
                conn.execute(
                    _current(
                        votes, ("reviewer", "cell_id"), reviewer=reviewer.name
                    ).with_only_columns(votes.c.cell_id)
                ).scalars()
            )
            todo = [i for i, c in enumerate(cells) if c not in voted]
            return Progress(
                queue_id=queue,
                reviewer=reviewer.name,
                total=len(cells),
                done=len(cells) - len(todo),
                next_position=todo[0] if todo else None,
                cells=cells,
            )

        return self._read(work)

    # -- calibration --------------------------------------------------------------------

    def add_calibration(
        self,
        admin: Reviewer,
        cell_id: str,
        action: str,
        *,
        label: str | None = None,
        reason: str | None = None,
        note: str | None = None,
    ) -> int:
        """Mark a cell as a calibration cell with a known answer; return the row id.

        The answer is 'retain' or 'correct' with the `label` that is right, or 'remove' with
        a `reason`. A later row for the same cell replaces the answer. Needs the admin role.
        """
        _require(admin, "manage_calibration", "mark calibration cells")
        action, label, reason = _clean_decision(
            action, label, reason, CALIBRATION_ACTIONS, "calibration answer"
        )
        row = {
            "cell_id": _clean_cell(cell_id),
            "action": action,
            "label": label,
            "reason": reason,
            "note": _clean_text(note, "note"),
            "added_by": admin.name,
            "team": admin.team,
            "role": admin.role,
            "created_at": datetime.now(UTC),
        }
        return self._write(
            lambda conn: int(
                conn.execute(calibration.insert().returning(calibration.c.id), row).scalar_one()
            )
        )

    def calibration_frame(self, viewer: Reviewer | None = None) -> pd.DataFrame:
        """The current answer of every calibration cell (the latest row per cell).

        Annotators may not see which cells are calibration cells (PermissionDenied).
        """
        if viewer is not None:
            _require(viewer, "see_all_votes", "see calibration cells")
        latest = sa.select(sa.func.max(calibration.c.id)).group_by(calibration.c.cell_id)
        stmt = sa.select(calibration).where(calibration.c.id.in_(latest)).order_by(calibration.c.id)
        return self._select(stmt, CALIBRATION_COLUMNS)

    # -- demo marker --------------------------------------------------------------------

    def mark_demo(self, admin: Reviewer, seed: int) -> None:
        """Mark this store as a demo store seeded with `seed` (StoreError if seeded otherwise)."""
        _require(admin, "manage_queues", "mark a demo store")

        def work(conn: Connection) -> None:
            old = conn.execute(sa.select(meta.c.value).where(meta.c.key == "demo_seed")).scalar()
            if old is None:
                conn.execute(meta.insert(), {"key": "demo_seed", "value": str(int(seed))})
            elif old != str(int(seed)):
                raise StoreError(
                    f"this demo store was seeded with {old}, not {seed}: use a new file"
                )

        self._write(work)

    @property
    def demo_seed(self) -> int | None:
        """The seed of a demo store; None for a real review store."""
        value = self._read(
            lambda conn: conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "demo_seed")
            ).scalar()
        )
        return None if value is None else int(value)

    # -- aggregation choice (issue 18) ------------------------------------------------

    def aggregation_choice(self) -> dict[str, str]:
        """The admin's aggregation method and threshold for this store ({} when never set).

        Keys 'method' and 'threshold' (as text); aggregation.choice() validates them.
        """
        stmt = sa.select(meta.c.key, meta.c.value).where(
            meta.c.key.in_(["aggregation_method", "aggregation_threshold"])
        )
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return {key.removeprefix("aggregation_"): value for key, value in rows}

    def set_aggregation(self, admin: Reviewer, method: str, threshold: float) -> None:
        """Set this store's aggregation method and threshold (admin only). Votes and
        adjudications are untouched: the consensus is recomputed from them."""
        _require(admin, "manage_queues", "choose the aggregation method")
        values = {
            "aggregation_method": str(method),
            "aggregation_threshold": repr(float(threshold)),
        }

        def work(conn: Connection) -> None:
            conn.execute(meta.delete().where(meta.c.key.in_(list(values))))
            conn.execute(meta.insert(), [{"key": k, "value": v} for k, v in values.items()])

        self._write(work)

    @property
    def is_demo(self) -> bool:
        """Whether this store holds simulated demo votes."""
        return self.demo_seed is not None

    # -- reads --------------------------------------------------------------------------

    def votes_visible(self, cell_id: str, viewer: Reviewer) -> bool:
        """Whether `viewer` may see others' votes on a cell.

        Adjudicators and admins always may; annotators in blind mode only once they have a
        current vote on the cell.
        """
        _require(viewer, "vote", "see votes")
        cell = _clean_cell(cell_id)
        if self.sees_others(viewer):
            return True
        return cell in self._read(lambda conn: _voted_cells(conn, viewer.name, [cell]))

    def votes_for_cell(self, cell_id: str, viewer: Reviewer) -> pd.DataFrame:
        """The current votes of every reviewer on a cell (VOTE_COLUMNS), oldest first.

        In blind mode an annotator who has no current vote on the cell is refused
        (PermissionDenied): vote first.
        """
        cell = _clean_cell(cell_id)
        if not self.votes_visible(cell, viewer):
            raise PermissionDenied(
                f"blind review: {viewer.name!r} must vote on cell {cell!r} before seeing others' votes"
            )
        stmt = _current(votes, ("reviewer", "cell_id"), cell_id=cell)
        return self._select(stmt, VOTE_COLUMNS)

    def votes_frame(self, viewer: Reviewer | None = None) -> pd.DataFrame:
        """Every vote row, undo rows included (action 'undo', `undoes` = the undone uid), by id.

        An annotator in blind mode sees their own rows and the rows on cells they have a
        current vote on.
        """
        stmt = sa.select(votes).order_by(votes.c.id)
        return self._visible(self._select(stmt, VOTE_COLUMNS), viewer)

    def current_votes(
        self,
        viewer: Reviewer | None = None,
        *,
        reviewer: str | None = None,
        cell_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """The current vote of each reviewer on each cell: the latest vote not undone.

        Undo rows and undone votes are left out; a reviewer whose votes on a cell are all
        undone has no row for it. Filter by `reviewer` name or `cell_ids`; blind mode as in
        `votes_frame`. This is the input of the consensus functions.
        """
        only: dict[str, object] = {}
        if reviewer is not None:
            only["reviewer"] = reviewer
        if cell_ids is not None:
            only["cell_id"] = [_clean_cell(c) for c in cell_ids]
        stmt = _current(votes, ("reviewer", "cell_id"), **only)
        return self._visible(self._select(stmt, VOTE_COLUMNS), viewer)

    def own_votes(self, reviewer: Reviewer, cell_ids: Iterable[str]) -> dict[str, tuple]:
        """cell -> (action, label, reason) of `reviewer`'s current vote on each of `cell_ids`
        that has one: the review loop's read after every round trip (no DataFrame)."""
        cells = [_clean_cell(c) for c in cell_ids]
        if not cells:
            return {}
        stmt = _current(votes, ("reviewer", "cell_id"), reviewer=reviewer.name, cell_id=cells)
        stmt = stmt.with_only_columns(
            votes.c.cell_id, votes.c.action, votes.c.label, votes.c.reason
        )
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return {str(r[0]): (r[1], r[2], r[3]) for r in rows}

    def adjudications_frame(self, viewer: Reviewer | None = None) -> pd.DataFrame:
        """Every adjudication row, undo rows included, by id (blind mode as in votes_frame)."""
        stmt = sa.select(adjudications).order_by(adjudications.c.id)
        frame = self._select(stmt, ADJUDICATION_COLUMNS)
        return self._visible(frame, viewer, own_column=None)

    def current_adjudications(self, viewer: Reviewer | None = None) -> pd.DataFrame:
        """The current adjudication of each cell: the latest one not undone."""
        stmt = _current(adjudications, ("cell_id",))
        frame = self._select(stmt, ADJUDICATION_COLUMNS)
        return self._visible(frame, viewer, own_column=None)

    def history(self, cell_id: str, viewer: Reviewer | None = None) -> pd.DataFrame:
        """Every vote and adjudication row of a cell, undo rows included, in time order.

        Columns HISTORY_COLUMNS: `kind` is 'vote' or 'adjudication', `who` the reviewer or
        adjudicator, `text` the comment or note. An annotator in blind mode who has not voted
        on the cell is refused (PermissionDenied).
        """
        cell = _clean_cell(cell_id)
        if viewer is not None and not self.votes_visible(cell, viewer):
            raise PermissionDenied(
                f"blind review: {viewer.name!r} must vote on cell {cell!r} before seeing its history"
            )

        def work(conn: Connection) -> pd.DataFrame:
            v = conn.execute(sa.select(votes).where(votes.c.cell_id == cell)).mappings().all()
            a = (
                conn.execute(sa.select(adjudications).where(adjudications.c.cell_id == cell))
                .mappings()
                .all()
            )
            rows = [
                {**r, "kind": "vote", "who": r["reviewer"], "text": r["comment"], "basis": None}
                for r in v
            ] + [
                {
                    **r,
                    "kind": "adjudication",
                    "who": r["adjudicator"],
                    "text": r["note"],
                    "image_id": None,
                    "queue_id": None,
                }
                for r in a
            ]
            rows.sort(key=lambda r: (r["created_at"], r["kind"] == "adjudication", r["id"]))
            return _frame([tuple(r[c] for c in HISTORY_COLUMNS) for r in rows], HISTORY_COLUMNS)

        return self._read(work)

    def sees_others(self, viewer: Reviewer | None) -> bool:
        """Whether `viewer` sees everyone's votes, tallies and notes on every cell: the one
        viewer check (review/permissions.py `sees_others`) with this store's blind mode."""
        return permissions.sees_others(viewer, self.blind)

    def _visible(
        self, frame: pd.DataFrame, viewer: Reviewer | None, own_column: str | None = "reviewer"
    ) -> pd.DataFrame:
        if self.sees_others(viewer):
            return frame
        cells = set(frame["cell_id"])
        seen = self._read(lambda conn: _voted_cells(conn, viewer.name, None)) & cells
        keep = frame["cell_id"].isin(seen)
        if own_column is not None:
            keep |= frame[own_column] == viewer.name
        return frame[keep].reset_index(drop=True)

    # -- sign-in attempts and sessions (issue 14; the policy is in review/auth.py) -------

    def record_sign_in(self, name: str, client: str, ok: bool, at: datetime | None = None) -> None:
        """Remember one sign-in attempt of user `name` from `client` (success or failure)."""
        row = {
            "name": _attempt_key(name),
            "client": _attempt_key(client, MAX_CLIENT),
            "ok": bool(ok),
            "created_at": _utc(at),
        }
        self._write(lambda conn: conn.execute(sign_in_attempts.insert().values(**row)))

    def sign_in_failures(
        self, *, name: str | None = None, client: str | None = None, since: datetime
    ) -> list[datetime]:
        """Times (oldest first) of failed sign-ins after `since` for user `name` (counted
        from the user's last success) or from `client` (a success does not reset a client:
        an attacker with an account must not clear the count by signing in)."""
        t = sign_in_attempts
        if (name is None) == (client is None):
            raise StoreError("sign_in_failures needs exactly one of name and client")

        def work(conn: Connection) -> list[datetime]:
            if name is not None:
                key = t.c.name == _attempt_key(name)
                last_ok = conn.execute(
                    sa.select(sa.func.max(t.c.created_at)).where(key, t.c.ok.is_(True))
                ).scalar()
                start = max(since, last_ok) if last_ok is not None else since
            else:
                key = t.c.client == _attempt_key(client, MAX_CLIENT)
                start = since
            stmt = (
                sa.select(t.c.created_at)
                .where(key, t.c.ok.is_(False), t.c.created_at > start)
                .order_by(t.c.created_at)
            )
            return [r[0] for r in conn.execute(stmt).all()]

        return self._read(work)

    def forget_sign_ins(self, before: datetime) -> int:
        """Delete sign-in attempts older than `before`; returns how many."""
        stmt = sign_in_attempts.delete().where(sign_in_attempts.c.created_at < before)
        return self._write(lambda conn: conn.execute(stmt).rowcount)

    def add_session(
        self,
        token_hash: str,
        name: str,
        credential: str,
        client: str,
        expires_at: datetime,
        at: datetime | None = None,
    ) -> None:
        """Store a sign-in session by the hash of its token (the token itself is never stored)."""
        row = {
            "token_hash": str(token_hash),
            "name": _clean_name(name, "reviewer name"),
            "credential": str(credential)[:64],
            "client": _attempt_key(client, MAX_CLIENT),
            "created_at": _utc(at),
            "expires_at": _utc(expires_at),
            "revoked_at": None,
        }
        self._write(lambda conn: conn.execute(sessions.insert().values(**row)))

    def session(self, token_hash: str, at: datetime | None = None) -> dict | None:
        """The live session with this token hash (name, credential, expires_at), or None when
        unknown, revoked or expired at `at` (default: now)."""
        now = _utc(at)
        stmt = sa.select(sessions).where(
            sessions.c.token_hash == str(token_hash),
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > now,
        )
        row = self._read(lambda conn: conn.execute(stmt).mappings().first())
        return dict(row) if row is not None else None

    def revoke_session(self, token_hash: str, at: datetime | None = None) -> None:
        """End one session (sign-out)."""
        stmt = (
            sessions.update()
            .where(sessions.c.token_hash == str(token_hash), sessions.c.revoked_at.is_(None))
            .values(revoked_at=_utc(at))
        )
        self._write(lambda conn: conn.execute(stmt))

    def revoke_sessions(self, name: str, at: datetime | None = None) -> int:
        """End every session of user `name` (password change, removal); returns how many."""
        stmt = (
            sessions.update()
            .where(sessions.c.name == str(name).strip(), sessions.c.revoked_at.is_(None))
            .values(revoked_at=_utc(at))
        )
        return self._write(lambda conn: conn.execute(stmt).rowcount)


# --- query helpers ---------------------------------------------------------------------


def _attempt_key(value: object, limit: int = MAX_NAME) -> str:
    """A user name or client as sign-in throttling keys it: trimmed, case-folded, cut."""
    text = str(value if value is not None else "").strip().casefold()
    return _CONTROL.sub("?", text)[:limit] or "-"


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise StoreError("a time without a time zone: give UTC")
    return at.astimezone(UTC)


def _version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def _clean_queue_id(value: object) -> int | None:
    value = _opt(value)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidVote(f"queue id {_show(value)} is not a whole number") from None
    if number != value and str(number) != str(value).strip():
        raise InvalidVote(f"queue id {_show(value)} is not a whole number")
    return number


def _live(table: sa.Table) -> sa.Select:
    """Rows of `table` that are not undo rows and have not been undone."""
    undo = table.alias("undo")
    undone = sa.exists().where(undo.c.action == UNDO, undo.c.undoes == table.c.uid)
    return sa.select(table).where(table.c.action != UNDO, ~undone)


def _current(table: sa.Table, key: tuple[str, ...], **only: object) -> sa.Select:
    """The latest live row of `table` per `key` (reviewer and cell, or cell), by time then id.

    `only` restricts key columns to a value or a list of values (inside the grouping too,
    so that the database need not resolve every group).
    """
    inner = table.alias("cur")
    undo = table.alias("undo")
    undone = sa.exists().where(undo.c.action == UNDO, undo.c.undoes == inner.c.uid)
    # Latest by the time the row records (an imported vote carries the time it was made),
    # then by id: importing an older vote after a newer one does not make it current.
    rank = (
        sa.func.row_number()
        .over(
            partition_by=[inner.c[k] for k in key],
            order_by=(inner.c.created_at.desc(), inner.c.id.desc()),
        )
        .label("rank")
    )
    ranked = sa.select(inner.c.id, rank).where(inner.c.action != UNDO, ~undone)
    outer = sa.select(table)
    for column, value in only.items():
        if column not in key:  # filtering on another column would change which row is latest
            raise ValueError(f"{column} is not a key column of {table.name}")
        ranked = ranked.where(_match(inner.c[column], value))
        outer = outer.where(_match(table.c[column], value))
    ranked = ranked.subquery("ranked")
    latest = sa.select(ranked.c.id).where(ranked.c.rank == 1)
    return outer.where(table.c.id.in_(latest)).order_by(table.c.id)


def _match(column: sa.ColumnElement, value: object) -> sa.ColumnElement:
    return column.in_(value) if isinstance(value, list) else column == value


def _undone(conn: Connection, table: sa.Table, uids: list[str]) -> set[str]:
    rows = conn.execute(
        sa.select(table.c.undoes).where(table.c.action == UNDO, table.c.undoes.in_(uids))
    )
    return set(rows.scalars())


def _voted_cells(conn: Connection, name: str, cells: list[str] | None) -> set[str]:
    only: dict[str, object] = {"reviewer": name}
    if cells is not None:
        only["cell_id"] = cells
    stmt = _current(votes, ("reviewer", "cell_id"), **only)
    return set(conn.execute(stmt.with_only_columns(votes.c.cell_id)).scalars())


def _current_adjudicated_cells(conn: Connection, cells: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(cells), 500):
        chunk = cells[start : start + 500]
        stmt = _current(adjudications, ("cell_id",), cell_id=chunk)
        found |= set(conn.execute(stmt.with_only_columns(adjudications.c.cell_id)).scalars())
    return found


def _undo_row(
    target: Mapping, reviewer: Reviewer, row_uid: str, batch: str | None, source: str
) -> dict:
    return {
        "uid": row_uid,
        "cell_id": target["cell_id"],
        "image_id": target["image_id"],
        "queue_id": target["queue_id"],
        "reviewer": reviewer.name,
        "team": reviewer.team,
        "role": reviewer.role,
        "action": UNDO,
        "label": None,
        "reason": None,
        "comment": None,
        "source": source,
        "undoes": target["uid"],
        "batch": batch,
        "created_at": datetime.now(UTC),
    }


def _existing(
    conn: Connection, table: sa.Table, uids: list[str], columns: tuple[str, ...]
) -> dict[str, tuple]:
    found: dict[str, tuple] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        stmt = sa.select(table.c.uid, *(table.c[c] for c in columns)).where(table.c.uid.in_(chunk))
        for row in conn.execute(stmt):
            found[row[0]] = tuple(row[1:])
    return found


def _vote_row(
    reviewer: Reviewer,
    cell_id: object,
    action: object,
    *,
    label: object = None,
    reason: object = None,
    comment: object = None,
    image_id: object = None,
    queue_id: object = None,
    source: object = "app",
    uid: object = None,
    batch: object = None,
    at: datetime | None = None,
    undoes: object = None,
) -> dict:
    """A checked vote row (an undo row when action is 'undo' and `undoes` names the vote)."""
    allowed = (*ACTIONS, UNDO) if _opt(undoes) is not None else ACTIONS
    action, label, reason = _clean_decision(action, label, reason, allowed, "vote")
    if action == UNDO and _opt(undoes) is None:
        raise InvalidVote("an 'undo' row needs `undoes`, the uid of the vote it undoes")
    source = _clean_source(source)
    return {
        "uid": _clean_uid(uid),
        "cell_id": _clean_cell(cell_id),
        "image_id": None if _opt(image_id) is None else _clean_cell(image_id, "image id"),
        "queue_id": _clean_queue_id(queue_id),
        "reviewer": reviewer.name,
        "team": reviewer.team,
        "role": reviewer.role,
        "action": action,
        "label": label,
        "reason": reason,
        "comment": _clean_text(comment, "comment"),
        "source": source,
        "undoes": None if action != UNDO else _clean_uid(undoes, "undone vote uid"),
        "batch": None if _opt(batch) is None else _clean_uid(batch, "batch id"),
        "created_at": _when(at, source),
    }


def _insert_votes(conn: Connection, rows: list[dict]) -> list[str]:
    """Insert the rows whose uid is new; check reused uids and references. Returns new uids."""
    key = ("reviewer", "cell_id", "action")
    stored = _existing(conn, votes, [r["uid"] for r in rows], key)
    new: dict[str, dict] = {}
    for row in rows:
        seen = stored.get(row["uid"]) or (
            tuple(new[row["uid"]][k] for k in key) if row["uid"] in new else None
        )
        if seen is not None:
            if seen != tuple(row[k] for k in key):
                raise InvalidVote(f"vote uid {row['uid']!r} is already used by another vote")
            continue
        new[row["uid"]] = row
    queue_ids = sorted({r["queue_id"] for r in new.values() if r["queue_id"] is not None})
    if queue_ids:
        known = set(
            conn.execute(sa.select(queues.c.id).where(queues.c.id.in_(queue_ids))).scalars()
        )
        missing = [q for q in queue_ids if q not in known]
        if missing:
            raise InvalidVote(f"queue {missing[0]} does not exist")
    undone = [r["undoes"] for r in new.values() if r["action"] == UNDO]
    if undone:
        targets = _existing(conn, votes, undone, ("action",))
        for uid_ in undone:
            action = (
                targets[uid_][0]
                if uid_ in targets
                else (new[uid_]["action"] if uid_ in new else None)
            )
            if action is None or action == UNDO:
                raise InvalidVote(f"undo row names {uid_!r}, which is not a stored vote")
    if new:
        conn.execute(votes.insert(), list(new.values()))
    return list(new)


def _adjudication_row(
    adjudicator: Reviewer,
    cell_id: object,
    action: object,
    *,
    label: object = None,
    reason: object = None,
    note: object = None,
    basis: object = "expert",
    uid: object = None,
    source: object = "app",
    at: datetime | None = None,
    batch: str | None = None,
) -> dict:
    """A checked adjudication row."""
    action, label, reason = _clean_decision(
        action, label, reason, ADJUDICATION_ACTIONS, "adjudication"
    )
    if basis not in BASES:
        raise InvalidVote(f"adjudication basis {_show(basis)} is not one of {', '.join(BASES)}")
    source = _clean_source(source)
    return {
        "uid": _clean_uid(uid, "adjudication uid"),
        "cell_id": _clean_cell(cell_id),
        "adjudicator": adjudicator.name,
        "team": adjudicator.team,
        "role": adjudicator.role,
        "action": action,
        "label": label,
        "reason": reason,
        "note": _clean_text(note, "note"),
        "basis": basis,
        "source": source,
        "undoes": None,
        "batch": batch,
        "created_at": _when(at, source),
    }


def _insert_adjudications(conn: Connection, rows: list[dict]) -> list[str]:
    key = ("adjudicator", "cell_id", "action")
    stored = _existing(conn, adjudications, [r["uid"] for r in rows], key)
    new = []
    for row in rows:
        if row["uid"] in stored:
            if stored[row["uid"]] != tuple(row[k] for k in key):
                raise InvalidVote(f"adjudication uid {row['uid']!r} is already used by another one")
            continue
        new.append(row)
    if new:
        conn.execute(adjudications.insert(), new)
    return [r["uid"] for r in new]


def _queue_cells(conn: Connection, queue_id: int | None, reviewer: Reviewer | None) -> list[str]:
    if queue_id is None:
        raise InvalidVote("no queue id given")
    definition = conn.execute(
        sa.select(queues.c.definition).where(queues.c.id == queue_id)
    ).scalar()
    if definition is None:
        raise StoreError(f"queue {queue_id} does not exist")
    options = json.loads(definition).get("options", {})
    cells = list(
        conn.execute(
            sa.select(queue_items.c.cell_id)
            .where(queue_items.c.queue_id == queue_id)
            .order_by(queue_items.c.position)
        ).scalars()
    )
    if reviewer is None:
        return cells
    share = float(options.get("calibration_share", 0) or 0)
    if share > 0:
        present = set(cells)
        known = sorted(
            set(conn.execute(sa.select(calibration.c.cell_id).distinct()).scalars()) - present
        )
        rng = random.Random(f"calibration:{queue_id}:{reviewer.name}")
        wanted = min(len(known), round(len(cells) * share / (1 - share)))
        for cell in rng.sample(known, wanted):
            cells.insert(rng.randrange(len(cells) + 1), cell)
    if options.get("seeded_order"):
        random.Random(f"order:{queue_id}:{reviewer.name}").shuffle(cells)
    return cells


def _frame(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with fixed columns (also when empty); times as UTC, ids as integers."""
    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(columns))
    for name in frame.columns:
        if name == "created_at" or name.endswith("_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif name in ("id", "cells"):
            frame[name] = frame[name].astype("int64")
        elif name == "queue_id":
            frame[name] = frame[name].astype("Int64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame
