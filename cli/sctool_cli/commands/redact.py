"""sctool redact IN... -o OUT [--types EMAIL,KEY,...] [--annotate-only]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.redact import RedactStage

    p = add_stage_parser(sub, RedactStage)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.redact import RedactStage

    cfg = stage_config(RedactStage, args)
    return finish(RedactStage(cfg, runtime_from_args(args)).run(args.inputs, args.output), args)
