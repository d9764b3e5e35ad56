"""The finder commands of `python -m wbcreview`: find-duplicates, find-unusable, lookalikes
and bench-finders. `add_parsers(sub)` adds them to the CLI's subparsers; each command
parses, calls the package through the Workspace, prints; the CLI's main turns errors into
one line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wbcreview.cli.common import Bar, workspace


def _write_csv(table, out: str) -> None:
    from wbcreview import files

    path = Path(out)
    if not path.parent.is_dir():
        raise files.UnsafePath(f"{out}: the folder {path.parent} does not exist")
    table.to_csv(path, index=False)


def cmd_find_duplicates(args) -> int:
    from wbcreview.triage import duplicates

    with workspace(args) as ws:
        pairs = ws.duplicates(progress=Bar(), min_similarity=args.similarity)
    counts = duplicates.summary(pairs)
    print(
        f"{counts['pairs']:,} duplicate pairs in {counts['groups']:,} groups "
        f"({counts['exact']:,} exact, {counts['near']:,} near); crossing split (leakage): "
        f"{counts['split']:,}, patient: {counts['patient']:,}, label: {counts['label']:,}"
    )
    if args.out:
        _write_csv(pairs, args.out)
        print(f"{len(pairs):,} pairs written to {args.out}")
    if len(pairs):
        print(pairs.head(args.top).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def cmd_find_unusable(args) -> int:
    from wbcreview.triage import quality

    with workspace(args) as ws:
        _, found = ws.unusable(progress=Bar(), checks=args.check or None)
    cells = quality.per_cell(found)
    by_check = found["check"].value_counts().to_dict() if len(found) else {}
    print(
        f"{len(cells):,} images flagged: "
        + (", ".join(f"{k} {v:,}" for k, v in by_check.items()) or "none")
    )
    if args.out:
        _write_csv(found, args.out)
        print(f"{len(found):,} flags written to {args.out}")
    if len(found):
        print(found.head(args.top).to_string(index=False))
    return 0


def cmd_lookalikes(args) -> int:
    with workspace(args) as ws:
        ws.index_lookalikes(args.embedding, progress=Bar())
        table = ws.lookalikes(args.cell, k=args.k, method=args.embedding)
    print(table.to_string(index=False))
    return 0


def cmd_bench_finders(args) -> int:
    from wbcreview.triage import finders_bench

    scale = None
    if args.cells:
        from wbcreview.data import benchmark

        scale = benchmark.bench_root(args.cells)
    if args.scale_data:
        scale = Path(args.scale_data)
    result = finders_bench.run(
        from_folder=None if args.painted else Path(args.from_folder),
        seed=args.seed,
        scale_root=scale,
        progress=Bar(),
        synthetic_cells=args.synthetic_cells,
    )
    print(json.dumps(result, indent=2) if args.json else finders_bench.format_table(result))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the finder commands to the CLI's subparsers."""
    from wbcreview.config import REPO_ROOT

    pbc_sample = REPO_ROOT.parent / "shared" / "data" / "pbc_sample"

    def data_arg(p):
        p.add_argument(
            "--data", metavar="DIR", help="data root (default: see README, Data sources)"
        )

    p = sub.add_parser(
        "find-duplicates", help="exact and near duplicate cells, and what each pair crosses"
    )
    data_arg(p)
    p.add_argument("--out", metavar="CSV", help="write every pair to this CSV file")
    p.add_argument("--top", type=int, default=20, help="pairs to print (default 20)")
    p.add_argument(
        "--similarity",
        type=float,
        default=0.82,
        help="least fine-thumbnail correlation of a near duplicate (0.82)",
    )
    p.set_defaults(func=cmd_find_duplicates)

    p = sub.add_parser("find-unusable", help="blurred, dark, light, empty or multi-cell images")
    data_arg(p)
    p.add_argument("--out", metavar="CSV", help="write every flag to this CSV file")
    p.add_argument("--top", type=int, default=20, help="flags to print (default 20)")
    p.add_argument(
        "--check",
        nargs="+",
        metavar="CHECK",
        help="only these checks (blurry dark light low_information odd_size odd_aspect "
        "mostly_background multi_cell undecodable)",
    )
    p.set_defaults(func=cmd_find_unusable)

    p = sub.add_parser("lookalikes", help="the nearest cells of the same and of other classes")
    data_arg(p)
    p.add_argument("cell", metavar="CELL", help="the cell's pristine image id")
    p.add_argument("--k", type=int, default=6, help="cells of each kind (default 6)")
    p.add_argument("--embedding", default="lda", choices=["lda", "standard"])
    p.set_defaults(func=cmd_lookalikes)

    p = sub.add_parser(
        "bench-finders", help="plant duplicates and unusable images, score the finders"
    )
    p.add_argument(
        "--from-folder",
        default=str(pbc_sample),
        metavar="DIR",
        help=f"real images, one sub-folder per class (default {pbc_sample})",
    )
    p.add_argument("--painted", action="store_true", help="use painted demo cells instead")
    p.add_argument("--seed", type=int, default=0, help="seed of the copy and the faults")
    p.add_argument(
        "--cells",
        type=int,
        default=0,
        help="also time the finders on the bench demo copy of this many cells (e.g. 100000)",
    )
    p.add_argument("--scale-data", metavar="DIR", help="time the finders on this copy instead")
    p.add_argument(
        "--synthetic-cells",
        type=int,
        default=100_000,
        help="time the steps after the scan on a signature table of this many rows "
        "(default 100000; 0: skip)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_bench_finders)
