"""sctool format IN... -o OUT [--config FORMAT.yaml] [--metadata-rate P] [--notebooks MODE]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.format import FormatStage

    p = add_stage_parser(sub, FormatStage)
    p.add_argument("--metadata-rate", type=float, default=None, metavar="P",
                   help="probability of each of <reponame>, <filename>, <gh_stars> (sets metadata.p_*; default 0.2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from sctool.formatting import MetadataConfig
    from sctool.stages.format import FormatStage

    cfg = stage_config(FormatStage, args)
    if args.metadata_rate is not None:
        r = args.metadata_rate
        cfg = dataclasses.replace(cfg, metadata=MetadataConfig(p_reponame=r, p_filename=r, p_stars=r))
    return finish(FormatStage(cfg, runtime_from_args(args)).run(args.inputs, args.output), args)
