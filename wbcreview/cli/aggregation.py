"""The `bench-aggregation` command: simulated teams with known truth, their votes imported
through the real importer, every aggregation method scored at every threshold."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
    if not values or min(values) < 1 or max(values) > 10:
        raise argparse.ArgumentTypeError("votes per cell go from 1 to 10 (ten teams)")
    return values


def _methods(text: str) -> list[str]:
    from wbcreview.review.aggregation import METHODS

    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in METHODS]
    if unknown or not values:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(METHODS)}")
    return values


def cmd_bench_aggregation(args) -> int:
    """Run the simulation and print the table (or one JSON object with --json)."""
    from wbcreview.curation import simulation
    from wbcreview.review.aggregation import METHODS

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = simulation.run(
        n_cells=args.cells,
        per_cell=args.votes,
        methods=args.methods or list(METHODS),
        seed=args.seed,
        folder=Path(args.keep) if args.keep else None,
        progress=progress,
    )
    if args.json:
        print(json.dumps(result, indent=1, default=float))
        return 0
    print(simulation.markdown(result))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the `bench-aggregation` command to the CLI's sub-parsers."""
    p = sub.add_parser(
        "bench-aggregation",
        help="simulate teams with known truth and score every aggregation method",
    )
    p.add_argument("--cells", type=int, default=1000, help="simulated cells (default 1000)")
    p.add_argument(
        "--votes", type=_ints, default=[3, 5, 10], help="votes per cell, e.g. 3,5,10 (default)"
    )
    p.add_argument("--methods", type=_methods, default=None, help="methods (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same table)")
    p.add_argument("--keep", metavar="DIR", help="keep the vote files and stores in DIR")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench_aggregation)
