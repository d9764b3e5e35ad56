"""bench-finders: the planted faults are made apart from the finders, and scored right."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from wbcreview.triage import finders_bench, plant


def _jpeg() -> bytes:
    arr = np.random.default_rng(1).integers(0, 255, (120, 110, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_the_planting_code_imports_none_of_the_finders():
    source = Path(plant.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    finders = ("signatures", "duplicates", "quality", "similar", "finders_bench")
    assert not [i for i in imported if any(f in i for f in finders)]


def test_near_copies_differ_in_bytes_and_size_as_planned():
    data, rng = _jpeg(), np.random.default_rng(0)
    with Image.open(io.BytesIO(plant.near_copy(data, "resized", rng))) as im:
        assert im.size[0] < 110
    with Image.open(io.BytesIO(plant.near_copy(data, "cropped", rng))) as im:
        assert 96 <= im.size[0] <= 106
    assert plant.near_copy(data, "colour-shifted", rng) != data


def test_duplicates_are_scored_as_unordered_pairs():
    truth = plant.Planted(
        exact=[("a", "b", "same bytes", True)], near=[("c", "d", "resized", False)]
    )
    pairs = pd.DataFrame(
        {
            "cell_a": ["b", "c", "x"],
            "cell_b": ["a", "e", "y"],
            "kind": ["exact", "near", "near"],
            "crosses": ["split,patient", "", ""],
        }
    )
    scored = finders_bench.score_duplicates(pairs, truth)
    assert scored["recall"] == 0.5 and scored["precision"] == round(1 / 3, 4)
    assert scored["exact_recall"] == 1.0 and scored["near_recall"] == 0.0
    assert scored["cross_split_found_as_leakage"] == 1
    assert scored["missed"] == ["c/d"]


def test_unusable_images_are_scored_on_the_planted_checks_only():
    truth = plant.Planted(unusable=[("a", "blurred"), ("b", "darkened")])
    found = pd.DataFrame({"cell_id": ["a", "c", "d"], "check": ["blurry", "light", "multi_cell"]})
    scored = finders_bench.score_unusable(found, truth)
    assert scored["recall"] == 0.5 and scored["precision"] == 0.5
    assert scored["other_flags"] == {"multi_cell": 1}
