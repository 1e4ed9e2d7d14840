"""sctool generate --model DIR --prompt TEXT [--max-new-tokens N] [--greedy | --temperature T --top-p P]

Prints only the generated text (not the prompt) to stdout, so it can be piped; messages go to stderr.
With ``--prompts FILE.jsonl`` every prompt of the file is decoded, ``--batch-size`` at a time, and
one JSON row per prompt (id, completion, finish reason, token counts) goes to stdout or ``-o``; the
decoding rate (generated tokens/s) is reported on stderr.
The helpers here (model and sampling options) are shared with ``sctool infill``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="DIR",
                   help="sctool model directory or Hugging Face GPTBigCode directory (config.json + safetensors)")
    p.add_argument("--tokenizer", metavar="PATH", help="tokenizer.json (default: the one in the model directory)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda if available)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="weights dtype (auto: float32 on CPU, bfloat16 on GPU)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default 0 = torch's default)")


def add_sampling_args(p: argparse.ArgumentParser, *, default_max_new: int) -> None:
    p.add_argument("--max-new-tokens", type=int, default=default_max_new, metavar="N",
                   help=f"maximum tokens to generate (default {default_max_new})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="argmax decoding (the default)")
    mode.add_argument("--temperature", type=float, metavar="T", help="sample with this temperature (> 0)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="nucleus sampling mass (default 1.0)")
    p.add_argument("--top-k", type=int, default=0, metavar="K", help="sample from the K most likely (0 = all)")
    p.add_argument("--seed", type=int, help="random seed for sampling")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop sequence (repeatable; backslash escapes like \\n are understood)")


def read_text_arg(value: str | None, file: str | None, name: str) -> str | None:
    """The text of --NAME, or of --NAME-file (``-`` = stdin)."""
    if value is not None and file is not None:
        raise SystemExit(f"give --{name} or --{name}-file, not both")
    if file is None:
        return value
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{file}: {name} file not found") from exc
    except UnicodeDecodeError as exc:
        raise SystemExit(f"{file}: not UTF-8 text ({exc})") from exc


def generation_config(args: argparse.Namespace) -> Any:
    from sctool.infer import GenerationConfig

    if args.temperature is not None and args.temperature <= 0:
        raise SystemExit("--temperature must be > 0 (use --greedy for argmax decoding)")
    stops = tuple(s.encode("utf-8").decode("unicode_escape") for s in args.stop)
    return GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=0.0 if args.temperature is None else args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        stop=stops,
        seed=args.seed,
    )


def load_for_inference(args: argparse.Namespace) -> tuple[Any, Any]:
    import torch

    from sctool.infer import load

    if args.threads < 0:
        raise SystemExit("--threads must be >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype_name = args.dtype
    if dtype_name == "auto":
        dtype_name = "bfloat16" if device.startswith("cuda") else "float32"
    from sctool.model.dtypes import torch_dtype

    dtype = torch_dtype(dtype_name)
    return load(args.model, tokenizer=args.tokenizer, device=device, dtype=dtype)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="continue a prompt with a model (KV-cached; greedy or sampled)",
        description="Continue a prompt and print only the generated text to stdout. The prompt comes "
        "from --prompt, --prompt-file (- = stdin), or stdin when neither is given.",
    )
    add_model_args(p)
    p.add_argument("--prompt", help="prompt text")
    p.add_argument("--prompt-file", metavar="PATH", help="read the prompt from a file (- = stdin)")
    p.add_argument("--prompts", metavar="FILE.jsonl",
                   help="many prompts: one JSON object per line with a 'prompt' (and optional 'id') field, "
                   "or a JSON string; writes one JSON row per prompt")
    p.add_argument("--prompt-key", default="prompt", help="with --prompts: the field holding the prompt")
    p.add_argument("--batch-size", type=int, default=8, metavar="B",
                   help="with --prompts: prompts decoded together (default 8; similar lengths are grouped)")
    p.add_argument("-o", "--output", metavar="PATH", help="with --prompts: write the JSONL rows here, not stdout")
    p.add_argument("--attribute", metavar="INDEX",
                   help="attribute each completion with an `sctool index build` index (covered fraction, top "
                   "sources; an `attribution` column with --prompts, a summary on stderr)")
    add_sampling_args(p, default_max_new=128)
    p.set_defaults(func=run)


def run_many(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from sctool.infer.generate import generate_file, read_prompts

    if args.prompt is not None or args.prompt_file is not None:
        raise SystemExit("give --prompts or --prompt/--prompt-file, not both")
    if args.batch_size < 1:
        raise SystemExit("--batch-size must be >= 1")
    records = read_prompts(args.prompts, args.prompt_key)
    cfg = dataclasses.replace(generation_config(args), batch_size=args.batch_size)
    model, tok = load_for_inference(args)
    result = generate_file(model, tok, records, cfg)
    rows = list(result.rows())
    if args.attribute:
        from sctool.attribution.samples import attribute_rows, summary_line

        print("sctool generate: " + summary_line(attribute_rows(rows, args.attribute)), file=sys.stderr)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.output:
        from sctool.io.atomic import atomic_path

        with atomic_path(Path(args.output)) as tmp:
            tmp.write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
        sys.stdout.flush()
    truncated = sum(c.truncated_prompt for c in result.completions)
    print(f"sctool generate: {len(records)} prompts, batch size {args.batch_size}, "
          f"{result.generated_tokens:,} tokens in {result.seconds:.2f} s = {result.tokens_per_second:,.1f} tokens/s"
          + (f"; {truncated} prompts cut to fit the context" if truncated else ""), file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from sctool.infer import generate_completions

    if getattr(args, "prompts", None):
        return run_many(args)
    prompt = read_text_arg(args.prompt, args.prompt_file, "prompt")
    if prompt is None:
        if sys.stdin.isatty():
            raise SystemExit("no prompt: give --prompt, --prompt-file or pipe it on stdin")
        prompt = sys.stdin.read()
    cfg = generation_config(args)
    model, tok = load_for_inference(args)
    completion = generate_completions(model, tok, [prompt], cfg)[0]
    if completion.truncated_prompt:
        print(f"sctool generate: warning: the prompt was cut to its last "
              f"{completion.prompt_tokens} tokens to fit the context", file=sys.stderr)
    sys.stdout.write(completion.text)
    sys.stdout.flush()
    if args.attribute:
        from sctool.attribution.samples import attribute_rows, summary_line

        row = {"completion": completion.text}
        print("\nsctool generate: " + summary_line(attribute_rows([row], args.attribute)), file=sys.stderr)
        for s in row["attribution"]["sources"]:
            print(f"  source: {s.get('repo') or ''}/{s.get('path') or s.get('id')} ({s['windows']} windows"
                  + (f", licence {s['license']}" if s.get("license") else "") + ")", file=sys.stderr)
    return 0
