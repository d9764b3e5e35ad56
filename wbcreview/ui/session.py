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
from wbcreview.data.catalog import Catalog
from wbcreview.demo import votes as demo_votes
from wbcreview.review import aggregation
from wbcreview.review import workflow as review
from wbcreview.review.store import (
    ROLES,
    InvalidVote,
    Reviewer,
    Store,
    StoreError,
    StoreUnavailable,
    can,
    default_url,
)
from wbcreview.ui import text as ui_text
from wbcreview.workspace import Workspace

ROLE_HELP = {
    "annotator": "votes on cells; sees others' votes on a cell only after voting on it",
    "adjudicator": "also sees every vote and makes the final decisions",
    "admin": "also creates queues",
}
PAGE_FILES = {
    "review": "pages/5_Review.py",
    "consensus": "pages/6_Consensus.py",
    "adjudication": "pages/7_Adjudication.py",
    "audit": "pages/8_Audit.py",
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
        return default_url()
    demo_store = bool(st.session_state.get(_DEMO_SAVED, True))
    return Workspace(src, demo_store=demo_store).store_url


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_store(url: str, blind: str) -> Store:
    del blind  # part of the key: the setting is read by Store.open
    return Store.open(url)


@st.cache_resource(show_spinner="Seeding the demo store with simulated votes...", max_entries=4)
def _seed_demo(url: str, _cat: Catalog, fingerprint: str) -> dict:
    del fingerprint
    cells = review.catalog_cells(_cat.cursor())
    return demo_votes.seed_demo_votes(url, cells, seed=0)


def open_store(src: source.DataSource | None, cat: Catalog | None = None) -> Store | None:
    """The session's decision store (one per URL and process), shown in the sidebar.

    For the demo copy a toggle (on by default) picks the separate demo store, seeded with
    simulated votes on first use (needs `cat`). None after an error, which is shown.
    """
    if src is not None and src.is_demo:
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
        opened = _open_store(url, config.get("WBCREVIEW_BLIND"))
        if url == demo_votes.demo_store_url() and cat is not None and not opened.is_demo:
            _seed_demo(url, cat, cat.fingerprint)
    except StoreUnavailable as exc:
        outage_banner(exc)
        return None
    except (StoreError, config.SettingError, demo_votes.DemoVotesError) as exc:
        st.error(f"Review store: {exc}")
        return None
    try:
        demo = opened.is_demo
    except StoreError:  # the database went away after opening: the page says so elsewhere
        demo = False
    st.sidebar.caption(f"Review store: `{opened.url}`" + (" · **DEMO DATA**" if demo else ""))
    return opened


def outage_banner(exc: BaseException) -> None:
    """The one message while the review database is down (pages show nothing else red)."""
    st.error(
        "**The review database cannot be reached**: nothing can be saved or read until it "
        f"is back. A vote you cast meanwhile is kept on this page with Retry until it is stored.  \n{as_md(exc)}",
        icon=":material/cloud_off:",
    )


def demo_banner(store: Store) -> None:
    """Say loudly that the votes shown are simulated (on every review page)."""
    try:
        demo = store.is_demo
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


def post_notice(kind: str, text: str) -> None:
    st.session_state[_NOTICE] = (kind, text)


def show_notice() -> None:
    """Show (once) the message a callback left."""
    notice = st.session_state.pop(_NOTICE, None)
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
    _store: Store,
    url: str,
    who: tuple,
    fingerprint: str,
    _cells_frame,
    method: str | None = None,
    threshold: float | None = None,
):
    """Current votes, adjudications and the consensus table under `method` and `threshold`
    (None: the store's aggregation choice, see aggregation.choice)."""
    del url, fingerprint  # cache key
    viewer = Reviewer(*who)
    votes = _store.current_votes(viewer)
    adjudications = _store.current_adjudications(viewer)
    if method is None:
        method, threshold = aggregation.choice(_store.aggregation_choice())
    calibration = _store.calibration_frame() if can(viewer, "see_all_votes") else None
    table = review.consensus_overview(
        votes, adjudications, _cells_frame, quorum=threshold, method=method,
        calibration=calibration,
    )  # fmt: skip
    return votes, adjudications, table


def review_statuses(cat: Catalog) -> dict[str, str]:
    """cell_id -> consensus status (pending, agreed, disputed, adjudicated) of every voted
    cell in the session's store; for the Browse filter. Empty when no store is reachable."""
    reviewer = current_reviewer()
    try:
        src = source.resolve(None)
    except (source.SourceError, config.SettingError):
        return {}
    store = open_store(src, cat)
    if store is None or reviewer is None:
        return {}
    cells = cached_cells(cat.cursor(), cat.fingerprint)
    who = (reviewer.name, reviewer.team, reviewer.role)
    _votes, _adj, table = cached_consensus(store, store.url, who, cat.fingerprint, cells)
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
