"""sctool filter IN... -o OUT [--preset NAME] [--rules FILE] [--disable RULE] [--list-rules]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.filter import FilterStage

    p = add_stage_parser(sub, FilterStage)
    p.add_argument("--list-rules", action="store_true",
                   help="print the resolved rules as YAML and exit (IN and -o are still required)")
    p.set_defaults(func=run)


def _by_language(manifest) -> list[str]:
    per_lang = manifest.stats.counters.get("removed_by_language") or {}
    if not per_lang:
        return []
    totals = manifest.stats.counters.get("input_by_language") or {}
    lines = ["  removed by language:"]
    width = max(len(k) for k in per_lang)
    for lang, rules in sorted(per_lang.items(), key=lambda kv: -sum(v["docs"] for v in kv[1].values())):
        docs = sum(v["docs"] for v in rules.values())
        mb = sum(v["bytes"] for v in rules.values()) / 1e6
        tot = totals.get(lang, {}).get("docs", 0)
        detail = ", ".join(f"{r} {v['docs']:,}" for r, v in sorted(rules.items(), key=lambda kv: -kv[1]["docs"]))
        lines.append(f"    {lang:<{width}}  {docs:>8,} of {tot:>8,} docs  {mb:>9.2f} MB  ({detail})")
    return lines


def run(args: argparse.Namespace) -> int:
    from sctool.stages.filter import FilterStage

    cfg = stage_config(FilterStage, args)
    if args.list_rules:
        import yaml

        print(yaml.safe_dump(cfg.rule_set().to_dict(), sort_keys=False, width=100))
        return 0
    manifest = FilterStage(cfg, runtime_from_args(args)).run(args.inputs, args.output)
    code = finish(manifest, args)
    if not args.json:
        for line in _by_language(manifest):
            print(line)
    return code
