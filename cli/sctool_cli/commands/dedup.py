"""sctool dedup IN... -o OUT [--exact | --near | --both] [near-dedup options]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.dedup import DedupStage

    p = add_stage_parser(sub, DedupStage)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.dedup import DedupStage

    cfg = stage_config(DedupStage, args)
    return finish(DedupStage(cfg, runtime_from_args(args)).run(args.inputs, args.output), args)
