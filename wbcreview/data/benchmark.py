"""`python -m wbcreview bench`: medians of our paths beside naive baselines, in one run.

Not a test: machines here are shared and noisy, so the figures are medians of repeated
runs and each is printed beside a baseline measured in the same process run. Our paths are
measured first and the peak RSS is read before any baseline runs (baselines such as a
DuckDB view over the shards or `datasets.load_dataset` take far more memory).
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from wbcreview import config
from wbcreview.data import catalog, images, query
from wbcreview.data.release import CLASS_CODES

PAGE = 48
TARGETS = {
    "catalog_open_warm_s": ("<=", 0.5),
    "filter_count_ms": ("<=", 20),
    "page_bytes_ms": ("<=", 10),
    "thumbs_48_ms": ("<=", 60),
    "source_lookup_ms": ("<=", 5),
    "peak_rss_mb": ("<=", 500),
}


def _median_ms(fn, repeat: int) -> float:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_root(cells: int) -> Path:
    """The demo copy the benchmark uses for `cells` cells (built in a child process)."""
    root = config.data_dir() / "bench" / f"demo-{cells}"
    if not (root / "README.md").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        print(f"building a demo copy of {cells} cells in {root} (once)", file=sys.stderr)
        # A child process, so the build's memory does not count in our peak RSS.
        subprocess.run(
            [sys.executable, "-m", "wbcreview", "demo", "--out", str(root), "--cells", str(cells)],
            check=True,
        )
    return root


def run(root: Path, repeat: int = 7, log=print) -> dict:
    """Measure everything on the copy at `root`; return the result dict (see README)."""
    rng = random.Random(0)
    result: dict = {}

    # Catalog: cold is a full build (the persisted file removed first), warm a reopen.
    cold = []
    for _ in range(max(1, min(repeat, 3))):
        catalog.remove(root)
        started = time.perf_counter()
        catalog.open_catalog(root).close()
        cold.append(time.perf_counter() - started)
    result["catalog_open_cold_s"] = statistics.median(cold)
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        catalog.open_catalog(root).close()
        warm.append(time.perf_counter() - started)
    result["catalog_open_warm_s"] = statistics.median(warm)
    log(
        f"catalog open: cold {result['catalog_open_cold_s']:.2f} s, warm {result['catalog_open_warm_s']:.3f} s"
    )

    cat = catalog.open_catalog(root)
    cur = cat.cursor()
    result["cells"] = cur.execute(
        "SELECT count(*) FROM cells WHERE config = 'pristine'"
    ).fetchone()[0]
    result["rows"] = cur.execute("SELECT count(*) FROM cells").fetchone()[0]
    filters = [
        query.Filter(labels=tuple(rng.sample(CLASS_CODES, 2)), severities=(sev,))
        for sev in ("mild", "moderate", "extreme", "pristine")
        for _ in range(3)
    ]
    result["filter_count_ms"] = _median_ms(
        lambda i: query.count(cur, filters[i % len(filters)]), repeat
    )
    total = query.count(cur, query.Filter(configs=("degraded",)))
    offsets = [rng.randrange(0, max(1, total - PAGE)) for _ in range(repeat)]
    page_filter = query.Filter(configs=("degraded",))
    result["page_meta_ms"] = _median_ms(
        lambda i: query.page(cur, page_filter, "image id", PAGE, offsets[i]), repeat
    )

    all_ids = [
        r[0] for r in cur.execute("SELECT image_id FROM cells WHERE config = 'degraded'").fetchall()
    ]
    id_sets = [rng.sample(all_ids, PAGE) for _ in range(repeat)]
    paths = cat.shard_paths()
    reader = images.ImageReader()

    def requests_for(ids):
        return [
            images.ImageRequest(paths[sid], row, off, length)
            for sid, row, off, length in cat.locate(ids, "degraded")
        ]

    def ours_bytes(i):
        data = reader.read(requests_for(id_sets[i]))
        assert len(data) == PAGE and all(data)

    result["page_bytes_ms"] = _median_ms(ours_bytes, repeat)
    located = cur.execute(
        "SELECT count(*) FILTER (img_offset IS NOT NULL) * 1.0 / count(*) FROM cells"
    ).fetchone()[0]
    result["located_share"] = round(float(located), 4)

    page_jpegs = [reader.read(requests_for(ids)) for ids in id_sets]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result["thumbs_48_ms"] = _median_ms(
            lambda i: images.thumbnails(page_jpegs[i], workers=2), repeat
        )
    sources = rng.sample(all_ids, repeat)
    result["source_lookup_ms"] = _median_ms(lambda i: query.source_of(cur, sources[i]), repeat)
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    log(f"ours done; peak RSS {result['peak_rss_mb']} MB")
    reader.close()

    # Baselines, after our peak RSS was read.
    result.update(
        _baselines(
            root, cur, filters, page_filter, offsets, id_sets, page_jpegs, sources, repeat, log
        )
    )
    cat.close()
    return result


def _baselines(
    root, cur, filters, page_filter, offsets, id_sets, page_jpegs, sources, repeat, log
) -> dict:
    import duckdb
    from PIL import Image

    out = {}
    con = duckdb.connect()
    files = {
        cfg: sorted(str(p) for p in (root / cfg).glob("*.parquet"))
        for cfg in ("pristine", "degraded")
    }
    con.execute(f"CREATE VIEW degraded AS SELECT * FROM read_parquet({files['degraded']!r})")
    con.execute(
        f"CREATE VIEW rows AS SELECT 'pristine' AS config, * FROM read_parquet({files['pristine']!r}) "
        f"UNION ALL SELECT 'degraded' AS config, * FROM read_parquet({files['degraded']!r})"
    )

    def naive_count(i):
        f = filters[i % len(filters)]
        con.execute(
            "SELECT count(*) FROM rows WHERE list_contains(?, label) AND list_contains(?, severity)",
            [list(f.labels), list(f.severities)],
        ).fetchone()

    out["naive_filter_count_ms"] = _median_ms(naive_count, repeat)
    out["naive_page_meta_ms"] = _median_ms(
        lambda i: con.execute(
            "SELECT image_id, label, severity, patient_hash FROM degraded ORDER BY image_id LIMIT ? OFFSET ?",
            [PAGE, offsets[i]],
        ).fetchall(),
        repeat,
    )
    out["naive_page_bytes_ms"] = _median_ms(
        lambda i: con.execute(
            "SELECT image.bytes FROM degraded WHERE list_contains(?, image_id)", [id_sets[i]]
        ).fetchall(),
        repeat,
    )
    log(f"naive page bytes {out['naive_page_bytes_ms']:.0f} ms")

    def naive_thumbs(i):
        for data in page_jpegs[i]:
            with Image.open(__import__("io").BytesIO(data)) as im:
                im.thumbnail((128, 128))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["naive_thumbs_48_ms"] = _median_ms(naive_thumbs, repeat)
    con.close()

    # datasets: load the split that holds each source, then .filter for its id.
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    cache = config.data_dir() / "bench" / "hf-cache"
    found = []

    def ds_lookup(i):
        src_id, split = cur.execute(
            "SELECT cell_id, split FROM cells WHERE config = 'degraded' AND image_id = ?",
            [sources[i]],
        ).fetchone()
        ds = datasets.load_dataset(str(root), "pristine", split=split, cache_dir=str(cache))
        hit = ds.filter(lambda x: x == src_id, input_columns="image_id", load_from_cache_file=False)
        found.append(len(hit))

    ds_lookup(0)  # first load builds datasets' arrow cache: not what we compare against
    out["datasets_filter_ms"] = _median_ms(ds_lookup, max(1, min(repeat, 5)))
    if any(n != 1 for n in found):
        raise RuntimeError("datasets baseline did not find exactly one source row")
    log(f"datasets load_dataset + filter {out['datasets_filter_ms']:.0f} ms")
    return out


ROWS = [
    ("catalog open, cold (s)", "catalog_open_cold_s", None),
    ("catalog open, warm (s)", "catalog_open_warm_s", None),
    ("filter + count (ms)", "filter_count_ms", "naive_filter_count_ms"),
    ("48-row metadata page (ms)", "page_meta_ms", "naive_page_meta_ms"),
    ("bytes of a 48-image page (ms)", "page_bytes_ms", "naive_page_bytes_ms"),
    ("48 thumbnails decoded (ms)", "thumbs_48_ms", "naive_thumbs_48_ms"),
    ("pristine source lookup (ms)", "source_lookup_ms", "datasets_filter_ms"),
    ("peak RSS (MB)", "peak_rss_mb", None),
]


def format_table(result: dict) -> str:
    """The result as a Markdown table: measure, ours, baseline, ratio, target."""
    lines = [
        f"{result['cells']:,} cells ({result['rows']:,} rows), {result.get('located_share', 0):.0%} "
        "of images located by offset",
        "",
        "| measure | ours (median) | naive baseline | speed-up | target |",
        "|---|---|---|---|---|",
    ]
    for label, key, base in ROWS:
        ours = result[key]
        baseline = result.get(base) if base else None
        ratio = f"{baseline / ours:,.0f}x" if baseline and ours else ""
        target = TARGETS.get(key)
        verdict = ""
        if target:
            ok = ours <= target[1]
            verdict = f"{target[0]} {target[1]} {'met' if ok else 'MISSED'}"
        if key == "page_bytes_ms" and baseline:
            verdict += f"; >= 50x {'met' if baseline / ours >= 50 else 'MISSED'}"
        lines.append(
            f"| {label} | {ours:,.3g} | {'' if baseline is None else f'{baseline:,.4g}'} | {ratio} | {verdict} |"
        )
    return "\n".join(lines)


def main(args) -> int:
    """CLI entry: build or reuse the copy, run, print a table or JSON."""
    root = Path(args.data) if args.data else bench_root(args.cells)
    log = (
        (lambda *a: print(*a, file=sys.stderr))
        if args.json
        else (lambda *a: print(*a, file=sys.stderr))
    )
    result = run(root, repeat=max(3, args.repeat), log=log)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0
