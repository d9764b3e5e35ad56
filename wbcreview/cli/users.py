"""The `add-user` command, and `--user NAME` of commands that act as a signed-in user."""

from __future__ import annotations

import argparse
import getpass
import sys

from wbcreview.review import auth, permissions
from wbcreview.workspace import ROLES, Reviewer, default_store_url, open_store


def cmd_add_user(args) -> int:
    """Prompt for (or read) the password and write the user; print where."""
    path = auth.users_path() if args.users is None else args.users
    if args.no_password:
        password = None
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise auth.AuthError("the two passwords differ; nothing written")
    who = auth.add_user(path, args.name, args.team, args.role, password, email=args.email)
    print(f"user {who.name!r} ({who.role}{', ' + who.team if who.team else ''}) written to {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `add-user` command to the CLI's sub-parsers."""
    p = sub.add_parser("add-user", help="add or replace a user who may sign in (server mode)")
    p.add_argument("name", metavar="NAME", help="the user's name (shown on every vote)")
    p.add_argument("--role", required=True, choices=ROLES, help="annotator, adjudicator or admin")
    p.add_argument("--team", default="", help="the user's team (optional)")
    p.add_argument("--email", default="", help="e-mail of an OpenID Connect sign-in (optional)")
    p.add_argument(
        "--users", metavar="FILE", help="users file (default: WBCREVIEW_USERS, see README)"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    how.add_argument(
        "--no-password", action="store_true", help="no password (signs in with OpenID Connect)"
    )
    p.set_defaults(func=cmd_add_user)


def user_arg(p: argparse.ArgumentParser) -> None:
    """Add `--user NAME` (and `--user-password-stdin`) to a command."""
    p.add_argument(
        "--user",
        metavar="NAME",
        help="act as this user of the users file (asks the password): sees and may do only "
        "what the user's role allows, as on the pages. Without it: a trusted local caller",
    )
    p.add_argument(
        "--user-password-stdin", action="store_true", help="read --user's password from stdin"
    )


def acting_user(args, action: str | None = None) -> Reviewer | None:
    """The user of `--user` after a throttled sign-in (None without `--user`: trusted local).

    Sign-in attempts are kept in the decision store of WBCREVIEW_DB, as for the pages. With
    `action`, raise PermissionDenied unless the user's role allows it (the table in
    review/permissions.py). Raises AuthError for a wrong name or password or a throttled try.
    """
    name = getattr(args, "user", None)
    if not name:
        return None
    if getattr(args, "user_password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {name}: ")
    with open_store(default_store_url()) as store:
        who = auth.sign_in(store, auth.users_path(), name, password, f"cli:{getpass.getuser()}")
    if who is None:
        raise auth.AuthError("wrong name or password")
    if action is not None:
        permissions.require(who, action)
    return who
