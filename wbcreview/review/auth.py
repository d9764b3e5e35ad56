"""Who may sign in to a shared server: a users file with bcrypt hashes, and the sign-in mode.

Pure (no Streamlit). The users file is YAML kept outside the repository (setting
WBCREVIEW_USERS, default `<WBCREVIEW_HOME>/users.yaml`, which is git-ignored):

    users:
      Ann:
        team: Team 1
        role: annotator            # annotator, adjudicator or admin
        email: ann@lab.example     # optional; maps an OpenID Connect sign-in to this user
        password: $2b$12$...       # bcrypt hash, written by `python -m wbcreview add-user`

The mode (setting WBCREVIEW_AUTH): `none` (local, one machine, no sign-in), `password`
(sign in with a name and password from the users file) or `oidc` (Streamlit's `st.login()`
with an `[auth]` block in `.streamlit/secrets.toml`; the role comes from the users file).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import yaml

from wbcreview import config
from wbcreview.errors import WbcreviewError
from wbcreview.files import written_atomically
from wbcreview.review.store import ROLES, InvalidVote, Reviewer, Store

log = logging.getLogger("wbcreview.auth")

MODES: tuple[str, ...] = ("none", "password", "oidc")
ROUNDS = 12  # bcrypt cost: ~0.3 s per check on a 2-core machine
MAX_PASSWORD = 72  # bcrypt uses the first 72 bytes only; refuse longer instead of truncating
MIN_PASSWORD = 8
# Checked against when the name is unknown, so an unknown name costs as long as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(4)).replace(b"$04$", b"$12$", 1)


class AuthError(WbcreviewError):
    """Sign-in is misconfigured, or a user cannot be written."""


class UsersFileError(AuthError):
    """The users file is missing, unreadable or malformed."""


class SignInThrottled(AuthError):
    """Too many failed sign-ins for this name or from this client: wait, then try again."""


def mode() -> str:
    """The sign-in mode from setting WBCREVIEW_AUTH; raise SettingError for an unknown one."""
    value = config.get("WBCREVIEW_AUTH").strip().lower() or "none"
    if value not in MODES:
        raise config.SettingError(f"WBCREVIEW_AUTH={value!r} is not one of {', '.join(MODES)}")
    return value


def users_path() -> Path:
    """The users file (setting WBCREVIEW_USERS, default `<WBCREVIEW_HOME>/users.yaml`)."""
    raw = config.get("WBCREVIEW_USERS").strip()
    return Path(raw).expanduser() if raw else config.data_dir() / "users.yaml"


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    """A bcrypt hash of `password`; raise AuthError if it is too short or too long."""
    data = _password_bytes(password)
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"the password needs at least {MIN_PASSWORD} characters")
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds)).decode("ascii")


def _password_bytes(password: str) -> bytes:
    if not isinstance(password, str):
        raise AuthError("the password must be text")
    data = password.encode("utf-8")
    if len(data) > MAX_PASSWORD:
        raise AuthError(f"the password is longer than {MAX_PASSWORD} bytes (bcrypt's limit)")
    return data


def load_users(path: Path | str) -> dict[str, dict]:
    """The users of the file at `path` by name; raise UsersFileError if it is missing or bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsersFileError(
            f"users file {path} not found: create it with `python -m wbcreview add-user NAME "
            "--role ROLE` (setting WBCREVIEW_USERS)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsersFileError(f"users file {path} cannot be read: {exc}") from None
    return _parse_users(text, path)


def _parse_users(text: str, path: Path) -> dict[str, dict]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsersFileError(f"users file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise UsersFileError(f"users file {path} needs a mapping `users:` of name -> details")
    out: dict[str, dict] = {}
    for name, entry in users.items():
        where = f"users file {path}, user {name!r}"
        if not isinstance(entry, dict):
            raise UsersFileError(f"{where}: expected a mapping with role and password")
        role = entry.get("role")
        if role not in ROLES:
            raise UsersFileError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        hashed = entry.get("password")
        if entry.get("password") is not None and not (
            isinstance(hashed, str) and hashed.startswith(("$2a$", "$2b$", "$2y$"))
        ):
            raise UsersFileError(f"{where}: password is not a bcrypt hash (use add-user)")
        try:
            Reviewer(str(name), str(entry.get("team") or ""), role)
        except InvalidVote as exc:
            raise UsersFileError(f"{where}: {exc}") from None
        out[str(name)] = {
            "team": str(entry.get("team") or ""),
            "role": role,
            "email": str(entry.get("email") or "").strip().lower(),
            "password": hashed,
        }
    return out


def add_user(
    path: Path | str,
    name: str,
    team: str,
    role: str,
    password: str | None,
    *,
    email: str = "",
    rounds: int = ROUNDS,
) -> Reviewer:
    """Add or replace user `name` in the users file (created if missing) with a hashed password.

    `password` None writes no password (an OpenID Connect user). Raises AuthError for a bad
    name, team, role or password, UsersFileError for a malformed existing file. The file is
    replaced atomically and readable by its owner only.
    """
    try:
        reviewer = Reviewer(name, team or "", role)
    except InvalidVote as exc:
        raise AuthError(str(exc)) from None
    path = Path(path)
    users = load_users(path) if path.exists() else {}
    users[reviewer.name] = {
        "team": reviewer.team,
        "role": reviewer.role,
        "email": (email or "").strip().lower(),
        "password": hash_password(password, rounds) if password is not None else None,
    }
    _write_users(path, users)
    return reviewer


def _write_users(path: Path, users: dict[str, dict]) -> None:
    clean = {
        name: {k: v for k, v in entry.items() if v not in (None, "")} | {"role": entry["role"]}
        for name, entry in users.items()
    }
    text = yaml.safe_dump({"users": clean}, sort_keys=True, allow_unicode=True)
    with written_atomically(path) as tmp:
        # Created owner-only before the hashes go in: no moment when others could read them.
        tmp.touch(mode=0o600)
        os.chmod(tmp, 0o600)
        tmp.write_text(text, encoding="utf-8")


def verify(path: Path | str, name: str, password: str) -> Reviewer | None:
    """The Reviewer `name` if `password` is theirs, else None (unknown name or wrong password).

    Takes as long for an unknown name as for a wrong password. Raises UsersFileError when
    the users file is missing or malformed (a server problem, not a wrong password).
    """
    users = load_users(path)
    entry = users.get((name or "").strip()) if isinstance(name, str) else None
    try:
        given = _password_bytes(password)
    except AuthError:
        given = b""
    hashed = (entry or {}).get("password")
    target = hashed.encode("ascii") if isinstance(hashed, str) else _DUMMY_HASH
    try:
        ok = bcrypt.checkpw(given, target)
    except ValueError:
        ok = False
    if not (ok and entry is not None and hashed and given):
        return None
    return Reviewer(name.strip(), entry["team"], entry["role"])


def reviewer_for_identity(path: Path | str, email: str | None, name: str | None) -> Reviewer | None:
    """The user of the users file whose e-mail (or else name) matches an OIDC identity."""
    users = load_users(path)
    wanted = (email or "").strip().lower()
    for user, entry in users.items():
        if wanted and entry["email"] and hmac.compare_digest(entry["email"], wanted):
            return Reviewer(user, entry["team"], entry["role"])
    if name and name.strip() in users:
        entry = users[name.strip()]
        return Reviewer(name.strip(), entry["team"], entry["role"])
    return None


# --- sign-in limits and sessions (issue 14) ---------------------------------------------
# Failed sign-ins are kept in the decision store, so the limit holds across browser
# sessions, server processes and restarts. Per user name: 5 free failures, then each try
# must wait 2^(n-5) s after the last failure (1, 2, 4 ... s), and from the 10th failure
# the name is locked for LOCKOUT after its last failure. Per client address the same with
# 4x the counts (a lab behind one address shares it). A success resets a name, not a client.

FREE_FAILURES = 5
LOCK_AFTER = 10
CLIENT_FACTOR = 4
LOCKOUT = timedelta(minutes=15)
UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True)
class Limit:
    """Whether a sign-in may be tried now: `wait` seconds to go (0: go), and why."""

    wait: float
    why: str = ""


def _limit(failures: list[datetime], now: datetime, free: int, lock_after: int, what: str) -> Limit:
    n = len(failures)
    if n < free:
        return Limit(0.0)
    last = failures[-1]
    if n >= lock_after:
        until, why = last + LOCKOUT, f"{what} is locked after {n} failed sign-ins"
    else:
        until = last + timedelta(seconds=2 ** (n - free))
        why = f"{n} failed sign-ins for {what}"
    wait = (until - now).total_seconds()
    return Limit(max(0.0, wait), why if wait > 0 else "")


def sign_in_limit(
    store: Store, name: str, client: str | None, now: datetime | None = None
) -> Limit:
    """How long user `name` from `client` must wait before the next try (the larger limit)."""
    now = now or datetime.now(UTC)
    since = now - LOCKOUT
    by_name = store.sign_in_failures(name=name or "", since=since)
    by_client = store.sign_in_failures(client=client or UNKNOWN_CLIENT, since=since)
    limits = [
        _limit(by_name, now, FREE_FAILURES, LOCK_AFTER, "this name"),
        _limit(
            by_client,
            now,
            FREE_FAILURES * CLIENT_FACTOR,
            LOCK_AFTER * CLIENT_FACTOR,
            "this address",
        ),
    ]
    return max(limits, key=lambda lim: lim.wait)


def sign_in(
    store: Store,
    path: Path | str,
    name: str,
    password: str,
    client: str | None,
    *,
    now: datetime | None = None,
) -> Reviewer | None:
    """`verify` behind the sign-in limits: the Reviewer, None for a wrong name or password.

    Raises SignInThrottled (before any bcrypt work) while the name or the client must wait;
    every try and refusal is logged and every checked try is recorded in the store.
    """
    now = now or datetime.now(UTC)
    client = client or UNKNOWN_CLIENT
    limit = sign_in_limit(store, name, client, now)
    if limit.wait > 0:
        log.warning("sign-in refused for %r from %s: %s", name, client, limit.why)
        raise SignInThrottled(
            f"Too many failed sign-ins ({limit.why}): try again in {_duration(limit.wait)}."
        )
    who = verify(path, name, password)
    store.record_sign_in(name, client, who is not None, at=now)
    if who is None:
        log.warning("sign-in failed for %r from %s", name, client)
    else:
        log.info("sign-in of %r from %s", who.name, client)
    return who


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} min"


def session_hours() -> float:
    """Setting WBCREVIEW_SESSION_HOURS: how long a sign-in lasts across reloads (0: none)."""
    raw = config.get("WBCREVIEW_SESSION_HOURS").strip()
    try:
        hours = float(raw)
    except ValueError:
        raise config.SettingError(f"WBCREVIEW_SESSION_HOURS={raw!r} is not a number") from None
    if not 0 <= hours <= 24 * 90:
        raise config.SettingError(f"WBCREVIEW_SESSION_HOURS={hours} is not between 0 and 2160")
    return hours


def token_hash(token: str) -> str:
    """What the store keeps of a session token: its SHA-256 (a stolen database holds no token)."""
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def _credential(path: Path | str, name: str) -> str | None:
    """A fingerprint of the user's current password hash (changes with the password)."""
    entry = load_users(path).get(name)
    if entry is None:
        return None
    return hashlib.sha256(str(entry.get("password") or "").encode("ascii")).hexdigest()


def start_session(
    store: Store,
    path: Path | str,
    who: Reviewer,
    client: str | None,
    *,
    hours: float | None = None,
    now: datetime | None = None,
) -> str | None:
    """A new session token for `who` (to put in a cookie), or None when sessions are off."""
    hours = session_hours() if hours is None else hours
    credential = _credential(path, who.name)
    if hours <= 0 or credential is None:
        return None
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    store.add_session(
        token_hash(token),
        who.name,
        credential,
        client or UNKNOWN_CLIENT,
        now + timedelta(hours=hours),
        at=now,
    )
    return token


def resume_session(
    store: Store, path: Path | str, token: str | None, *, now: datetime | None = None
) -> Reviewer | None:
    """The user of a live session token, with their role as the users file says now.

    None for a missing, unknown, expired or revoked token, a user no longer in the file, or
    a password changed since the sign-in (the session is then revoked).
    """
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    key = token_hash(token)
    row = store.session(key, at=now)
    if row is None:
        return None
    credential = _credential(path, row["name"])
    if credential is None or not hmac.compare_digest(credential, row["credential"]):
        store.revoke_session(key)
        log.info("session of %r ended: user removed or password changed", row["name"])
        return None
    return current_reviewer(path, row["name"])


def end_session(store: Store, token: str | None) -> None:
    """Revoke a session token (sign-out); nothing for None."""
    if token:
        store.revoke_session(token_hash(token))


def current_reviewer(path: Path | str, name: str) -> Reviewer | None:
    """User `name` as the users file says now (role and team re-read), or None if removed.

    Pages call this on every run, so a demotion or a removal takes effect at the next action.
    """
    entry = load_users(path).get(name)
    if entry is None:
        return None
    return Reviewer(name, entry["team"], entry["role"])
