"""The painted smear cells: sizes, determinism, and a stained look that differs by class."""

from __future__ import annotations

import numpy as np
import pytest

from wbcreview.data.release import CLASS_CODES
from wbcreview.demo.draw import (
    CELL_HEIGHT,
    CELL_WIDTH,
    LOOKS,
    SIZE_JITTER,
    contact_sheet,
    draw_cell,
)


def _pixels(label: str, seed: int = 0) -> np.ndarray:
    return np.asarray(draw_cell(label, np.random.default_rng(seed)), dtype=float)


def test_every_class_has_a_look():
    assert set(LOOKS) == set(CLASS_CODES)


@pytest.mark.parametrize("label", CLASS_CODES)
def test_cell_is_rgb_and_about_368_by_370(label):
    img = draw_cell(label, np.random.default_rng(1))
    assert img.mode == "RGB"
    assert abs(img.width - CELL_WIDTH) <= SIZE_JITTER
    assert abs(img.height - CELL_HEIGHT) <= SIZE_JITTER


def test_explicit_size_is_kept():
    assert draw_cell("LY", np.random.default_rng(0), size=(300, 280)).size == (300, 280)


def test_same_seed_paints_the_same_cell_and_another_seed_another():
    a, b, c = _pixels("MO", 5), _pixels("MO", 5), _pixels("MO", 6)
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_unknown_label_raises_key_error():
    with pytest.raises(KeyError):
        draw_cell("XX", np.random.default_rng(0))


@pytest.mark.parametrize("label", CLASS_CODES)
def test_cell_looks_stained_pale_background_and_purple_nucleus(label):
    px = _pixels(label, 3)
    corner_light = px.reshape(-1, 3).sum(axis=1)
    assert np.median(corner_light) > 500  # mostly pale background and red cells
    dark = px.reshape(-1, 3)[corner_light < 380]
    assert len(dark) > 200, "a dark nucleus (or basophil granules) in the middle"
    r, g, b = dark.mean(axis=0)
    assert b > g and r > g, f"dark pixels should be purple, got {r:.0f},{g:.0f},{b:.0f}"
    h, w = px.shape[:2]
    centre = px[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].reshape(-1, 3).sum(axis=1)
    assert (centre < 380).sum() > 0.8 * len(dark), "the leukocyte sits in the middle"


def test_eosinophil_is_orange_and_plasma_cell_is_deep_blue():
    def share(px, test):
        flat = px.reshape(-1, 3)
        return test(flat[:, 0], flat[:, 1], flat[:, 2]).mean()

    def orange(r, g, b):
        return (r > 200) & (b < 130)

    def blue(r, g, b):
        return (b > r + 50) & (g > r)  # blue, not the purple of a nucleus (r > g)

    assert share(_pixels("EO"), orange) > 10 * share(_pixels("SNE"), orange) + 0.005
    assert share(_pixels("PC"), blue) > 0.01
    assert share(_pixels("SNE"), blue) < 0.002


def test_lymphocyte_is_smaller_than_monocyte():
    def dark(label):
        return np.mean([(_pixels(label, s).sum(axis=2) < 380).sum() for s in range(3)])

    assert dark("LY") < dark("MO")


def test_contact_sheet_arranges_rows():
    images = [[draw_cell(code, np.random.default_rng(0)) for code in ("LY", "MO")]] * 3
    assert contact_sheet(images, cell=50).size == (100, 150)
