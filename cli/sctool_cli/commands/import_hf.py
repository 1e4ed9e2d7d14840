"""sctool import-hf HF_DIR OUT_DIR: convert a Hugging Face GPTBigCode checkpoint to an sctool model."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-hf", help="import a Hugging Face GPTBigCode (StarCoder-family) checkpoint",
        description="Read config.json + safetensors (single or sharded) or pytorch_model.bin and write "
        "an sctool model directory (which transformers can still load) with the tokenizer.",
    )
    p.add_argument("hf_dir", metavar="HF_DIR", help="Hugging Face model directory")
    p.add_argument("output", metavar="OUT_DIR", help="output directory")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="convert the weights")
    p.add_argument("--attention", choices=["sdpa", "flash", "flex", "eager"],
                   help="attention backend recorded in the model config (default sdpa)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sctool.model.checkpoint import import_hf

    dtype = getattr(torch, args.dtype) if args.dtype else None
    out = import_hf(args.hf_dir, args.output, overwrite=args.overwrite, dtype=dtype, attention=args.attention)
    print(f"sctool import-hf: wrote {out}", file=sys.stderr)
    return 0
