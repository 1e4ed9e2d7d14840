"""Entry point of ``sctool``: builds the subcommand parser and maps errors to exit codes.

Errors from sctool (bad input, existing output, bad config, a full or read-only disk, a closed
output pipe) print one line to stderr naming the problem and exit 2; an unexpected exception exits 1
with a short message (traceback with SCTOOL_DEBUG=1). CLI messages go to stderr; results to stdout.

Start-up stays small: ``--version`` imports nothing, and only the chosen command's module (and so
only its stage) is imported; ``sctool --help`` is the one path that loads every command. The inputs
named on the line start hashing before the stage is imported (``sctool_cli.startup``), and
``SCTOOL_TRACE_STARTUP=1`` prints the start-up milestones (``sctool.startup_trace``).
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import os
import sys
from typing import NoReturn

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
    "train",
    "generate",
    "infill",
    "export_hf",
    "import_hf",
    "index",
    "attribute",
    "optout",
    "search",
    "serve",
    "run",
    "report",
]


def _command_name(module: str) -> str:
    return module.replace("_", "-")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sctool")
    except PackageNotFoundError:  # a source tree on sys.path without an install
        from sctool._version import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line plus a pointer to --help, not a screenful of usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n  (see `{self.prog} --help`)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser, or (given ``argv``) one where only the chosen command is built in detail."""
    parser = _Parser(
        prog="sctool",
        description="StarCoder-style code-data curation, tokenization, training and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"sctool {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    chosen = next((a for a in argv or [] if not a.startswith("-")), None)
    names = {_command_name(m): m for m in COMMANDS}
    for module in COMMANDS:
        if argv is not None and chosen in names and names[chosen] != module:
            sub.add_parser(_command_name(module))  # named only, so argparse knows the choice
            continue
        importlib.import_module(f"sctool_cli.commands.{module}").register(sub)
    return parser


def _user_error(command: str, exc: BaseException) -> int:
    print(f"sctool {command}: error: {exc}", file=sys.stderr)
    return 2


_USER_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOENT,
                errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EMFILE}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        print(f"sctool {_version()}")
        return 0
    from sctool.startup_trace import mark
    from sctool_cli.startup import prefetch_input_hashes

    mark("cli_entry")
    prefetch_input_hashes(argv)  # SHA-256 of the inputs overlaps the imports below (GIL released)
    # Importing the command's stage (Polars, NumPy, PyArrow) allocates hundreds of thousands of objects
    # that live as long as the process; the cyclic GC would traverse them again and again while they
    # load. Collect nothing until they are in, then freeze them out of every later collection.
    gc.disable()
    try:
        parser = build_parser(argv)
    finally:
        gc.freeze()
        gc.enable()
    mark("parser_built")
    args = parser.parse_args(argv)
    mark("args_parsed")
    from sctool.errors import SctoolError

    try:
        return int(args.func(args) or 0)
    except SctoolError as exc:
        return _user_error(args.command, exc)
    except BrokenPipeError:
        # `sctool stats … | head`: the reader went away. Point stdout at /dev/null so the
        # interpreter's final flush cannot fail again, and say so once.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print(f"sctool {args.command}: error: output pipe closed (stdout) before all output was written",
              file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno in _USER_ERRNOS or isinstance(exc, (FileNotFoundError, PermissionError)):
            where = f": {exc.filename}" if exc.filename and str(exc.filename) not in str(exc) else ""
            return _user_error(args.command, f"{exc}{where}")
        return _unexpected(args.command, exc)
    except KeyboardInterrupt:
        print(f"sctool {args.command}: interrupted (a rerun resumes finished parts)", file=sys.stderr)
        return 130
    except Exception as exc:
        return _unexpected(args.command, exc)


def _unexpected(command: str, exc: Exception) -> int:
    if os.environ.get("SCTOOL_DEBUG"):
        raise exc
    print(
        f"sctool {command}: unexpected error: {type(exc).__name__}: {exc}\n"
        "  (set SCTOOL_DEBUG=1 for a traceback, and please report it)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
