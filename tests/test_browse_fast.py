"""Browse and Cell (issues 13, 15, 19): patient search, chips that filter, prefetched next
page, the Cell page's number formatting and synchronized zoomed viewports."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from tests import apptest
from tests.apptest import browse_grid, html_of
from wbcreview.data import catalog, query
from wbcreview.views import browse as gallery
from wbcreview.views.browse import BrowseState

BROWSE, CELL = "pages/1_Browse.py", "pages/2_Cell.py"
CHIP_LINK = re.compile(r'<a class="wbc-chip[^"]*" href="([^"]+)"[^>]*data-class="([^"]+)"')


@pytest.fixture
def open_page(demo_root, monkeypatch):
    """Run the app, switch to a page with some query parameters, run it; return the AppTest."""
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    return apptest.open_page


def match_count(at: AppTest) -> int:
    text = next(m.value for m in at.markdown if "rows match" in m.value)
    return int(re.search(r"\*\*([\d,]+)\*\*", text).group(1).replace(",", ""))


def _patients(cur) -> list[str]:
    return [r[0] for r in cur.execute(
        "SELECT DISTINCT patient_hash FROM cells WHERE patient_hash <> '' ORDER BY 1"
    ).fetchall()]  # fmt: skip


# --- the patient filter ----------------------------------------------------------------------


def test_patient_box_is_a_text_box_not_a_list_of_every_patient(open_page):
    at = open_page(BROWSE)
    assert not [s for s in at.selectbox if s.key == "bf_patient"]
    assert at.text_input(key="bf_patient").value == ""


def test_a_unique_start_of_a_hash_filters_to_that_patient(open_page, cur):
    patients = _patients(cur)
    target = patients[len(patients) // 2]
    prefix = next(
        target[:n] for n in range(1, len(target) + 1)
        if sum(p.startswith(target[:n]) for p in patients) == 1
    )  # fmt: skip
    at = open_page(BROWSE)
    at.text_input(key="bf_patient").input(prefix).run()
    assert not at.exception
    assert match_count(at) == query.count(cur, query.Filter(patient=target))


def test_patient_index_finds_hashes_by_their_start():
    from wbcreview.ui.browse import PatientIndex

    hashes = ("0a1", "0a2", "0b", "1c")
    index = PatientIndex(hashes, dict.fromkeys(hashes, "s"), dict.fromkeys(hashes, 2))
    assert index.starting_with("0a", 8) == (["0a1", "0a2"], 2)
    assert index.starting_with("0", 1) == (["0a1"], 3)
    assert index.starting_with("2", 8) == ([], 0)
    assert "0b" in index and "0" not in index


def test_an_ambiguous_start_offers_the_matching_patients_to_pick(open_page, cur, monkeypatch):
    from wbcreview.ui import browse as browse_ui

    real = _patients(cur)[0]
    twin = real[0] + "~not-in-this-copy"  # a second hash with the same first character
    made = browse_ui.patient_index

    def with_twin(_cur, fingerprint):
        index = made(_cur, fingerprint)
        hashes = tuple(sorted((*index.hashes, twin)))
        return browse_ui.PatientIndex(hashes, {**index.split, twin: "x"}, {**index.cells, twin: 0})

    monkeypatch.setattr(browse_ui, "patient_index", with_twin)
    at = open_page(BROWSE, patient=real[0])
    assert match_count(at) == query.count(cur, query.Filter())  # not applied yet
    pick = next(b for b in at.get("button_group") if (b.key or "").startswith("bf_patient_pick"))
    assert any(str(o).startswith(real) for o in pick.options)
    pick.set_value(real).run()
    assert not at.exception
    assert at.query_params["patient"] in (real, [real])
    assert match_count(at) == query.count(cur, query.Filter(patient=real))


# --- class chips -----------------------------------------------------------------------------


def test_every_class_chip_links_to_its_class_and_a_second_click_undoes_it():
    state = BrowseState(query.Filter(configs=("degraded",)), page=3, cell="degraded:1")
    html = gallery.class_chips_html({"SNE": 5, "LY": 2}, state=state)
    links = {code: href.replace("&amp;", "&") for href, code in CHIP_LINK.findall(html)}
    assert set(links) == {"SNE", "LY"}
    params = dict(parse_qsl(urlsplit(links["LY"]).query))
    assert params == {"configs": "degraded", "labels": "LY"}  # page 1, no open cell
    only_ly = BrowseState(query.Filter(labels=("LY",)))
    assert "labels" not in gallery.chip_link(only_ly, "LY")


def test_clicking_a_chip_on_browse_filters_the_grid(open_page, cur):
    at = open_page(BROWSE)
    links = dict(
        (code, href.replace("&amp;", "&")) for href, code in CHIP_LINK.findall(html_of(at))
    )
    assert "LY" in links
    at.query_params.clear()
    at.query_params.update(dict(parse_qsl(urlsplit(links["LY"]).query)))
    at.run()
    assert match_count(at) == query.count(cur, query.Filter(labels=("LY",)))


# --- prefetch --------------------------------------------------------------------------------


def test_the_next_page_thumbnails_are_prefetched(open_page, cur, demo_root):
    from wbcreview import ui
    from wbcreview.ui import browse as browse_ui

    at = open_page(BROWSE)
    browse_ui._prefetcher().submit(lambda: None).result(timeout=60)  # queued work is done
    second = query.page(cur, query.Filter(), "image id", 48, 48)
    with catalog.open_catalog(demo_root) as cat:
        requests = query.image_requests(cat.shard_paths(), second)
    cache = ui.reader().thumb_cache
    keys = [(str(r.path), r.row, browse_ui.THUMB_PX) for r in requests]
    assert keys and all(k in cache for k in keys)
    assert not at.exception


def _keys(rows) -> list[str]:
    return [f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)]


def test_a_thumbnail_is_sent_once_per_session_and_the_pages_around_go_ahead(open_page, cur):
    pages = [_keys(query.page(cur, query.Filter(), "image id", 48, 48 * n)) for n in range(3)]
    at = open_page(BROWSE)
    grid, ahead = browse_grid(at), browse_grid(at, "ahead")
    assert [t["k"] for t in grid["tiles"]] == pages[0] and set(grid["images"]) == set(pages[0])
    assert [t["k"] for t in ahead["pages"]["2"]] == pages[1] and ahead["base"] == 1
    early = set(ahead["images"])  # a new view: only the thumbnails cached already go ahead
    assert early <= set(pages[1])
    at.run()  # the browser asks for the others once the run is over (any rerun sends them)
    late = set(browse_grid(at, "ahead")["images"])
    assert early | late == set(pages[1]) and not early & late
    assert browse_grid(at)["images"] == {}

    at.button(key="bf_next").click().run()
    grid, ahead = browse_grid(at), browse_grid(at, "ahead")
    assert grid["page"] == 2 and [t["k"] for t in grid["tiles"]] == pages[1]
    assert grid["images"] == {}  # sent ahead with page 1
    assert set(ahead["pages"]) == {"1", "3"} and set(ahead["images"]) == set(pages[2])

    at.run()  # a rerun that shows nothing new sends no thumbnail
    assert browse_grid(at)["images"] == {} and browse_grid(at, "ahead")["images"] == {}

    # a filter sends its new thumbnails only; going back to a view seen sends none
    at.multiselect(key="bf_labels").select("LY").run()
    ly = _keys(query.page(cur, query.Filter(labels=("LY",)), "image id", 48, 0))
    grid = browse_grid(at)
    assert grid["page"] == 1 and [t["k"] for t in grid["tiles"]] == ly
    assert set(grid["images"]) == set(ly) - set().union(*pages)
    at.button(key="bf_clear").click().run()
    grid = browse_grid(at)
    assert [t["k"] for t in grid["tiles"]] == pages[0] and grid["images"] == {}
    assert not at.exception


# --- the Cell page ---------------------------------------------------------------------------


def test_format_value_rounds_float_noise_and_keeps_text():
    assert gallery.format_value("1.7999999999999998") == "1.8"
    assert gallery.format_value(0.30000000000000004) == "0.3"
    assert gallery.format_value(12345) == "12,345"
    assert gallery.format_value("gaussian_noise") == "gaussian_noise"
    assert gallery.format_value(None) == ""


def test_metadata_table_hides_where_the_bytes_lie():
    row = {"image_id": "00000007", "label": "LY", "shard_id": 3, "row": 9, "img_offset": 4,
           "img_length": 5, "ord_id": 1}  # fmt: skip
    table = gallery.metadata_table(row, {"image bytes": 31234})
    assert list(table["field"]) == ["image_id", "label", "image bytes"]
    assert list(table["value"]) == ["00000007", "LY", "31,234"]


def test_cell_page_shows_no_internal_field_and_no_float_noise(open_page, cur):
    row = query.page(cur, query.Filter(configs=("degraded",)), "image id", 1, 0).iloc[0]
    at = open_page(CELL, cell=f"degraded:{row.image_id}")
    shown = " ".join(" ".join(map(str, frame.value.to_numpy().ravel())) for frame in at.dataframe)
    for internal in ("shard_id", "img_offset", "img_length"):
        assert internal not in shown
    assert not re.search(r"\d\.\d{9,}", shown), shown


def test_zoomed_images_sit_in_synchronized_viewports():
    figs = [gallery.Figure("data:a", "degraded", 100, 80), gallery.Figure("data:b", "src", 100, 80)]
    zoomed = gallery.compare_html(figs, 2.0)
    assert 'class="wbc-compare wbc-sync"' in zoomed
    assert zoomed.count('class="wbc-view"') == 2
    fit = gallery.compare_html(figs, 0)
    assert "wbc-sync" not in fit and 'class="wbc-view"' not in fit
