"""The top bar: every page in the order the work goes, in four section menus.

`app.py` calls `run()`. Each page keeps its own URL path (`/Browse`, `/Cell?cell=...`),
the same paths the page files had before sections, so links and bookmarks still work.
"""

from __future__ import annotations

import ipaddress

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from wbcreview import config
from wbcreview.review import auth
from wbcreview.ui import allocator

# (section, ((file, title, url path), ...)); the first page is the home page (path "").
# No icons: a link's text is its title alone (browser tests find links by it).
PAGES: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Explore",
        (
            ("pages/0_Home.py", "Home", ""),
            ("pages/1_Browse.py", "Browse", "Browse"),
            ("pages/2_Cell.py", "Cell", "Cell"),
            ("pages/3_Patient.py", "Patient", "Patient"),
            ("pages/4_Class_atlas.py", "Class atlas", "Class_atlas"),
        ),
    ),
    (
        "Review",
        (
            ("pages/5_Review.py", "Review", "Review"),
            ("pages/11_Gallery_review.py", "Gallery review", "Gallery_review"),
        ),
    ),
    (
        "Decide",
        (
            ("pages/6_Consensus.py", "Consensus", "Consensus"),
            ("pages/7_Adjudication.py", "Adjudication", "Adjudication"),
            ("pages/8_Audit.py", "Audit", "Audit"),
        ),
    ),
    (
        "Results",
        (
            ("pages/9_Triage.py", "Triage", "Triage"),
            ("pages/13_Duplicates.py", "Duplicates", "Duplicates"),
            ("pages/14_Image_quality.py", "Image quality", "Image_quality"),
            ("pages/10_Scores.py", "Scores", "Scores"),
            ("pages/12_Corrections.py", "Corrections", "Corrections"),
        ),
    ),
)


def is_loopback(address: str) -> bool:
    """True when a server bound to `address` is reachable from this machine only.

    An empty address is Streamlit's default: every interface.
    """
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": assume it is reachable from the network


def exposed_without_sign_in(address: str, sign_in: str) -> bool:
    """True when local mode (no sign-in) would be served to the network."""
    return sign_in == "none" and not is_loopback(address)


def _refuse_open_local_mode() -> None:
    try:
        how = auth.mode()
    except config.SettingError:
        return  # the page's sign-in check reports the bad setting
    address = str(st.get_option("server.address") or "")
    if exposed_without_sign_in(address, how):
        st.set_page_config(page_title="wbcreview", layout="wide")
        st.error(
            f"Local mode (no sign-in) is listening on `{address or 'every interface'}`: "
            "anyone on the network could act as any user, an admin included. Start it on "
            "127.0.0.1 (`make run` does), or serve others in server mode with sign-in "
            "(`WBCREVIEW_AUTH=password`, see docs/SERVER.md)."
        )
        st.stop()


_NAV_CHECKED = "wbc_nav_checked"


def ensure_sections() -> None:
    """Make the section menus hold from the very first request of a fresh server.

    Streamlit 1.67 treats a `pages/` folder as a multipage app of the old kind until the
    entry point's `st.navigation` has run once in the process: if the first request is a deep
    link (`/Review?queue=3`), that page's script runs on its own, the sidebar lists the files
    ("app", "View 6 more") and app.py (with its local-mode check) never runs, for every
    session, until someone opens `/`. A page that finds itself run that way switches the
    process to the entry point, makes the local-mode check itself, and runs once more (only
    on a session's first such run, which carries no widget event to lose; AppTest turns the
    old way back on before every run).
    """
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False
    _refuse_open_local_mode()
    if not st.session_state.get(_NAV_CHECKED):
        st.session_state[_NAV_CHECKED] = True
        st.rerun()


def sections_from_start() -> None:
    """Make the entry point's section menus hold from the first request, before any run (the
    server's warm-up calls it at process start): then a first deep link runs app.py at once,
    without the extra run `ensure_sections` needs."""
    PagesManager.uses_pages_directory = False


def section_of(title: str) -> str | None:
    """The section of the page titled `title` (None for a title not in PAGES)."""
    return next((section for section, pages in PAGES if any(t == title for _, t, _ in pages)), None)


def _mark_section(section: str | None) -> None:
    """Underline the current page's section in the top bar (the menus do not show it)."""
    names = [name for name, _ in PAGES]
    if section not in names:
        return
    st.html(
        "<style>[data-testid='stTopNav'] .rc-overflow-item:nth-child("
        f"{names.index(section) + 1}) [data-testid='stTopNavSection'] p "
        "{ font-weight: 700; text-decoration: underline 2px; text-underline-offset: 6px; }</style>"
    )


def run() -> None:
    """Refuse local mode on a network address, then draw the top bar and run the page.

    The sections are menus in the top bar rather than a sidebar list: 15 links in the sidebar
    pushed each page's own sidebar (Browse filters, the reviewer's name) below the fold of a
    1366x768 screen. Each page keeps its URL (`url_path`), so deep links work as before.
    """
    # First thing in every run (it acts once per process): the allocator settings must be in
    # place before the caches fill, or their blocks sit among holes (ui/allocator.py).
    allocator.tune_allocator()
    _refuse_open_local_mode()
    sections = {
        section: [
            st.Page(path, title=title, url_path=url or None, default=not url)
            for path, title, url in pages
        ]
        for section, pages in PAGES
    }
    current = st.navigation(sections, position="top")
    _mark_section(section_of(current.title))
    current.run()


def page_file(url_path: str) -> str:
    """The page file whose URL path is `url_path` ("Review", "Cell"; "" is Home), for
    `st.page_link` and `st.switch_page`: PAGES is the one place page files are written.

    Raises KeyError for a path no page has, so a mistyped link fails where it is written.
    """
    for _section, pages in PAGES:
        for path, _title, url in pages:
            if url == url_path:
                return path
    raise KeyError(f"no page has the URL path {url_path!r}")
