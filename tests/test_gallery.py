"""Pure functions of the browsing pages: view state in the URL, grid HTML, differences, atlas."""

from __future__ import annotations

import html
import io
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from wbcreview.data import images
from wbcreview.data.query import Filter
from wbcreview.data.release import CLASS_CODES, CONFIGS, SEVERITIES, SPLITS
from wbcreview.views import browse as gallery
from wbcreview.views.browse import BrowseState, Tile

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"


def jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


# --- view state ------------------------------------------------------------------------------


def test_default_view_has_no_params():
    state = BrowseState.from_params({})
    assert state == BrowseState()
    assert state.to_params() == {}
    assert (state.sort_order, state.size, state.page, state.offset) == ("image id", 48, 1, 0)


def test_view_round_trips_through_params():
    state = BrowseState(
        Filter(
            configs=("degraded",),
            splits=("phase2_eval", "phase2_test"),
            labels=("LY", "MO"),
            severities=("mild", "extreme"),
            patient="abc123",
            image_id="0012",
            differs_from_original=True,
        ),
        sort="class",
        size=96,
        page=3,
        cell="degraded:00012345",
    )
    params = state.to_params()
    assert params["labels"] == "LY,MO" and params["sort"] == "class" and params["page"] == "3"
    assert BrowseState.from_params(params) == state
    assert state.offset == 192
    assert "cell" not in state.to_params(cell=False) and "page" not in state.to_params(page=False)


def test_unknown_values_are_dropped_and_named():
    state = BrowseState.from_params(
        {
            "labels": "LY,NOPE",
            "severities": "mild,awful",
            "sort": "colour",
            "size": "50",
            "page": "x",
            "configs": "pristine",
        }
    )
    assert state.filter.labels == ("LY",)
    assert state.filter.severities == ("mild",)
    assert state.filter.configs == ("pristine",)
    assert (state.sort, state.size, state.page) == ("id", 48, 1)
    assert set(state.ignored) == {
        "labels=NOPE",
        "severities=awful",
        "sort=colour",
        "size=50",
        "page=x",
    }


def test_list_params_take_the_last_value_and_blank_text_is_none():
    state = BrowseState.from_params({"labels": ["MO", "LY"], "patient": "  ", "page": ["2"]})
    assert state.filter.labels == ("LY",)
    assert state.filter.patient is None
    assert state.page == 2


def test_signature_ignores_the_open_cell_only():
    a = BrowseState(Filter(labels=("LY",)), page=2, cell="pristine:1")
    assert a.signature() == a.replace(cell="pristine:2").signature()
    assert a.signature() != a.replace(page=3).signature()


@given(
    labels=st.lists(st.sampled_from(CLASS_CODES), unique=True),
    configs=st.lists(st.sampled_from(CONFIGS), unique=True),
    splits=st.lists(st.sampled_from(SPLITS), unique=True),
    severities=st.lists(st.sampled_from(SEVERITIES), unique=True),
    patient=st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)),
    differs=st.booleans(),
    sort=st.sampled_from(list(gallery.SORT_SLUGS)),
    size=st.sampled_from(gallery.PAGE_SIZES),
    page=st.integers(1, 5000),
)
def test_any_view_round_trips(
    labels, configs, splits, severities, patient, differs, sort, size, page
):
    f = Filter(
        configs=tuple(configs),
        splits=tuple(splits),
        labels=tuple(labels),
        severities=tuple(severities),
        patient=patient,
        differs_from_original=differs,
    )
    state = BrowseState(f, sort, size, page)
    assert BrowseState.from_params(state.to_params()) == state


@pytest.mark.parametrize(
    "value, expected",
    [
        ("degraded:00012345", ("degraded", "00012345")),
        ("pristine: 0001 ", ("pristine", "0001")),
        ("00012345", (None, "00012345")),
        ("weird:00012345", (None, "00012345")),
        ("", None),
        (None, None),
    ],
)
def test_parse_cell(value, expected):
    assert gallery.parse_cell(value) == expected


def test_page_count_and_href():
    assert gallery.page_count(0, 48) == 1
    assert gallery.page_count(48, 48) == 1
    assert gallery.page_count(49, 48) == 2
    assert gallery.href("Cell", {}) == "Cell"
    link = gallery.href("Cell", {"cell": "degraded:001", "labels": "LY,MO", "patient": ""})
    assert link == "Cell?cell=degraded%3A001&labels=LY%2CMO"


# --- grid HTML -------------------------------------------------------------------------------


def tile(**changes) -> Tile:
    values = dict(uri="data:image/jpeg;base64,AAAA", label="LY", severity="mild", image_id="001")
    values.update(changes)
    return Tile(**values)


def test_grid_has_one_tile_per_cell_with_code_severity_and_link():
    tiles = [tile(image_id=f"{i:03d}", link=f"Cell?cell=pristine%3A{i:03d}") for i in range(5)]
    out = gallery.grid_html(tiles)
    assert out.count('class="wbc-tile"') == 5
    assert out.count("<img ") == 5
    assert out.count('data-wbc-nav="1"') == 5
    assert 'href="Cell?cell=pristine%3A003"' in out
    assert '<span class="wbc-code">LY</span>' in out
    assert ">mild</span>" in out
    assert "Lymphocyte" in out  # full name in the tooltip


def test_grid_marks_the_current_tile_and_handles_no_tiles():
    out = gallery.grid_html([tile(), tile(image_id="002", current=True)])
    assert out.count("wbc-current") == 2  # the css rule and the one tile
    assert "No cells match" in gallery.grid_html([])
    assert "nothing here" in gallery.grid_html([], empty="nothing here")


def test_grid_escapes_every_text():
    evil = tile(
        label=XSS, severity=XSS, image_id=XSS, note=XSS, config=XSS, link='Cell?x="><script>'
    )
    out = gallery.grid_html([evil])
    assert "<script>" not in out and "<img src=x" not in out
    assert html.escape(XSS) in out
    # every attribute value is quoted and free of raw quotes
    for value in re.findall(r'(?:title|alt|href|data-image-id)="([^"]*)"', out):
        assert "<" not in value and ">" not in value


def test_unlinked_tiles_are_not_anchors():
    out = gallery.grid_html([tile(link=None)])
    assert "<a " not in out and '<div class="wbc-tile"' in out


def test_tiles_from_rows_links_each_row_to_the_cell_page():
    rows = pd.DataFrame(
        {
            "config": ["pristine", "degraded"],
            "image_id": ["001", "002"],
            "label": ["LY", "MO"],
            "severity": ["pristine", "moderate"],
        }
    )
    tiles = gallery.tiles_from_rows(
        rows,
        ["data:a", "data:b"],
        link_params={"labels": "LY,MO", "sort": "class"},
        current="degraded:002",
        notes={"pristine:001": "was MO"},
    )
    assert [t.link for t in tiles] == [
        "Cell?labels=LY%2CMO&sort=class&cell=pristine%3A001",
        "Cell?labels=LY%2CMO&sort=class&cell=degraded%3A002",
    ]
    assert [t.current for t in tiles] == [False, True]
    assert tiles[0].note == "was MO" and tiles[1].note == ""
    with pytest.raises(ValueError):
        gallery.tiles_from_rows(rows, ["data:a"])


def test_class_chips_follow_the_release_order_and_escape():
    out = gallery.class_chips_html({"MO": 3, "SNE": 10, XSS: 1}, selected=["MO"])
    assert out.index("SNE") < out.index("MO")
    assert "<script>" not in out
    assert out.count('class="wbc-chip wbc-off"') == 2  # SNE and the odd label are not chosen


# --- the cell view ---------------------------------------------------------------------------


def test_difference_of_identical_images_is_zero():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 30, 3))
    data = png(rgb)
    diff = gallery.difference(data, data)
    assert diff.identical and diff.mean == 0 and diff.changed == 0 and not diff.note
    assert decode(diff.png).shape == (40, 30, 3)


def test_difference_is_mean_absolute_channel_difference():
    src = np.full((20, 20, 3), 100)
    deg = src.copy()
    deg[:10] += np.array([30, 0, 0])  # top half differs by 30 in red -> 10 on average
    diff = gallery.difference(png(deg), png(src))
    assert diff.max == pytest.approx(10)
    assert diff.mean == pytest.approx(5)
    assert diff.scale == pytest.approx(10)  # the 99.5th percentile is 10, above the floor of 8
    pixels = decode(diff.png)
    assert pixels[0, 0].tolist() != pixels[19, 19].tolist()
    assert pixels[19, 19].tolist() == [0, 0, 4]  # zero difference is the darkest colour


def test_difference_resizes_a_mismatched_source_and_says_so():
    deg = png(np.full((30, 40, 3), 120))
    src = png(np.full((60, 80, 3), 120))
    diff = gallery.difference(deg, src)
    assert "80x60" in diff.note and "40x30" in diff.note and "resized" in diff.note
    assert decode(diff.png).shape == (30, 40, 3)
    assert diff.identical


def test_difference_of_real_jpeg_noise_is_visible():
    rng = np.random.default_rng(1)
    src = rng.integers(60, 200, (64, 64, 3))
    deg = np.clip(src + rng.normal(0, 12, src.shape), 0, 255)
    diff = gallery.difference(jpeg(deg), jpeg(src))
    assert 5 < diff.mean < 20 and diff.changed > 0.3
    assert "0 → " in gallery.difference_legend_html(diff)


def test_difference_of_undecodable_bytes_raises():
    with pytest.raises(Exception):  # noqa: B017 (PIL raises UnidentifiedImageError, an OSError)
        gallery.difference(b"not a jpeg", png(np.zeros((4, 4, 3))))


def test_difference_heatmap_has_the_image_shape():
    data = png(np.zeros((12, 7, 3)))
    fig = gallery.difference_heatmap(data, data)
    assert np.asarray(fig.data[0].z).shape == (12, 7)


def test_false_colour_runs_dark_to_bright():
    values = np.array([[0.0, 5.0, 10.0, 20.0]])
    rgb = gallery.false_colour(values, vmax=10)
    brightness = rgb.astype(int).sum(axis=2)[0]
    assert brightness[0] < brightness[1] < brightness[2] == brightness[3]
    assert gallery.colour_bar_css().startswith("linear-gradient(to right, rgb(0,0,4)")


def test_compare_html_scales_fits_and_escapes():
    figs = [
        gallery.Figure("data:image/png;base64,AA", XSS, 368, 370),
        gallery.Figure("data:image/png;base64,BB", "source", 368, 370, kind="difference"),
    ]
    fit = gallery.compare_html(figs, 0)
    assert "width:100%" in fit and "max-width:736px" in fit and "<script>" not in fit
    zoomed = gallery.compare_html(figs, 2)
    assert "width:736px;height:740px" in zoomed and "pixelated" in zoomed
    assert "pixelated" not in gallery.compare_html(figs, 1.5)


def test_image_size():
    assert gallery.image_size(jpeg(np.zeros((10, 20, 3)))) == (20, 10)
    assert gallery.image_size(b"junk") is None
    assert gallery.image_size(None) is None
    assert gallery.image_size(images.placeholder(32)) == (32, 32)


def test_metadata_and_params_tables_are_text():
    table = gallery.metadata_table(
        {"image_id": "001", "patient_hash": None, "row": 5, "img_offset": float("nan")},
        {"x": 1},
    )
    assert table.to_dict("list") == {  # where the bytes lie (row, img_offset) is not shown
        "field": ["image_id", "patient_hash", "x"],
        "value": ["001", "", "1"],
    }
    params = gallery.params_table({"noise_sigma": "3.5", "motion_angle": None})
    assert params["value"].tolist() == ["3.5", ""]


# --- patients and the atlas ------------------------------------------------------------------


def rows_frame(labels, configs=None, patients=None) -> pd.DataFrame:
    n = len(labels)
    return pd.DataFrame(
        {
            "label": labels,
            "config": configs or ["pristine"] * n,
            "patient_hash": patients or [f"p{i % 3}" for i in range(n)],
            "image_id": [f"{i:04d}" for i in range(n)],
        }
    )


def test_class_counts_table_and_figure():
    rows = rows_frame(
        ["MO", "SNE", "SNE", "ZZ"], configs=["pristine", "pristine", "degraded", "degraded"]
    )
    table = gallery.class_counts(rows)
    assert table["class"].tolist() == ["SNE", "MO", "ZZ"]  # release order, unknown last
    assert table["cell type"].tolist() == ["Segmented neutrophil", "Monocyte", "unknown class"]
    assert table[["pristine", "degraded", "total"]].values.tolist() == [
        [1, 1, 2],
        [1, 0, 1],
        [0, 1, 1],
    ]
    fig = gallery.class_counts_figure(table)
    assert {trace.name for trace in fig.data} == {"pristine", "degraded"}
    assert gallery.class_counts(rows.iloc[0:0]).empty


def test_atlas_examples_spread_over_patients_and_are_seeded():
    rows = rows_frame(["LY"] * 30, patients=["a"] * 20 + ["b"] * 8 + ["c"] * 2)
    picked = gallery.atlas_examples(rows, 6, seed=1)
    assert len(picked) == 6
    assert picked["patient_hash"].value_counts().to_dict() == {"a": 2, "b": 2, "c": 2}
    assert picked.equals(gallery.atlas_examples(rows, 6, seed=1))
    assert not picked.equals(gallery.atlas_examples(rows, 6, seed=2))
    assert len(gallery.atlas_examples(rows, 100)) == 30
    assert gallery.atlas_examples(rows.iloc[0:0], 5).empty
    assert gallery.atlas_examples(rows, 0).empty


def test_difference_map_is_a_palette_png_within_one_step_of_the_colour_map():
    rng = np.random.default_rng(3)
    src = rng.integers(0, 256, (50, 60, 3))
    deg = np.clip(src + rng.normal(0, 20, src.shape), 0, 255).astype(int)
    diff = gallery.difference(png(deg), png(src))
    with Image.open(io.BytesIO(diff.png)) as im:
        assert im.mode == "P"  # one byte a pixel
    exact = np.abs(deg.astype(np.int16) - src.astype(np.int16)).mean(axis=2)
    want = gallery.false_colour(exact, diff.scale).astype(int)
    got = decode(diff.png).astype(int)
    step = np.abs(np.diff(gallery.false_colour(np.arange(256.0), 255.0).astype(int), axis=0))
    assert np.abs(got - want).max() <= step.max()
