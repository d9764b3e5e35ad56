"""The `add-user` command: write a user with a bcrypt-hashed password to the users file."""

from __future__ import annotations

import argparse
import getpass
import sys

from wbcreview.review import auth
from wbcreview.review.store import ROLES


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
