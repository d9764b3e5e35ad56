"""The CLI: commands run end to end and turn errors into one line, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets

from wbcreview.cli import main
from wbcreview.data import health

REPO = Path(__file__).resolve().parent.parent


def test_demo_with_too_few_cells_is_one_clear_line(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path / "d"), "--cells", "5"])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    )


def test_unknown_data_folder_is_one_clear_line(tmp_path, capsys):
    code = main(["catalog", "--data", str(tmp_path / "missing")])
    assert code == 1
    assert "does not exist" in capsys.readouterr().err


def test_optimize_output_passes_check_and_loads(demo_root, tmp_path, capsys):
    out = tmp_path / "fast"
    assert (
        main(["optimize", "--data", str(demo_root), "--out", str(out), "--rows-per-group", "50"])
        == 0
    )
    assert health.check(out).ok
    ds = datasets.load_dataset(
        str(out), "degraded", split="phase2_eval", cache_dir=str(tmp_path / "hf")
    )
    assert len(ds) > 0
    assert main(["optimize", "--data", str(demo_root), "--out", str(out)]) == 1
    assert "not an empty folder" in capsys.readouterr().err


def test_bench_json_has_every_documented_key(demo_root, capsys):
    assert main(["bench", "--data", str(demo_root), "--repeat", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in (
        "cells", "catalog_open_cold_s", "catalog_open_warm_s", "filter_count_ms", "page_meta_ms",
        "page_bytes_ms", "naive_page_bytes_ms", "thumbs_48_ms", "source_lookup_ms",
        "datasets_filter_ms", "peak_rss_mb",
    ):  # fmt: skip
        assert isinstance(result[key], int | float), key
    assert result["located_share"] == 1.0


def test_prepare_builds_the_demo_when_nothing_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("WBCREVIEW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WBCREVIEW_DEMO_CELLS", "60")
    assert main(["prepare"]) == 0
    assert (tmp_path / "home" / "demo" / "README.md").is_file()
    assert health.check(tmp_path / "home" / "demo", decode_images=False).ok


def test_module_entry_point_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "wbcreview", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for command in (
        "check",
        "demo",
        "download",
        "optimize",
        "bench",
        "export",
        "apply",
        "import-votes",
    ):
        assert command in out.stdout
