"""sctool format IN -o OUT"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "format",
        help="build StarCoder's training text (metadata, notebooks, issues, commits)",
        description="The training text of each document: <reponame>/<filename>/<gh_stars> prefixes (each with "
        "probability 0.2, keyed by document id); notebooks as jupytext scripts or the <jupyter_start> "
        "structured form; GitHub issues (an 'events' column) and commits (old_contents/new_contents "
        "columns) in their token layouts. Rows that cannot be formatted go to removed/ with a reason.",
    )
    add_io_args(p)
    p.add_argument("--config", help="YAML file with FormatConfig options (flags below override it)")
    p.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    p.add_argument("--metadata-rate", type=float,
                   help="probability of each of <reponame>, <filename>, <gh_stars> (default 0.2)")
    p.add_argument("--notebooks", choices=["script", "structured", "keep"],
                   help="notebooks become scripts (default), the structured form, or stay as is")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import yaml

    from sctool.config import config_from_dict
    from sctool.errors import ConfigError
    from sctool.formatting import MetadataConfig
    from sctool.stages.format import FormatConfig, run_format

    data = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{args.config}: cannot read config: {exc}") from exc
    cfg = config_from_dict(FormatConfig, data, "format")
    if args.seed is not None:
        cfg = dataclasses.replace(cfg, seed=args.seed)
    if args.metadata_rate is not None:
        r = args.metadata_rate
        cfg = dataclasses.replace(cfg, metadata=MetadataConfig(p_reponame=r, p_filename=r, p_stars=r))
    if args.notebooks is not None:
        cfg = dataclasses.replace(cfg, notebooks=args.notebooks)
    return finish(run_format(args.inputs, args.output, cfg, runtime_from_args(args)), args)
