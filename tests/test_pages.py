"""AppTest: the Browse, Cell, Patient and Class atlas pages on the demo copy."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from tests import apptest
from tests.apptest import APP, browse_grid, component_data, html_of
from wbcreview.data import query
from wbcreview.data.release import CELL_TYPES, CLASS_CODES
from wbcreview.ui import browse, navigation

BROWSE, CELL, PATIENT, ATLAS = (
    "pages/1_Browse.py",
    "pages/2_Cell.py",
    "pages/3_Patient.py",
    "pages/4_Class_atlas.py",
)
TILE_LINK = re.compile(r'<a class="wbc-tile[^"]*"[^>]*href="([^"]+)"')


@pytest.fixture
def open_page(demo_root, monkeypatch):
    """Run the app, switch to a page with some query parameters, run it; return the AppTest."""
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    return apptest.open_page


def tile_links(at: AppTest) -> list[str]:
    """The links of the tiles shown: the Browse grid component's, or those of st.html grids."""
    if component_data(at, "wbcreview_grid"):
        return [tile["href"] for tile in browse_grid(at)["tiles"]]
    return [link.replace("&amp;", "&") for link in TILE_LINK.findall(html_of(at))]


def tile_cells(at: AppTest) -> list[str]:
    return [dict(parse_qsl(urlsplit(link).query))["cell"] for link in tile_links(at)]


def match_count(at: AppTest) -> int:
    text = next(m.value for m in at.markdown if "rows match" in m.value)
    return int(re.search(r"\*\*([\d,]+)\*\*", text).group(1).replace(",", ""))


def after(at: AppTest) -> AppTest:
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


# --- every page ------------------------------------------------------------------------------


@pytest.mark.parametrize("page_file", [BROWSE, CELL, PATIENT, ATLAS])
def test_every_page_runs_without_an_exception(open_page, page_file):
    at = open_page(page_file)
    assert not at.error


@pytest.fixture(scope="module")
def voted_home(tmp_path_factory) -> Path:
    """A WBCREVIEW_HOME shared by the module, so the demo store is seeded with votes once."""
    return tmp_path_factory.mktemp("home-with-votes")


EVERY_PAGE = [path for _, pages in navigation.PAGES for path, _, _ in pages]


def test_every_page_file_is_in_the_navigation_once():
    files = sorted(
        p.relative_to(Path(APP).parent).as_posix() for p in Path(APP).parent.glob("pages/*.py")
    )
    assert sorted(EVERY_PAGE) == files


@pytest.mark.parametrize("page_file", EVERY_PAGE)
def test_every_page_on_the_demo_copy_with_votes_shows_no_exception_and_no_error(
    demo_root, voted_home, monkeypatch, page_file
):
    monkeypatch.setenv("WBCREVIEW_DATA", str(demo_root))
    monkeypatch.setenv("WBCREVIEW_HOME", str(voted_home))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.session_state["wbc_identity"] = {"name": "Ada", "team": "Core", "role": "admin"}
    at.switch_page(page_file).run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    assert not at.error, [e.value for e in at.error]
    assert any("DEMO DATA" in c.value for c in at.sidebar.caption) or page_file in (
        "pages/0_Home.py",
        "pages/1_Browse.py",
        "pages/2_Cell.py",
        "pages/3_Patient.py",
        "pages/4_Class_atlas.py",
    )  # the review and results pages read the demo store, seeded with simulated votes


# --- Browse ----------------------------------------------------------------------------------


def test_browse_shows_the_total_class_counts_and_a_page_of_tiles(open_page, cur):
    at = open_page(BROWSE)
    total = query.count(cur, query.Filter())
    assert match_count(at) == total
    assert len(tile_links(at)) == min(48, total)
    chips = html_of(at)
    for code, n in query.facet(cur, query.Filter(), "label").items():
        assert f"<b>{code}</b> {n:,}" in chips
    expected = query.page(cur, query.Filter(), "image id", 48, 0)
    assert tile_cells(at) == [
        f"{c}:{i}" for c, i in zip(expected.config, expected.image_id, strict=True)
    ]
    assert at.get("pagination")


def test_class_filter_changes_the_counts_and_the_url(open_page, cur):
    at = open_page(BROWSE)
    after(at.multiselect(key="bf_labels").select("LY").select("MO").run())
    want = query.count(cur, query.Filter(labels=("LY", "MO")))
    assert match_count(at) == want
    assert at.query_params["labels"] == "LY,MO"
    labels = {cell for cell in tile_cells(at)}
    rows = query.page(cur, query.Filter(labels=("LY", "MO")), "image id", 48, 0)
    assert labels == {f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)}
    assert set(rows.label) <= {"LY", "MO"}


def test_config_severity_split_and_differs_filters(open_page, cur):
    at = open_page(BROWSE)
    after(at.multiselect(key="bf_configs").select("degraded").run())
    after(at.multiselect(key="bf_severities").select("extreme").run())
    f = query.Filter(configs=("degraded",), severities=("extreme",))
    assert match_count(at) == query.count(cur, f)
    after(at.multiselect(key="bf_splits").select("phase2_test").run())
    f = f.replace(splits=("phase2_test",))
    assert match_count(at) == query.count(cur, f)
    after(at.button(key="bf_clear").click().run())
    assert at.query_params == {} or not any(at.query_params.values())
    after(at.checkbox(key="bf_differs").check().run())
    differs = query.count(cur, query.Filter(differs_from_original=True))
    assert differs > 0  # the demo copy changes a few labels
    assert match_count(at) == differs
    assert at.query_params["differs_from_original"] == "1"


def test_tiles_of_relabelled_cells_name_the_original_label(open_page, cur):
    at = open_page(BROWSE, differs_from_original="1")
    rows = query.page(cur, query.Filter(differs_from_original=True), "image id", 48, 0)
    assert len(rows)
    notes = {tile["k"]: tile["note"] for tile in browse_grid(at)["tiles"]}
    for key, cell_id in zip(rows.config + ":" + rows.image_id, rows.cell_id, strict=True):
        assert notes[key] == f"was {query.original_label(cur, cell_id)}"
    assert len(notes) == len(rows)


def test_image_id_search_and_patient_filter(open_page, cur):
    row = query.page(cur, query.Filter(configs=("pristine",)), "image id", 1, 7).iloc[0]
    at = open_page(BROWSE)
    after(at.text_input(key="bf_image_id").input(row.image_id).run())
    cells = tile_cells(at)
    assert f"pristine:{row.image_id}" in cells
    assert match_count(at) == query.count(cur, query.Filter(image_id=row.image_id))
    after(at.text_input(key="bf_patient").input(row.patient_hash).run())
    assert at.query_params["patient"] == row.patient_hash
    assert match_count(at) == query.count(
        cur, query.Filter(image_id=row.image_id, patient=row.patient_hash)
    )


def test_paging_with_buttons_and_the_pager(open_page, cur):
    at = open_page(BROWSE)
    first = tile_cells(at)
    after(at.button(key="bf_next").click().run())
    assert at.query_params["page"] == "2"
    second = tile_cells(at)
    rows = query.page(cur, query.Filter(), "image id", 48, 48)
    assert second == [f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)]
    assert not set(first) & set(second)
    after(at.button(key="bf_prev").click().run())
    assert tile_cells(at) == first
    pager = at.get("pagination")[0]
    pager.set_value(3).run()
    after(at)
    assert at.query_params["page"] == "3"
    # a new filter starts again on page 1
    after(at.multiselect(key="bf_labels").select("SNE").run())
    assert "page" not in at.query_params


def test_turning_pages_cycles_a_few_pager_keys_and_the_pager_shows_the_page(open_page):
    # A key per page left one widget record (and its callback's arguments) in the session
    # for every page turned: the server grew for as long as someone browsed (issue 19).
    at = open_page(BROWSE)
    keys = set()
    for page in range(2, 14):
        after(at.button(key="bf_next").click().run())
        pager = at.get("pagination")[0]
        keys.add(pager.key)
        assert pager.value == page == int(at.query_params["page"])
    assert len(keys) == browse.PAGER_KEYS
    after(at.button(key="bf_prev").click().run())
    assert at.get("pagination")[0].value == 12


def test_page_size_and_sort(open_page, cur):
    at = open_page(BROWSE)
    after(at.segmented_control(key="bf_size").set_value(24).run())
    assert len(tile_links(at)) == 24 and at.query_params["size"] == "24"
    after(at.selectbox(key="bf_sort").select("class").run())
    assert at.query_params["sort"] == "class"
    rows = query.page(cur, query.Filter(), "class", 24, 0)
    assert tile_cells(at) == [f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)]


def test_query_params_reproduce_the_view(open_page, cur):
    at = open_page(BROWSE, labels="SNE,LY", configs="degraded", sort="patient", size="24", page="2")
    assert at.multiselect(key="bf_labels").value == ["SNE", "LY"]
    assert at.multiselect(key="bf_configs").value == ["degraded"]
    assert at.selectbox(key="bf_sort").value == "patient"
    f = query.Filter(configs=("degraded",), labels=("SNE", "LY"))
    assert match_count(at) == query.count(cur, f)
    rows = query.page(cur, f, "patient", 24, 24)
    assert tile_cells(at) == [f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)]
    # tile links carry the whole view, so the cell page can step through the same list
    params = dict(parse_qsl(urlsplit(tile_links(at)[0]).query))
    assert params["labels"] == "SNE,LY" and params["sort"] == "patient" and params["size"] == "24"


def test_bad_query_params_are_ignored_with_a_warning(open_page, cur):
    at = open_page(BROWSE, labels="LY,NOTACLASS", sort="sideways", size="7", page="-3")
    warnings = " ".join(w.value for w in at.warning)
    assert "labels=NOTACLASS" in warnings and "sort=sideways" in warnings
    assert match_count(at) == query.count(cur, query.Filter(labels=("LY",)))
    at = open_page(BROWSE, page="99999")
    assert tile_links(at)  # clamped to the last page
    at = open_page(BROWSE, patient="no-such-patient")
    assert any("No patient" in w.value for w in at.warning)
    assert match_count(at) == query.count(cur, query.Filter())
    at = open_page(BROWSE, labels="<script>alert(1)</script>")
    assert "<script>" not in html_of(at) + str(component_data(at, "wbcreview_grid"))


def test_no_match_says_so(open_page):
    at = open_page(BROWSE, image_id="zzzz-nothing")
    assert match_count(at) == 0
    grid = browse_grid(at)
    assert grid["tiles"] == [] and "No cells match" in grid["empty"]


# --- Cell ------------------------------------------------------------------------------------


def degraded_row(cur, severity="extreme"):
    f = query.Filter(configs=("degraded",), severities=(severity,))
    return query.page(cur, f, "image id", 1, 0).iloc[0]


def test_opening_a_cell_from_a_grid_link(open_page):
    at = open_page(BROWSE, labels="LY")
    link = tile_links(at)[3]
    assert urlsplit(link).path == "Cell"
    at = open_page(CELL, **dict(parse_qsl(urlsplit(link).query)))
    assert at.subheader[0].value.startswith("LY")
    assert "Lymphocyte" in at.subheader[0].value
    assert at.multiselect(key="bf_labels").value == ["LY"]  # the filter came along


def test_a_degraded_cell_shows_its_pristine_source_difference_and_params(open_page, cur):
    row = degraded_row(cur)
    at = open_page(CELL, cell=f"degraded:{row.image_id}")
    page = html_of(at)
    assert f"Pristine source · pristine:{row.original_image_id}" in page
    assert "Degraded · extreme · this row" in page
    assert "Difference |degraded − source|" in page and "data:image/png;base64," in page
    assert page.count('class="wbc-tile') >= 2  # the rows sharing the source
    tables = [df.value for df in at.dataframe]
    meta = tables[0]
    assert (
        dict(zip(meta["field"], meta["value"], strict=True))["original_image_id"]
        == row.original_image_id
    )
    params = query.degradation_params(cur, row.image_id)
    assert params  # the demo copy writes degradation_params.csv
    shown = dict(zip(tables[1]["parameter"], tables[1]["value"], strict=True))
    assert set(shown) == set(params)
    after(at.toggle(key="cv_heatmap").set_value(True).run())
    assert at.get("plotly_chart")


def test_a_pristine_cell_is_compared_with_a_degraded_row(open_page, cur):
    row = query.page(
        cur, query.Filter(configs=("pristine",), splits=("phase2_train",)), "image id", 1, 0
    ).iloc[0]
    at = open_page(CELL, cell=f"pristine:{row.image_id}")
    page = html_of(at)
    assert "Pristine source · this row" in page and "Degraded · " in page
    assert any("no degradation parameters" in c.value for c in at.caption)


def test_zoom_changes_the_display_size(open_page, cur):
    row = degraded_row(cur, "mild")
    at = open_page(CELL, cell=f"degraded:{row.image_id}")
    assert "width:100%" in html_of(at)
    after(at.segmented_control(key="cv_zoom").set_value(2.0).run())
    assert "image-rendering:pixelated" in html_of(at)


def test_previous_and_next_step_through_the_filter(open_page, cur):
    f = query.Filter(labels=("SNE",))
    rows = query.page(cur, f, "class", 5, 0)
    keys = [f"{c}:{i}" for c, i in zip(rows.config, rows.image_id, strict=True)]
    at = open_page(CELL, cell=keys[1], labels="SNE", sort="class")
    assert any("Cell **2** of" in c.value for c in at.caption)
    after(at.button(key="cv_next").click().run())
    assert at.query_params["cell"] == keys[2]
    after(at.button(key="cv_next").click().run())
    assert at.query_params["cell"] == keys[3]
    after(at.button(key="cv_prev").click().run())
    after(at.button(key="cv_prev").click().run())
    after(at.button(key="cv_prev").click().run())
    assert at.query_params["cell"] == keys[0]
    assert at.button(key="cv_prev").disabled
    assert at.query_params["labels"] == "SNE"


def test_a_cell_outside_the_filter_has_no_neighbours(open_page, cur):
    row = query.page(cur, query.Filter(labels=("LY",)), "image id", 1, 0).iloc[0]
    at = open_page(CELL, cell=f"{row.config}:{row.image_id}", labels="SNE")
    assert at.button(key="cv_next").disabled and at.button(key="cv_prev").disabled
    assert any("not among" in c.value for c in at.caption)


def test_original_label_is_shown_when_it_differs(open_page, cur):
    row = query.page(cur, query.Filter(differs_from_original=True), "image id", 1, 0).iloc[0]
    original = query.original_label(cur, row.cell_id)
    at = open_page(CELL, cell=f"{row.config}:{row.image_id}")
    text = " ".join(w.value for w in at.warning)
    assert "original challenge label" in text and original in text and row.label in text


def test_a_bare_image_id_opens_the_pristine_row(open_page, cur):
    row = query.page(cur, query.Filter(configs=("pristine",)), "image id", 1, 3).iloc[0]
    at = open_page(CELL, cell=row.image_id)
    assert f"pristine:{row.image_id}" in " ".join(c.value for c in at.caption)


def test_unknown_cell_is_one_clear_error(open_page):
    at = open_page(CELL, cell="degraded:99999999")
    assert at.error and "No cell `degraded:99999999`" in at.error[0].value
    at = open_page(CELL, cell="pristine:`<b>x</b>`")
    assert at.error and "<b>" in at.error[0].value  # shown inside a code span, as text


def test_cell_page_without_a_cell_offers_a_search(open_page, cur):
    row = query.page(cur, query.Filter(), "image id", 1, 0).iloc[0]
    at = open_page(CELL)
    assert at.info and "No cell chosen" in at.info[0].value
    after(at.text_input(key="cv_search").input(f"{row.config}:{row.image_id}").run())
    assert at.query_params["cell"] == f"{row.config}:{row.image_id}"
    assert at.subheader


# --- Patient ---------------------------------------------------------------------------------


def test_patient_page_lists_patients_then_shows_one(open_page, cur):
    at = open_page(PATIENT)
    assert at.dataframe  # the list of patients
    row = query.page(cur, query.Filter(configs=("degraded",)), "patient", 1, 0).iloc[0]
    after(at.selectbox(key="pv_patient").select(row.patient_hash).run())
    assert at.query_params["patient"] == row.patient_hash
    rows = query.patient_rows(cur, row.patient_hash)
    table = at.dataframe[0].value
    assert int(table["total"].sum()) == len(rows)
    assert int(table["pristine"].sum()) == int((rows.config == "pristine").sum())
    assert at.get("plotly_chart")
    assert len(tile_links(at)) == len(rows)  # both configs
    after(at.segmented_control(key="pv_show").set_value("pristine").run())
    assert len(tile_links(at)) == int((rows.config == "pristine").sum())


def test_a_phase1_patient_has_only_pristine_rows(open_page, cur):
    row = query.page(cur, query.Filter(splits=("phase1_train",)), "patient", 1, 0).iloc[0]
    at = open_page(PATIENT, patient=row.patient_hash)
    table = at.dataframe[0].value
    assert "degraded" not in table.columns
    assert int(table["pristine"].sum()) == len(query.patient_rows(cur, row.patient_hash))
    assert not at.get("segmented_control")


def test_patient_link_from_a_cell_highlights_it(open_page, cur):
    row = degraded_row(cur, "moderate")
    at = open_page(PATIENT, patient=row.patient_hash, cell=f"degraded:{row.image_id}")
    assert html_of(at).count("wbc-tile wbc-current") == 1


def test_unknown_patient_is_reported(open_page):
    at = open_page(PATIENT, patient="nobody")
    assert any("No patient" in w.value for w in at.warning)


# --- Class atlas -----------------------------------------------------------------------------


def test_atlas_shows_every_class_with_its_full_name(open_page, cur):
    at = open_page(ATLAS)
    text = " ".join(m.value for m in at.markdown)
    for code in CLASS_CODES:
        assert f"{code} · {CELL_TYPES[code]}" in text
    counts = query.facet(cur, query.Filter(configs=("pristine",)), "label")
    assert len(tile_links(at)) == sum(min(12, n) for n in counts.values())
    assert all(cell.startswith("pristine:") for cell in tile_cells(at))
    before = tile_cells(at)
    after(at.button(key="at_shuffle").click().run())
    assert at.query_params["seed"] == "1"
    assert tile_cells(at) != before
    after(at.segmented_control(key="at_config").set_value("degraded").run())
    assert all(cell.startswith("degraded:") for cell in tile_cells(at))
    after(at.segmented_control(key="at_per_class").set_value(6).run())
    assert len(tile_links(at)) <= 6 * len(CLASS_CODES)


def test_atlas_ignores_bad_params(open_page):
    at = open_page(ATLAS, config="sideways", per_class="1000", seed="x")
    assert tile_links(at)


def test_each_page_title_belongs_to_one_section_of_the_top_bar():
    for section, pages in navigation.PAGES:
        for _, title, _ in pages:
            assert navigation.section_of(title) == section
    assert navigation.section_of("No such page") is None
