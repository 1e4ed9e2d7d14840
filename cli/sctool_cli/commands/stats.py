"""sctool stats DATASET"""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="documents and bytes per language of a dataset",
                       description="Print documents and bytes per language (and the manifest's removals).")
    p.add_argument("inputs", nargs="+", metavar="DATASET", help="dataset directories, Parquet or JSONL files")
    p.add_argument("--by", default="lang", help="column to group by (default: lang)")
    p.add_argument("--text-column", default="content")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stats import dataset_stats, format_stats

    table = dataset_stats(args.inputs, by=args.by, text_column=args.text_column)
    if args.json:
        print(json.dumps(table.to_dicts(), indent=2))
    else:
        print(format_stats(table, by=args.by))
    return 0
