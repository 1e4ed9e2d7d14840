"""Entry point of ``sctool``: builds the subcommand parser and maps errors to exit codes.

Errors from sctool (bad input, existing output, bad config) print one line to stderr naming the
problem and exit 2; an unexpected exception exits 1 with a short message (traceback with
SCTOOL_DEBUG=1). CLI messages go to stderr; results go to stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Subcommand modules under sctool_cli.commands, in --help order.
COMMANDS = [
    "ingest",
    "stats",
    "dedup",
    "filter",
    "decontam",
    "redact",
    "eval",
    "format",
    "train_tokenizer",
    "tokenize",
    "generate",
    "infill",
    "export_hf",
    "import_hf",
    "run",
    "report",
]


def build_parser() -> argparse.ArgumentParser:
    from sctool import __version__

    parser = argparse.ArgumentParser(
        prog="sctool",
        description="StarCoder-style code-data curation, tokenization, training and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"sctool {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"sctool_cli.commands.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from sctool.errors import SctoolError

    try:
        return int(args.func(args) or 0)
    except SctoolError as exc:
        print(f"sctool {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"sctool {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sctool {args.command}: interrupted (a rerun resumes finished parts)", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("SCTOOL_DEBUG"):
            raise
        print(
            f"sctool {args.command}: unexpected error: {type(exc).__name__}: {exc}\n"
            "  (set SCTOOL_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
