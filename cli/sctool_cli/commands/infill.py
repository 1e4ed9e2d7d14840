"""sctool infill --model DIR --prefix TEXT --suffix TEXT: fill in the middle (StarCoder's FIM format)."""

from __future__ import annotations

import argparse
import sys

from sctool_cli.commands.generate import (
    add_model_args,
    add_sampling_args,
    generation_config,
    load_for_inference,
    read_text_arg,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infill", help="fill in the middle between a prefix and a suffix",
        description="Build <fim_prefix>PREFIX<fim_suffix>SUFFIX<fim_middle>, generate until "
        "<|endoftext|>, and print only the middle to stdout. Prefix and suffix come from --prefix / "
        "--suffix or from files (--prefix-file / --suffix-file, - = stdin).",
    )
    add_model_args(p)
    p.add_argument("--prefix", help="code before the gap")
    p.add_argument("--prefix-file", metavar="PATH", help="read the prefix from a file (- = stdin)")
    p.add_argument("--suffix", help="code after the gap")
    p.add_argument("--suffix-file", metavar="PATH", help="read the suffix from a file (- = stdin)")
    add_sampling_args(p, default_max_new=64)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.infer import infill_completions

    if args.prefix_file == "-" and args.suffix_file == "-":
        raise SystemExit("only one of --prefix-file and --suffix-file can read stdin")
    prefix = read_text_arg(args.prefix, args.prefix_file, "prefix")
    suffix = read_text_arg(args.suffix, args.suffix_file, "suffix")
    if prefix is None and suffix is None:
        raise SystemExit("give at least one of --prefix / --prefix-file and --suffix / --suffix-file")
    cfg = generation_config(args)
    model, tok = load_for_inference(args)
    completion = infill_completions(model, tok, [(prefix or "", suffix or "")], cfg)[0]
    sys.stdout.write(completion.text)
    sys.stdout.flush()
    return 0
