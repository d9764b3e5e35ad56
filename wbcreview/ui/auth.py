"""Sign-in for server mode: a form (password) or Streamlit's OpenID Connect (`st.login`).

`require_sign_in()` is called by `ui.setup()` on every page. In local mode (WBCREVIEW_AUTH
unset or `none`) it draws nothing and returns None: the page keeps its sidebar identity.
The signed-in Reviewer lives in this session's state only (no cookie): a reload signs out.
"""

from __future__ import annotations

import streamlit as st

from wbcreview import config
from wbcreview.review import auth
from wbcreview.review.store import Reviewer

_SIGNED_IN = "auth_reviewer"
_PROBLEM = "auth_problem"
WRONG = "Wrong name or password."  # the same for an unknown name: no user enumeration


def signed_in_reviewer() -> Reviewer | None:
    """The Reviewer signed in to this session (None in local mode or before sign-in)."""
    who = st.session_state.get(_SIGNED_IN)
    return who if isinstance(who, Reviewer) else None


def require_sign_in() -> Reviewer | None:
    """In server mode, stop the page until someone signs in, then return them; else None."""
    try:
        how = auth.mode()
    except config.SettingError as exc:
        st.error(f"Sign-in: {exc}")
        st.stop()
    if how == "none":
        return None
    if how == "oidc":
        who = _oidc_reviewer()
    else:
        who = signed_in_reviewer() or _password_form()
    _signed_in_sidebar(who, how)
    return who


def _password_form() -> Reviewer:
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
        who = auth.verify(auth.users_path(), name, password)
    except auth.AuthError as exc:
        ss[_PROBLEM] = f"Sign-in is not available: {exc}"
        return
    if who is None:
        ss[_PROBLEM] = WRONG
        return
    ss.pop(_PROBLEM, None)
    ss[_SIGNED_IN] = who


def _oidc_reviewer() -> Reviewer:
    user = st.user
    if not getattr(user, "is_logged_in", False):
        st.title("Sign in")
        st.button("Sign in with your lab account", type="primary", on_click=st.login)
        st.stop()
    try:
        who = auth.reviewer_for_identity(auth.users_path(), user.get("email"), user.get("name"))
    except auth.AuthError as exc:
        st.error(f"Sign-in is not available: {exc}")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    if who is None:
        st.error(
            f"{user.get('email') or user.get('name')!s} has no role here yet: ask an admin to "
            "run `python -m wbcreview add-user NAME --role ROLE --email ADDRESS --no-password`."
        )
        st.button("Sign out", on_click=st.logout)
        st.stop()
    st.session_state[_SIGNED_IN] = who
    return who


def _sign_out(how: str) -> None:
    for key in (_SIGNED_IN, _PROBLEM, "auth_name"):
        st.session_state.pop(key, None)
    if how == "oidc":
        st.logout()


def _signed_in_sidebar(who: Reviewer, how: str) -> None:
    with st.sidebar:
        st.text(f"Signed in as {who.name} ({who.role}{', ' + who.team if who.team else ''})")
        st.button("Sign out", key="auth_sign_out", on_click=_sign_out, args=(how,))
