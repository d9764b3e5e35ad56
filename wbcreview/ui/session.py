"""Who reviews and which store: identity in the sidebar, the decision store, notices and
cached reads shared by the review screens.

Who reviews comes from one function, `current_reviewer()`; the store enforces roles and
blind review anyway, pages only avoid offering what would be refused. User text (names,
comments, notes) is only ever shown as text.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitWidgetAlreadyInstantiatedError

from wbcreview import config
from wbcreview.data import source
from wbcreview.demo import votes as demo_votes
from wbcreview.review import permissions
from wbcreview.review import workflow as review
from wbcreview.ui import text as ui_text
from wbcreview.ui.navigation import page_file
from wbcreview.workspace import (
    ROLES,
    InvalidVote,
    Reviewer,
    StoreError,
    StoreUnavailable,
    Workspace,
    can,
    default_store_url,
)
from wbcreview.workspace import open_store as open_decision_store

ROLE_HELP = {
    "annotator": "votes on cells; sees others' votes on a cell only after voting on it",
    "adjudicator": "also sees every vote and makes the final decisions",
    "admin": "also creates queues",
}
IMAGE_PX = 96
_FORGET = "wbc_identity_forget"  # the name was cleared: the browser forgets it too

# Local mode: the identity is kept in the browser's localStorage, so a reload or a new tab
# of the same browser starts as the same reviewer (one round trip on the first run). The
# component is JavaScript only and gets name, team and role as data, never as markup.
_IDENTITY_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  const KEY = 'wbcreview.identity';
  if (!data) return;
  try {
    if (data.forget) localStorage.removeItem(KEY);
    else if (data.identity) localStorage.setItem(KEY, JSON.stringify(data.identity));
    else if (!window.__wbcIdentityAsked) {
      window.__wbcIdentityAsked = true;
      const saved = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (saved && saved.name) setTriggerValue('restore', saved);
    }
  } catch (e) { /* storage refused (private mode): the sidebar asks as before */ }
}
"""
_identity_component = st.components.v2.component("wbcreview_identity", js=_IDENTITY_JS)
_IDENTITY = "wbc_identity"  # the reviewer chosen in this session: name, team, role
_ID_KEYS = {"name": "id_name", "team": "id_team", "role": "id_role"}
_DEMO_KEY = "id_demo_store"
_DEMO_SAVED = "wbc_demo_store"
PENDING = "rv_pending"
_NOTICE = "rv_notice"  # (kind, text) shown once on the next run
SAVED = "rv_saved"  # the last vote acknowledged by the store


# --- who reviews ---------------------------------------------------------------------------


def identity_sidebar() -> Reviewer | None:
    """Draw name, team and role in the sidebar (kept for the session); return the reviewer.

    In server mode the signed-in user is the reviewer and nothing is drawn."""
    from wbcreview.ui.auth import signed_in_reviewer

    signed = signed_in_reviewer()
    if signed is not None:
        return signed
    ss = st.session_state
    saved = ss.setdefault(_IDENTITY, {"name": "", "team": "", "role": "annotator"})
    for field, key in _ID_KEYS.items():
        # A widget's value does not follow it to another page: set it from the saved copy
        # (a change made this run is already saved by its on_change callback).
        ss[key] = saved[field]
    with st.sidebar:
        st.subheader("Reviewer")
        _identity_component(
            key="wbc_identity_store",
            data={
                "identity": saved if saved.get("name") else None,
                "forget": bool(ss.get(_FORGET)),
            },
            on_restore_change=_restore_identity,
            height=0,
        )
        st.text_input(
            "Your name",
            key=_ID_KEYS["name"],
            max_chars=80,
            placeholder="e.g. Dr A. Rossi",
            on_change=_save_identity,
        )
        st.text_input(
            "Team",
            key=_ID_KEYS["team"],
            max_chars=80,
            placeholder="optional",
            on_change=_save_identity,
        )
        st.selectbox(
            "Role",
            ROLES,
            key=_ID_KEYS["role"],
            format_func=str.capitalize,
            help="; ".join(f"{r}: {h}" for r, h in ROLE_HELP.items()),
            on_change=_save_identity,
        )
        reviewer, problem = _reviewer_from_session()
        if problem:
            st.error(as_md(problem))
        elif reviewer is None:
            st.info("Enter your name to review.")
    return reviewer


def _save_identity() -> None:
    ss = st.session_state
    ss[_IDENTITY] = {field: ss.get(key) or "" for field, key in _ID_KEYS.items()}
    ss[_FORGET] = not (ss[_IDENTITY]["name"] or "").strip()


def _restore_identity() -> None:
    """The browser remembered a reviewer (local mode): use it unless one is chosen."""
    ss = st.session_state
    value = ss.get("wbc_identity_store")
    saved = value.get("restore") if hasattr(value, "get") else None
    current = ss.get(_IDENTITY) or {}
    if not isinstance(saved, dict) or (current.get("name") or "").strip() or ss.get(_FORGET):
        return
    role = saved.get("role") if saved.get("role") in ROLES else "annotator"
    ss[_IDENTITY] = {
        "name": str(saved.get("name") or "")[:80],
        "team": str(saved.get("team") or "")[:80],
        "role": role,
    }


def _reviewer_from_session() -> tuple[Reviewer | None, str | None]:
    saved = st.session_state.get(_IDENTITY) or {}
    name = (saved.get("name") or "").strip()
    if not name:
        return None, None
    try:
        return Reviewer(name, saved.get("team") or "", saved.get("role") or "annotator"), None
    except InvalidVote as exc:
        return None, f"Reviewer: {exc}"


def current_reviewer() -> Reviewer | None:
    """The reviewer of this session, or None when nobody is chosen (the one place pages ask).

    In server mode it is the signed-in user."""
    from wbcreview.ui.auth import signed_in_reviewer

    return signed_in_reviewer() or _reviewer_from_session()[0]


def page_viewer() -> Reviewer:
    """Who reads others' work on this page: the reviewer, or (nobody chosen or signed in)
    an anonymous annotator, so a page never reads as the trusted local caller."""
    return current_reviewer() or Reviewer("(nobody)", "", "annotator")


# --- which store -----------------------------------------------------------------------------


def store_url(src: source.DataSource | None) -> str:
    """The store this session uses: the Workspace's rule, with the sidebar's demo-store
    toggle (the demo store for the demo copy unless switched off)."""
    if src is None:
        return default_store_url()
    demo_store = bool(st.session_state.get(_DEMO_SAVED, True))
    return Workspace(src, demo_store=demo_store).store_url


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_store(url: str, blind: str):
    del blind  # part of the key: the setting is read when the store opens
    return open_decision_store(url)


@st.cache_resource(show_spinner="Seeding the demo store with simulated votes...", max_entries=4)
def _seed_demo(_ws: Workspace, url: str, fingerprint: str) -> dict:
    del url, fingerprint
    return _ws.seed_demo_votes(seed=0)


def open_store(base: Workspace, user: Reviewer | None = None) -> Workspace | None:
    """`base` with the session's decision store (one per URL and process) seen by `user`;
    the store is shown in the sidebar.

    For the demo copy a toggle (on by default) picks the separate demo store, seeded with
    simulated votes on first use. None after an error, which is shown.
    """
    src = base.source
    if src.is_demo:
        ss = st.session_state
        try:
            ss[_DEMO_KEY] = ss.get(_DEMO_SAVED, True)
        except StreamlitWidgetAlreadyInstantiatedError:
            pass  # a second call in this run (the Cell page's vote, Browse's statuses): drawn
        else:
            st.sidebar.toggle(
                "Use the demo review store",
                key=_DEMO_KEY,
                on_change=lambda: ss.__setitem__(_DEMO_SAVED, ss[_DEMO_KEY]),
                help="Simulated votes from ten teams, kept apart from real reviews. Switch off "
                "to review into the real store (WBCREVIEW_DB).",
            )
    url = store_url(src)
    try:
        ws = base.with_store(_open_store(url, config.get("WBCREVIEW_BLIND")), user)
        if url == demo_votes.demo_store_url() and not ws.is_demo_store:
            _seed_demo(ws, url, ws.fingerprint)
    except StoreUnavailable as exc:
        outage_banner(exc)
        return None
    except (StoreError, config.SettingError, demo_votes.DemoVotesError) as exc:
        st.error(f"Review store: {exc}")
        return None
    try:
        demo = ws.is_demo_store
    except StoreError:  # the database went away after opening: the page says so elsewhere
        demo = False
    st.sidebar.caption(f"Review store: `{ws.store_url}`" + (" · **DEMO DATA**" if demo else ""))
    return ws


def outage_banner(exc: BaseException) -> None:
    """The one message while the review database is down (pages show nothing else red)."""
    st.error(
        "**The review database cannot be reached**: nothing can be saved or read until it "
        f"is back. A vote you cast meanwhile is kept on this page with Retry until it is stored.  \n{as_md(exc)}",
        icon=":material/cloud_off:",
    )


def demo_banner(ws: Workspace) -> None:
    """Say loudly that the votes shown are simulated (on every review page)."""
    try:
        demo = ws.is_demo_store
    except StoreError:
        return
    if demo:
        st.warning(
            "**DEMO DATA**: the votes and decisions in this store are simulated (ten teams of "
            "annotators and an expert, made for the demo copy). Switch off *Use the demo "
            "review store* in the sidebar to review for real.",
            icon=":material/science:",
        )


def after_write() -> None:
    """Drop the cached review data: the next run reads the store again."""
    cached_consensus.clear()


def still_allowed(action: str) -> Reviewer | None:
    """The reviewer acting now if their role allows `action`, read again as the button is
    pressed (a demotion applies at once); else None, after saying which role it needs."""
    from wbcreview.ui.auth import acting_reviewer

    who = acting_reviewer(current_reviewer())
    if who is None or not can(who, action):
        needs = " or ".join(permissions.allowed_roles(action))
        st.error(f"Not done: to {permissions.BY_NAME[action].what} needs the role {needs}.")
        return None
    return who


def queue_made(key: str) -> None:
    """Say which queue was just made (session state `key` holds its (id, title)), with the
    way to review it."""
    last = st.session_state.get(key)
    if not last:
        return
    queue_id, title = last
    st.success(f"Queue {as_code(title)} created (id {queue_id}).")
    st.page_link(
        page_file("Review"),
        label="Review it now",
        icon=":material/rate_review:",
        query_params={"queue": str(queue_id)},
    )


def post_notice(kind: str, text: str, key: str = _NOTICE) -> None:
    """Leave a message for the next run to show once (`key`: one slot per screen)."""
    st.session_state[key] = (kind, text)


def show_notice(key: str = _NOTICE) -> None:
    """Show (once) the message a callback left."""
    notice = st.session_state.pop(key, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(text)


# --- cached reads ----------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def cached_cells(_cur, fingerprint: str) -> pd.DataFrame:
    del fingerprint
    return review.catalog_cells(_cur)


@st.cache_data(ttl=30, max_entries=32, show_spinner="Computing consensus...")
def cached_consensus(
    _ws: Workspace,
    url: str,
    who: tuple,
    fingerprint: str,
    _cells_frame,
    method: str | None = None,
    threshold: float | None = None,
):
    """Current votes, adjudications and the consensus table seen by `who` under `method` and
    `threshold` (None: the project's choice); see Workspace.consensus."""
    del url, fingerprint  # cache key
    return _ws.for_user(Reviewer(*who)).consensus(_cells_frame, method, threshold)


def consensus_of(ws: Workspace, cells, method: str | None = None, threshold=None):
    """`cached_consensus` for the workspace's user (the cache key is the store, the user and
    the copy's state)."""
    return cached_consensus(
        ws, ws.store_url, who_key(ws.user), ws.fingerprint, cells, method, threshold
    )


def cells_of(ws: Workspace) -> pd.DataFrame:
    """The copy's cells (label, original label, split, patient), cached per copy state."""
    return cached_cells(ws.cursor(), ws.fingerprint)


def review_statuses(ws: Workspace) -> dict[str, str]:
    """cell_id -> consensus status (pending, agreed, disputed, adjudicated) of every voted
    cell in the session's store; for the Browse filter. Empty when no store is reachable."""
    reviewer = current_reviewer()
    with_store = open_store(ws, reviewer)  # draws the store in the sidebar, as review pages do
    if with_store is None or reviewer is None:
        return {}
    _votes, _adj, table = consensus_of(with_store, cells_of(ws))
    return dict(zip(table["cell_id"], table["status"], strict=True))


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with missing text shown as blank instead of 'None'."""
    text = [
        c
        for c in frame.columns
        if frame[c].dtype == object and all(isinstance(v, str) for v in frame[c] if v is not None)
    ]
    return frame.assign(**{c: frame[c].map(lambda v: "" if v is None else v) for c in text})


def table_height(rows: int, most: int = 420) -> int:
    return min(most, 35 * (rows + 1) + 3)


def who_key(reviewer: Reviewer) -> tuple[str, str, str]:
    return (reviewer.name, reviewer.team, reviewer.role)


def as_code(text) -> str:
    return ui_text.code(text)


def as_md(text) -> str:
    return ui_text.md(text)
