"""Image features and the built-in baseline: features of synthetic cells, the disk cache,
out-of-fold probabilities grouped by patient."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from wbcreview.data.catalog import open_catalog
from wbcreview.data.release import CLASS_CODES
from wbcreview.triage import baseline, features, predictions

NAMES = list(features.FEATURE_NAMES)
BACKGROUND = (240, 226, 210)
NUCLEUS = (90, 40, 140)
CYTOPLASM = (215, 195, 215)


def cell_jpeg(lobes: int, radius: int = 20, size: int = 368) -> bytes:
    """A cream field with one pale cell and `lobes` separate dark-purple nucleus discs."""
    img = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(img)
    c = size // 2
    draw.ellipse([c - 80, c - 80, c + 80, c + 80], fill=CYTOPLASM)
    angles = np.linspace(0, 2 * np.pi, lobes, endpoint=False)
    spread = 0 if lobes == 1 else 42
    for a in angles:
        x, y = c + spread * np.cos(a), c + spread * np.sin(a)
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=NUCLEUS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def feature(vector: np.ndarray, name: str) -> float:
    return float(vector[NAMES.index(name)])


# --- one image -------------------------------------------------------------------------------


def test_feature_vector_has_a_name_per_value_and_is_deterministic():
    data = cell_jpeg(3)
    first, second = features.features_of_bytes(data), features.features_of_bytes(data)
    assert first.shape == (len(NAMES),) and len(set(NAMES)) == len(NAMES)
    assert not np.isnan(first).any()
    np.testing.assert_array_equal(first, second)
    assert feature(first, "decoded") == 1.0


def test_lobes_are_counted_as_separate_nucleus_parts():
    one, three = cell_jpeg(1, radius=26), cell_jpeg(3, radius=16)
    f1, f3 = features.features_of_bytes(one), features.features_of_bytes(three)
    assert feature(f1, "nucleus_lobes") == 1
    assert feature(f3, "nucleus_lobes") == 3
    assert feature(f3, "nucleus_parts") == 3


def test_a_bigger_nucleus_has_a_bigger_share():
    small = features.features_of_bytes(cell_jpeg(1, radius=14))
    large = features.features_of_bytes(cell_jpeg(1, radius=34))
    assert feature(large, "nucleus_share") > 2 * feature(small, "nucleus_share")
    # The nucleus is dark purple: low lightness, blue over green (Lab b < 0).
    assert feature(large, "nucleus_L_mean") < 50
    assert feature(large, "nucleus_b_mean") < 0


def test_real_pbc_images_give_finite_features(request):
    folder = request.config.rootpath.parent / "shared" / "data" / "pbc_sample"
    files = sorted(folder.glob("*/*.jpg"))[::60]
    if not files:
        pytest.skip("PBC sample not present")
    rows = np.stack([features.features_of_bytes(f.read_bytes()) for f in files])
    assert np.isfinite(rows).all()


@pytest.mark.parametrize("data", [None, b"", b"not a jpeg", cell_jpeg(1)[:200]])
def test_undecodable_images_give_nan_and_decoded_zero(data):
    vector = features.features_of_bytes(data)
    assert feature(vector, "decoded") == 0.0
    assert np.isnan(vector[:-1]).all()


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_fuzzed_bytes_never_raise(data):
    vector = features.features_of_bytes(data)
    assert vector.shape == (len(NAMES),)


def test_a_flat_grey_image_does_not_break_the_nucleus_search():
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(buf, format="JPEG")
    vector = features.features_of_bytes(buf.getvalue())
    assert np.isfinite(vector).all()


# --- a copy ----------------------------------------------------------------------------------


def test_features_of_a_copy_are_cached_on_disk(demo_copy, monkeypatch):
    calls = []
    with open_catalog(demo_copy) as cat:
        first = features.cached_features(cat, progress=lambda d, t, m: calls.append((d, t)))
        total = cat.cursor().execute("SELECT count(*) FROM cells").fetchone()[0]
        assert len(first) == total
        assert calls[-1] == (total, total)
        assert features.cache_path(cat).is_file()
        assert list(first.columns) == ["config", "image_id", "cell_id", *NAMES]

        def fail(*a, **k):
            raise AssertionError("recomputed although cached")

        with monkeypatch.context() as patched:
            patched.setattr(features, "compute", fail)
            again = features.cached_features(cat)
        assert again.equals(first)
    # A changed shard changes the key: the old cache is not used.
    shard = next(demo_copy.glob("pristine/*.parquet"))
    stat = shard.stat()
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with open_catalog(demo_copy) as cat:
        assert not features.cache_path(cat).is_file()
    features.remove_cache(demo_copy)
    assert not list(features.features_dir().glob(f"{demo_copy.name}-*"))


def few_rows(monkeypatch, n: int = 300, batch: int = 64) -> None:
    """Compute features over the first `n` rows in batches of `batch`: five batches cover
    what the whole copy would (several batches in flight, the order of their answers), in a
    fraction of the time."""
    every = features._rows
    monkeypatch.setattr(features, "_rows", lambda cat: every(cat).iloc[:n])
    monkeypatch.setattr(features, "BATCH", batch)
    monkeypatch.setattr(features, "PARALLEL_MIN", 10)


def test_parallel_workers_give_the_same_features(demo_copy, monkeypatch):
    few_rows(monkeypatch)
    with open_catalog(demo_copy) as cat:
        from wbcreview.data.images import ImageReader

        with ImageReader() as reader:
            serial = features.compute(cat, reader, workers=1)
            parallel = features.compute(cat, reader, workers=2)
    assert len(serial) == 300
    assert serial.equals(parallel)


def test_workers_that_cannot_start_fall_back_to_this_process(demo_copy, monkeypatch, tmp_path):
    import sys

    broken = tmp_path / "broken_main.py"
    broken.write_text("raise RuntimeError('a main module that cannot be imported again')\n")
    # How a spawned worker finds the main module to import again (multiprocessing.spawn).
    here = []
    real = features.features_of_bytes
    few_rows(monkeypatch)
    with open_catalog(demo_copy) as cat:
        from wbcreview.data.images import ImageReader

        with ImageReader() as reader:
            with monkeypatch.context() as patched:
                main = sys.modules["__main__"]
                patched.setattr(main, "__spec__", None, raising=False)
                patched.setattr(main, "__file__", str(broken), raising=False)
                patched.setattr(features, "features_of_bytes", lambda b: here.append(1) or real(b))
                parallel = features.compute(cat, reader, workers=2)
            serial = features.compute(cat, reader, workers=1)
    assert here, "the batches were not computed in this process"
    assert serial.equals(parallel)


# --- out-of-fold ---------------------------------------------------------------------------


def test_out_of_fold_keeps_groups_apart_and_handles_rare_classes(monkeypatch):
    rng = np.random.default_rng(0)
    n = 240
    y = np.array(["SNE"] * 150 + ["LY"] * 80 + ["PC"] * 9 + ["PLY"] * 1, dtype=object)
    patient = np.arange(n) % 12
    x = rng.normal(size=(n, 5)) + 3 * np.array([CLASS_CODES.index(c) for c in y])[:, None]
    x = np.column_stack([x, patient])  # the spy reads each row's patient from the last column
    groups = np.array([f"p{i}" for i in patient], dtype=object)
    seen = []
    real = baseline._fit_predict

    def spy(x_train, y_train, x_test, seed):
        seen.append((set(x_train[:, -1]), set(x_test[:, -1])))
        return real(x_train, y_train, x_test, seed)

    monkeypatch.setattr(baseline, "_fit_predict", spy)
    probs, used = baseline.out_of_fold(x, y, groups, folds=5, seed=0)
    assert used == 5 and len(seen) == 5
    for train_patients, test_patients in seen:
        assert not train_patients & test_patients
    assert set().union(*(test for _, test in seen)) == set(patient)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[:, [CLASS_CODES.index(c) for c in ("MO", "BL")]] == 0).all()
    predicted = np.asarray(CLASS_CODES, dtype=object)[probs.argmax(1)]
    assert (predicted[:230] == y[:230]).mean() > 0.9


def test_out_of_fold_needs_two_groups():
    with pytest.raises(baseline.BaselineError, match="two groups"):
        baseline.out_of_fold(np.zeros((4, 2)), np.array(["SNE", "LY"] * 2), np.array(["a"] * 4))


def test_baseline_is_stored_for_every_row_and_beats_chance(demo_copy):
    with open_catalog(demo_copy) as cat:
        calls = []
        result = baseline.run_baseline(cat, progress=lambda d, t, m: calls.append((d, t, m)))
        rows = cat.cursor().execute("SELECT count(*) FROM cells").fetchone()[0]
        pairs = {
            f"{c}/{s}"
            for c, s in cat.cursor().execute("SELECT DISTINCT config, split FROM cells").fetchall()
        }
    assert result.info.name == "baseline" and result.rows == rows
    assert result.grouped_by == "patient" and result.folds == 5
    assert set(result.info.covers) == pairs
    assert result.macro_f1 > 0.6  # painted cells: their classes differ visibly
    assert calls[-1][0] == calls[-1][1] and "stored" in calls[-1][2]
    assert [c[0] / c[1] for c in calls] == sorted(c[0] / c[1] for c in calls)
    stored = predictions.load_predictions(demo_copy, "baseline")
    assert len(stored) == rows and stored["image_id"].is_unique
    np.testing.assert_allclose(stored[list(CLASS_CODES)].sum(axis=1), 1.0)
    assert "grouped by patient" in result.info.source
