"""sctool search INDEX "query" [--lang L] [--repo R] [-k 10] [--json]"""

from __future__ import annotations

import argparse
import json
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="BM25 full-text search of the indexed corpus (code-aware tokens; needs sctool[search])",
        description="Rank the documents of INDEX (built with `sctool index build --search`) for QUERY with "
        "BM25 over code-aware tokens: identifiers whole and split on case and underscores, numbers, "
        "multi-character operators. Every shard under INDEX/search is queried.",
    )
    p.add_argument("index", metavar="INDEX", help="index directory (or its search/ folder)")
    p.add_argument("query", help="code or words to look for")
    p.add_argument("--lang", default=None, help="only documents of this language")
    p.add_argument("--repo", default=None, help="only documents of this repository (owner/name) or owner")
    p.add_argument("-k", type=int, default=10, help="hits to print (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.attribution.search import SearchIndex

    hits = SearchIndex(args.index).search(args.query, k=args.k, lang=args.lang, repo=args.repo)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2))
        return 0
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    on, off = ("\033[1;33m", "\033[0m") if colour else ("[[", "]]")
    if not hits:
        print("no hits")
    for n, h in enumerate(hits, 1):
        where = "/".join(x for x in (h.repo, h.path) if x) or h.id
        lic = f"  [{h.license}]" if h.license else ""
        print(f"{n:>2}. {h.score:7.3f}  {where}{lic}  (id {h.id}, line {h.excerpt_line})")
        ex, last, parts = h.excerpt, 0, []
        for a, b in h.highlights:
            parts += [ex[last:a], on, ex[a:b], off]
            last = b
        parts.append(ex[last:])
        for line in "".join(parts).split("\n"):
            print(f"      {line}")
    return 0
