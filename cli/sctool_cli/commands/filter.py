"""sctool filter IN -o OUT [--preset starcoder] [--rules FILE]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter",
        help="drop low-quality documents by rules (StarCoder's per-extension table by default)",
        description="Quality filtering with rules as data. Presets: starcoder (default: long lines, average "
        "line length, alphanumeric and alphabetic fractions per extension, XML header, HTML visible text, "
        "JSON/YAML size), autogen (generated-file markers, minified files), santacoder (stars, comment "
        "ratio, tokenizer fertility). Removed documents go to removed/ with reason = the first rule that "
        "fired.",
    )
    add_io_args(p)
    p.add_argument("--preset", action="append", dest="presets", metavar="NAME",
                   help="rule preset, repeatable, applied in order (default: starcoder)")
    p.add_argument("--rules", action="append", dest="rules_files", default=[], metavar="FILE",
                   help="YAML rule file; its rules replace same-named preset rules or are added")
    p.add_argument("--disable", action="append", default=[], metavar="RULE", help="switch a rule off")
    p.add_argument("--tokenizer", default=None, metavar="PATH",
                   help="tokenizer.json for the fertility rule of the santacoder preset")
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
    from sctool.stages.filter import FilterConfig, run_filter

    cfg = FilterConfig(presets=tuple(args.presets or ["starcoder"]), rules_files=tuple(args.rules_files),
                       disable=tuple(args.disable), tokenizer=args.tokenizer)
    if args.list_rules:
        import yaml

        print(yaml.safe_dump(cfg.rule_set().to_dict(), sort_keys=False, width=100))
        return 0
    manifest = run_filter(args.inputs, args.output, cfg, runtime_from_args(args))
    code = finish(manifest, args)
    if not args.json:
        for line in _by_language(manifest):
            print(line)
    return code
