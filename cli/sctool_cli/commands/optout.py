"""sctool optout IN... -o OUT --users FILE --repos FILE [--near-copies]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.optout import OptOutStage

    p = add_stage_parser(sub, OptOutStage)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.optout import OptOutStage

    stage = OptOutStage(stage_config(OptOutStage, args), runtime_from_args(args))
    manifest = stage.run(args.inputs, args.output)
    code = finish(manifest, args)
    if not args.json:
        by = manifest.stats.counters.get("removed_by_match") or {}
        if by:
            print("  removed by match: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by.items())))
        dropped = manifest.stats.counters.get("issue_events_dropped", 0)
        if dropped:
            print(f"  issue events dropped: {dropped:,}; usernames masked: "
                  f"{manifest.stats.counters.get('usernames_masked', 0):,}")
    return code
