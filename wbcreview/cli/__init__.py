"""`python -m wbcreview ...`: thin commands that parse, call the package, and turn its
errors into one clear line on stderr (exit 1 for a bad copy, 2 for bad usage)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from wbcreview import __version__, config, logs
from wbcreview.cli import aggregation as aggregation_cli
from wbcreview.cli import finders as finders_cli
from wbcreview.cli import triage as triage_cli
from wbcreview.cli import users as users_cli
from wbcreview.cli.common import Bar, workspace
from wbcreview.errors import WbcreviewError
from wbcreview.workspace import Workspace


def cmd_check(args) -> int:
    from wbcreview.data import health

    # A folder named with --data is checked as it is, even when it is not a copy at all.
    root = Path(args.data) if args.data else workspace(args).root
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
        with Workspace.open(summary.out) as ws:
            result = ws.seed_demo_votes(args.seed)
        print(
            f"demo review store {result['url']}: {result['votes']} simulated votes from "
            f"{result['teams']} teams on {result['cells']} cells (DEMO DATA)"
        )
    return 0


def cmd_prepare(args) -> int:
    with workspace(args, require_copy=False) as ws:
        if not ws.has_copy:
            cells = config.get_int("WBCREVIEW_DEMO_CELLS")
            print(f"no data configured: building a demo copy of {cells} cells in {ws.root}")
            ws.ensure_demo(progress=Bar())
        print(f"data: {ws.describe()}")
    return 0


def cmd_download(args) -> int:
    from wbcreview.data import source

    folder = source.download(token=args.token)
    print(f"release downloaded to {folder}")
    print("wbcreview finds it there by itself; or pass --data with that folder")
    return 0


def cmd_catalog(args) -> int:
    ws = workspace(args)
    started = time.perf_counter()
    print(ws.catalog_info(rebuild=args.rebuild))
    print(f"opened in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def cmd_optimize(args) -> int:
    with workspace(args) as ws:
        summary = ws.optimize(Path(args.out), args.rows_per_group, progress=Bar())
    print(f"optimized copy written to {args.out}: {summary}")
    return 0


def cmd_import_labels(args) -> int:
    with workspace(args, action="import_labels") as ws:
        summaries = ws.import_labels([Path(f) for f in args.files])
    for s in summaries:
        print(
            f"{s['file']}: {s['rows']} rows ({s['labelled']} labelled), {s['known']} cells of "
            f"this copy, {s['unknown']} not in it (removed cells), {s['differing']} labels "
            "differ from the current ones"
        )
    return 0


def cmd_apply(args) -> int:
    with workspace(args) as ws:
        summary = ws.apply(
            Path(args.out),
            Path(args.decisions) if args.decisions else None,
            progress=Bar(),
        )
    for stale in summary.stale_removed:
        print(f"removed {stale}, left by an earlier run that was killed", file=sys.stderr)
    print(f"curated copy written to {args.out}: {summary}")
    return 0


def cmd_export(args) -> int:
    from wbcreview import files
    from wbcreview.curation import export

    out = Path(args.out)
    if args.format == "challenge" and not args.split:
        raise export.DecisionsError("--format challenge needs --split SPLIT")
    with workspace(args) as ws:
        files.check_output_file(out, force=args.force, protected=ws.protected_paths())
        data, frame = ws.export_bytes(
            args.format, split=args.split, include_agreed=args.include_agreed
        )
    try:
        files.write_file(out, data)
    except OSError as exc:
        raise export.DecisionsError(f"{out}: cannot be written ({exc.strerror})") from None
    print(f"{export.summary_line(frame)}; written to {out}")
    return 0


def cmd_import_votes(args) -> int:
    with workspace(args, action="import_votes") as ws:
        report = ws.import_votes(Path(args.file), args.team, name=args.file)
    print(report)
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
    users_cli.user_arg(p)
    p.set_defaults(func=cmd_import_labels)

    p = sub.add_parser("apply", help="write a curated copy with the final decisions applied")
    data_arg(p)
    db_arg(p)
    p.add_argument("--out", required=True, metavar="DIR2", help="new folder for the curated copy")
    p.add_argument(
        "--decisions", metavar="FILE", help="exported decisions (default: the review store)"
    )
    users_cli.user_arg(p)
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
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file (never the data copy, the catalog or the store)",
    )
    users_cli.user_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import-votes", help="import a team's offline votes (CSV)")
    data_arg(p)
    db_arg(p)
    p.add_argument(
        "file", metavar="FILE", help="CSV: image_id,annotator,action,label,reason,comment,time"
    )
    p.add_argument("--team", required=True, help="the team that made these votes")
    users_cli.user_arg(p)
    p.set_defaults(func=cmd_import_votes)

    p = sub.add_parser("bench", help="measure catalog, query and image speed against baselines")
    data_arg(p)
    p.add_argument(
        "--cells", type=int, default=100_000, help="cells of the demo copy to build or reuse"
    )
    p.add_argument("--repeat", type=int, default=7, help="repetitions per measure (median shown)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench)

    triage_cli.add_parsers(sub)
    users_cli.add_parsers(sub)
    aggregation_cli.add_parsers(sub)
    finders_cli.add_parsers(sub)
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
    except WbcreviewError as exc:
        # Errors raised on purpose: one line (or a head line and every problem), exit 1.
        problems = getattr(exc, "problems", None)
        if problems and len(problems) > 1:
            print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: logged with its traceback, one line with an id
        ident = logs.incident(exc, f"command {args.command}")
        print(f"error: {logs.unexpected_message(exc, ident)}", file=sys.stderr)
        return 1
