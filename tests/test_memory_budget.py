"""The server's image caches, full, fit issue 19's memory target (peak <= 450 MB at 100,000
cells, levelled off before the last 200 actions of bench/soak.py)."""

from __future__ import annotations

from wbcreview import config
from wbcreview.ui import review_loop

# Sizes per entry measured in the server during bench/soak.py on the 100,000-cell demo copy
# (2026-12-07): a 128 px thumbnail, one review-loop cell's full-size images as data URIs.
THUMB_BYTES = 3_100
CELL_FIGURES_BYTES = 70_000
# The server without these caches: ~360 MB after opening Browse and Review, DuckDB's buffers
# at most the catalog file (37 MB at 100,000 cells): what is left of 450 MB, with a margin.
IMAGE_CACHE_BUDGET = 48 * 1024 * 1024
# Pages the soak has turned by its last 200 actions (500 of 1,200 actions are page turns).
PAGES_BEFORE_THE_LAST_200 = 1_000 * 500 // 1_200


def test_the_image_caches_at_their_bounds_fit_the_memory_budget():
    thumbs = config.get_int("WBCREVIEW_THUMB_CACHE_MB") * 1024 * 1024
    figures = review_loop.cell_figures.cache.maxsize * CELL_FIGURES_BYTES
    assert thumbs + figures <= IMAGE_CACHE_BUDGET  # Browse keeps no grid HTML (issue 13)


def test_the_thumbnail_cache_is_full_before_the_soak_should_level_off():
    thumbs = config.get_int("WBCREVIEW_THUMB_CACHE_MB") * 1024 * 1024
    pages_to_fill = thumbs / (THUMB_BYTES * 48)
    assert pages_to_fill < PAGES_BEFORE_THE_LAST_200 * 0.8
