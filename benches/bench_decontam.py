"""Decontamination: quality on the labelled public set and on generated container families, false
removals on real public code (every one listed in benches/data/decontam-real-audit.csv), throughput.

Generated families wrap or rewrite every document of the public set (contaminated and clean alike).
Development used ``jsonl``, ``notebook``, ``html_escaped`` and ``string_literal``; ``diff``,
``highlighted_html`` and ``json_markdown`` were held out of the first design (and seen since);
``ruff_format``, ``renamed``, ``comments_stripped``, ``class_method`` and ``notebook_in_jsonl``
were written after the signature anchors were designed and are reported apart as new held-out
families.

Quality: recall on contaminated documents and false-positive rate on clean look-alikes of
``../shared/data/decontam/decontam-public.jsonl`` for StarCoder's exact rule (sctool's Aho-Corasick
implementation, checked equal to the set's own ``starcoder_exact_match`` column), the
whitespace-insensitive baseline column, and sctool's default (exact + normalised n-gram containment).
Speed: the real corpus with all of HumanEval, MBPP and GSM8K loaded, against StarCoder's own
approach (a Python loop of ``pattern in content.lower()`` over every benchmark string).
"""

from __future__ import annotations

import builtins
import csv
import html
import io
import json
import keyword
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import tokenize
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl

from benches.bench_filter import timed
from benches.harness import Timer, corpus_bytes, md_table, peak_rss_mb, real_corpus, write_report
from sctool.decontam import DecontamIndex, NormalisedParams, load_benchmarks
from sctool.decontam.idf import walk_corpus

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = SHARED / "benchmarks"
PUBLIC = SHARED / "decontam" / "decontam-public.jsonl"
AUDIT = Path(__file__).resolve().parent / "data" / "decontam-real-audit.csv"
SPECS = [f"humaneval={BENCH}/humaneval/HumanEval.jsonl.gz", f"mbpp={BENCH}/mbpp/mbpp.jsonl",
         f"gsm8k={BENCH}/gsm8k/test.jsonl"]


def _jsonl(t: str) -> str:
    return json.dumps({"instruction": "Explain what this code does.", "input": "", "output": t})


def _notebook(t: str) -> str:
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
            "source": t.splitlines(keepends=True)}
    return json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Notes\n"]}, cell],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def _html_escaped(t: str) -> str:
    return f"<html><body><h1>Snippet</h1>\n<pre><code>{html.escape(t)}</code></pre>\n</body></html>\n"


def _string_literal(t: str) -> str:
    return f"import textwrap\n\nSOURCE = {t!r}\n\n\ndef show():\n    print(textwrap.dedent(SOURCE))\n"


def _diff(t: str) -> str:
    lines = t.splitlines()
    body = "".join(f"+{ln}\n" for ln in lines)
    return f"diff --git a/m.py b/m.py\n--- /dev/null\n+++ b/m.py\n@@ -0,0 +1,{len(lines)} @@\n{body}"


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\s+|.", re.S)


def _highlighted_html(t: str) -> str:
    out = []
    for m in _TOKEN.finditer(t):
        tok = m.group(0)
        if tok.isspace():
            out.append(tok)
        elif tok[0].isalpha() or tok[0] == "_":
            out.append(f'<span class="n">{html.escape(tok)}</span>')
        else:
            out.append(f'<span class="o">{html.escape(tok)}</span>')
    return '<div class="highlight"><pre>' + "".join(out) + "</pre></div>\n"


def _json_markdown(t: str) -> str:
    answer = f"Sure! Here is the code:\n\n```python\n{t}\n```\n\nHope this helps."
    return json.dumps({"messages": [{"role": "user", "content": "Can you show me?"},
                                    {"role": "assistant", "content": answer}]}) + "\n"


def _tokens(t: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(t).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None


_BUILTINS = frozenset(dir(builtins))


def _renamed(t: str) -> str:
    """Every name the document binds or uses (not keywords, builtins or attributes) renamed to
    ``n1``, ``n2``, ... consistently: function names and parameters included, so a copy keeps none of
    the benchmark's own names."""
    toks = _tokens(t)
    if toks is None:
        return t
    names: dict[str, str] = {}
    out = []
    prev = None
    for tok in toks:
        if (tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) and tok.string not in _BUILTINS
                and not (prev is not None and prev.string == ".") and tok.string not in ("self", "cls")):
            tok = tok._replace(string=names.setdefault(tok.string, f"n{len(names) + 1}"))
        out.append(tok)
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok
    try:
        return tokenize.untokenize(out)
    except ValueError:
        return t


def _comments_stripped(t: str) -> str:
    """``#`` comments removed (a minifier's first step); docstrings kept."""
    toks = _tokens(t)
    if toks is None:
        return t
    try:
        return tokenize.untokenize([x for x in toks if x.type != tokenize.COMMENT])
    except ValueError:
        return t


_DEF = re.compile(r"^def (\w+)\((\)?)", re.M)


def _class_method(t: str) -> str:
    """The document's top-level functions pasted into a class as methods: indented, ``self`` first."""
    body = _DEF.sub(lambda m: f"def {m.group(1)}(self{')' if m.group(2) else ', '}", t)
    return "class Helpers:\n" + "".join("    " + ln if ln.strip() else ln for ln in body.splitlines(True))


def _notebook_in_jsonl(t: str) -> str:
    """A notebook holding the document, serialised as a string field of a JSONL record (a crawl of
    notebooks stored as text): the code sits under two layers of JSON escaping."""
    return json.dumps({"repo": "someone/notes", "path": "analysis.ipynb", "content": _notebook(t)}) + "\n"


def _ruff_format_all(texts: list[str]) -> list[str]:
    """Each document formatted by ``ruff format`` (black's style: quotes, trailing commas, line
    wrapping, blank lines); documents it cannot parse stay as they are."""
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, t in enumerate(texts):
            p = Path(d) / f"d{i:04d}.py"
            p.write_text(t)
            paths.append(p)
        subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache", d],
                       capture_output=True, check=False)
        return [p.read_text() for p in paths]


# name: (wrapper, kind) with kind "development", "held out (first design)" or "held out (new)".
FAMILIES: dict[str, tuple[Callable[[str], str] | None, str]] = {
    "jsonl": (_jsonl, "development"),
    "notebook": (_notebook, "development"),
    "html_escaped": (_html_escaped, "development"),
    "string_literal": (_string_literal, "development"),
    "diff": (_diff, "held out (first design)"),
    "highlighted_html": (_highlighted_html, "held out (first design)"),
    "json_markdown": (_json_markdown, "held out (first design)"),
    "ruff_format": (None, "held out (new)"),
    "renamed": (_renamed, "held out (new)"),
    "comments_stripped": (_comments_stripped, "held out (new)"),
    "class_method": (_class_method, "held out (new)"),
    "notebook_in_jsonl": (_notebook_in_jsonl, "held out (new)"),
}


def families(items: list, rows: list[dict]) -> tuple[str, dict]:
    """Recall and false positives per generated family, default method against StarCoder's rule."""
    idx_default = DecontamIndex(items)
    idx_exact = DecontamIndex(items, method="exact")
    out_rows = []
    res = {}
    for name, (wrap, held) in FAMILIES.items():
        raw = [r["text"] for r in rows]
        new = _ruff_format_all(raw) if wrap is None else [wrap(t) for t in raw]
        changed = sum(a != b for a, b in zip(raw, new))
        texts = pl.Series(new)
        r_def = [len(m) > 0 for m in idx_default.scan(texts).to_list()]
        r_ex = [len(m) > 0 for m in idx_exact.scan(texts).to_list()]
        pos = [i for i, r in enumerate(rows) if r["contaminated"]]
        neg = [i for i, r in enumerate(rows) if not r["contaminated"]]
        rec = sum(r_def[i] for i in pos) / len(pos)
        fp = sum(r_def[i] for i in neg)
        res[name] = {"recall": rec, "fp": fp, "kind": held}
        missed = sorted(rows[i]["task_id"] for i in pos if not r_def[i])
        out_rows.append([name, held, f"{changed}/{len(rows)}", rec, f"{sum(r_def[i] for i in pos)}/{len(pos)}",
                         f"{fp}/{len(neg)}", sum(r_ex[i] for i in pos) / len(pos), ", ".join(missed) or "-"])
    table = md_table(["family", "used in", "docs changed", "recall (default)", "found", "false positives",
                      "recall (exact)", "missed items"], out_rows)
    means = []
    for kind in ("development", "held out (first design)", "held out (new)"):
        v = [x for x in res.values() if x["kind"] == kind]
        means.append(f"{kind}: recall {sum(x['recall'] for x in v) / len(v):.3f}, false positives "
                     f"{sum(x['fp'] for x in v)}/{135 * len(v)}")
    body = (f"Every public-set document (165 contaminated, 135 clean) wrapped in, or rewritten by, each "
            f"family (`docs changed`: documents the rewrite applied to; `ruff_format`, `renamed` and "
            f"`comments_stripped` leave documents Python cannot parse as they are).\n\n{table}\n\n"
            + "; ".join(means) + ".\n\nThe new held-out families were scored once with the signature anchors in "
            "place; `notebook_in_jsonl` then scored 0.279 (the decoder was not applied to its own strings "
            "view, so a second layer of JSON escaping stayed encoded) and the rule was changed after "
            "seeing it; it is held out no longer. `renamed` misses are short solution-only or partial "
            "copies whose names, the anchors' evidence, are gone; `ruff_format` misses are MBPP "
            "solutions whose redundant parentheses and added trailing commas change the token stream.\n")
    return body, res


def audit(quick: bool) -> str:
    """Every removal on real public code under the default and under the previous default
    (unit weights, no decoding), with the judgement recorded in benches/data/decontam-real-audit.csv."""
    items = load_benchmarks(SPECS)
    pairs = real_corpus(20_000_000 if quick else 210_000_000)
    # The two reported false removals live in sympy; the Rust crate cache is the third
    # source of the corpus it was measured on. Both are added whole where present.
    seen = {p for p, _ in pairs}
    extra_roots = [Path(sysconfig.get_paths()["purelib"]) / "sympy", Path.home() / ".cargo" / "registry" / "src"]
    if not quick:
        for _, text_path in [(0, r) for r in extra_roots if r.exists()]:
            for p, t in walk_corpus([text_path], exclude=["*/__pycache__/*"]):
                if p not in seen:
                    pairs.append((p, t))
                    seen.add(p)
    series = pl.Series("content", [t for _, t in pairs])
    mb = corpus_bytes([t for _, t in pairs]) / 1e6
    judged = {}
    if AUDIT.exists():
        with AUDIT.open() as fh:
            for r in csv.DictReader(fh):
                judged[(r["config"], r["path"], r["item"])] = (r["judgement"], r["why"])
    rows = []
    configs = {"default": NormalisedParams(),
               "previous (idf=none decode=false min_ngrams=5)": NormalisedParams(idf="none", decode=False,
                                                                                 min_ngrams=5)}
    counts = {}
    for cname, params in configs.items():
        found = DecontamIndex(items, params=params).scan(series).to_list()
        n = 0
        for (path, _), ms in zip(pairs, found):
            if not ms:
                continue
            n += 1
            rel = path.split("site-packages/")[-1] if "site-packages/" in path else path
            for it in sorted({m["item"] for m in ms}):
                m = max((m for m in ms if m["item"] == it), key=lambda m: m["score"])
                j, why = judged.get((cname, rel, it), ("unjudged", ""))
                rows.append([cname, rel, m["benchmark"], it, m["method"], m["part"], f"{m['score']:.2f}", m["view"],
                             j, why])
        counts[cname] = n
    table = md_table(["config", "file", "benchmark", "item", "method", "part", "score", "view", "judgement", "why"],
                     rows) if rows else "(no removals)"
    fp = sum(1 for r in rows if r[0] == "default" and r[8] != "true removal")
    return (f"Corpus: {len(pairs):,} files, {mb:,.1f} MB (CPython stdlib, site-packages, /usr/include, "
            f"plus all of sympy and ~/.cargo/registry/src); HumanEval + MBPP + GSM8K loaded. Documents removed: "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
            + f". False removals under the default: {fp}.\n\n{table}\n\nJudgements are kept in "
            f"`benches/data/decontam-real-audit.csv` (one row per removal and item).\n")


def quality() -> tuple[str, dict]:
    items = load_benchmarks(SPECS)
    rows = [json.loads(x) for x in PUBLIC.read_text().splitlines() if x.strip()]
    texts = pl.Series([r["text"] for r in rows])
    pos = [r for r in rows if r["contaminated"]]
    neg = [r for r in rows if not r["contaminated"]]

    def score(flags: list[bool]) -> dict:
        f = dict(zip([r["id"] for r in rows], flags))
        tp = sum(f[r["id"]] for r in pos)
        fp = sum(f[r["id"]] for r in neg)
        by = {b: (sum(f[r["id"]] for r in pos if r["benchmark"] == b), sum(r["benchmark"] == b for r in pos))
              for b in ("humaneval", "mbpp")}
        missed = Counter(t for r in pos if not f[r["id"]] for t in r["transforms"])
        return {"recall": tp / len(pos), "tp": tp, "fp_rate": fp / len(neg), "fp": fp, "by": by, "missed": missed}

    results = {}
    exact = DecontamIndex(items, method="exact")
    ex_flags = [len(m) > 0 for m in exact.scan(texts).to_list()]
    results["StarCoder exact substring (sctool --method exact)"] = score(ex_flags)
    parity = ex_flags == [r["starcoder_exact_match"] for r in rows]
    results["whitespace-insensitive substring (dataset baseline column)"] = score(
        [r["whitespace_insensitive_match"] for r in rows])
    results["sctool normalised only (--method normalised)"] = score(
        [len(m) > 0 for m in DecontamIndex(items, method="normalised").scan(texts).to_list()])
    results["sctool previous default (--idf none --no-decode --min-ngrams 5)"] = score(
        [len(m) > 0 for m in DecontamIndex(items, params=NormalisedParams(idf="none", decode=False, min_ngrams=5))
         .scan(texts).to_list()])
    results["sctool default without IDF weighting (--idf none)"] = score(
        [len(m) > 0 for m in DecontamIndex(items, params=NormalisedParams(idf="none")).scan(texts).to_list()])
    results["sctool default (--method both)"] = score(
        [len(m) > 0 for m in DecontamIndex(items).scan(texts).to_list()])
    table = md_table(
        ["method", "recall", "found", "HumanEval", "MBPP", "FP rate", "FP"],
        [[k, v["recall"], f"{v['tp']}/{len(pos)}", f"{v['by']['humaneval'][0]}/{v['by']['humaneval'][1]}",
          f"{v['by']['mbpp'][0]}/{v['by']['mbpp'][1]}", v["fp_rate"], f"{v['fp']}/{len(neg)}"]
         for k, v in results.items()],
    )
    miss = "\n".join(f"* {k}: " + (", ".join(f"{t} {n}" for t, n in v["missed"].most_common()) or "none")
                     for k, v in results.items())
    body = (f"{len(rows)} documents: {len(pos)} contaminated, {len(neg)} clean look-alikes.\n\n{table}\n\n"
            f"sctool's exact method flags exactly the documents of the set's `starcoder_exact_match` column: "
            f"{parity}.\n\nTargets: recall >= 0.97 with FP rate <= 1%. Transforms of the missed contaminated "
            f"documents:\n\n{miss}\n")
    return body, results


def speed(quick: bool) -> str:
    items = load_benchmarks(SPECS)
    pairs = real_corpus(20_000_000 if quick else 100_000_000)
    corpus = [t for _, t in pairs]
    series = pl.Series("content", corpus)
    mb = corpus_bytes(corpus) / 1e6
    rows = []
    variants = [("exact", NormalisedParams()), ("normalised", NormalisedParams()),
                ("both", NormalisedParams(decode=False)), ("both", NormalisedParams())]
    for method, params in variants:
        with Timer() as tb:
            idx = DecontamIndex(items, method=method, params=params)
        t1, c1 = timed(lambda idx=idx: idx.scan(series, threads=1), repeat=2)
        tn, _ = timed(lambda idx=idx: idx.scan(series, threads=0), repeat=2)
        found = sum(len(m) > 0 for m in idx.scan(series).to_list())
        label = f"sctool --method {method}" + ("" if params.decode or method == "exact" else " --no-decode")
        rows.append([label, f"{tb.seconds:.2f}", mb / t1, mb / c1, mb / tn, found])
        if method == "both" and params.decode:
            flagged = [(p, sorted({f"{m['item']} ({m['method']} {m['part']})" for m in ms}))
                       for (p, _), ms in zip(pairs, idx.scan(series).to_list()) if ms]
    # StarCoder's find_substrings: lower() each file, then `in` for every benchmark string.
    patterns = [s.lower() for it in items for _, s in it.exact if s.strip()]
    sample = corpus[: max(1, len(corpus) // 100)]
    smb = corpus_bytes(sample) / 1e6

    def starcoder_loop() -> int:
        n = 0
        for t in sample:
            low = t.lower()
            n += any(p in low for p in patterns)
        return n

    ts, cs = timed(starcoder_loop, repeat=1)
    rows.append([f"StarCoder Python loop ({len(patterns):,} strings; on a {smb:.1f} MB sample)", "0", smb / ts,
                 smb / cs, "-", "-"])
    table = md_table(["method", "index build s", "MB/s 1 thread", "MB per CPU-second, 1 thread",
                      "MB/s all threads", "docs flagged"], rows)
    return (f"Corpus: {len(corpus):,} files, {mb:,.1f} MB (stdlib + site-packages + /usr/include); benchmarks "
            f"loaded: HumanEval 164 + MBPP 500 + GSM8K 1,319 items.\n\n{table}\n\nTarget: >= 150 MB/s per core "
            f"for the default (decoding included). The machine is shared (1-minute load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores when this finished): MB per "
            f"CPU-second is the per-core figure least disturbed by that. Peak RSS of the benchmark process: "
            f"{peak_rss_mb():,.0f} MB.\n\nDocuments of this corpus the default flags: "
            + ("; ".join(f"`{Path(p).name}`: {', '.join(m)}" for p, m in flagged) or "none") + "\n")


def main() -> str:
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    qbody, _ = quality()
    items = load_benchmarks(SPECS)
    rows = [json.loads(x) for x in PUBLIC.read_text().splitlines() if x.strip()]
    fbody, _ = families(items, rows)
    abody = audit(quick)
    sbody = speed(quick)
    p = NormalisedParams()
    return str(write_report("decontam", "Benchmark decontamination: quality, false removals and throughput",
                            [("Quality on decontam-public.jsonl", qbody), ("Generated container families", fbody),
                             ("False removals on real public code", abody), ("Throughput on the real corpus", sbody)],
                            config={"threshold": p.threshold, "prose_ngram": p.prose_ngram, "code_ngram": p.code_ngram,
                                    "min_ngrams": p.min_ngrams, "min_matched": p.min_matched, "idf": p.idf,
                                    "min_weight": p.min_weight, "decode": p.decode},
                            packages=("sctool", "polars")))


if __name__ == "__main__":
    print(main())
