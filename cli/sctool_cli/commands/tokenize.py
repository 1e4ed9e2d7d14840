"""sctool tokenize IN... -o PREFIX --tokenizer tokenizer.json | --mix MIX.yaml -o OUT/"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_stage_parser, finish, runtime_from_args, stage_config


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.stages.tokenize import TokenizeStage

    p = add_stage_parser(sub, TokenizeStage, inputs="*",
                         inputs_help="dataset directories, Parquet or JSONL files or globs (not with --mix)",
                         output_help="output prefix (PREFIX.bin/.idx); a directory with --mix or when it ends in /")
    p.description = (p.description or "") + (
        " With --mix MIX.yaml, each source of the data mix is tokenized into OUT/<name>.bin/.idx and the "
        "weighted blend is written to OUT/blend.yaml and OUT/megatron_data_path.txt.")
    mix = p.add_argument_group("data mix")
    mix.add_argument("--mix", help="data-mix YAML (sources with weights and inputs), e.g. configs/data-mix/starcoder.yaml")
    mix.add_argument("--root", help="with --mix: directory the sources' relative inputs are under")
    mix.add_argument("--allow-missing", action="store_true",
                     help="with --mix: blend only the sources whose inputs exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.errors import ConfigError
    from sctool.paths import find_config
    from sctool.stages.tokenize import TokenizeStage, run_tokenize, run_tokenize_mix

    cfg = stage_config(TokenizeStage, args)
    runtime = runtime_from_args(args)
    if args.mix:
        if args.inputs:
            raise ConfigError("give either inputs or --mix, not both")
        mix = find_config("data-mix", args.mix)
        manifest = run_tokenize_mix(mix, args.output, cfg, runtime, root=args.root, allow_missing=args.allow_missing)
    else:
        if not args.inputs:
            raise ConfigError("no inputs (give IN... or --mix MIX.yaml)")
        manifest = run_tokenize(args.inputs, args.output, cfg, runtime)
    code = finish(manifest, args)
    if not args.json:
        extra = manifest.extra
        rate = manifest.extra.get("tokens_per_second")
        print(f"  tokens: {extra.get('tokens', 0):,}" + (f" ({extra['dtype']}, {rate:,} tokens/s)" if rate else ""))
    return code
