"""What every stage command shares: its parser generated from the stage's typed config, the runtime
options, and the common way to finish (summary on stdout, JSON with ``--json``).

A stage command's flags, defaults, help and validation come from its ``Config`` dataclass and
``Runtime`` (see ``sctool.config.add_config_arguments``); a command adds only what is not config
(``--list-rules``, ``--mix``). Nothing heavy is imported here: a command imports its own stage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

INPUTS_HELP = "dataset directories, Parquet files, JSONL (.jsonl/.jsonl.gz/.jsonl.zst) files or globs"


def add_stage_parser(sub: argparse._SubParsersAction, stage: type, *, inputs: str = "+",
                     inputs_help: str = INPUTS_HELP, output_help: str = "output dataset directory",
                     config_file: bool = True) -> argparse.ArgumentParser:
    """A subcommand for ``stage``: ``IN... -o OUT``, ``--config FILE``, one flag per config field, runtime flags."""
    from sctool.config import add_config_arguments

    doc = " ".join((stage.__doc__ or "").split())
    p = sub.add_parser(stage.name, help=stage.summary, description=doc)
    if inputs:
        p.add_argument("inputs", nargs=inputs, metavar="IN", help=inputs_help)
    p.add_argument("-o", "--output", required=True, help=output_help)
    if config_file:
        p.add_argument("--config", dest="config_file", metavar="YAML", default=None,
                       help=f"YAML file of {stage.name} options (the recipe's config keys); flags override it")
    add_config_arguments(p, stage.Config, title=f"{stage.name} options")
    add_runtime_args(p)
    return p


def add_io_args(parser: argparse.ArgumentParser, *, inputs: bool = True) -> None:
    if inputs:
        parser.add_argument("inputs", nargs="+", metavar="IN", help=INPUTS_HELP)
    parser.add_argument("-o", "--output", required=True, help="output dataset directory")
    add_runtime_args(parser)


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    from sctool.config import add_config_arguments
    from sctool.stages.base import Runtime

    add_config_arguments(parser, Runtime, title="runtime options")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def runtime_from_args(args: argparse.Namespace) -> Any:
    from sctool.config import config_from_namespace
    from sctool.stages.base import Runtime

    return config_from_namespace(Runtime, args, where="runtime")


def stage_config(stage: type, args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    """The stage's config from ``--config FILE`` (if any) and the flags, checked like a recipe's."""
    from sctool.config import config_from_namespace, load_config_file

    data = dict(base or {})
    if getattr(args, "config_file", None):
        data.update(load_config_file(args.config_file, stage.name))
    return config_from_namespace(stage.Config, args, data, where=stage.name)


def finish(manifest: Any, args: argparse.Namespace) -> int:
    from sctool.report import format_summary, summary_json

    if getattr(args, "json", False):
        print(summary_json(manifest))
    else:
        print(format_summary(manifest))
    sys.stdout.flush()
    return 0
