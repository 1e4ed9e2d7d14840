"""sctool train-tokenizer IN... -o tokenizer.json|DIR [--vocab-size N]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.tokenizer.train import TrainTokenizerStage

    p = add_stage_parser(sub, TrainTokenizerStage,
                         output_help="NAME.json (the tokenizer file) or a directory for AutoTokenizer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.tokenizer.train import TrainTokenizerStage

    cfg = stage_config(TrainTokenizerStage, args)
    return finish(TrainTokenizerStage(cfg, runtime_from_args(args)).run(args.inputs, args.output), args)
