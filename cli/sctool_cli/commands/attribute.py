"""sctool attribute INDEX ["snippet" | -f FILE | --jsonl SAMPLES] [--exact] [--json]"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attribute",
        help="find which training documents a snippet (or generated samples) came from",
        description="Probe every window of the snippet (stride 1) against INDEX: the covered fraction, "
        "the longest chain of hits (characters copied in a row, whitespace ignored), the spans that hit "
        "and the documents they come from (id, repo, path, licence). --exact re-reads those documents "
        "so no reported source is a Bloom false positive.",
    )
    p.add_argument("index", metavar="INDEX", help="directory made by `sctool index build`")
    p.add_argument("snippet", nargs="?", help="the text to attribute")
    p.add_argument("-f", "--file", help="attribute the contents of FILE ('-' = stdin)")
    p.add_argument("--jsonl", metavar="SAMPLES", help="attribute every record of a samples JSONL")
    p.add_argument("--field", default=None, help="text field of --jsonl records (default: completion, …)")
    p.add_argument("-o", "--output", default=None,
                   help="with --jsonl: write the records plus an `attribution` column to this JSONL")
    p.add_argument("--exact", action="store_true", help="re-check hits against the indexed documents' text")
    p.add_argument("--top", type=int, default=5, help="sources to report per input (default 5)")
    p.add_argument("--window", type=int, default=None,
                   help="window length the query expects; an index built otherwise is an error")
    p.add_argument("--threads", type=int, default=0, help="worker threads (default 0 = all cores)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    open_, close = ("\033[1;31m", "\033[0m") if colour else ("[[", "]]")
    out, last = [], 0
    for a, b in spans:
        out += [text[last:a], open_, text[a:b], close]
        last = b
    out.append(text[last:])
    return "".join(out)


def _print_one(a, text: str, show: bool) -> None:
    pct = 100 * a.covered_fraction
    print(f"covered {pct:.1f}% ({a.covered_chars} of {a.chars} non-space chars); longest chain "
          f"{a.longest_chain} chars; {len(a.spans)} span(s); {a.table_hits} window hit(s)"
          + (" (exact)" if a.exact else ""))
    for s in a.sources:
        where = "/".join(x for x in (s.repo, s.path) if x) or s.id
        lic = f" [{s.license}]" if s.license else ""
        print(f"  {s.windows:>4} windows  {where}{lic}  (id {s.id})")
    if show and a.spans:
        print(_highlight(text, a.spans))


def run(args: argparse.Namespace) -> int:
    from sctool.attribution import MembershipIndex
    from sctool.attribution.samples import attribute_texts, pick_field, read_samples, run_summary

    given = [x is not None for x in (args.snippet, args.file, args.jsonl)]
    if sum(given) != 1:
        raise SystemExit("sctool attribute: give exactly one of SNIPPET, -f FILE or --jsonl SAMPLES")
    index = MembershipIndex(args.index, window=args.window)
    if args.jsonl:
        records = read_samples(args.jsonl)
        field = pick_field(records[0], args.field) if records else "completion"
        texts = [str(r.get(field) or "") for r in records]
        cols = attribute_texts(index, texts, exact=args.exact, top=args.top, threads=args.threads)
        if args.output:
            from pathlib import Path

            from sctool.io.atomic import atomic_path

            with atomic_path(Path(args.output)) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                for r, c in zip(records, cols):
                    fh.write(json.dumps({**r, "attribution": c}) + "\n")
        summary = run_summary(cols, index.window)
        if args.json:
            print(json.dumps({"summary": summary, **({} if args.output else {"samples": cols})}, indent=2))
        else:
            print(f"{summary['samples']} samples ({field!r}): mean covered fraction "
                  f"{summary['mean_covered_fraction']:.3f}; {summary['copied_samples']} with a chain of "
                  f">= {summary['copied_min_chars']} chars")
            for s in summary["top_sources"][:5]:
                print(f"  {s['samples']:>4} samples  {s['source']}")
        return 0
    if args.file:
        from pathlib import Path

        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8", errors="replace")
    else:
        text = args.snippet
    (a,) = index.attribute([text], exact=args.exact, top=args.top, threads=args.threads)
    if args.json:
        print(json.dumps(a.to_dict(), indent=2))
    else:
        _print_one(a, text, show=True)
    return 0
