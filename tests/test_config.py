"""Settings: every one is documented in the README; bad values are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wbcreview import config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_readme(setting):
    assert f"`{setting.name}`" in README, f"document {setting.name} in the README's Settings table"


def test_bad_integer_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WBCREVIEW_DEMO_CELLS", "lots")
    with pytest.raises(
        config.SettingError, match="WBCREVIEW_DEMO_CELLS='lots' is not a whole number"
    ):
        config.get_int("WBCREVIEW_DEMO_CELLS")


def test_relative_home_is_taken_from_the_repository(monkeypatch):
    monkeypatch.setenv("WBCREVIEW_HOME", "data")
    assert config.data_dir() == config.REPO_ROOT / "data"
