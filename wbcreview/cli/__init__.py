"""`python -m wbcreview ...`: thin commands that parse, call the package, and turn its
errors into one clear line on stderr (exit 1 for a bad copy, 2 for bad usage)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from wbcreview import __version__

# Errors of the package that the CLI turns into one line. Filled lazily to keep
# `--help` fast (pandas and pyarrow take a second to import).


def _known_errors() -> tuple[type[Exception], ...]:
    from wbcreview.config import SettingError
    from wbcreview.data.catalog import CatalogError
    from wbcreview.data.labels import LabelFileError
    from wbcreview.data.source import DownloadError, SourceError

    errors: list[type[Exception]] = [
        CatalogError,
        SettingError,
        LabelFileError,
        DownloadError,
        SourceError,
    ]
    for module, name in (
        ("wbcreview.demo.build", "DemoError"),
        ("wbcreview.data.optimize", "OptimizeError"),
        ("wbcreview.curation.apply", "ApplyError"),
        ("wbcreview.files", "UnsafePath"),
        ("wbcreview.curation.export", "DecisionsError"),
        ("wbcreview.review.store", "StoreError"),
        ("wbcreview.review.store", "PermissionDenied"),
    ):
        try:
            errors.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


class Bar:
    """A progress line on stderr: redrawn in place on a terminal, every 10 % otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_decile = -1
        self.last_draw = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        share = done / total if total else 1.0
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and done < total:
                return
            self.last_draw = now
            filled = int(share * 30)
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} {message[:60]:<60}"
            )
            if done >= total:
                self.stream.write("\n")
        else:
            decile = int(share * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.stream.write(f"{share:6.1%} {message}\n")
        self.stream.flush()


def _resolve(args):
    from wbcreview.data import source

    src = source.resolve(args.data)
    if src.is_demo and not (src.root / "README.md").exists():
        raise source.SourceError(
            f"no data configured and no demo copy at {src.root}: run `python -m wbcreview "
            f"demo --out {src.root}`, pass --data DIR, or set WBCREVIEW_DATA"
        )
    return src


def cmd_check(args) -> int:
    from wbcreview.data import health

    root = Path(args.data) if args.data else _resolve(args).root
    report = health.check(root, decode_images=not args.quick, progress=Bar())
    print(health.format_report(report))
    return 0 if report.ok else 1


def cmd_demo(args) -> int:
    from wbcreview.demo import build as demo

    started = time.perf_counter()
    extra = {} if args.cells is None else {"cells": args.cells}
    summary = demo.build_demo(
        Path(args.out),
        seed=args.seed,
        from_folder=Path(args.from_folder) if args.from_folder else None,
        progress=Bar(),
        **extra,
    )
    print(f"demo copy written to {summary.out} in {time.perf_counter() - started:.1f} s")
    if args.with_votes:
        _seed_votes(summary.out, args.seed)
    return 0


def _seed_votes(root: Path, seed: int) -> None:
    from wbcreview.data import catalog
    from wbcreview.demo import votes as demo_votes

    with catalog.open_catalog(root) as cat:
        cells = (
            cat.cursor()
            .execute(
                "SELECT c.image_id AS cell_id, c.label, o.label AS original_label FROM cells c "
                "LEFT JOIN original_labels o USING (image_id) WHERE c.config = 'pristine' ORDER BY 1"
            )
            .df()
        )
    result = demo_votes.seed_demo_votes(None, cells, seed)
    print(
        f"demo review store {result['url']}: {result['votes']} simulated votes from "
        f"{result['teams']} teams on {result['cells']} cells (DEMO DATA)"
    )


def cmd_prepare(args) -> int:
    from wbcreview import config
    from wbcreview.data import source
    from wbcreview.demo import build as demo

    src = source.resolve(args.data)
    if src.is_demo and not (src.root / "README.md").exists():
        cells = config.get_int("WBCREVIEW_DEMO_CELLS", minimum=demo.MIN_CELLS)
        print(f"no data configured: building a demo copy of {cells} cells in {src.root}")
        demo.build_demo(src.root, cells=cells, progress=Bar())
    print(f"data: {src.describe()}")
    return 0


def cmd_download(args) -> int:
    from wbcreview.data import source

    folder = source.download(token=args.token)
    print(f"release downloaded to {folder}")
    print("wbcreview finds it there by itself; or pass --data with that folder")
    return 0


def cmd_catalog(args) -> int:
    from wbcreview.data import catalog

    root = _resolve(args).root
    started = time.perf_counter()
    with catalog.open_catalog(root, progress=Bar(), rebuild=args.rebuild) as cat:
        print(catalog.dumps_info(cat))
    print(f"opened in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def cmd_optimize(args) -> int:
    from wbcreview.data import optimize

    root = _resolve(args).root
    summary = optimize.optimize_copy(
        root, Path(args.out), rows_per_group=args.rows_per_group, progress=Bar()
    )
    print(f"optimized copy written to {args.out}: {summary}")
    return 0


def cmd_import_labels(args) -> int:
    from wbcreview.data import labels

    root = _resolve(args).root
    for s in labels.import_label_files(root, [Path(f) for f in args.files]):
        print(
            f"{s['file']}: {s['rows']} rows ({s['labelled']} labelled), {s['known']} cells of "
            f"this copy, {s['unknown']} not in it (removed cells), {s['differing']} labels "
            "differ from the current ones"
        )
    return 0


def _store(args, src):
    """The decision store: --db, else the demo store for the demo copy, else WBCREVIEW_DB."""
    from wbcreview import config
    from wbcreview.demo import votes as demo_votes
    from wbcreview.review.store import Store

    url = getattr(args, "db", None) or (demo_votes.demo_store_url() if src.is_demo else None)
    return Store.open(url or (config.get("WBCREVIEW_DB") or None))


def cmd_apply(args) -> int:
    from wbcreview.curation import apply as curate
    from wbcreview.curation import export as decisions
    from wbcreview.data import catalog

    src = _resolve(args)
    if args.decisions:
        frame = decisions.read_decisions(Path(args.decisions))
    else:
        with catalog.open_catalog(src.root) as cat, _store(args, src) as store:
            frame = decisions.final_decisions(cat.cursor(), store)
    summary = curate.apply_decisions(src.root, Path(args.out), frame, progress=Bar())
    print(f"curated copy written to {args.out}: {summary}")
    return 0


def cmd_export(args) -> int:
    from wbcreview.curation import export as decisions
    from wbcreview.data import catalog

    src = _resolve(args)
    out = Path(args.out)
    with catalog.open_catalog(src.root) as cat, _store(args, src) as store:
        frame = decisions.final_decisions(cat.cursor(), store, include_agreed=args.include_agreed)
        if args.format == "challenge":
            if not args.split:
                raise decisions.DecisionsError("--format challenge needs --split SPLIT")
            data = decisions.challenge_bytes(cat.cursor(), frame, args.split)
        else:
            data = decisions.export_bytes(frame, args.format)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{decisions.summary_line(frame)}; written to {out}")
    return 0


def cmd_import_votes(args) -> int:
    from wbcreview.curation import export as decisions
    from wbcreview.data import catalog

    src = _resolve(args)
    with catalog.open_catalog(src.root) as cat, _store(args, src) as store:
        added = decisions.import_vote_file(Path(args.file), args.team, store, cat.cursor())
    print(f"{added} new vote(s) imported from {args.file} for team {args.team}")
    return 0


def cmd_bench(args) -> int:
    from wbcreview.data import benchmark as bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m wbcreview",
        description="Label-review studio for the WBCBench 2026 white-blood-cell dataset.",
    )
    parser.add_argument("--version", action="version", version=f"wbcreview {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_arg(p):
        p.add_argument(
            "--data", metavar="DIR", help="data root (default: see README, Data sources)"
        )

    def db_arg(p):
        p.add_argument("--db", metavar="URL", help="decision store URL (default: WBCREVIEW_DB)")

    p = sub.add_parser("check", help="check a copy and print its health report")
    data_arg(p)
    p.add_argument("--quick", action="store_true", help="skip decoding every image")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="write a demo copy in the exact release layout")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (new or empty)")
    p.add_argument("--cells", type=int, default=None, help="pristine cells (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument(
        "--from-folder", metavar="DIR", help="real images, one sub-folder per class code"
    )
    p.add_argument("--with-votes", action="store_true", help="also seed the demo review store")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("prepare", help="build the demo copy if no data is configured")
    data_arg(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("download", help="download the release from the Hugging Face Hub")
    p.add_argument("--token", help="Hub token (default: the one saved by `hf auth login`)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("catalog", help="build (if needed) and describe the catalog of a copy")
    data_arg(p)
    p.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("optimize", help="rewrite a copy with small row groups for fast images")
    data_arg(p)
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the rewritten copy")
    p.add_argument(
        "--rows-per-group", type=int, default=100, help="rows per row group (default 100)"
    )
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("import-labels", help="bring in the original challenge label files")
    data_arg(p)
    p.add_argument("files", nargs="+", metavar="FILE", help="CSV files in the challenge format")
    p.set_defaults(func=cmd_import_labels)

    p = sub.add_parser("apply", help="write a curated copy with the final decisions applied")
    data_arg(p)
    db_arg(p)
    p.add_argument("--out", required=True, metavar="DIR2", help="new folder for the curated copy")
    p.add_argument(
        "--decisions", metavar="FILE", help="exported decisions (default: the review store)"
    )
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("export", help="write the final decisions (a correction list)")
    data_arg(p)
    db_arg(p)
    p.add_argument("--format", choices=["csv", "parquet", "json", "challenge"], default="csv")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.add_argument("--split", help="with --format challenge: the split to write as ID,labels")
    p.add_argument(
        "--include-agreed", action="store_true", help="also agreed, not yet adjudicated cells"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-votes", help="import a team's offline votes (CSV)")
    data_arg(p)
    db_arg(p)
    p.add_argument(
        "file", metavar="FILE", help="CSV: image_id,annotator,action,label,reason,comment,time"
    )
    p.add_argument("--team", required=True, help="the team that made these votes")
    p.set_defaults(func=cmd_import_votes)

    p = sub.add_parser("bench", help="measure catalog, query and image speed against baselines")
    data_arg(p)
    p.add_argument(
        "--cells", type=int, default=100_000, help="cells of the demo copy to build or reuse"
    )
    p.add_argument("--repeat", type=int, default=7, help="repetitions per measure (median shown)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench)

    from wbcreview.cli import triage as triage_cli

    triage_cli.add_parsers(sub)
    from wbcreview.cli import users as auth_cli

    auth_cli.add_parsers(sub)
    from wbcreview.cli import aggregation as aggregation_cli

    aggregation_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
