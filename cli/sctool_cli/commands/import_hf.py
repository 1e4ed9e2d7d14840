"""sctool import-hf HF_DIR OUT_DIR (the same command as ``python -m train import-hf``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.model.hf_commands import IMPORT_DESCRIPTION, IMPORT_HELP, add_import_args

    p = sub.add_parser("import-hf", help=IMPORT_HELP, description=IMPORT_DESCRIPTION)
    add_import_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.model.hf_commands import run_import

    return run_import(args, "sctool import-hf")
