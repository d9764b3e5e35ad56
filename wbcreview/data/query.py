"""Questions asked of the catalog: filtered counts, pages of rows, a cell and its source.

A Filter is plain data; `where()` turns it into SQL with parameters (never string-built
from user text). Functions take a DuckDB cursor so each script run or thread uses its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import pandas as pd

from wbcreview.data.images import ImageRequest
from wbcreview.data.release import CLASS_CODES, CONFIGS, SEVERITIES, SPLITS
from wbcreview.errors import WbcreviewError

REVIEW_STATUSES = ("pending", "agreed", "disputed", "adjudicated")


class QueryError(WbcreviewError):
    """A filter or sort that cannot be asked."""


# sort name -> the catalog's precomputed rank column (see catalog.SORT_COLUMNS)
SORTS = {
    "image id": "ord_id",
    "class": "ord_class",
    "patient": "ord_patient",
    "severity": "ord_severity",
    # Most suspect first: needs a ranking registered on the cursor as the view `suspects`
    # (triage.register); cells without a score follow in image-id order.
    "suspicion": "suspicion",
}
SUSPICION_ORDER = "s.rank NULLS LAST, c.ord_id"
PAGE_COLUMNS = (
    "config, split, image_id, label, severity, original_image_id, patient_hash, cell_id, "
    "shard_id, row, img_offset, img_length"
)


@dataclass(frozen=True)
class Filter:
    """Which rows to show. Empty tuples and None mean "any"."""

    configs: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    patient: str | None = None
    image_id: str | None = None  # a prefix of the image id (or of its source's id)
    differs_from_original: bool = False
    # Review statuses (pending, agreed, disputed, adjudicated): the caller resolves them to
    # the cells that have them in `status_cells` (the catalog knows no votes).
    statuses: tuple[str, ...] = ()
    cell_ids: tuple[str, ...] = field(default=(), repr=False)  # restrict to these cells
    status_cells: tuple[str, ...] | None = field(default=None, repr=False)

    def to_params(self) -> dict[str, str]:
        """URL query parameters for this filter (lists comma-separated, defaults left out)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("cell_ids", "status_cells") or value in ((), None, False, ""):
                continue
            out[f.name] = (
                ",".join(value)
                if isinstance(value, tuple)
                else ("1" if value is True else str(value))
            )
        return out

    @classmethod
    def from_params(cls, params) -> Filter:
        """Read a filter back from URL query parameters, dropping values that are not known."""

        def many(name, allowed):
            raw = params.get(name) or ""
            return tuple(v for v in raw.split(",") if v and (allowed is None or v in allowed))

        return cls(
            configs=many("configs", CONFIGS),
            splits=many("splits", SPLITS),
            labels=many("labels", CLASS_CODES),
            severities=many("severities", SEVERITIES),
            patient=(params.get("patient") or None),
            image_id=(params.get("image_id") or None),
            differs_from_original=params.get("differs_from_original") in ("1", "true", "True"),
            statuses=many("statuses", REVIEW_STATUSES),
        )

    def replace(self, **changes) -> Filter:
        """A copy with some fields changed."""
        return Filter(**{**asdict(self), **changes})


def where(f: Filter) -> tuple[str, list]:
    """SQL condition (on table alias c) and parameters for a filter."""
    clauses, params = ["TRUE"], []
    for column, values in (
        ("config", f.configs),
        ("split", f.splits),
        ("label", f.labels),
        ("severity", f.severities),
    ):
        if values:
            clauses.append(f"list_contains(?, c.{column})")
            params.append(list(values))
    if f.patient:
        clauses.append("c.patient_hash = ?")
        params.append(f.patient)
    if f.image_id:
        clauses.append("(starts_with(c.image_id, ?) OR starts_with(c.cell_id, ?))")
        params += [f.image_id.strip(), f.image_id.strip()]
    if f.differs_from_original:
        clauses.append(
            "EXISTS (SELECT 1 FROM original_labels o WHERE o.image_id = c.cell_id "
            "AND o.label IS NOT NULL AND o.label <> c.label)"
        )
    if f.cell_ids:
        clauses.append("list_contains(?, c.cell_id)")
        params.append(list(f.cell_ids))
    if f.statuses:
        # Unresolved statuses match nothing rather than everything.
        clauses.append("list_contains(?, c.cell_id)")
        params.append(list(f.status_cells or ()))
    return " AND ".join(clauses), params


def count(cur, f: Filter) -> int:
    """Number of rows matching the filter."""
    sql, params = where(f)
    return cur.execute(f"SELECT count(*) FROM cells c WHERE {sql}", params).fetchone()[0]


def facet(cur, f: Filter, column: str) -> dict[str, int]:
    """Rows per value of `column` among the rows matching `f` (ignoring `f`'s own filter on it)."""
    name = {"config": "configs", "split": "splits", "label": "labels", "severity": "severities"}
    if column not in name:
        raise QueryError(f"cannot count by {column!r}")
    sql, params = where(f.replace(**{name[column]: ()}))
    rows = cur.execute(
        f"SELECT c.{column}, count(*) FROM cells c WHERE {sql} GROUP BY 1 ORDER BY 1", params
    ).fetchall()
    return dict(rows)


def page(cur, f: Filter, sort: str = "image id", limit: int = 48, offset: int = 0) -> pd.DataFrame:
    """One page of rows matching the filter, in the chosen sort order."""
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}; choose one of {', '.join(SORTS)}")
    sql, params = where(f)
    rank = SORTS[sort]
    if sort == "suspicion":
        _require_suspects(cur)
        result = cur.execute(
            f"SELECT {', '.join('c.' + c.strip() for c in PAGE_COLUMNS.split(','))} FROM cells c "
            f"LEFT JOIN suspects s USING (cell_id) WHERE {sql} ORDER BY {SUSPICION_ORDER} "
            "LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return pd.DataFrame.from_records(
            result.fetchall(), columns=[d[0] for d in result.description]
        )
    # Two steps: a top-N over the integer rank only, then the 48 rows by rank.
    result = cur.execute(
        f"WITH p AS (SELECT c.{rank} AS r FROM cells c WHERE {sql} ORDER BY r LIMIT ? OFFSET ?) "
        f"SELECT {PAGE_COLUMNS} FROM cells c WHERE c.{rank} IN (SELECT r FROM p) ORDER BY c.{rank}",
        [*params, int(limit), int(offset)],
    )
    # from_records is about 3 ms faster than .df() for a 48-row page.
    return pd.DataFrame.from_records(result.fetchall(), columns=[d[0] for d in result.description])


def position(cur, f: Filter, sort: str, config: str, image_id: str) -> tuple[int | None, int]:
    """0-based position of a row in the filtered, sorted list, and the list's length."""
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}")
    row = _rows(cur, "image_id", image_id)
    mine = [r for r in row if r["config"] == config]
    total = count(cur, f)
    if not mine:
        return None, total
    sql, params = where(f)
    rank = SORTS[sort]
    if sort == "suspicion":
        _require_suspects(cur)
        found = cur.execute(
            f"SELECT pos FROM (SELECT c.config, c.image_id, row_number() OVER (ORDER BY "
            f"{SUSPICION_ORDER}) - 1 AS pos FROM cells c LEFT JOIN suspects s USING (cell_id) "
            f"WHERE {sql}) WHERE config = ? AND image_id = ?",
            [*params, config, image_id],
        ).fetchone()
        return (int(found[0]) if found else None), total
    inside, before = cur.execute(
        f"SELECT count(*) FILTER (c.{rank} = ?), count(*) FILTER (c.{rank} < ?) FROM cells c WHERE {sql}",
        [mine[0][rank], mine[0][rank], *params],
    ).fetchone()
    return (int(before) if inside else None), total


_ROW_COLUMNS = PAGE_COLUMNS + ", " + ", ".join(v for v in SORTS.values() if v.startswith("ord_"))


def _require_suspects(cur) -> None:
    try:
        cur.execute("SELECT 1 FROM suspects LIMIT 0")
    except Exception as exc:  # duckdb.CatalogException: no such view
        raise QueryError(
            "no suspect ranking yet: import predictions or run the baseline on the Triage page"
        ) from exc


def _rows(cur, column: str, value: str) -> list[dict]:
    """Rows whose `column` equals `value`, through the catalog's index (a single equality)."""
    result = cur.execute(f"SELECT {_ROW_COLUMNS} FROM cells WHERE {column} = ?", [value])
    names = [d[0] for d in result.description]
    return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("ord_")}


def get_row(cur, config: str, image_id: str) -> dict | None:
    """Every catalog column of one row, or None."""
    rows = [r for r in _rows(cur, "image_id", image_id) if r["config"] == config]
    return _public(rows[0]) if rows else None


def find_row(cur, image_id: str) -> dict | None:
    """The row with this image id (pristine first when both configs have it), or None."""
    rows = sorted(_rows(cur, "image_id", image_id), key=lambda r: r["config"] != "pristine")
    return _public(rows[0]) if rows else None


def source_of(cur, image_id: str) -> dict | None:
    """The pristine source row of a degraded image id (or the row itself if pristine)."""
    rows = sorted(_rows(cur, "image_id", image_id), key=lambda r: r["config"] == "pristine")
    if not rows:
        return None
    sources = [r for r in _rows(cur, "image_id", rows[0]["cell_id"]) if r["config"] == "pristine"]
    return _public(sources[0]) if sources else None


def cell_rows(cur, cell_id: str) -> pd.DataFrame:
    """Every row of one cell: the pristine source and all degraded rows made from it."""
    rows = sorted(
        _rows(cur, "cell_id", cell_id),
        key=lambda r: (r["config"] != "pristine", r["ord_severity"], r["image_id"]),
    )
    return pd.DataFrame(
        [_public(r) for r in rows], columns=[c.strip() for c in PAGE_COLUMNS.split(",")]
    )


def patient_rows(cur, patient_hash: str) -> pd.DataFrame:
    """Every row of one patient, both configs."""
    rows = sorted(_rows(cur, "patient_hash", patient_hash), key=lambda r: r["ord_class"])
    return pd.DataFrame(
        [_public(r) for r in rows], columns=[c.strip() for c in PAGE_COLUMNS.split(",")]
    )


def original_label(cur, cell_id: str) -> str | None:
    """The label of the cell in the original challenge label files, if known."""
    row = cur.execute(
        "SELECT label FROM original_labels WHERE image_id = ? AND label IS NOT NULL LIMIT 1",
        [cell_id],
    ).fetchone()
    return row[0] if row else None


def original_labels(cur, cell_ids: list[str]) -> dict[str, str]:
    """cell_id -> label in the original challenge label files, for the cells that have one."""
    rows = cur.execute(
        "SELECT image_id, any_value(label) FROM original_labels WHERE label IS NOT NULL "
        "AND list_contains(?, image_id) GROUP BY image_id",
        [list(cell_ids)],
    ).fetchall()
    return dict(rows)


def patients(cur, f: Filter | None = None) -> pd.DataFrame:
    """patient_hash, split, rows and cells of every patient (matching `f` if given)."""
    sql, params = where(f or Filter())
    result = cur.execute(
        f"SELECT patient_hash, any_value(split) AS split, count(*) AS rows, "
        f"count(DISTINCT cell_id) AS cells FROM cells c WHERE {sql} GROUP BY patient_hash "
        "ORDER BY patient_hash",
        params,
    )
    return pd.DataFrame.from_records(result.fetchall(), columns=[d[0] for d in result.description])


def degradation_params(cur, image_id: str) -> dict[str, str]:
    """The row of metadata/degradation_params.csv for this image, whatever its columns."""
    frame = cur.execute("SELECT * FROM degradation_params WHERE image_id = ?", [image_id]).df()
    return (
        {} if frame.empty else {k: v for k, v in frame.iloc[0].to_dict().items() if k != "image_id"}
    )


def image_requests(shard_paths: dict[int, str], rows: pd.DataFrame) -> list[ImageRequest]:
    """Image requests for a frame of catalog rows (shard_id, row, img_offset, img_length)."""
    out = []
    for sid, row, offset, length in rows[
        ["shard_id", "row", "img_offset", "img_length"]
    ].itertuples(index=False):
        located = offset is not None and not pd.isna(offset)
        out.append(
            ImageRequest(
                shard_paths[int(sid)],
                int(row),
                int(offset) if located else None,
                int(length) if located else None,
            )
        )
    return out
