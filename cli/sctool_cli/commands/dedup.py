"""sctool dedup IN -o OUT"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dedup",
        help="remove duplicate documents",
        description="Exact deduplication: keep the first of each group of identical documents; the others "
        "go to removed/ with reason=exact_duplicate and dup_of (the id kept).",
    )
    add_io_args(p)
    p.add_argument("--exact", dest="mode", action="store_const", const="exact", default="exact",
                   help="remove exact duplicates (XXH3-128 of the content)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.dedup import DedupConfig, run_dedup

    cfg = DedupConfig(mode=args.mode)
    return finish(run_dedup(args.inputs, args.output, cfg, runtime_from_args(args)), args)
