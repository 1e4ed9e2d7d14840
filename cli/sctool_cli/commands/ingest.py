"""sctool ingest SRC... -o OUT [--stdlib] [--max-file-size N] [--follow-symlinks]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.ingest import IngestStage

    p = add_stage_parser(sub, IngestStage, inputs="*",
                         inputs_help="source directories, files, JSONL/Parquet files or globs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.ingest import IngestStage

    cfg = stage_config(IngestStage, args)
    return finish(IngestStage(cfg, runtime_from_args(args)).run(args.inputs, args.output), args)
