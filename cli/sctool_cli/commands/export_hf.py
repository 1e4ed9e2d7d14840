"""sctool export-hf MODEL OUT_DIR (the same command as ``python -m train export-hf``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.model.hf_commands import EXPORT_DESCRIPTION, EXPORT_HELP, add_export_args

    p = sub.add_parser("export-hf", help=EXPORT_HELP, description=EXPORT_DESCRIPTION)
    add_export_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.model.hf_commands import run_export

    return run_export(args, "sctool export-hf")
