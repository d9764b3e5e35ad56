"""Sign-in: the users file, bcrypt hashes, verify, the add-user command and the sign-in page_script."""

from __future__ import annotations

import io
import textwrap
import time

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from wbcreview import cli, config
from wbcreview.review import auth
from wbcreview.review.store import Reviewer


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "secret" / "users.yaml"
    auth.add_user(path, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    auth.add_user(path, "Eve", "Experts", "adjudicator", "battery staple", rounds=4)
    return path


def test_passwords_are_stored_as_bcrypt_hashes_readable_by_the_owner_only(users):
    text = users.read_text()
    assert "correct horse" not in text and "battery staple" not in text
    entry = yaml.safe_load(text)["users"]["Ann"]
    assert entry["password"].startswith("$2b$04$") and entry["role"] == "annotator"
    assert users.stat().st_mode & 0o777 == 0o600


def test_verify_returns_the_reviewer_for_the_right_password(users):
    assert auth.verify(users, "Ann", "correct horse") == Reviewer("Ann", "Team 1", "annotator")
    assert auth.verify(users, " Eve ", "battery staple").role == "adjudicator"


@pytest.mark.parametrize(
    "name, password",
    [("Ann", "battery staple"), ("Ann", ""), ("Nobody", "correct horse"), ("", ""),
     ("Ann", "x" * 500), ("Ann", "correct horse\x00")],
)  # fmt: skip
def test_wrong_password_and_unknown_user_are_both_just_none(users, name, password):
    assert auth.verify(users, name, password) is None


def test_an_unknown_name_costs_a_bcrypt_check_too(tmp_path):
    path = tmp_path / "users.yaml"
    auth.add_user(path, "Ann", "", "annotator", "correct horse")  # the real cost, 12
    start = time.perf_counter()
    assert auth.verify(path, "Ann", "wrong password") is None
    wrong = time.perf_counter() - start
    start = time.perf_counter()
    assert auth.verify(path, "Nobody", "wrong password") is None
    unknown = time.perf_counter() - start
    assert unknown > wrong / 3, (wrong, unknown)


def test_add_user_replaces_and_keeps_the_others(users):
    auth.add_user(users, "Ann", "Team 2", "admin", "new password", rounds=4)
    assert auth.verify(users, "Ann", "correct horse") is None
    assert auth.verify(users, "Ann", "new password") == Reviewer("Ann", "Team 2", "admin")
    assert auth.verify(users, "Eve", "battery staple") is not None


@pytest.mark.parametrize(
    "name, role, password, message",
    [("Ann", "boss", "long enough", "role 'boss' is not one of"),
     ("", "annotator", "long enough", "reviewer name"),
     ("Ann", "annotator", "short", "at least 8 characters"),
     ("Ann", "annotator", "é" * 40, "longer than 72 bytes")],
)  # fmt: skip
def test_add_user_refuses_bad_input(tmp_path, name, role, password, message):
    with pytest.raises(auth.AuthError, match=message):
        auth.add_user(tmp_path / "u.yaml", name, "", role, password, rounds=4)
    assert not (tmp_path / "u.yaml").exists()


@pytest.mark.parametrize(
    "text, message",
    [("users: [1, 2]", "needs a mapping `users:`"),
     ("users:\n  Ann: 3", "expected a mapping"),
     ("users:\n  Ann: {role: boss}", "role 'boss' is not one of"),
     ("users:\n  Ann: {role: admin, password: hunter2}", "not a bcrypt hash"),
     ("users: {Ann: [", "not valid YAML"),
     ("- just a list", "needs a mapping `users:`")],
)  # fmt: skip
def test_a_malformed_users_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text)
    with pytest.raises(auth.UsersFileError, match=message):
        auth.verify(path, "Ann", "whatever")


def test_a_missing_users_file_says_how_to_make_one(tmp_path):
    with pytest.raises(auth.UsersFileError, match="not found: create it with `python -m"):
        auth.verify(tmp_path / "none.yaml", "Ann", "whatever")


def test_settings_mode_and_path(monkeypatch, tmp_path):
    monkeypatch.delenv("WBCREVIEW_AUTH", raising=False)
    monkeypatch.delenv("WBCREVIEW_USERS", raising=False)
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path))
    assert auth.mode() == "none"
    assert auth.users_path() == tmp_path / "users.yaml"
    monkeypatch.setenv("WBCREVIEW_AUTH", "Password")
    assert auth.mode() == "password"
    monkeypatch.setenv("WBCREVIEW_AUTH", "ldap")
    with pytest.raises(config.SettingError, match="WBCREVIEW_AUTH='ldap' is not one of"):
        auth.mode()


def test_oidc_identities_map_to_roles_by_email_then_name(tmp_path):
    path = tmp_path / "users.yaml"
    auth.add_user(path, "Dr Rossi", "Experts", "adjudicator", None, email="Rossi@Lab.example")
    assert auth.reviewer_for_identity(path, "rossi@lab.example", "x").name == "Dr Rossi"
    assert auth.reviewer_for_identity(path, None, "Dr Rossi").role == "adjudicator"
    assert auth.reviewer_for_identity(path, "other@lab.example", "Other") is None
    assert auth.verify(path, "Dr Rossi", "") is None  # no password: cannot sign in by form


def _cli(argv):
    """The real entry point: `main` turns an AuthError into one line and exit 1."""
    return lambda: cli.main(argv)


def test_add_user_cli_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.yaml"
    monkeypatch.setenv("WBCREVIEW_USERS", str(path))
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret password\n"))
    args = _cli(["add-user", "Ann", "--role", "annotator", "--team", "T1", "--password-stdin"])
    assert args() == 0
    assert "user 'Ann' (annotator, T1) written to" in capsys.readouterr().out
    assert auth.verify(path, "Ann", "s3cret password") == Reviewer("Ann", "T1", "annotator")


def test_add_user_cli_prompts_twice_and_refuses_a_mismatch(tmp_path, monkeypatch, capsys):
    path = tmp_path / "users.yaml"
    answers = iter(["first password", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = _cli(["add-user", "Ann", "--role", "admin", "--users", str(path)])
    assert args() == 1
    assert "the two passwords differ" in capsys.readouterr().err
    assert not path.exists()
    answers = iter(["same password", "same password"])
    assert args() == 0
    assert auth.verify(path, "Ann", "same password").role == "admin"


def test_add_user_cli_refuses_a_bad_role_and_a_short_password(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _cli(["add-user", "Ann", "--role", "boss"])()
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    args = _cli(["add-user", "Ann", "--role", "admin", "--users", str(tmp_path / "u.yaml"),
                 "--password-stdin"])  # fmt: skip
    assert args() == 1
    assert "at least 8 characters" in capsys.readouterr().err


# --- the sign-in page (AppTest) ------------------------------------------------------------

PAGE = textwrap.dedent(
    """
    import streamlit as st
    from wbcreview.ui import auth as ui_auth

    who = ui_auth.require_sign_in()
    st.write("PAGE BODY", "local" if who is None else f"as {who.name} {who.role}")
    """
)


@pytest.fixture
def page_script(tmp_path, users, monkeypatch):
    script = tmp_path / "page_script.py"
    script.write_text(PAGE)
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    return str(script)


def _body(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_local_mode_draws_no_sign_in(page_script, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_AUTH", "none")
    at = AppTest.from_file(page_script).run()
    assert not at.exception and "PAGE BODY local" in _body(at)


def test_password_mode_stops_the_page_until_signed_in(page_script, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    at = AppTest.from_file(page_script).run()
    assert not at.exception and "PAGE BODY" not in _body(at)
    at.text_input(key="auth_name").input("Nobody")
    at.text_input(key="auth_password").input("correct horse")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [ui_auth_wrong()] and "PAGE BODY" not in _body(at)
    at.text_input(key="auth_name").input("Ann")
    at.text_input(key="auth_password").input("battery staple")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [ui_auth_wrong()]  # same message: no enumeration
    at.text_input(key="auth_name").input("Ann")
    at.text_input(key="auth_password").input("correct horse")
    at.button[0].click().run()
    assert not at.exception and "PAGE BODY as Ann annotator" in _body(at)
    assert any("Signed in as Ann (annotator, Team 1)" in t.value for t in at.sidebar.text)
    at.button(key="auth_sign_out").click().run()
    assert "PAGE BODY" not in _body(at)


def ui_auth_wrong() -> str:
    from wbcreview.ui import auth as ui_auth

    return ui_auth.WRONG


def test_a_missing_users_file_is_shown_not_a_crash(page_script, monkeypatch, tmp_path):
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    monkeypatch.setenv("WBCREVIEW_USERS", str(tmp_path / "missing.yaml"))
    at = AppTest.from_file(page_script).run()
    at.text_input(key="auth_name").input("Ann")
    at.text_input(key="auth_password").input("correct horse")
    at.button[0].click().run()
    assert not at.exception and "users file" in at.error[0].value
    assert "PAGE BODY" not in _body(at)


def test_an_unknown_mode_stops_the_page(page_script, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_AUTH", "ldap")
    at = AppTest.from_file(page_script).run()
    assert "WBCREVIEW_AUTH='ldap'" in at.error[0].value and "PAGE BODY" not in _body(at)
