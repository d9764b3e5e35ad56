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

import hmac
import os
import tempfile
from pathlib import Path

import bcrypt
import yaml

from wbcreview import config
from wbcreview.errors import WbcreviewError
from wbcreview.review.store import ROLES, InvalidVote, Reviewer

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
