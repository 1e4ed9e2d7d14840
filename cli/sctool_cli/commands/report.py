"""sctool report WORKDIR|DATASET... -o report.html [--train RUN_DIR]"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page of plots of a curation and training run",
        description="Read the manifests, removed documents, token files, metrics.csv and evaluation results "
        "under each WORKDIR (or the given datasets) and write one HTML page: funnel, languages, filters, "
        "dedup, redaction, decontamination, tokens and training, each plot with its data table. The page "
        "needs no network. Needs matplotlib (pip install 'sctool[report]').",
    )
    p.add_argument("inputs", nargs="+", metavar="WORKDIR|DATASET",
                   help="work directories (searched a few levels deep) or stage output directories")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    p.add_argument("--train", action="append", default=[], metavar="RUN_DIR",
                   help="a training run directory (metrics.csv) outside the work directory; repeatable")
    p.add_argument("--title", help="page title")
    p.add_argument("--text-column", default="content")
    p.add_argument("--sample", type=int, default=10000,
                   help="documents sampled (kept and removed, each) for the filter statistics (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="seed of that sample")
    p.add_argument("--quiet", action="store_true", help="print only the report's path")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.reporting import build_report

    if args.sample < 0:
        raise ConfigError(f"--sample must be at least 0, got {args.sample}")
    res = build_report(args.inputs, args.output, train=args.train, title=args.title,
                       text_column=args.text_column, sample=args.sample, seed=args.seed)
    if args.json:
        print(json.dumps({"path": str(res.path), "bytes": res.bytes, "seconds": round(res.seconds, 3),
                          "plots": res.plots, "problems": list(res.problems)}, indent=2))
        return 0
    if not args.quiet:
        for p in res.problems:
            print(f"sctool report: note: {p}", file=sys.stderr)
        print(f"sctool report: {res.plots} plots, {res.bytes / 1e6:.2f} MB, {res.seconds:.1f} s", file=sys.stderr)
    print(res.path)
    return 0
