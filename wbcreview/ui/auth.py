"""Sign-in for server mode: a form (password) or Streamlit's OpenID Connect (`st.login`).

`require_sign_in()` is called by `ui.setup()` on every page. In local mode (WBCREVIEW_AUTH
unset or `none`) it draws nothing and returns None: the page keeps its sidebar identity.

Password mode: every try goes through `auth.sign_in` (limits per name and per client kept
in the decision store). A sign-in starts a server-side session (`auth.start_session`) whose
token rides in a cookie, so a reload resumes it until it expires (WBCREVIEW_SESSION_HOURS),
the user signs out, or the password changes. The role is read from the users file on every
run, so a demotion takes effect at the next action. Signing in or out clears every piece
of this browser session's state (a vote kept for Retry included).
"""

from __future__ import annotations

import ipaddress

import streamlit as st

from wbcreview import config
from wbcreview.review import auth
from wbcreview.workspace import (
    Reviewer,
    StoreError,
    StoreUnavailable,
    default_store_url,
    open_store,
)

_SIGNED_IN = "auth_reviewer"
_TOKEN = "auth_token"
_PROBLEM = "auth_problem"
_COOKIE_TODO = "auth_cookie_todo"  # ("set", token, seconds) or ("clear",) for the next run
COOKIE = "wbc_session"
WRONG = "Wrong name or password."  # the same for an unknown name: no user enumeration


@st.cache_resource(show_spinner=False, max_entries=2)
def _auth_store(url: str):
    return open_store(url)


def auth_store():
    """The store that keeps sign-in attempts and sessions (the real store, never the demo)."""
    return _auth_store(default_store_url())


def client_address() -> str:
    """Who is asking, for the sign-in limits: the connection's address, or the last
    X-Forwarded-For hop when the connection comes from this machine (a local proxy; the last
    hop is the one the proxy added, earlier ones are whatever the client sent)."""
    direct = st.context.ip_address
    direct = direct if isinstance(direct, str) else None
    loopback = direct is None
    if direct is not None:
        try:
            loopback = ipaddress.ip_address(direct).is_loopback
        except ValueError:
            loopback = False
    if loopback:
        header = st.context.headers.get("X-Forwarded-For")
        forwarded = header.split(",")[-1].strip() if isinstance(header, str) else ""
        if forwarded:
            return forwarded[:64]
    return direct or "local"


def signed_in_reviewer() -> Reviewer | None:
    """The Reviewer signed in to this session (None in local mode or before sign-in)."""
    who = st.session_state.get(_SIGNED_IN)
    return who if isinstance(who, Reviewer) else None


def acting_reviewer(who: Reviewer | None) -> Reviewer | None:
    """`who` as the users file says now (role re-read), for a callback about to act.

    In local mode `who` itself; None when the user was removed. Pages call it in callbacks,
    so a demotion made while a page is open refuses the very next action."""
    try:
        how = auth.mode()
    except config.SettingError:
        return None
    if how == "none" or who is None:
        return who
    try:
        return auth.current_reviewer(auth.users_path(), who.name)
    except auth.AuthError:
        return None


def require_sign_in() -> Reviewer | None:
    """In server mode, stop the page until someone signs in, then return them; else None."""
    try:
        how = auth.mode()
    except config.SettingError as exc:
        st.error(f"Sign-in: {exc}")
        st.stop()
    if how == "none":
        return None
    _cookie_script()
    if how == "oidc":
        who = _oidc_reviewer()
    else:
        who = _password_reviewer()
    _signed_in_sidebar(who, how)
    return who


def clear_session_state() -> None:
    """Forget everything this browser session holds (identity, pending votes, widgets)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


# --- password mode --------------------------------------------------------------------------


def _password_reviewer() -> Reviewer:
    ss = st.session_state
    path = auth.users_path()
    who = signed_in_reviewer()
    token = ss.get(_TOKEN) if who is not None else st.context.cookies.get(COOKIE)
    try:
        if token:
            fresh = auth.resume_session(auth_store(), path, token)
        else:
            fresh = auth.current_reviewer(path, who.name) if who is not None else None
    except StoreUnavailable:
        # Database down: keep an open session going on the users file alone (the review
        # page shows the outage and keeps any vote for Retry); nobody new signs in.
        fresh = auth.current_reviewer(path, who.name) if who is not None else None
    except (StoreError, auth.AuthError) as exc:
        st.error(f"Sign-in is not available: {exc}")
        st.stop()
    if who is not None and fresh is None:  # signed out elsewhere, removed, password changed
        clear_session_state()
        ss[_PROBLEM] = "Your session has ended: sign in again."
    elif fresh is not None:
        if who is None:  # resumed from the cookie after a reload
            clear_session_state()
            ss[_TOKEN] = token
        ss[_SIGNED_IN] = fresh  # the role as the users file says now
        return fresh
    _password_form()


def _password_form() -> None:
    st.title("Sign in")
    with st.form("auth_form"):
        st.text_input("Name", key="auth_name", max_chars=80)
        st.text_input("Password", key="auth_password", type="password", max_chars=72)
        st.form_submit_button("Sign in", type="primary", on_click=_check_password)
    problem = st.session_state.get(_PROBLEM)
    if problem:
        st.error(problem)
    st.stop()


def _check_password() -> None:
    ss = st.session_state
    name, password = ss.get("auth_name") or "", ss.get("auth_password") or ""
    ss["auth_password"] = ""
    try:
        store = auth_store()
        who = auth.sign_in(store, auth.users_path(), name, password, client_address())
    except auth.SignInThrottled as exc:
        ss[_PROBLEM] = str(exc)
        return
    except (auth.AuthError, StoreError, config.SettingError) as exc:
        ss[_PROBLEM] = f"Sign-in is not available: {exc}"
        return
    if who is None:
        ss[_PROBLEM] = WRONG
        return
    try:
        token = auth.start_session(store, auth.users_path(), who, client_address())
    except (StoreError, auth.AuthError, config.SettingError):
        token = None  # signed in for this page load only
    clear_session_state()  # nothing of a previous user stays in this tab
    ss[_SIGNED_IN] = who
    if token:
        ss[_TOKEN] = token
        ss[_COOKIE_TODO] = ("set", token, int(auth.session_hours() * 3600))


# --- OpenID Connect ---------------------------------------------------------------------------


def _oidc_reviewer() -> Reviewer:
    user = st.user
    if not getattr(user, "is_logged_in", False):
        if signed_in_reviewer() is not None:
            clear_session_state()
        st.title("Sign in")
        st.button("Sign in with your lab account", type="primary", on_click=st.login)
        st.stop()
    try:
        who = auth.reviewer_for_identity(auth.users_path(), user.get("email"), user.get("name"))
    except auth.AuthError as exc:
        st.error(f"Sign-in is not available: {exc}")
        st.button("Sign out", on_click=_sign_out, args=("oidc",))
        st.stop()
    if who is None:
        clear_session_state()
        st.error(
            f"{user.get('email') or user.get('name')!s} has no role here yet: ask an admin to "
            "run `python -m wbcreview add-user NAME --role ROLE --email ADDRESS --no-password`."
        )
        st.button("Sign out", on_click=_sign_out, args=("oidc",))
        st.stop()
    before = signed_in_reviewer()
    if before is not None and before.name != who.name:
        clear_session_state()  # another account in the same browser session
    st.session_state[_SIGNED_IN] = who  # re-read on every run: a demotion applies at once
    return who


# --- sign-out and the cookie ------------------------------------------------------------------


def _sign_out(how: str) -> None:
    tokens = {st.session_state.get(_TOKEN), st.context.cookies.get(COOKIE)}
    for token in tokens - {None}:
        try:
            auth.end_session(auth_store(), token)
        except StoreError:
            pass  # the cookie is cleared below; the session expires on its own
    clear_session_state()
    st.session_state[_COOKIE_TODO] = ("clear",)
    if how == "oidc":
        st.logout()


def _cookie_script() -> None:
    """Set or clear the session cookie in the browser (a script can only run in the page)."""
    todo = st.session_state.pop(_COOKIE_TODO, None)
    if not todo:
        return
    if todo[0] == "set":
        _, token, seconds = todo
        value = f"{COOKIE}={token}; Max-Age={int(seconds)}"
    else:
        value = f"{COOKIE}=; Max-Age=0"
    script = (
        "<script>document.cookie = "
        f"'{value}; Path=/; SameSite=Strict' + "
        "(location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    with st.sidebar:
        st.html(script, unsafe_allow_javascript=True)


def _signed_in_sidebar(who: Reviewer, how: str) -> None:
    with st.sidebar:
        st.text(f"Signed in as {who.name} ({who.role}{', ' + who.team if who.team else ''})")
        st.button("Sign out", key="auth_sign_out", on_click=_sign_out, args=(how,))
