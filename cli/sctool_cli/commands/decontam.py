"""sctool decontam IN... -o OUT [--benchmark KIND=PATH]... [--method exact|normalised|both]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.decontam import DecontamStage

    p = add_stage_parser(sub, DecontamStage)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.decontam import DecontamStage

    cfg = stage_config(DecontamStage, args)
    manifest = DecontamStage(cfg, runtime_from_args(args)).run(args.inputs, args.output)
    code = finish(manifest, args)
    if not args.json:
        print("  benchmarks (items found in the corpus / loaded, documents removed):")
        for name, b in manifest.extra.get("benchmarks", {}).items():
            print(f"    {name:<12} {b['items_found']:>6,} / {b['items_loaded']:<6,} items  {b['docs_removed']:>8,} docs")
    return code
