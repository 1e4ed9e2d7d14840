"""sctool index build DATASET... -o INDEX [--fpr 1e-3] [--search] [--overwrite]"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build the attribution index (membership Bloom filter + sources, optional full-text search)",
        description="Build indexes over a training corpus so generated code can be traced back to it.",
    )
    isub = p.add_subparsers(dest="index_command", metavar="ACTION")
    isub.required = True
    b = isub.add_parser(
        "build",
        help="build INDEX from datasets",
        description="Cut whitespace-free text into windows (stride = window when building), store their "
        "fingerprints in a blocked Bloom filter sized for --fpr and in a fingerprint -> document table "
        "(the Data Portraits scheme StarCoder used, plus provenance). The output directory appears "
        "whole or not at all.",
    )
    b.add_argument("inputs", nargs="+", metavar="DATASET",
                   help="dataset directories, Parquet or JSONL files, or globs")
    b.add_argument("-o", "--output", required=True, metavar="INDEX", help="index directory to create")
    b.add_argument("--fpr", type=float, default=1e-3, help="target Bloom false-positive rate (default 1e-3)")
    b.add_argument("--window", type=int, default=50, help="window length in characters (default 50)")
    b.add_argument("--stride", type=int, default=0,
                   help="build stride in characters (default 0 = the window, StarCoder's scheme). A copy is "
                   "always found once it holds window + stride - 1 non-space characters: a smaller stride "
                   "finds shorter copies for a proportionally larger source table")
    b.add_argument("--search", action="store_true",
                   help="also build a BM25 full-text index for `sctool search` (needs sctool[search])")
    b.add_argument("--search-shards", type=int, default=1, metavar="N",
                   help="full-text shards (documents are split by a hash of their id; default 1)")
    b.add_argument("--text-column", default="content", help="column holding the text (default: content)")
    b.add_argument("--threads", type=int, default=0, help="worker threads (default 0 = all cores)")
    b.add_argument("--batch-rows", type=int, default=10_000, help="documents per batch")
    b.add_argument("--overwrite", action="store_true", help="replace an existing INDEX")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from sctool.attribution import IndexConfig, build_index

    if args.threads < 0 or args.batch_rows < 1 or args.search_shards < 1:
        raise SystemExit("--threads must be >= 0, --batch-rows and --search-shards >= 1")
    cfg = IndexConfig(fpr=args.fpr, window=args.window, stride=args.stride, text_column=args.text_column)
    s = build_index(args.inputs, args.output, cfg, threads=args.threads, overwrite=args.overwrite,
                    batch_rows=args.batch_rows, search=args.search, search_shards=args.search_shards)
    if args.json:
        print(json.dumps(s.to_dict(), indent=2))
        return 0
    mb = s.text_bytes / 1e6
    print(f"index {s.output}: {s.documents:,} documents, {mb:,.1f} MB of text, {s.distinct_windows:,} distinct "
          f"{cfg.window}-char windows")
    print(f"  bloom filter {s.bloom_bytes / 1e6:,.2f} MB (expected FPR {s.expected_fpr:.2e}), source table "
          f"{s.table_bytes / 1e6:,.2f} MB; built in {s.seconds:.1f}s")
    if s.search_documents is not None:
        print(f"  full-text index: {s.search_documents:,} documents in {args.search_shards} shard(s)")
    sys.stdout.flush()
    return 0
