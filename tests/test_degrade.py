"""Degradation operations and severity sampling: sizes, strengths, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from wbcreview.data.release import SEVERITIES
from wbcreview.demo import degrade as dg
from wbcreview.demo.draw import draw_cell


@pytest.fixture(scope="module")
def cell() -> Image.Image:
    return draw_cell("MO", np.random.default_rng(0))


def _grey(value: int = 128, size=(120, 100)) -> Image.Image:
    return Image.new("RGB", size, (value, value, value))


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=float)


def test_assign_severities_gives_a_quarter_each_in_seeded_order():
    got = dg.assign_severities(402, np.random.default_rng(1))
    counts = Counter(got)
    assert set(counts) == set(SEVERITIES)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert got == dg.assign_severities(402, np.random.default_rng(1))
    assert got != dg.assign_severities(402, np.random.default_rng(2))


def test_sample_degradation_strength_grows_with_severity():
    rng = np.random.default_rng(0)
    by = {s: [dg.sample_degradation(s, rng) for _ in range(200)] for s in SEVERITIES}
    assert all(d == dg.Degradation("pristine") for d in by["pristine"])
    mild, moderate, extreme = by["mild"], by["moderate"], by["extreme"]
    assert all(2 <= d.noise_sigma <= 5 and 0.3 <= d.blur_sigma <= 0.8 for d in mild)
    assert all(d.motion_length == 0 for d in mild)
    assert all(7 <= d.noise_sigma <= 13 for d in moderate)
    assert all((d.blur_sigma > 1) != (d.motion_length > 1) for d in moderate), (
        "Gaussian or motion blur"
    )
    assert {d.motion_length > 1 for d in moderate} == {True, False}
    assert all(d.noise_sigma >= 18 and d.motion_length >= 13 for d in extreme)
    assert all(max(abs(d.shift_r), abs(d.shift_g), abs(d.shift_b)) >= 20 for d in extreme)
    assert max(abs(d.shift_r) for d in mild) <= 4


def test_unknown_severity_raises_value_error():
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        dg.sample_degradation("severe", np.random.default_rng(0))


def test_as_row_has_every_parameter_column():
    row = dg.sample_degradation("extreme", np.random.default_rng(0)).as_row()
    assert tuple(row) == dg.PARAM_COLUMNS
    assert row["severity"] == "extreme"


@pytest.mark.parametrize("severity", SEVERITIES)
def test_degrade_keeps_the_pixel_size(cell, severity):
    rng = np.random.default_rng(3)
    out = dg.degrade(cell, dg.sample_degradation(severity, rng), rng)
    assert out.size == cell.size and out.mode == "RGB"


def test_pristine_degradation_leaves_pixels_unchanged(cell):
    out = dg.degrade(cell, dg.Degradation("pristine"), np.random.default_rng(0))
    assert out is not cell
    assert np.array_equal(_arr(out), _arr(cell))


def test_degradation_difference_grows_with_severity(cell):
    def diff(severity):
        rng = np.random.default_rng(9)
        out = dg.degrade(cell, dg.sample_degradation(severity, rng), rng)
        return np.abs(_arr(out) - _arr(cell)).mean()

    mild, moderate, extreme = diff("mild"), diff("moderate"), diff("extreme")
    assert 0 < mild < moderate < extreme


def test_degrade_is_deterministic_for_a_seed(cell):
    def run(seed):
        rng = np.random.default_rng(seed)
        return _arr(dg.degrade(cell, dg.sample_degradation("extreme", rng), rng))

    assert np.array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


def test_gaussian_noise_has_the_requested_spread():
    for sigma in (3, 10, 30):
        out = _arr(dg.gaussian_noise(_grey(), sigma, np.random.default_rng(sigma)))
        assert out.std() == pytest.approx(sigma, rel=0.05)
        assert out.mean() == pytest.approx(128, abs=0.3)


def test_gaussian_noise_rejects_a_too_large_sigma():
    with pytest.raises(ValueError, match="too large"):
        dg.gaussian_noise(_grey(), 40, np.random.default_rng(0))


def test_gaussian_blur_softens_edges():
    img = Image.new("RGB", (60, 60), (0, 0, 0))
    img.paste((255, 255, 255), (30, 0, 60, 60))
    out = _arr(dg.gaussian_blur(img, 2.0))
    assert 0 < out[30, 28, 0] < 128 < out[30, 31, 0] < 255
    assert np.array_equal(_arr(dg.gaussian_blur(img, 0)), _arr(img))


def test_motion_blur_smears_along_its_angle_only():
    img = Image.new("RGB", (61, 61), (0, 0, 0))
    img.putpixel((30, 30), (255, 255, 255))
    flat = _arr(dg.motion_blur(img, 9, 0))[..., 0]
    assert np.count_nonzero(flat[30]) == 9 and np.count_nonzero(flat[:, 30]) == 1
    upright = _arr(dg.motion_blur(img, 9, 90))[..., 0]
    assert np.count_nonzero(upright[:, 30]) == 9 and np.count_nonzero(upright[30]) == 1
    diagonal = _arr(dg.motion_blur(img, 9, 45))[..., 0]
    assert diagonal[27, 33] > 0 and diagonal[33, 27] > 0, "along the rising diagonal"
    assert diagonal[27, 27] == diagonal[30, 33] == diagonal[33, 30] == 0
    assert flat.sum() == pytest.approx(255, abs=9), "the kernel preserves brightness"


def test_motion_blur_keeps_size_and_length_one_is_a_copy(cell):
    assert dg.motion_blur(cell, 25, 33).size == cell.size
    assert np.array_equal(_arr(dg.motion_blur(cell, 1, 10)), _arr(cell))


def test_colour_shift_adds_and_clips():
    out = _arr(dg.colour_shift(_grey(250), (10, -20, 0)))
    assert tuple(out[0, 0]) == (255, 230, 250)


def test_colour_jitter_brightness_contrast_and_saturation():
    assert tuple(_arr(dg.colour_jitter(_grey(100), brightness=1.2))[0, 0]) == (120, 120, 120)
    two = Image.new("RGB", (2, 1))
    two.putpixel((0, 0), (100, 100, 100))
    two.putpixel((1, 0), (140, 140, 140))
    stretched = _arr(dg.colour_jitter(two, contrast=2.0))
    assert tuple(stretched[0, :, 0]) == (80, 160)
    red = Image.new("RGB", (4, 4), (200, 50, 50))
    grey = _arr(dg.colour_jitter(red, saturation=0.0))[0, 0]
    assert grey[0] == grey[1] == grey[2]


def test_colour_matrix_is_identity_for_neutral_parameters():
    matrix = dg.colour_matrix((120.0, 80.0, 60.0))
    assert matrix == pytest.approx((1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0))
