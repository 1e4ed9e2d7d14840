"""sctool export-hf MODEL_DIR OUT_DIR: write a directory transformers' GPTBigCodeForCausalLM loads."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-hf", help="export a model to a Hugging Face GPTBigCode directory",
        description="Write config.json + model.safetensors (+ tokenizer files) that "
        "transformers.GPTBigCodeForCausalLM.from_pretrained loads. Grouped-query models cannot be "
        "exported (GPTBigCode has multi-query or multi-head attention only).",
    )
    p.add_argument("model", metavar="MODEL_DIR", help="sctool model directory")
    p.add_argument("output", metavar="OUT_DIR", help="output directory")
    p.add_argument("--tokenizer", metavar="PATH", help="tokenizer.json to include (default: the model's own)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="convert the weights")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sctool.model.checkpoint import export_hf

    dtype = getattr(torch, args.dtype) if args.dtype else None
    out = export_hf(args.model, args.output, tokenizer=args.tokenizer, overwrite=args.overwrite, dtype=dtype)
    print(f"sctool export-hf: wrote {out}", file=sys.stderr)
    return 0
