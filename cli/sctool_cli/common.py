"""Arguments every stage command shares, and the common way to finish a command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sctool.stages.base import Runtime


def add_io_args(parser: argparse.ArgumentParser, *, inputs: bool = True) -> None:
    if inputs:
        parser.add_argument(
            "inputs", nargs="+", metavar="IN",
            help="dataset directories, Parquet files, JSONL (.jsonl/.jsonl.gz/.jsonl.zst) files or globs",
        )
    parser.add_argument("-o", "--output", required=True, help="output dataset directory")
    add_runtime_args(parser)


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--text-column", default="content", help="column holding the text (default: content)")
    parser.add_argument("--threads", type=int, default=0, help="worker threads (default 0 = all cores)")
    parser.add_argument("--batch-rows", type=int, default=10_000, help="documents per batch/output part")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="run batches in this process (local, default) or as Ray tasks (ray; pip install 'sctool[ray]')")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="Ray cluster for --executor ray (default: $RAY_ADDRESS, else start a local one)")


def runtime_from_args(args: argparse.Namespace) -> Runtime:
    if args.threads < 0:
        raise SystemExit("--threads must be >= 0")
    if args.batch_rows < 1:
        raise SystemExit("--batch-rows must be >= 1")
    return Runtime(
        threads=args.threads,
        text_column=args.text_column,
        batch_rows=args.batch_rows,
        overwrite=args.overwrite,
        quiet=args.quiet,
        executor=getattr(args, "executor", "local"),
        ray_address=getattr(args, "ray_address", None),
    )


def finish(manifest: Any, args: argparse.Namespace) -> int:
    from sctool.report import format_summary, summary_json

    if getattr(args, "json", False):
        print(summary_json(manifest))
    else:
        print(format_summary(manifest))
    sys.stdout.flush()
    return 0
