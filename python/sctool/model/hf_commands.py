"""``export-hf`` and ``import-hf``: one parser and one implementation for ``sctool`` and ``python -m train``.

``export-hf`` takes whatever a user has: an sctool model directory, a training checkpoint
(``.ckpt``) or a training run directory (its ``checkpoints/last.ckpt``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sctool.model.dtypes import DTYPE_NAMES as DTYPES


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="sctool model directory, a training checkpoint (.ckpt), or a run directory "
                   "(its checkpoints/last.ckpt)")
    p.add_argument("output", metavar="OUT_DIR", help="output directory (config.json, model.safetensors, tokenizer)")
    p.add_argument("--tokenizer", metavar="PATH",
                   help="tokenizer.json to include (default: the model's own, or the run's data.tokenizer)")
    p.add_argument("--dtype", choices=DTYPES, help="store the weights in this dtype")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def add_import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("hf_dir", metavar="HF_DIR",
                   help="Hugging Face directory: config.json + safetensors (single or sharded) or pytorch_model.bin")
    p.add_argument("output", metavar="OUT_DIR", help="output sctool model directory")
    p.add_argument("--dtype", choices=DTYPES, help="store the weights in this dtype")
    p.add_argument("--attention", choices=["sdpa", "flash", "flex", "eager"],
                   help="attention backend recorded in the model config (default sdpa)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _is_checkpoint(path: Path) -> bool:
    return path.suffix == ".ckpt" or (path.is_dir() and (path / "checkpoints").is_dir())


def run_export(args: argparse.Namespace, prog: str) -> int:
    from sctool.model.checkpoint import export_hf
    from sctool.model.dtypes import torch_dtype

    src = Path(args.model)
    dtype = torch_dtype(args.dtype)
    if _is_checkpoint(src):
        from sctool.train.checkpoint import model_from_checkpoint, run_tokenizer

        model = model_from_checkpoint(src)
        tokenizer = args.tokenizer or run_tokenizer(src)
        out = export_hf(model, args.output, tokenizer, overwrite=args.overwrite, dtype=dtype)
        note = "" if tokenizer else " (no tokenizer)"
        print(f"{prog}: exported {model.num_params():,} parameters to {out}{note}", file=sys.stderr)
    else:
        out = export_hf(src, args.output, tokenizer=args.tokenizer, overwrite=args.overwrite, dtype=dtype)
        print(f"{prog}: wrote {out}", file=sys.stderr)
    return 0


def run_import(args: argparse.Namespace, prog: str) -> int:
    from sctool.model.checkpoint import import_hf
    from sctool.model.dtypes import torch_dtype

    dtype = torch_dtype(args.dtype)
    out = import_hf(args.hf_dir, args.output, overwrite=args.overwrite, dtype=dtype, attention=args.attention)
    print(f"{prog}: wrote {out}; fine-tune with: sctool train fit --trainer.init_from {out} ...", file=sys.stderr)
    return 0


EXPORT_HELP = "export a model or training checkpoint to a Hugging Face GPTBigCode directory"
EXPORT_DESCRIPTION = ("Write config.json + model.safetensors (+ tokenizer files) that "
                      "transformers.GPTBigCodeForCausalLM.from_pretrained loads. Grouped-query models cannot be "
                      "exported (GPTBigCode has multi-query or multi-head attention only).")
IMPORT_HELP = "import a Hugging Face GPTBigCode (StarCoder-family) checkpoint"
IMPORT_DESCRIPTION = ("Read config.json + safetensors (single or sharded) or pytorch_model.bin and write an "
                      "sctool model directory (which transformers can still load) with the tokenizer; "
                      "`sctool train fit --trainer.init_from OUT` fine-tunes it.")
