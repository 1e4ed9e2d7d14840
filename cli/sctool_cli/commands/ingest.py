"""sctool ingest SRC... -o OUT"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_runtime_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="read source trees, JSONL or Parquet into an sctool dataset",
        description="Walk source directories (skipping binary, non-UTF-8, empty and oversized files, each "
        "counted by reason) and/or read JSONL/Parquet tables into a dataset with columns "
        "id, content, path, repo, lang, size_bytes (+ stars, license when present).",
    )
    p.add_argument("sources", nargs="*", metavar="SRC", help="source directories, files, JSONL/Parquet files or globs")
    p.add_argument("-o", "--output", required=True, help="output dataset directory")
    p.add_argument("--stdlib", action="store_true", help="ingest this Python's standard library (a real corpus)")
    p.add_argument("--max-file-size", type=int, default=1 << 20, help="skip files above this many bytes (default 1 MiB)")
    p.add_argument("--keep-empty", action="store_true", help="keep empty files")
    p.add_argument("--only-known-languages", action="store_true",
                   help="skip files whose extension is not in the StarCoder language table")
    p.add_argument("--follow-symlinks", action="store_true", help="follow symlinks while walking")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.ingest import IngestConfig, run_ingest

    cfg = IngestConfig(
        stdlib=args.stdlib,
        max_file_size=args.max_file_size,
        keep_empty=args.keep_empty,
        only_known_languages=args.only_known_languages,
        follow_symlinks=args.follow_symlinks,
    )
    return finish(run_ingest(args.sources, args.output, cfg, runtime_from_args(args)), args)
