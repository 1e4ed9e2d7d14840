"""sctool decontam IN... -o OUT [--benchmark KIND=PATH]... [--method exact|normalised|both]

Also ``sctool decontam --explain DOC_ID OUT`` (why a document was removed) and
``sctool decontam build-idf CORPUS... -o FILE`` (the n-gram rarity table from a corpus of real code).
"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.decontam import DecontamStage

    p = add_stage_parser(sub, DecontamStage)
    # The two extra modes reuse the positional arguments: OUT for --explain, CORPUS... for build-idf.
    for a in p._actions:
        if a.dest == "output":
            a.required = False
        if a.dest == "inputs":
            a.nargs = "*"
    g = p.add_argument_group("audit and IDF table")
    g.add_argument("--explain", metavar="DOC_ID", default=None,
                   help="print why DOC_ID (its id, or #N for the N-th removed row) was removed from the decontam "
                   "output given as the positional argument: both sides of every match, side by side")
    g.add_argument("--rare-df", type=int, default=12,
                   help="build-idf: n-grams in at most this many files weigh 1 (default 12)")
    g.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="build-idf: skip corpus paths matching GLOB (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.stages.decontam import DecontamStage

    if args.explain is not None:
        from sctool.decontam.explain import explain

        if len(args.inputs) != 1:
            raise ConfigError("usage: sctool decontam --explain DOC_ID OUT (one decontam output directory)")
        print(explain(args.inputs[0], args.explain), end="")
        return 0
    if args.inputs and args.inputs[0] == "build-idf":
        import json

        from sctool.decontam.idf import build_idf

        if len(args.inputs) < 2 or not args.output:
            raise ConfigError("usage: sctool decontam build-idf CORPUS... -o FILE")
        # Sub-grams half the index's n-grams (see sctool.decontam.idf.build_idf).
        info = build_idf(args.inputs[1:], args.output, exclude=args.exclude, rare_df=args.rare_df,
                         code_ngram=max(1, (getattr(args, "code_ngram", None) or 12) // 2),
                         prose_ngram=max(1, (getattr(args, "prose_ngram", None) or 8) // 2),
                         threads=getattr(args, "threads", 0) or 0)
        print(json.dumps(info, indent=1) if args.json else
              f"IDF table {info['output']}: {info['files']:,} files, {info['bytes_read'] / 1e6:,.1f} MB read, "
              f"{info['code_entries']:,} code + {info['prose_entries']:,} prose n-grams seen in more than "
              f"{info['rare_df']} files ({info['table_bytes'] / 1e6:.1f} MB); skipped: {info['skipped']}")
        return 0
    if not args.inputs or not args.output:
        raise ConfigError("usage: sctool decontam IN... -o OUT (or --explain DOC_ID OUT, or build-idf CORPUS... -o FILE)")

    cfg = stage_config(DecontamStage, args)
    manifest = DecontamStage(cfg, runtime_from_args(args)).run(args.inputs, args.output)
    code = finish(manifest, args)
    if not args.json:
        print("  benchmarks (items found in the corpus / loaded, documents removed):")
        for name, b in manifest.extra.get("benchmarks", {}).items():
            print(f"    {name:<12} {b['items_found']:>6,} / {b['items_loaded']:<6,} items  {b['docs_removed']:>8,} docs")
            found = b.get("items", [])
            if found:
                print("      " + ", ".join(found[:20]) + (f", ... ({len(found)} items)" if len(found) > 20 else ""))
    return code
