"""sctool train-tokenizer IN -o tokenizer.json"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from sctool.tokenizer import STARCODER_VOCAB_SIZE

    p = sub.add_parser(
        "train-tokenizer",
        help="train StarCoder's byte-level BPE tokenizer",
        description="Byte-level BPE with StarCoder's settings: vocabulary 49152 including the 19 special tokens "
        "at ids 0-18, every digit split, no prefix space. -o NAME.json writes the tokenizer file; any other "
        "path becomes a directory that transformers' AutoTokenizer.from_pretrained loads.",
    )
    add_io_args(p)
    p.add_argument("--vocab-size", type=int, default=STARCODER_VOCAB_SIZE,
                   help=f"vocabulary size including special tokens (default {STARCODER_VOCAB_SIZE})")
    p.add_argument("--min-frequency", type=int, default=0, help="minimum pair count for a merge (default 0)")
    p.add_argument("--max-chars", type=int, default=0,
                   help="stop reading after this many characters of text (default 0 = all)")
    p.add_argument("--max-doc-chars", type=int, default=1_000_000,
                   help="cut longer documents to this many characters for training (default 1000000)")
    p.add_argument("--no-split-digits", dest="individual_digits", action="store_false",
                   help="let digits merge (StarCoder splits every digit)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.tokenizer import TokenizerConfig
    from sctool.tokenizer.train import run_train_tokenizer

    cfg = TokenizerConfig(vocab_size=args.vocab_size, min_frequency=args.min_frequency,
                          individual_digits=args.individual_digits, max_doc_chars=args.max_doc_chars,
                          max_chars=args.max_chars)
    return finish(run_train_tokenizer(args.inputs, args.output, cfg, runtime_from_args(args)), args)
