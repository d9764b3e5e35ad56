"""The unusable-image finder: planted blur, darkness and overexposure; nucleated cells in a
crop; robust scores; queues with the suggested removal; the CLI."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from wbcreview.cli import main
from wbcreview.data import catalog
from wbcreview.review.store import Reviewer, Store
from wbcreview.triage import quality, signatures

pytest_plugins = ["tests.finder_fixtures"]
ADMIN = Reviewer("Ada", "Core", "admin")
EXPECTED = {"blurred": "blurry", "darkened": "dark", "overexposed": "light"}


@pytest.fixture(scope="module")
def scored(planted):
    root, truth = planted
    with catalog.open_catalog(root) as cat:
        table, found = quality.unusable(cat, workers=1)
    return table, found, truth


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _crop(nuclei: list[tuple[int, int, int]]) -> bytes:
    """A 360 px pink crop with dark-purple nuclei (x, y, radius)."""
    im = Image.new("RGB", (360, 360), (236, 214, 214))
    draw = ImageDraw.Draw(im)
    for x, y, r in nuclei:
        draw.ellipse((x - r - 25, y - r - 25, x + r + 25, y + r + 25), fill=(214, 190, 220))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(70, 30, 120))
    return _jpeg(im)


def test_every_planted_fault_is_flagged_by_its_own_check(scored):
    _, found, truth = scored
    for cell, how in truth.unusable:
        checks = set(found.loc[found["cell_id"] == cell, "check"])
        assert EXPECTED[how] in checks, (cell, how, checks)


def test_untouched_real_cells_are_not_flagged_blurry_dark_or_light(scored):
    _, found, truth = scored
    planted = {c for c, _ in truth.unusable}
    flagged = set(found.loc[found["check"].isin(EXPECTED.values()), "cell_id"])
    assert flagged - planted == set()


def test_issues_are_ranked_worst_first_with_a_score_and_threshold(scored):
    _, found, _ = scored
    assert list(found.columns) == list(quality.ISSUE_COLUMNS)
    assert found["severity"].is_monotonic_decreasing
    assert (found["score"] >= found["threshold"]).all()


def test_a_second_nucleated_cell_in_the_crop_is_flagged_multi_cell():
    sig = signatures.signatures_of(
        [_crop([(180, 180, 45)]), _crop([(130, 180, 45), (290, 180, 40)])]
    )
    frame = pd.DataFrame({"cell_id": ["one", "two"], "image_id": ["one", "two"]})
    for i, name in enumerate(signatures.QUALITY_COLUMNS):
        frame[name] = sig["quality"][:, i]
    frame["decoded"] = sig["decoded"]
    table = quality.scores(frame)
    found = quality.issues(table, ["multi_cell", "mostly_background"])
    assert set(found["cell_id"]) == {"two"}
    assert found["reason"].tolist() == ["multi-cell"]


def test_a_crop_without_a_nucleus_is_mostly_background():
    empty = _jpeg(Image.new("RGB", (360, 360), (236, 214, 214)))
    sig = signatures.signatures_of([empty, _crop([(180, 180, 45)])])
    assert sig["quality"][0, signatures.QUALITY_COLUMNS.index("nucleus_share")] == 0
    assert sig["quality"][1, signatures.QUALITY_COLUMNS.index("nucleus_share")] > 0.03


def test_undecodable_bytes_are_flagged_and_scored_nowhere_else():
    sig = signatures.signatures_of([b"not a jpeg", _crop([(180, 180, 45)])])
    frame = pd.DataFrame({"cell_id": ["bad", "ok"], "image_id": ["bad", "ok"]})
    for i, name in enumerate(signatures.QUALITY_COLUMNS):
        frame[name] = sig["quality"][:, i]
    frame["decoded"] = sig["decoded"]
    found = quality.issues(quality.scores(frame))
    assert found["cell_id"].tolist() == ["bad"]
    assert found["check"].tolist() == ["undecodable"]


def test_robust_z_ignores_a_few_outliers():
    values = np.r_[np.random.default_rng(0).normal(10, 1, 200), [100.0, 200.0]]
    z = quality.robust_z(values)
    assert abs(np.median(z[:200])) < 0.2
    assert z[-1] > 50


def test_an_unknown_check_is_refused(scored):
    table, _, _ = scored
    with pytest.raises(quality.QualityError, match="unknown check"):
        quality.issues(table, ["fuzzy"])


def test_the_worst_images_become_a_queue_that_suggests_removal(scored, tmp_path):
    _, found, truth = scored
    with Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as store:
        queue_id = quality.make_queue(store, ADMIN, found, 4)
        cells = store.queue_cells(queue_id)
        assert cells == quality.per_cell(found)["cell_id"].head(4).tolist()
        suggested = store.queue(queue_id).definition["suggested"]
        assert set(suggested) == set(cells)
        for cell in cells:
            assert suggested[cell]["action"] == "remove"
            worst = found[found["cell_id"] == cell].iloc[0]
            assert suggested[cell]["reason"] == quality.CHECKS[worst["check"]].reason


def test_find_unusable_prints_and_writes_the_flags(planted, tmp_path, capsys):
    root, truth = planted
    out = tmp_path / "flags.csv"
    assert main(["find-unusable", "--data", str(root), "--out", str(out), "--check", "blurry", "dark", "light"]) == 0  # fmt: skip
    assert "images flagged" in capsys.readouterr().out
    frame = pd.read_csv(out, dtype=str)
    assert set(frame["cell_id"]) == {c for c, _ in truth.unusable}
