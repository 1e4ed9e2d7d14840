"""sctool redact IN -o OUT"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "redact",
        help="detect and redact secrets and PII",
        description="Detect e-mails, IP addresses, keys, passwords, names and usernames; replace the chosen "
        "types with <EMAIL>, <KEY>, <PASSWORD>, <NAME> (IPs with a synthetic address of the same family) and "
        "add a `pii` column of spans (start, end, type, rule) in original-text offsets. Every document is kept.",
    )
    add_io_args(p)
    p.add_argument("--types", default="EMAIL,IP_ADDRESS,KEY,PASSWORD,NAME",
                   help="comma-separated types to replace (default: EMAIL,IP_ADDRESS,KEY,PASSWORD,NAME; "
                   "USERNAME is reported but kept unless listed)")
    p.add_argument("--annotate-only", action="store_true", help="keep the text; only add the pii column")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic replacement IPs (default 0)")
    p.add_argument("--pii-column", default="pii", help="name of the spans column (default: pii)")
    p.add_argument("--ner-model", metavar="DIR", default=None,
                   help="optional local Hugging Face token-classification model (StarPII-style) whose spans "
                   "are merged with the rules' (needs torch + transformers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.stages.redact import RedactConfig, run_redact

    types = tuple(t for t in args.types.split(",") if t.strip())
    cfg = RedactConfig(types=types, annotate_only=args.annotate_only, seed=args.seed,
                       pii_column=args.pii_column, ner_model=args.ner_model)
    return finish(run_redact(args.inputs, args.output, cfg, runtime_from_args(args)), args)
