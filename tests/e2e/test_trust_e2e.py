"""Issue 14 in a real browser: a password sign-in that survives a reload and ends at sign-out,
OpenID Connect end to end against a real local provider (oidc-provider-mock), and what
Streamlit's built-in endpoints answer (docs/SERVER.md says which ones the proxy blocks)."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import no_exception, open_page, screenshot, settle
from tests.e2e.conftest import build_copy, free_port, start_server, stop_server
from wbcreview.review import auth

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e-trust")
    home = base / "home"
    data = build_copy(base / "wbcbench", home, cells=120, seed=14)
    return base, home, data


@pytest.fixture
def users(copy):
    base, _, _ = copy
    path = base / "users.yaml"
    auth.add_user(path, "Ann", "Team 1", "annotator", "correct horse", rounds=4)
    auth.add_user(
        path, "Dr Rossi", "Experts", "adjudicator", None, email="rossi@lab.example", rounds=4
    )
    return path


def _signed_in_as(page, text: str) -> None:
    expect(page.get_by_text(text)).to_be_visible(timeout=60_000)


def test_a_password_sign_in_survives_a_reload_until_sign_out(page, copy, users, monkeypatch):
    """Finding 12: a reload asked for the password again."""
    base, home, data = copy
    monkeypatch.setenv("WBCREVIEW_AUTH", "password")
    monkeypatch.setenv("WBCREVIEW_USERS", str(users))
    monkeypatch.setenv("WBCREVIEW_DB", f"sqlite:///{base / 'password.sqlite'}")
    server = start_server(data, home, base / "password.log")
    try:
        open_page(page, server, "")
        page.get_by_role("textbox", name="Name").fill("Ann")
        page.get_by_role("textbox", name="Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        settle(page)
        _signed_in_as(page, "Signed in as Ann (annotator, Team 1)")
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert "wbc_session" in cookies and cookies["wbc_session"]["sameSite"] == "Strict"
        page.reload()
        settle(page)
        no_exception(page, server)
        _signed_in_as(page, "Signed in as Ann (annotator, Team 1)")
        screenshot(page, "trust-signed-in-after-reload")
        page.get_by_role("button", name="Sign out").click()
        settle(page)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        page.reload()
        settle(page)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
        assert not page.get_by_text("Signed in as Ann").count()
    finally:
        stop_server(server)


def test_openid_connect_end_to_end_against_a_local_provider(page, copy, users, monkeypatch):
    """Finding 12: OpenID Connect mode had never run against a provider."""
    from oidc_provider_mock import User, run_server_in_thread

    base, home, data = copy
    rossi = User(sub="rossi", claims={"email": "rossi@lab.example", "name": "Dr Rossi"})
    with run_server_in_thread(user_claims=[rossi]) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        port = free_port()
        secrets_file = base / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_hex(16)}"\n'
            'client_id = "wbcreview"\n'
            'client_secret = "not-a-secret"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
        )
        monkeypatch.setenv("WBCREVIEW_AUTH", "oidc")
        monkeypatch.setenv("WBCREVIEW_USERS", str(users))
        monkeypatch.setenv("WBCREVIEW_DB", f"sqlite:///{base / 'oidc.sqlite'}")
        server = start_server(
            data,
            home,
            base / "oidc.log",
            extra_args=("--secrets.files", str(secrets_file)),
            port=port,
        )
        server_url = f"http://localhost:{port}"
        try:
            page.goto(server_url)
            settle(page)
            page.get_by_role("button", name="Sign in with your lab account").click()
            page.wait_for_url(f"{issuer}/**", timeout=30_000)
            page.get_by_role("button", name="rossi").click()  # the provider's consent page
            page.wait_for_url(f"{server_url}/**", timeout=30_000)
            settle(page)
            no_exception(page, server)
            _signed_in_as(page, "Signed in as Dr Rossi (adjudicator, Experts)")
            page.reload()
            settle(page)
            _signed_in_as(page, "Signed in as Dr Rossi (adjudicator, Experts)")
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert any(c["httpOnly"] for n, c in cookies.items() if n.startswith("_streamlit"))
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{issuer}/**", timeout=30_000)  # the provider's end of session
            page.goto(server_url)
            settle(page)
            expect(page.get_by_role("button", name="Sign in with your lab account")).to_be_visible(
                timeout=30_000
            )
        finally:
            stop_server(server)


def _status(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_built_in_endpoints_answer_as_docs_server_says(copy, monkeypatch):
    """docs/SERVER.md: /_stcore/metrics answers anyone (the proxy must block it); the agent
    API is off; the static folder is not served."""
    base, home, data = copy
    monkeypatch.setenv("WBCREVIEW_AUTH", "none")
    server = start_server(data, home, base / "endpoints.log")
    try:
        assert _status(f"{server.url}/_stcore/health") == (200, b"ok")
        code, body = _status(f"{server.url}/_stcore/metrics")
        assert code == 200 and body  # open to anyone who reaches the port: block at the proxy
        code, body = _status(f"{server.url}/_stcore/agent/openapi.json")
        assert code == 200 and json.loads(body)["openapi"]  # answers, API on or off
        code, body = _status(f"{server.url}/_stcore/agent/interact", "POST")
        assert code >= 400 and b"not_available" in body  # off: nothing drives the app
        code, body = _status(f"{server.url}/app/static/README.md")  # static serving is off:
        assert b"configs:" not in body and b"<!doctype html>" in body.lower()  # the app shell
    finally:
        stop_server(server)
