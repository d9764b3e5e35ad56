"""Streamlit widgets of the browsing pages: filters bound to the URL, the grid, the cell view.

The URL is the single source of truth: every widget writes its value to `st.query_params`
in its callback, and each run reads the view back with `gallery.BrowseState.from_params`,
so a copied link reproduces the view, Back works, and a full reload loses nothing.

Opening a cell: tiles are plain `<a href="Cell?...">` links (a link works in a new tab), in
the Browse grid component (`grid`, below) or in one `st.html` grid. A small JavaScript-only
`st.components.v2` component (`navigation()`) turns a plain left click on such a link
into a trigger value, and the page then calls `st.switch_page`: no page reload, and the
session (zoom, caches in the browser) survives. Measured in headless Chromium on the PBC
copy, click to a painted cell view: median 0.69 s this way against 0.98 s for the full
reload of the bare link (2 busy cores). The component's code is static; it only reads the
`href` of our own links, which Python parses and checks again.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pandas as pd
import streamlit as st
from cachetools import TTLCache

from wbcreview import ui
from wbcreview.data import images, query
from wbcreview.data.release import CELL_TYPES, CLASS_CODES, CLASSES, CONFIGS, SEVERITIES, SPLITS
from wbcreview.errors import WbcreviewError
from wbcreview.triage import predictions
from wbcreview.triage import ranking as triage
from wbcreview.ui import lookalikes, suspects
from wbcreview.ui import session as session_ui
from wbcreview.ui.navigation import page_file
from wbcreview.ui.text import code, md  # noqa: F401 (browse.md / browse.code are shared)
from wbcreview.views import browse as gallery
from wbcreview.views.browse import BrowseState
from wbcreview.workspace import Workspace, can

THUMB_PX = 128
PATIENT_SUGGESTIONS = 8  # patients offered under the Patient box
MAX_PATIENT_TILES = 600
# The browsing pages an in-app link may switch to without a reload.
PAGE_FILES = {
    p: page_file(p)
    for p in (gallery.BROWSE_PAGE, gallery.CELL_PAGE, gallery.PATIENT_PAGE, gallery.ATLAS_PAGE)
}

# --- in-app links without a page reload -------------------------------------------------------

_NAV_JS = """
export default function (component) {
  const { setTriggerValue } = component;
  const onClick = (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey) return;  // new tab, new window: let the browser do it
    const link = event.target.closest ? event.target.closest("a[data-wbc-nav]") : null;
    if (!link) return;
    event.preventDefault();
    setTriggerValue("open", link.getAttribute("href"));
  };
  // Zoomed cell images: every viewport of a .wbc-sync row shows the same spot. Scrolling
  // one moves the others (same share of their scroll range); dragging an image pans.
  const views = (view) => {
    const row = view.closest ? view.closest(".wbc-sync") : null;
    return row ? [...row.querySelectorAll(".wbc-view")] : [];
  };
  const onScroll = (event) => {
    const view = event.target;
    if (!view.classList || !view.classList.contains("wbc-view")) return;
    const fx = view.scrollLeft / Math.max(1, view.scrollWidth - view.clientWidth);
    const fy = view.scrollTop / Math.max(1, view.scrollHeight - view.clientHeight);
    for (const other of views(view)) {
      if (other === view) continue;
      const x = Math.round(fx * (other.scrollWidth - other.clientWidth));
      const y = Math.round(fy * (other.scrollHeight - other.clientHeight));
      if (other.scrollLeft !== x) other.scrollLeft = x;  // equal: no echo event
      if (other.scrollTop !== y) other.scrollTop = y;
    }
  };
  let drag = null;
  const onDown = (event) => {
    const view = event.target.closest ? event.target.closest(".wbc-sync .wbc-view") : null;
    if (!view || event.button !== 0) return;
    drag = { view, x: event.clientX, y: event.clientY };
    view.classList.add("wbc-dragging");
    event.preventDefault();
  };
  const onMove = (event) => {
    if (!drag) return;
    drag.view.scrollLeft -= event.clientX - drag.x;
    drag.view.scrollTop -= event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
  };
  const onUp = () => {
    if (drag) drag.view.classList.remove("wbc-dragging");
    drag = null;
  };
  const listeners = [["click", onClick], ["scroll", onScroll], ["mousedown", onDown],
                     ["mousemove", onMove], ["mouseup", onUp]];
  if (window.__wbcNav) {
    for (const [name, fn] of window.__wbcNav) document.removeEventListener(name, fn, true);
  }
  window.__wbcNav = listeners;
  for (const [name, fn] of listeners) document.addEventListener(name, fn, true);
  return () => {
    for (const [name, fn] of listeners) document.removeEventListener(name, fn, true);
    if (window.__wbcNav === listeners) window.__wbcNav = null;
  };
}
"""
_nav_component = st.components.v2.component("wbcreview_nav", js=_NAV_JS)


def navigation() -> None:
    """Mount the link interceptor; switch page if one of our links was just clicked.

    Call it at the top of a page, before slow work, so a click costs little.
    """
    result = _nav_component(key="wbc_nav", on_open_change=lambda: None, height=0)
    target = getattr(result, "open", None)
    if not target:
        return
    parts = urlsplit(str(target))
    page = parts.path.rsplit("/", 1)[-1]
    if page in PAGE_FILES and not parts.scheme and not parts.netloc:
        st.switch_page(PAGE_FILES[page], query_params=dict(parse_qsl(parts.query)))


# --- cached questions -------------------------------------------------------------------------
#
# Answers about the catalog are keyed by its fingerprint and kept in this process without a
# copy: `st.cache_data` hashes its arguments and unpickles its value on every hit, which cost
# a Browse rerun 60-90 ms of its 100 (issue 19). Callers treat the values as read-only.

_MISS = object()
_MEMO_LOCK = threading.Lock()
# Held by the server's warm-up until Browse's first page is filled (`ui.warmup`): a Browse run
# that starts meanwhile waits for it instead of computing the same answers beside it.
WARMING = threading.Lock()


def memo(maxsize: int, ttl: float = 600):
    """Memoize `fn(cur_or_cat, *key)` on `key` (the first argument is not part of the key)."""

    def decorate(fn):
        cache: TTLCache = TTLCache(maxsize, ttl)

        @functools.wraps(fn)
        def wrapper(first, *key):
            with _MEMO_LOCK:
                value = cache.get(key, _MISS)
            if value is _MISS:
                value = fn(first, *key)
                with _MEMO_LOCK:
                    cache[key] = value
            return value

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper

    return decorate


@memo(1024)
def _count(_cur, fingerprint: str, f: query.Filter) -> int:
    del fingerprint
    return query.count(_cur, f)


@memo(1024)
def _facet(_cur, fingerprint: str, f: query.Filter, column: str) -> dict[str, int]:
    del fingerprint
    return query.facet(_cur, f, column)


def _page(cur, fingerprint: str, f: query.Filter, sort: str, limit: int, offset: int):
    if sort == "suspicion":  # the ranking changes with the prediction files: not cached here
        return query.page(cur, f, sort, limit, offset)
    return _cached_page(cur, fingerprint, f, sort, limit, offset)


@memo(256)
def _cached_page(_cur, fingerprint: str, f: query.Filter, sort: str, limit: int, offset: int):
    del fingerprint
    return query.page(_cur, f, sort, limit, offset)


def _position(cur, fingerprint: str, f: query.Filter, sort: str, config: str, image_id: str):
    if sort == "suspicion":
        return query.position(cur, f, sort, config, image_id)
    return _cached_position(cur, fingerprint, f, sort, config, image_id)


@memo(256)
def _cached_position(
    _cur, fingerprint: str, f: query.Filter, sort: str, config: str, image_id: str
):
    del fingerprint
    return query.position(_cur, f, sort, config, image_id)


def register_suspects(cur, cat: Workspace, state: BrowseState) -> BrowseState:
    """For the "suspicion" sort: make the suspect ranking queryable on this run's cursor.

    Without a ranking (no prediction file yet) the view falls back to the id sort, with a
    note pointing at the Triage page.
    """
    if state.sort != "suspicion":
        return state
    ranking = suspects.suspect_ranking(cat)
    if ranking is None or ranking.empty:
        st.info(
            "No suspect ranking yet: import predictions or run the baseline on the Triage page."
        )
        return state.replace(sort=gallery.DEFAULT_SORT)
    triage.register(cur, ranking)
    return state


@memo(512)
def _original_labels(_cur, fingerprint: str, cell_ids: tuple[str, ...]) -> dict[str, str]:
    """cell_id -> original challenge label, for the given cells whose label differs from it."""
    del fingerprint
    differing = query.page(
        _cur,
        query.Filter(cell_ids=cell_ids, differs_from_original=True),
        "image id",
        2 * len(cell_ids) + 1,
        0,
    )
    return {cid: query.original_label(_cur, cid) for cid in dict.fromkeys(differing["cell_id"])}


def was_notes(cur, cat: Workspace, rows: pd.DataFrame) -> dict[str, str]:
    """Cell key -> "was XX" for the rows whose label differs from the original challenge label."""
    if rows.empty:
        return {}
    original = _original_labels(cur, cat.fingerprint, tuple(dict.fromkeys(rows["cell_id"])))
    return {
        gallery.cell_key(c, i): f"was {original[cid]}"
        for c, i, cid, label in zip(
            rows["config"], rows["image_id"], rows["cell_id"], rows["label"], strict=True
        )
        if original.get(cid) and original[cid] != label
    }


def tile_notes(cur, cat: Workspace, rows: pd.DataFrame) -> dict[str, str]:
    """Cell key -> a short note under the tile: "was XX" and the suspect rank, if any."""
    notes = was_notes(cur, cat, rows)
    if rows.empty or not _has_predictions(cat.root):
        return notes  # no prediction file, no ranking: scikit-learn and cleanlab stay unloaded
    try:
        ranking = suspects.suspect_ranking(cat)
    except (WbcreviewError, OSError):  # a broken prediction file must not break browsing;
        # the Triage page says why
        ranking = None
    if ranking is None or rows.empty:
        return notes
    rank = dict(zip(ranking["cell_id"], ranking["rank"], strict=True))
    for c, i, cid in zip(rows["config"], rows["image_id"], rows["cell_id"], strict=True):
        if cid in rank and rank[cid] <= max(50, len(rank) // 20):  # the top 5 %
            key = gallery.cell_key(c, i)
            notes[key] = " · ".join(filter(None, [notes.get(key), f"suspect #{rank[cid]}"]))
    return notes


def _has_predictions(root: Path) -> bool:
    """True when the copy has a stored prediction file (a directory listing, no reads)."""
    folder = predictions.predictions_dir(root)
    return folder.is_dir() and any(not p.name.startswith(".") for p in folder.glob("*.parquet"))


@dataclass(frozen=True)
class PatientIndex:
    """Every patient of a copy, sorted, for prefix search (built once per catalog state)."""

    hashes: tuple[str, ...]
    split: dict[str, str]
    cells: dict[str, int]

    def __len__(self) -> int:
        return len(self.hashes)

    def __contains__(self, patient: object) -> bool:
        return patient in self.split

    def starting_with(self, prefix: str, limit: int) -> tuple[list[str], int]:
        """Up to `limit` patients whose hash starts with `prefix`, and how many there are."""
        lo = bisect.bisect_left(self.hashes, prefix)
        hi = bisect.bisect_left(self.hashes, prefix + "\U0010ffff")
        return list(self.hashes[lo : min(hi, lo + limit)]), hi - lo

    def describe(self, patient: str) -> str:
        """ "<hash> · <split> · N cells"."""
        return f"{patient} · {self.split.get(patient, '')} · {self.cells.get(patient, 0)} cells"


@st.cache_resource(max_entries=4, show_spinner=False)
def patient_index(_cur, fingerprint: str) -> PatientIndex:
    """The copy's patients for the Patient filter (a resource: no copy per rerun)."""
    frame = _patients(_cur, fingerprint)
    hashes = tuple(str(p) for p in frame["patient"])
    return PatientIndex(
        hashes,
        dict(zip(hashes, map(str, frame["split"]), strict=True)),
        dict(zip(hashes, map(int, frame["cells"]), strict=True)),
    )


@st.cache_data(ttl=600, max_entries=8, show_spinner=False)
def _patients(_cur, fingerprint: str) -> pd.DataFrame:
    """Every patient: hash, split, pristine cells, rows. (Belongs in query.py; see report.)"""
    del fingerprint
    return _cur.execute(
        "SELECT patient_hash AS patient, min(split) AS split, "
        "count(DISTINCT cell_id) AS cells, count(*) AS rows FROM cells "
        "WHERE coalesce(patient_hash, '') <> '' GROUP BY 1 ORDER BY 1"
    ).df()


@memo(8)
def _shard_paths(_cat: Workspace, fingerprint: str) -> dict[int, str]:
    del fingerprint
    return _cat.shard_paths()


def thumb_uris(cat: Workspace, rows: pd.DataFrame, size: int = THUMB_PX) -> list[str]:
    """Data URIs of the thumbnails of a frame of catalog rows, in order (from the LRU)."""
    if rows.empty:
        return []
    requests = query.image_requests(_shard_paths(cat, cat.fingerprint), rows)
    return [images.data_uri(b) for b in ui.reader().thumbs(requests, size)]


# --- the Browse grid in the browser -----------------------------------------------------------
#
# A components.v2 component (components/browse_grid/index.js) keeps every thumbnail it was sent
# for the session, so each is sent once: a rerun carries the tiles' text and only the images
# the browser does not hold. A second mount at the end of the run brings the pages before and
# after the current one, built and decoded off screen, which Next and Previous (buttons and
# arrow keys) paint at once in the browser while Streamlit's button reruns to write the URL.
# The component is in the page's DOM (not a shadow root): the link component and the review
# loop find the tiles as before.

_GRID_JS = (Path(__file__).parent / "components" / "browse_grid" / "index.js").read_text(
    encoding="utf-8"
)
_grid_component = st.components.v2.component(
    "wbcreview_grid", js=_GRID_JS, css=gallery.GRID_CSS, isolate_styles=False
)
SENT_KEPT = 1500  # thumbnails remembered as sent per session (the browser keeps 2,500)
_SENT = "_bg_sent"
_VIEW = "_bg_view"  # the last view (catalog, filter, sort, size) this session showed
EMPTY_GRID = "No cells match these filters."


def _sent(fingerprint: str) -> OrderedDict:
    """Cell keys whose thumbnail this session's browser was sent, least recently used first."""
    box = st.session_state.setdefault(_SENT, {"fp": None, "keys": OrderedDict()})
    if box["fp"] != fingerprint:
        box.update(fp=fingerprint, keys=OrderedDict())
    return box["keys"]


def _on_need(key: str) -> None:
    """The browser lacks some thumbnails it was sent: forget that they were sent."""
    value = st.session_state.get(key)
    need = value.get("need") if hasattr(value, "get") else None
    if not isinstance(need, list):
        return
    sent = st.session_state.get(_SENT, {}).get("keys")
    for cell in need[:300]:
        if sent is not None:
            sent.pop(str(cell), None)


def _tile_fields(state: BrowseState, rows: pd.DataFrame, notes: dict[str, str]) -> list[dict]:
    tiles = gallery.tiles_from_rows(
        rows,
        [""] * len(rows),
        link_params=state.to_params(cell=False),
        current=state.cell,
        notes=notes,
    )
    return [gallery.tile_fields(t) for t in tiles]


def _new_thumbs(
    cat: Workspace, rows: pd.DataFrame, sent: OrderedDict, cached_only: bool = False
) -> dict[str, str]:
    """cell key -> data URI of the rows' thumbnails not sent yet (then marked as sent); with
    `cached_only`, only those already in the thumbnail cache (nothing is read)."""
    keys = [gallery.cell_key(c, i) for c, i in zip(rows["config"], rows["image_id"], strict=True)]
    for key in keys:
        if key in sent:
            sent.move_to_end(key)
    todo = [n for n, key in enumerate(keys) if key not in sent]
    if not todo:
        return {}
    if cached_only:
        requests = query.image_requests(_shard_paths(cat, cat.fingerprint), rows.iloc[todo])
        thumbs = ui.reader().cached_thumbs(requests, THUMB_PX)
        out = {keys[n]: images.data_uri(t) for n, t in zip(todo, thumbs, strict=True) if t}
    else:
        uris = thumb_uris(cat, rows.iloc[todo])
        out = {keys[n]: uri for n, uri in zip(todo, uris, strict=True)}
    for key in out:
        sent[key] = None
    while len(sent) > SENT_KEPT:
        sent.popitem(last=False)
    return out


def _catalog_id(cat: Workspace) -> str:
    return hashlib.sha1(str(cat.fingerprint).encode()).hexdigest()[:12]


def grid(cat: Workspace, state: BrowseState, rows: pd.DataFrame, notes: dict[str, str]) -> None:
    """The thumbnail grid of the current page (only the thumbnails the browser lacks travel)."""
    data = {
        "role": "grid",
        "fp": _catalog_id(cat),
        "view": state.view_signature(),
        "page": state.page,
        "px": THUMB_PX,
        "tiles": _tile_fields(state, rows, notes),
        "images": _new_thumbs(cat, rows, _sent(cat.fingerprint)),
        "empty": EMPTY_GRID,
    }
    _grid_component(
        key="bf_grid", data=data, on_need_change=lambda: _on_need("bf_grid"), width="stretch"
    )


def grid_ahead(cur, cat: Workspace, state: BrowseState, pages: int, new_view: bool) -> None:
    """The pages before and after the current one, for the browser to paint at once.

    In a run that shows a `new_view` (a filter change, a first visit) only the thumbnails
    already cached go along: the others are read in the background and the browser asks for
    them once the run is over, so they never slow the paint of the page it waits for.
    Not for the suspicion sort (its ranking is read per run, not cached)."""
    around: dict[str, list[dict]] = {}
    images: dict[str, str] = {}
    if state.sort != "suspicion":
        sent = _sent(cat.fingerprint)
        for number in (state.page + 1, state.page - 1):
            if not 1 <= number <= pages:
                continue
            view = state.replace(page=number)
            rows = _page(cur, cat.fingerprint, view.filter, view.sort_order, view.size, view.offset)
            around[str(number)] = _tile_fields(view, rows, tile_notes(cur, cat, rows))
            images.update(_new_thumbs(cat, rows, sent, cached_only=new_view))
            if new_view:
                prefetch(cur, cat, view)
    data = {
        "role": "ahead",
        "fp": _catalog_id(cat),
        "view": state.view_signature(),
        "base": state.page,
        "pages": around,
        "images": images,
    }
    _grid_component(
        key="bf_grid_ahead",
        data=data,
        on_need_change=lambda: _on_need("bf_grid_ahead"),
        width="stretch",
        height=0,
    )


_PREFETCHED: TTLCache = TTLCache(256, 600)


@st.cache_resource(show_spinner=False)
def _prefetcher() -> ThreadPoolExecutor:
    # One worker: prefetches never pile up or compete with each other for the two cores.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")


def prefetch(cur, cat: Workspace, state: BrowseState) -> None:
    """Warm the caches for `state`'s page (its rows now, its thumbnails in the background),
    so the run that sends it ahead finds everything ready. Errors are left to the page that shows it."""
    reader = ui.reader()
    key = (id(reader), cat.fingerprint, state.signature())  # a new reader has an empty LRU
    if state.sort == "suspicion" or key in _PREFETCHED:
        return
    _PREFETCHED[key] = True
    try:
        rows = _page(cur, cat.fingerprint, state.filter, state.sort_order, state.size, state.offset)
        requests = query.image_requests(_shard_paths(cat, cat.fingerprint), rows)
    except Exception:  # noqa: BLE001 (a prefetch must never break the page that asked)
        return
    _prefetcher().submit(reader.thumbs, requests, THUMB_PX)


def full_image(cat: Workspace, row: dict) -> bytes | None:
    """The full-size image bytes of one catalog row."""
    return full_images(cat, [row])[0]


def full_images(cat: Workspace, rows: list[dict]) -> list[bytes | None]:
    """The full-size image bytes of some catalog rows, in one batch read, in order."""
    frame = pd.DataFrame(rows)
    return ui.reader().read(query.image_requests(_shard_paths(cat, cat.fingerprint), frame))


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _difference(degraded: bytes, source: bytes) -> gallery.Difference:
    # Keyed by the bytes (hashed by Streamlit): zoom changes and reruns reuse the map.
    return gallery.difference(degraded, source)


# --- the view state and the sidebar filters --------------------------------------------------

_W = {
    "configs": "bf_configs",
    "splits": "bf_splits",
    "labels": "bf_labels",
    "severities": "bf_severities",
    "patient": "bf_patient",
    "image_id": "bf_image_id",
    "differs": "bf_differs",
    "statuses": "bf_statuses",
    "sort": "bf_sort",
    "size": "bf_size",
}
_SIG = "_bf_signature"


def view_state() -> BrowseState:
    """The view the URL describes; widget values are reloaded from it when the URL changed."""
    state = BrowseState.from_params(st.query_params.to_dict())
    if st.session_state.get(_SIG) != state.signature() or any(
        k not in st.session_state for k in _W.values()
    ):
        f = state.filter
        st.session_state[_W["configs"]] = list(f.configs)
        st.session_state[_W["splits"]] = list(f.splits)
        st.session_state[_W["labels"]] = list(f.labels)
        st.session_state[_W["severities"]] = list(f.severities)
        st.session_state[_W["patient"]] = f.patient or ""
        st.session_state[_W["image_id"]] = f.image_id or ""
        st.session_state[_W["differs"]] = f.differs_from_original
        st.session_state[_W["statuses"]] = list(f.statuses)
        st.session_state[_W["sort"]] = state.sort
        st.session_state[_W["size"]] = state.size
        st.session_state[_SIG] = state.signature()
    return state


def _state_from_widgets(keep_cell: bool) -> BrowseState:
    ss = st.session_state
    f = query.Filter(
        configs=tuple(ss.get(_W["configs"]) or ()),
        splits=tuple(ss.get(_W["splits"]) or ()),
        labels=tuple(ss.get(_W["labels"]) or ()),
        severities=tuple(ss.get(_W["severities"]) or ()),
        patient=ss.get(_W["patient"]) or None,
        image_id=(ss.get(_W["image_id"]) or "").strip() or None,
        differs_from_original=bool(ss.get(_W["differs"])),
        statuses=tuple(ss.get(_W["statuses"]) or ()),
    )
    current = BrowseState.from_params(st.query_params.to_dict())
    return BrowseState(
        f,
        ss.get(_W["sort"]) or gallery.DEFAULT_SORT,
        ss.get(_W["size"]) or gallery.DEFAULT_PAGE_SIZE,
        1,
        current.cell if keep_cell else None,
    )


def write_state(state: BrowseState) -> None:
    """Put a view into the URL (the next run reads it back)."""
    st.query_params.from_dict(state.to_params())


def _on_filter_change(keep_cell: bool) -> None:
    write_state(_state_from_widgets(keep_cell))


def _on_patient_pick(keep_cell: bool, key: str) -> None:
    picked = st.session_state.get(key)
    if picked:
        st.session_state[_W["patient"]] = picked
        write_state(_state_from_widgets(keep_cell))


def _on_clear(keep_cell: bool) -> None:
    current = BrowseState.from_params(st.query_params.to_dict())
    write_state(BrowseState(cell=current.cell if keep_cell else None))
    st.session_state.pop(_SIG, None)


def filter_sidebar(cur, cat: Workspace, state: BrowseState, keep_cell: bool = False) -> BrowseState:
    """Draw the filters in the sidebar (with counts) and return the view to show.

    A patient that is not in this copy is reported and left out of the returned view.
    """
    with WARMING:  # the warm-up may be filling the caches read below
        pass
    fp = cat.fingerprint
    f = state.filter
    patients = patient_index(cur, fp)
    suggestions: list[str] = []
    typed = f.patient or ""
    if f.patient and f.patient not in patients:
        suggestions, n = patients.starting_with(f.patient, PATIENT_SUGGESTIONS)
        if n == 1:  # a unique start of a hash names that patient
            f = f.replace(patient=suggestions[0])
            suggestions = []
        else:
            if n == 0:
                st.warning(
                    f"No patient {md(f.patient)} in this copy: that part of the link is ignored."
                )
            f = f.replace(patient=None)
        state = state.replace(filter=f)
    kwargs = {"on_change": _on_filter_change, "args": (keep_cell,)}
    status_counts = _review_statuses(cat)
    if f.statuses:
        if status_counts is None:
            st.warning("The review status filter is for adjudicators: it is left out.")
            f = f.replace(statuses=())
        else:
            wanted = set(f.statuses)
            f = f.replace(status_cells=tuple(c for c, s in status_counts.items() if s in wanted))
        state = state.replace(filter=f)
    facets = {c: _facet(cur, fp, f, c) for c in ("config", "split", "label", "severity")}
    differs_n = _count(cur, fp, f.replace(differs_from_original=True))

    def counted(column):
        return lambda v: f"{v}  ({facets[column].get(v, 0):,})"

    with st.sidebar:
        st.header("Filters")
        st.multiselect(
            "Config",
            CONFIGS,
            key=_W["configs"],
            format_func=counted("config"),
            placeholder="Both configs",
            **kwargs,
        )
        st.multiselect(
            "Split",
            SPLITS,
            key=_W["splits"],
            format_func=counted("split"),
            placeholder="Every split",
            **kwargs,
        )
        st.multiselect(
            "Class",
            CLASS_CODES,
            key=_W["labels"],
            format_func=lambda c: f"{c} · {CELL_TYPES[c]}  ({facets['label'].get(c, 0):,})",
            placeholder="Every class",
            **kwargs,
        )
        st.multiselect(
            "Severity",
            SEVERITIES,
            key=_W["severities"],
            format_func=counted("severity"),
            placeholder="Every severity",
            **kwargs,
        )
        # A text box, not a selectbox of every patient: thousands of options were rebuilt
        # and sent on every rerun (60-90 ms). Typing the start of a hash is enough.
        st.text_input(
            "Patient",
            key=_W["patient"],
            placeholder=f"Any of {len(patients):,} patients: type a hash's start",
            help="The start of a patient hash is enough when only one patient has it; "
            "the Patient page lists them all.",
            **kwargs,
        )
        if f.patient:
            st.caption(md(patients.describe(f.patient)))
        elif suggestions:
            n = patients.starting_with(typed, PATIENT_SUGGESTIONS)[1]
            pick_key = f"bf_patient_pick_{typed}"
            st.pills(
                f"{n:,} patients start with {md(typed)}: pick one",
                suggestions,
                key=pick_key,
                format_func=patients.describe,
                on_change=_on_patient_pick,
                args=(keep_cell, pick_key),
            )
        st.text_input(
            "Image id",
            key=_W["image_id"],
            placeholder="starts with, e.g. 0012",
            help="Shows rows whose image id, or whose source's image id, starts with this.",
            **kwargs,
        )
        st.checkbox(
            f"Label differs from the original challenge label ({differs_n:,})",
            key=_W["differs"],
            **kwargs,
        )
        if status_counts is not None:
            tally = pd.Series(list(status_counts.values()), dtype=object).value_counts()
            st.multiselect(
                "Review status",
                query.REVIEW_STATUSES,
                key=_W["statuses"],
                format_func=lambda s: f"{s}  ({int(tally.get(s, 0)):,} cells)",
                placeholder="Any (reviewed or not)",
                help="From the decision store: pending, agreed, disputed or adjudicated cells.",
                **kwargs,
            )
        st.header("View")
        st.selectbox(
            "Sort by",
            list(gallery.SORT_SLUGS),
            key=_W["sort"],
            format_func=lambda s: gallery.SORT_SLUGS[s],
            **kwargs,
        )
        st.segmented_control(
            "Page size", gallery.PAGE_SIZES, key=_W["size"], required=True, **kwargs
        )
        st.button("Clear filters", key="bf_clear", on_click=_on_clear, args=(keep_cell,))
    return state


def _review_statuses(cat: Workspace) -> dict[str, str] | None:
    """cell_id -> review status from the decision store, or None when the session's
    reviewer may not see consensus (blind review: annotators see no one else's votes)."""
    reviewer = session_ui.current_reviewer()
    if reviewer is None or not can(reviewer, "see_all_votes"):
        return None
    return session_ui.review_statuses(cat)


def ignored_warning(state: BrowseState) -> None:
    """Say which parts of the link were not understood (they are dropped, not fatal)."""
    if state.ignored:
        st.warning(
            "Ignored in the link: "
            + ", ".join(code(v) for v in state.ignored)
            + f". Classes are {', '.join(CLASS_CODES)}; severities {', '.join(SEVERITIES)}."
        )


# --- the Browse page --------------------------------------------------------------------------


_PAGER = "_bf_pager"  # (the page the pager was last drawn for, its key's number)
PAGER_KEYS = 8


def pager_key(page: int) -> str:
    """The pager's widget key for `page`: a new key whenever the page changes, so the widget
    starts from the URL's page instead of keeping its own value (its key is its identity).

    The keys cycle through PAGER_KEYS names rather than one per page: Streamlit drops a stale
    widget's value but keeps its metadata (with the callback's arguments) and its key mapping
    for the whole session, so a key per page grew the server by one entry per page turned
    (issue 19). A key comes back after PAGER_KEYS page changes, long after its value was
    dropped at the end of a run that did not draw it."""
    last, number = st.session_state.get(_PAGER, (None, 0))
    if page != last:
        number = (number + 1) % PAGER_KEYS
        st.session_state[_PAGER] = (page, number)
    return f"bf_page_{number}"


def _go_page(state: BrowseState, page: int) -> None:
    write_state(state.replace(page=page))


def _on_pager(state: BrowseState, key: str) -> None:
    _go_page(state, int(st.session_state[key]))


def browse(cur, cat: Workspace, state: BrowseState) -> pd.DataFrame:
    """Counts, the thumbnail grid of the current page, and paging (keys: arrow left/right);
    returns the rows of the page shown (for voting from its tiles)."""
    fp = cat.fingerprint
    f = state.filter
    total = _count(cur, fp, f)
    pages = gallery.page_count(total, state.size)
    if state.page > pages:
        state = state.replace(page=pages)
    first = state.offset + 1 if total else 0
    last = min(state.offset + state.size, total)
    label_counts = {k: v for k, v in _facet(cur, fp, f, "label").items() if v}
    head, prev_col, next_col = st.columns([5, 1.2, 1.2], vertical_alignment="center")
    head.markdown(
        f"**{total:,}** rows match · page **{state.page:,}** of {pages:,} · rows {first:,}–{last:,}"
    )
    prev_col.button(
        "Previous",
        key="bf_prev",
        shortcut="ArrowLeft",
        disabled=state.page <= 1,
        on_click=_go_page,
        args=(state, state.page - 1),
        width="stretch",
        help="Previous page (← key)",
    )
    next_col.button(
        "Next",
        key="bf_next",
        shortcut="ArrowRight",
        disabled=state.page >= pages,
        on_click=_go_page,
        args=(state, state.page + 1),
        width="stretch",
        help="Next page (→ key)",
    )
    st.html(gallery.class_chips_html(label_counts, selected=f.labels, state=state))
    rows = _page(cur, fp, f, state.sort_order, state.size, state.offset)
    seen = (fp, state.view_signature())
    new_view = st.session_state.get(_VIEW) != seen
    st.session_state[_VIEW] = seen
    grid_box = st.container(gap=None)  # the grid, and at the end of the run the pages ahead
    with grid_box:
        grid(cat, state, rows, tile_notes(cur, cat, rows))
    if pages > 1:
        key = pager_key(state.page)
        st.pagination(pages, default=state.page, key=key, on_change=_on_pager, args=(state, key))
    st.caption(
        "Click a cell to open it (Ctrl/⌘-click opens a new tab). ← / → change the page. "
        "The address bar holds the filters: copy it to share this view."
    )
    st.page_link(
        page_file("Review"),
        label=f"Review these {total:,} rows as a queue",
        icon=":material/how_to_vote:",
        query_params=f.to_params(),
        help="Opens the Review page with this filter; an admin turns it into a review queue.",
    )
    with grid_box:  # last: the page on screen goes first
        grid_ahead(cur, cat, state, pages, new_view)
    if state.page + 2 <= pages and not new_view:  # the page the next Next sends ahead (a
        # new view reads none now: its first page is being painted)
        prefetch(cur, cat, state.replace(page=state.page + 2))
    return rows


def warm_first_page(cat: Workspace) -> None:
    """Fill the caches Browse's default view (no filter, first page) reads: the sidebar's
    counts and patients, the rows, notes and thumbnails of its first page and of the second,
    which the grid sends ahead. The server's warm-up
    (`ui.warmup`) calls it at process start, outside any script run, so the first visit
    to Browse finds them ready; `tests/test_warmup.py` checks that the page then computes
    nothing more."""
    cur = cat.cursor()
    fp = cat.fingerprint
    state = BrowseState.from_params({})
    f = state.filter
    patient_index(cur, fp)
    for column in ("config", "split", "label", "severity"):
        _facet(cur, fp, f, column)
    _count(cur, fp, f.replace(differs_from_original=True))
    _count(cur, fp, f)
    for view in (state, state.replace(page=2)):
        rows = _page(cur, fp, f, view.sort_order, view.size, view.offset)
        tile_notes(cur, cat, rows)
        thumb_uris(cat, rows)


# --- the Cell page ----------------------------------------------------------------------------


def resolve_cell(cur, state: BrowseState) -> dict | None:
    """The catalog row the `cell` parameter names, or None (with an error shown)."""
    parsed = gallery.parse_cell(state.cell)
    if parsed is None:
        return None
    config, image_id = parsed
    row = query.get_row(cur, config, image_id) if config else query.find_row(cur, image_id)
    if row is None:
        st.error(
            f"No cell {code(state.cell)} in this copy. A cell is named "
            "`<config>:<image_id>`, e.g. `pristine:00173214`; open one from Browse."
        )
    return row


def _open_cell(state: BrowseState, key: str, position: int | None) -> None:
    page = position // state.size + 1 if position is not None else state.page
    write_state(state.replace(cell=key, page=page))


def cell_search(state: BrowseState) -> None:
    """A box to open a cell by image id (when no cell is named in the link)."""

    def go():
        text = (st.session_state.get("cv_search") or "").strip()
        if text:
            write_state(state.replace(cell=text))

    st.text_input(
        "Open a cell by image id",
        key="cv_search",
        on_change=go,
        placeholder="e.g. 00173214 or degraded:00173214",
    )


def cell_navigation(cur, cat: Workspace, state: BrowseState, row: dict) -> None:
    """Previous / Next within the current filter and sort (← / → keys), and the way back."""
    fp = cat.fingerprint
    pos, total = _position(cur, fp, state.filter, state.sort_order, row["config"], row["image_id"])
    prev_key = next_key = None
    if pos is not None:
        window = _page(cur, fp, state.filter, state.sort_order, 3, max(pos - 1, 0))
        keys = [
            gallery.cell_key(c, i)
            for c, i in zip(window["config"], window["image_id"], strict=True)
        ]
        here = keys.index(gallery.cell_key(row["config"], row["image_id"]))
        prev_key = keys[here - 1] if here > 0 else None
        next_key = keys[here + 1] if here + 1 < len(keys) else None
    back_page = pos // state.size + 1 if pos is not None else state.page
    cols = st.columns([1, 1, 2, 4], vertical_alignment="center")
    cols[0].button(
        "Previous",
        key="cv_prev",
        shortcut="ArrowLeft",
        disabled=prev_key is None,
        on_click=_open_cell,
        args=(state, prev_key, None if pos is None else pos - 1),
        width="stretch",
        help="Previous cell in this filter (← key)",
    )
    cols[1].button(
        "Next",
        key="cv_next",
        shortcut="ArrowRight",
        disabled=next_key is None,
        on_click=_open_cell,
        args=(state, next_key, None if pos is None else pos + 1),
        width="stretch",
        help="Next cell in this filter (→ key)",
    )
    cols[2].page_link(
        PAGE_FILES[gallery.BROWSE_PAGE],
        label="Back to the grid",
        icon=":material/grid_view:",
        query_params=state.replace(
            page=back_page, cell=gallery.cell_key(row["config"], row["image_id"])
        ).to_params(),
    )
    if pos is None:
        cols[3].caption(
            f"This cell is not among the {total:,} rows of the current filter: "
            "Previous / Next step through the filter, so they are off. Clear the filters to step from here."
        )
    else:
        cols[3].caption(f"Cell **{pos + 1:,}** of {total:,} in the current filter")


def _figure(data: bytes | None, caption: str, kind: str = "image") -> gallery.Figure | None:
    size = gallery.image_size(data)
    if size is None:
        return None
    return gallery.Figure(images.data_uri(data), caption, size[0], size[1], kind)


def _relative(path: str, cat: Workspace) -> str:
    """A shard path relative to the data root (absolute if it lies elsewhere)."""
    try:
        return Path(path).relative_to(cat.root).as_posix()
    except ValueError:
        return path


def _table_height(frame: pd.DataFrame) -> int:
    """Pixels that show every row of a small table without a scroll bar."""
    return 35 * (len(frame) + 1) + 3


def _caption(row: dict, size: tuple[int, int] | None, this_row: bool = False) -> str:
    kind = "Pristine source" if row["config"] == "pristine" else f"Degraded · {row['severity']}"
    where = "this row" if this_row else f"{row['config']}:{row['image_id']}"
    dims = f" · {size[0]}×{size[1]} px" if size else ""
    return f"{kind} · {where}{dims}"


def cell_view(cur, cat: Workspace, state: BrowseState, row: dict) -> None:
    """One cell: header, labels, images with zoom, difference, sibling rows, metadata, params."""
    label, severity = str(row["label"]), str(row["severity"])
    name = CELL_TYPES.get(label, "unknown class")
    key = gallery.cell_key(row["config"], row["image_id"])
    st.subheader(f"{md(label)} · {md(name)}")
    st.caption(
        f"{code(key)} · {md(row['config'])} · severity **{md(severity)}** · split {md(row['split'])}"
    )
    original = query.original_label(cur, row["cell_id"])
    if original and original != label:
        st.warning(
            f"Label changed since the challenge: current **{md(label)}** ({md(name)}), "
            f"original challenge label **{md(original)}** "
            f"({md(CELL_TYPES.get(original, 'unknown class'))})."
        )

    siblings = query.cell_rows(cur, row["cell_id"])
    # The other side of the comparison: a degraded row's source, or a pristine row's first
    # degraded row. The difference is always degraded minus source.
    if row["config"] != "pristine":
        other_row = query.source_of(cur, row["image_id"])
        if other_row is None:
            st.error(
                f"The pristine source {code(row['original_image_id'])} of this degraded row "
                "is not in this copy."
            )
    else:
        degraded = siblings[siblings["config"] != "pristine"]
        other_row = degraded.iloc[0].to_dict() if len(degraded) else None
    # Both images in one batch read; the three figures go to the browser in one message.
    data, other = full_images(cat, [row, other_row]) if other_row else [full_image(cat, row), None]
    problem = images.decode_error(data)
    if problem:
        st.error(f"This image cannot be decoded: {md(problem)}")

    zoom = st.segmented_control(
        "Zoom",
        gallery.ZOOMS,
        key="cv_zoom",
        default=gallery.ZOOMS[0],
        required=True,
        format_func=lambda z: "Fit" if not z else f"{z:g}×",
        persist_state="session",
        help="Fit shows the images side by side in the page width; 1× is one screen pixel "
        "per image pixel; from 2× the pixels are drawn as squares.",
    )
    figures = []
    size = gallery.image_size(data)
    this = _figure(data, _caption(row, size, this_row=True))
    if this:
        figures.append(this)
    that = _figure(other, _caption(other_row, gallery.image_size(other))) if other_row else None
    if that:
        figures.append(that)
    diff = None
    if this and that and not problem:
        deg, src = (data, other) if row["config"] != "pristine" else (other, data)
        try:
            diff = _difference(deg, src)
        except Exception as exc:  # a decoder error is shown, not raised
            st.warning(f"No difference map: {md(exc)}")
    if diff is not None:
        w, h = gallery.image_size(deg) or (0, 0)
        figures.append(
            gallery.Figure(
                images.data_uri(diff.png, "image/png"),
                "Difference |degraded − source|",
                w,
                h,
                kind="difference",
                legend=gallery.difference_legend_html(diff),
            )
        )
    st.html(gallery.compare_html(figures, zoom or 0))
    if diff is not None and diff.note:
        st.info(diff.note)
    if diff is not None and st.toggle("Interactive heat map (hover for values)", key="cv_heatmap"):
        st.plotly_chart(gallery.difference_heatmap(deg, src), key="cv_heatmap_chart")

    st.markdown(
        f"**Rows of this cell** ({len(siblings)}): the pristine source and every degraded "
        "row made from it"
    )
    tiles = gallery.tiles_from_rows(
        siblings, thumb_uris(cat, siblings), link_params=state.to_params(cell=False), current=key
    )
    st.html(gallery.grid_html(tiles, 96))

    left, right = st.columns(2)
    extra = {
        "cell type": name,
        "original challenge label": original or "(not in the original label files)",
        "image size": f"{size[0]}×{size[1]} px" if size else "(not decodable)",
        "image bytes": len(data) if data else 0,
        "shard": _relative(_shard_paths(cat, cat.fingerprint).get(int(row["shard_id"]), ""), cat),
    }
    with left:
        st.markdown("**Metadata**")
        meta = gallery.metadata_table(row, extra)
        st.dataframe(meta, hide_index=True, width="stretch", height=_table_height(meta))
        if row.get("patient_hash"):
            st.page_link(
                PAGE_FILES[gallery.PATIENT_PAGE],
                label="This patient's other cells",
                icon=":material/person:",
                query_params={"patient": str(row["patient_hash"]), "cell": key},
            )
    with right:
        st.markdown("**Degradation parameters**")
        params = query.degradation_params(cur, row["image_id"])
        if params:
            table = gallery.params_table(params)
            st.dataframe(table, hide_index=True, width="stretch", height=_table_height(table))
        elif row["config"] == "pristine":
            st.caption("A pristine image has no degradation parameters.")
        else:
            st.caption(
                "No row for this image in `metadata/degradation_params.csv` "
                "(or the copy has no such file)."
            )
    lookalikes.lookalikes(cat, row["cell_id"])


# --- the Patient page -------------------------------------------------------------------------


def _on_patient_change() -> None:
    patient = st.session_state.get("pv_patient")
    st.query_params.from_dict({"patient": patient} if patient else {})


def patient_picker(cur, cat: Workspace) -> str | None:
    """A selectbox of patients bound to `?patient=`; an unknown hash is reported and ignored."""
    patients = _patients(cur, cat.fingerprint)
    wanted = (st.query_params.get("patient") or "").strip() or None
    known = set(patients["patient"])
    if wanted and wanted not in known:
        st.warning(f"No patient {md(wanted)} in this copy: choose one below.")
        wanted = None
    st.session_state["pv_patient"] = wanted
    splits = dict(zip(patients["patient"], patients["split"], strict=True))
    cells = dict(zip(patients["patient"], patients["cells"], strict=True))
    st.selectbox(
        "Patient",
        list(patients["patient"]),
        index=None,
        key="pv_patient",
        format_func=lambda p: f"{p} · {splits.get(p, '')} · {cells.get(p, 0)} cells",
        placeholder=f"Choose one of {len(patients):,} patients",
        on_change=_on_patient_change,
    )
    if wanted is None:

        def picked():
            rows = st.session_state["pv_table"].selection.rows
            if rows:
                st.query_params.from_dict({"patient": str(patients.iloc[rows[0]]["patient"])})

        st.caption("Or tick a row's box (left) in the table.")
        st.dataframe(
            patients,
            hide_index=True,
            width="stretch",
            height=360,
            key="pv_table",
            on_select=picked,
            selection_mode="single-row",
        )
    return wanted


def patient_view(cur, cat: Workspace, patient: str) -> None:
    """Every row of one patient: class counts (table and chart) and the cells by class."""
    rows = query.patient_rows(cur, patient)
    cells = rows["cell_id"].nunique()
    st.markdown(
        f"**{cells:,}** cells, **{len(rows):,}** rows · split "
        f"{md(', '.join(sorted(rows['split'].unique())))}"
    )
    table = gallery.class_counts(rows)
    configs = [c for c in CONFIGS if (rows["config"] == c).any()]
    left, right = st.columns([1, 1])
    left.dataframe(
        table[["class", "cell type", *configs, "total"]]
        if len(configs) > 1
        else table[["class", "cell type", *configs]],
        hide_index=True,
        width="stretch",
        height=_table_height(table),
    )
    right.plotly_chart(gallery.class_counts_figure(table, configs), key="pv_counts")
    show = "both"
    if len(configs) > 1:
        show = st.segmented_control(
            "Show", ["pristine", "degraded", "both"], default="both", key="pv_show", required=True
        )
    shown = rows if show == "both" else rows[rows["config"] == show]
    shown = shown.sort_values(["label", "cell_id", "config"], ascending=[True, True, False])
    if len(shown) > MAX_PATIENT_TILES:
        st.caption(f"Showing the first {MAX_PATIENT_TILES} of {len(shown):,} rows.")
        shown = shown.head(MAX_PATIENT_TILES)
    current = (st.query_params.get("cell") or "").strip() or None
    link = {"patient": patient}
    order = [c for c in CLASS_CODES if c in set(shown["label"])] + sorted(
        set(shown["label"]) - set(CLASS_CODES)
    )
    notes = was_notes(cur, cat, shown)
    for label in order:
        group = shown[shown["label"] == label]
        st.markdown(
            f"**{md(label)}** · {md(CELL_TYPES.get(label, 'unknown class'))} ({len(group)})"
        )
        tiles = gallery.tiles_from_rows(
            group, thumb_uris(cat, group), link, current=current, notes=notes
        )
        st.html(gallery.grid_html(tiles, THUMB_PX))


# --- the Class atlas page ---------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _atlas_rows(_cur, fingerprint: str, config: str, per_class: int, seed: int) -> pd.DataFrame:
    del fingerprint
    picked = []
    for label in CLASS_CODES:
        candidates = query.page(
            _cur, query.Filter(configs=(config,), labels=(label,)), "patient", 400, 0
        )
        picked.append(gallery.atlas_examples(candidates, per_class, seed))
    return pd.concat(picked, ignore_index=True)


def _atlas_param(name: str, allowed, default):
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        value = type(default)(raw)
    except ValueError:
        return default
    return value if value in allowed else default


def atlas(cur, cat: Workspace) -> None:
    """Example cells of every class with the full cell-type names (`?config=&per_class=&seed=`)."""
    config = _atlas_param("config", CONFIGS, "pristine")
    per_class = _atlas_param("per_class", (6, 12, 24), 12)
    seed = _atlas_param("seed", range(0, 10**6), 0)

    def write(**changes):
        values = {"config": config, "per_class": per_class, "seed": seed, **changes}
        st.query_params.from_dict({k: str(v) for k, v in values.items()})

    st.session_state["at_config"] = config
    st.session_state["at_per_class"] = per_class
    cols = st.columns([2, 2, 2], vertical_alignment="bottom")
    cols[0].segmented_control(
        "Images from",
        CONFIGS,
        key="at_config",
        required=True,
        on_change=lambda: write(config=st.session_state["at_config"]),
    )
    cols[1].segmented_control(
        "Examples per class",
        (6, 12, 24),
        key="at_per_class",
        required=True,
        on_change=lambda: write(per_class=st.session_state["at_per_class"]),
    )
    cols[2].button("Show other examples", key="at_shuffle", on_click=lambda: write(seed=seed + 1))
    counts = _facet(cur, cat.fingerprint, query.Filter(configs=(config,)), "label")
    rows = _atlas_rows(cur, cat.fingerprint, config, per_class, seed)
    uris = thumb_uris(cat, rows)
    tiles = gallery.tiles_from_rows(rows, uris, {})
    by_label: dict[str, list] = {}
    for tile in tiles:
        by_label.setdefault(tile.label, []).append(tile)
    for label, (cell_type, share) in CLASSES.items():
        n = counts.get(label, 0)
        st.markdown(
            f"#### {label} · {cell_type}\n"
            f"{n:,} {config} rows in this copy · {share:.2%} of the challenge's labelled cells"
        )
        if by_label.get(label):
            st.html(gallery.grid_html(by_label[label], THUMB_PX))
        else:
            st.caption("No cells of this class in this copy.")
