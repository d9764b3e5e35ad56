"""Queries on the catalog: filters, pages in every sort, positions, sources, locations."""

from __future__ import annotations

import pytest

from wbcreview.data import query
from wbcreview.data.catalog import open_catalog

ORDER_BY = {
    "image id": "image_id, config",
    "class": "list_position(['SNE','LY','MO','BL','EO','MY','BA','BNE','VLY','MMY','PMY','PC','PLY'], label), image_id, config",
    "patient": "patient_hash, image_id, config",
    "severity": "CASE severity WHEN 'pristine' THEN 0 WHEN 'mild' THEN 1 WHEN 'moderate' THEN 2 ELSE 3 END, image_id, config",
}


@pytest.mark.parametrize("sort", list(ORDER_BY))
def test_pages_follow_the_sort_and_cover_every_row(cur, sort):
    f = query.Filter(labels=("SNE", "LY", "PC"), configs=("degraded",))
    sql, params = query.where(f)
    expected = [r[0] + r[1] for r in cur.execute(
        f"SELECT config, image_id FROM cells c WHERE {sql} ORDER BY {ORDER_BY[sort]}", params
    ).fetchall()]  # fmt: skip
    got = []
    for offset in range(0, len(expected), 24):
        page = query.page(cur, f, sort, 24, offset)
        got += list(page["config"] + page["image_id"])
    assert got == expected
    assert query.count(cur, f) == len(expected)


def test_position_matches_the_page(cur):
    f = query.Filter(configs=("pristine",), splits=("phase2_train",))
    page = query.page(cur, f, "class", 10, 30)
    for i, row in enumerate(page.itertuples()):
        assert query.position(cur, f, "class", row.config, row.image_id) == (
            30 + i,
            query.count(cur, f),
        )
    outside = cur.execute(
        "SELECT image_id FROM cells WHERE split = 'phase1_train' LIMIT 1"
    ).fetchone()[0]
    assert query.position(cur, f, "class", "pristine", outside)[0] is None


def test_source_of_a_degraded_image_is_its_pristine_row(cur):
    image_id, original = cur.execute(
        "SELECT image_id, original_image_id FROM cells WHERE config = 'degraded' LIMIT 1"
    ).fetchone()
    source = query.source_of(cur, image_id)
    assert source["config"] == "pristine" and source["image_id"] == original
    assert query.source_of(cur, original)["image_id"] == original
    assert query.source_of(cur, "nope") is None
    rows = query.cell_rows(cur, original)
    assert rows["config"].iloc[0] == "pristine" and image_id in set(rows["image_id"])


def test_facets_ignore_their_own_filter(cur):
    f = query.Filter(labels=("SNE",), configs=("pristine",))
    by_label = query.facet(cur, f, "label")
    assert len(by_label) == 13 and by_label["SNE"] == query.count(cur, f)


def test_filter_survives_url_parameters():
    f = query.Filter(configs=("degraded",), labels=("PC", "PLY"), severities=("extreme",), patient="abc",
                     image_id="0012", differs_from_original=True)  # fmt: skip
    assert query.Filter.from_params(f.to_params()) == f
    assert query.Filter.from_params({"labels": "PC,XYZ", "configs": "nope"}) == query.Filter(
        labels=("PC",)
    )


def test_differs_filter_finds_the_changed_labels(cur):
    n = query.count(cur, query.Filter(differs_from_original=True, configs=("pristine",)))
    changed = cur.execute(
        "SELECT count(*) FROM cells c JOIN original_labels o USING (image_id) "
        "WHERE c.config = 'pristine' AND o.label <> c.label"
    ).fetchone()[0]
    assert n == changed > 0


def test_locate_matches_the_catalog_for_every_row(demo_root):
    with open_catalog(demo_root) as cat:
        rows = (
            cat.cursor()
            .execute(
                "SELECT image_id, config, shard_id, row, img_offset, img_length FROM cells ORDER BY random()"
            )
            .fetchall()
        )
        for config in ("pristine", "degraded"):
            mine = [r for r in rows if r[1] == config]
            assert cat.locate([r[0] for r in mine], config) == [tuple(r[2:]) for r in mine]
            assert cat._locate_sql([r[0] for r in mine[:20]], config) == [
                tuple(r[2:]) for r in mine[:20]
            ]
        assert cat.locate(["00000000x", "99999999"]) == [None, None]


def test_patients_and_batched_original_labels(cur):
    table = query.patients(cur)
    assert table["rows"].sum() == query.count(cur, query.Filter())
    assert table["patient_hash"].is_unique
    changed = cur.execute(
        "SELECT c.image_id, o.label FROM cells c JOIN original_labels o USING (image_id) "
        "WHERE c.config = 'pristine' AND o.label <> c.label"
    ).fetchall()
    assert query.original_labels(cur, [i for i, _ in changed]) == dict(changed)


def test_status_filter_matches_only_the_resolved_cells(cur):
    some = tuple(
        r[0]
        for r in cur.execute(
            "SELECT image_id FROM cells WHERE config = 'pristine' LIMIT 3"
        ).fetchall()
    )
    f = query.Filter(statuses=("agreed",), configs=("pristine",))
    assert query.count(cur, f) == 0  # unresolved: nothing, never everything
    assert query.count(cur, f.replace(status_cells=some)) == 3
    assert query.Filter.from_params(f.to_params()) == f


def test_suspicion_sort_puts_the_most_suspect_cells_first(demo_root):
    import pandas as pd

    from wbcreview.triage import ranking as triage

    with open_catalog(demo_root) as cat:
        cur = cat.cursor()
        f = query.Filter(configs=("pristine",))
        with pytest.raises(query.QueryError, match="no suspect ranking yet"):
            query.page(cur, f, "suspicion")
        cells = [r[0] for r in cur.execute(
            "SELECT image_id FROM cells WHERE config = 'pristine' ORDER BY image_id DESC LIMIT 5"
        ).fetchall()]  # fmt: skip
        ranking = pd.DataFrame(
            {"cell_id": cells, "score": [0.1, 0.2, 0.3, 0.4, 0.5], "rank": [1, 2, 3, 4, 5]}
        )
        triage.register(cur, ranking)
        page = query.page(cur, f, "suspicion", 8, 0)
        assert list(page["image_id"][:5]) == cells
        assert query.position(cur, f, "suspicion", "pristine", cells[2]) == (2, query.count(cur, f))
