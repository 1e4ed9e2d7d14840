"""sctool train [fit|export-hf|import-hf] ... — the trainer (``python -m train`` is an alias)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", add_help=False, prefix_chars="\0",
        help="train the GPT (fit), export-hf, import-hf; `sctool train fit --help` lists every option",
        description="The Lightning trainer: `sctool train fit --config tiny --data PREFIX --out runs/x`.",
    )
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="arguments of `python -m train`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.train.cli import main

    return main(args.train_args, prog="sctool train")
