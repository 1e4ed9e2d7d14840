"""sctool tokenize IN -o PREFIX --tokenizer tokenizer.json"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_runtime_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tokenize",
        help="encode documents into Megatron .bin/.idx token files",
        description="Encode every document (all cores), append <|endoftext|>, and write PREFIX.bin + PREFIX.idx "
        "in Megatron-LM's indexed-dataset layout (uint16 when the vocabulary fits) with PREFIX.manifest.json. "
        "With --mix MIX.yaml, each source of the data mix is tokenized into OUT/<name>.bin/.idx and the "
        "weighted blend is written to OUT/blend.yaml and OUT/megatron_data_path.txt.",
    )
    p.add_argument("inputs", nargs="*", metavar="IN",
                   help="dataset directories, Parquet or JSONL files or globs (not with --mix)")
    p.add_argument("-o", "--output", required=True,
                   help="output prefix (PREFIX.bin/.idx); a directory with --mix or when it ends in /")
    p.add_argument("--tokenizer", required=True, help="tokenizer.json or a directory holding one")
    p.add_argument("--mix", help="data-mix YAML (sources with weights and inputs), e.g. configs/data-mix/starcoder.yaml")
    p.add_argument("--root", help="with --mix: directory the sources' relative inputs are under")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --mix: blend only the sources whose inputs exist")
    p.add_argument("--dtype", choices=["auto", "uint16", "int32"], default="auto",
                   help="token dtype (default auto: uint16 when the vocabulary fits)")
    p.add_argument("--no-eod", dest="append_eod", action="store_false",
                   help="do not append <|endoftext|> after each document")
    p.add_argument("--max-chunk-chars", type=int, default=65536,
                   help="encode longer documents in chunks cut at pre-token boundaries (default 65536)")
    add_runtime_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.paths import find_config
    from sctool.stages.tokenize import TokenizeConfig, run_tokenize, run_tokenize_mix

    cfg = TokenizeConfig(tokenizer=args.tokenizer, append_eod=args.append_eod, dtype=args.dtype,
                         max_chunk_chars=args.max_chunk_chars)
    runtime = runtime_from_args(args)
    if args.mix:
        if args.inputs:
            raise SystemExit("sctool tokenize: give either inputs or --mix, not both")
        mix = find_config("data-mix", args.mix)
        manifest = run_tokenize_mix(mix, args.output, cfg, runtime, root=args.root, allow_missing=args.allow_missing)
    else:
        if not args.inputs:
            raise SystemExit("sctool tokenize: no inputs (give IN... or --mix MIX.yaml)")
        manifest = run_tokenize(args.inputs, args.output, cfg, runtime)
    code = finish(manifest, args)
    if not args.json:
        extra = manifest.extra
        rate = manifest.extra.get("tokens_per_second")
        print(f"  tokens: {extra.get('tokens', 0):,}" + (f" ({extra['dtype']}, {rate:,} tokens/s)" if rate else ""))
    return code
