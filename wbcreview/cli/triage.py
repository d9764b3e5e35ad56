"""The label-error triage commands of `python -m wbcreview`: import-predictions, baseline,
suspects, scores and bench-triage. `add_parsers(sub)` adds them to the CLI's subparsers;
each command parses, calls the Workspace, prints; the CLI's main turns errors into one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wbcreview.cli.common import Bar, workspace
from wbcreview.cli.users import user_arg


def cmd_import_predictions(args) -> int:
    from wbcreview.triage import predictions

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise predictions.PredictionsError(f"{path}: cannot be read ({exc.strerror})") from None
    with workspace(args, action="import_predictions") as ws:
        info = ws.import_predictions(data, args.name, str(path), tolerance=args.tolerance)
    print(f"imported {info.describe()}")
    return 0


def cmd_baseline(args) -> int:
    with workspace(args, action="run_baseline") as ws:
        result = ws.run_baseline(progress=Bar(), name=args.name, seed=args.seed)
    print(result)
    return 0


def cmd_suspects(args) -> int:
    from wbcreview.triage import ranking as triage

    with workspace(args) as ws:
        table = ws.suspect_ranking(args.predictions or None, args.method)
    if table.empty:
        raise triage.TriageError("no stored predictions: run `baseline` or `import-predictions`")
    if args.out:
        table.to_csv(args.out, index=False)
        print(f"{len(table):,} ranked cells written to {args.out}")
    shown = table.head(args.top)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def cmd_scores(args) -> int:
    from wbcreview.curation import export as decisions
    from wbcreview.triage import scores

    with workspace(args) as ws:
        if not (args.predictions or ws.prediction_files()):
            raise scores.ScoresError(
                "no stored predictions: run `baseline` or `import-predictions`"
            )
        frame = ws.final_decisions()
        summary, _ = ws.scores(args.predictions or None, frame, kinds=("all", args.by))
    print(f"final decisions: {decisions.summary_line(frame)}")
    groups = summary[summary["kind"] == args.by]["group"].unique() if args.by != "all" else []
    for kind, group in [("all", "all"), *((args.by, g) for g in groups)]:
        table = scores.compare(summary, kind, group)
        print(f"\n{kind}: {group}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def cmd_bench_triage(args) -> int:
    from wbcreview.triage import benchmark as triage_bench

    if args.painted:
        folder = None
    elif args.from_folder:
        folder = Path(args.from_folder)
    else:
        folder = triage_bench.default_folder()
        if folder is None:
            print(
                f"no real images at {triage_bench.PBC_SAMPLE}: using painted demo cells "
                "(pass --from-folder DIR for real images)",
                file=sys.stderr,
            )
    result = triage_bench.run(
        from_folder=folder,
        cells=args.cells,
        share=args.share,
        seed=args.seed,
        ks=args.k or triage_bench.DEFAULT_KS,
        keep=Path(args.keep) if args.keep else None,
        progress=Bar(),
    )
    print(result.format())
    if result.root:
        print(f"flipped copy kept in {result.root}")
    return 0


def _percents(text: str) -> list[float]:
    try:
        values = [float(v) / 100 for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give percents like 1,2,5,10,20") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: percents must be above 0 and at most 100")
    return values


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the triage commands to the CLI's subparsers."""
    from wbcreview.config import REPO_ROOT

    # Light on purpose (no triage_bench import): `--help` must stay fast. Same values there.
    pbc_sample, default_share = REPO_ROOT.parent / "shared" / "data" / "pbc_sample", 0.05

    def data_arg(p):
        p.add_argument(
            "--data", metavar="DIR", help="data root (default: see README, Data sources)"
        )

    def names_arg(p):
        p.add_argument(
            "--predictions",
            nargs="+",
            metavar="NAME",
            help="stored prediction files to use (default: all)",
        )

    p = sub.add_parser("import-predictions", help="validate and store a model's predictions")
    data_arg(p)
    p.add_argument("file", metavar="FILE", help="CSV or parquet: image_id (or ID) and label(s) "
                   "or 13 probability columns named by class code")  # fmt: skip
    p.add_argument("--name", required=True, help="name to store them under (replaces)")
    p.add_argument(
        "--tolerance", type=float, default=0.01, help="allowed |sum of probabilities - 1|"
    )
    user_arg(p)
    p.set_defaults(func=cmd_import_predictions)

    p = sub.add_parser("baseline", help="fit the built-in image-feature baseline, store it")
    data_arg(p)
    p.add_argument("--name", default="baseline", help="prediction name (default baseline)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    user_arg(p)
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("suspects", help="print the suspect ranking (likely label errors first)")
    data_arg(p)
    names_arg(p)
    p.add_argument(
        "--method",
        default="self_confidence",
        choices=["self_confidence", "normalized_margin", "confidence_weighted_entropy"],
    )
    p.add_argument("--top", type=int, default=20, help="cells to print (default 20)")
    p.add_argument("--out", metavar="CSV", help="write the whole ranking to this CSV file")
    p.set_defaults(func=cmd_suspects)

    p = sub.add_parser("scores", help="benchmark scores before and after the curation")
    data_arg(p)
    p.add_argument("--db", metavar="URL", help="decision store URL (default: WBCREVIEW_DB)")
    names_arg(p)
    p.add_argument(
        "--by", default="all", choices=["all", "split", "config", "severity"], help="groups"
    )
    user_arg(p)
    p.set_defaults(func=cmd_scores)

    p = sub.add_parser(
        "bench-triage", help="flip labels at random and measure how early the ranking finds them"
    )
    p.add_argument(
        "--from-folder",
        default=None,
        metavar="DIR",
        help=f"real images, one sub-folder per class (default {pbc_sample} when it exists, "
        "else painted demo cells)",
    )
    p.add_argument("--painted", action="store_true", help="use painted demo cells instead")
    p.add_argument("--cells", type=int, default=None, help="cells (default: all images, or 2000)")
    p.add_argument(
        "--share", type=float, default=default_share, help="share of labels to flip (0.05)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the copy, the flips, the folds")
    p.add_argument(
        "--k",
        type=_percents,
        metavar="P,P,...",
        help="top k as percents of the cells, comma-separated (default 1,2,5,10,20)",
    )
    p.add_argument("--keep", metavar="DIR", help="keep the flipped copy in this new folder")
    p.set_defaults(func=cmd_bench_triage)
