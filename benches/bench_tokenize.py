"""Tokenization and FIM: `sctool tokenize` end to end vs raw HF tokenizers on the same texts, same run.

1. Throughput: ``run_tokenize`` (read Parquet, encode, append EOD, write .bin/.idx) against
   ``Tokenizer.encode_batch`` and ``encode_batch_fast`` on the same texts already in memory. Target:
   ours ≥ 0.9× raw, i.e. reading and packing cost under 10 %.
2. Long documents: seconds per MB for one huge document as it grows (linear = flat).
3. FIM: windows/s of ``apply_fim`` on 8193-token windows, one core (one data-loader worker), against
   the trainer's consumption (~536 tokens/s for the 41.8 M GPTBigCode on this CPU).
4. Memory and threads: peak RSS and cores used by ``sctool tokenize`` against raw ``encode_batch`` on
   the same 20 MB (50 MB with SCTOOL_BENCH_FULL=1), each in its own process, at ``--threads`` 1 and 2
   (target: ≤ 1.2× raw's peak, CPU/wall ≤ threads); and one single-line document of 20 MB (50 MB)
   (memory and MB per CPU-second).
"""

from __future__ import annotations

import json
import os
import random
import string
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from benches.harness import Timer, corpus_bytes, md_table, measure_in_subprocess, real_corpus, write_report
from sctool.fim import FimConfig, FimTokenIds, apply_fim, fim_codec, unpermute, window_rng
from sctool.packing.indexed import IndexedDataset
from sctool.stages.base import Runtime
from sctool.stages.tokenize import TokenizeConfig, run_tokenize
from sctool.tokenizer import EOD_TOKEN, TokenizerConfig, train_tokenizer
from sctool.tokenizer.encode import encode_documents

TRAINER_TOKENS_PER_S = 536  # measured separately, GPTBigCode 41.8M, fp32, CPU


def _cpu_and_wall(fn, repeat: int = 2) -> tuple[float, float]:
    """Best CPU seconds (this process, all threads) and best wall seconds over ``repeat`` runs."""
    cpu = wall = float("inf")
    for _ in range(repeat):
        c0, w0 = os.times(), time.perf_counter()
        fn()
        c1 = os.times()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, (c1.user + c1.system) - (c0.user + c0.system))
    return cpu, wall


RAW_CHILD = """
import os, json, time
os.environ['RAYON_NUM_THREADS'] = '{threads}'
import polars as pl
from tokenizers import Tokenizer
tok = Tokenizer.from_file({tok!r})
texts = pl.read_parquet({src!r}, columns=['content'])['content'].to_list()
c0, w0 = os.times(), time.perf_counter()
encs = tok.encode_batch(texts, add_special_tokens=False)
c1 = os.times()
print(json.dumps({{'wall': time.perf_counter() - w0, 'cpu': c1.user + c1.system - c0.user - c0.system}}))
"""

OURS_CHILD = """
import os, json, time
from sctool.stages.base import Runtime
from sctool.stages.tokenize import TokenizeConfig, run_tokenize
c0, w0 = os.times(), time.perf_counter()
m = run_tokenize([{src!r}], {out!r}, TokenizeConfig(tokenizer={tok!r}),
                 Runtime(quiet=True, overwrite=True, threads={threads}))
c1 = os.times()
print(json.dumps({{'wall': time.perf_counter() - w0, 'cpu': c1.user + c1.system - c0.user - c0.system,
                  'chunks': m.stats.counters['chunks'], 'forced': m.stats.counters['forced_splits']}}))
"""


SUMMARY: dict[str, str] = {}


def memory_section(work: Path, tok_file: Path, quick: bool) -> str:
    """Peak RSS / cores of sctool tokenize vs raw encode_batch, each in a fresh process."""
    # 20 MB under make bench (each of the five processes below costs ~0.6 CPU-s per MB, and the suite has
    # 15 minutes on 2 cores); SCTOOL_BENCH_FULL=1 measures the 50 MB of the original claim.
    size = 12_000_000 if quick else (50_000_000 if os.environ.get("SCTOOL_BENCH_FULL") else 20_000_000)
    corpus = real_corpus(size)
    src = work / "mem.parquet"
    pl.DataFrame({"id": [p for p, _ in corpus], "content": [t for _, t in corpus]}).write_parquet(src)
    mb = corpus_bytes([t for _, t in corpus]) / 1e6
    del corpus
    rows = []
    ratios = []
    for threads in (1, 2):
        raw = measure_in_subprocess(RAW_CHILD.format(threads=threads, tok=str(tok_file), src=str(src)))
        ours = measure_in_subprocess(OURS_CHILD.format(threads=threads, tok=str(tok_file), src=str(src),
                                                       out=str(work / "mem-out")))
        ratios.append(ours["peak_rss_mb"] / raw["peak_rss_mb"])
        for name, r in (("tokenizers encode_batch (RAYON_NUM_THREADS)", raw), ("sctool tokenize --threads", ours)):
            rows.append([name, threads, f"{r['peak_rss_mb']:,.0f}", f"{r['cpu']:.1f}", f"{r['wall']:.1f}",
                         f"{r['cpu'] / r['wall']:.2f}", f"{mb / r['cpu']:.2f}"])
    table = md_table(["method", "threads", "peak RSS MB", "CPU s", "wall s", "cores used (CPU/wall)",
                      "MB per CPU-s"], rows)

    # One single-line document (newlines turned into spaces): the reader holds the document, the
    # encoder only a bounded window of it.
    long_mb = 10 if quick else (50 if os.environ.get("SCTOOL_BENCH_FULL") else 20)
    texts = [t for _, t in real_corpus(long_mb * 1_000_000 + 1_000_000)]
    doc = " ".join(t.replace("\n", " ") for t in texts)[: long_mb * 1_000_000]
    del texts
    long_src = work / "long.jsonl"
    long_src.write_text(json.dumps({"content": doc}) + "\n", encoding="utf-8")
    del doc
    one = measure_in_subprocess(OURS_CHILD.format(threads=2, tok=str(tok_file), src=str(long_src),
                                                  out=str(work / "long-out")))
    SUMMARY["tokenize peak RSS / raw encode_batch, 1 / 2 threads"] = " / ".join(f"{r:.2f}×" for r in ratios)
    SUMMARY["tokenize single-line document, MB per CPU-s / peak RSS"] = (
        f"{long_mb / one['cpu']:.2f} / {one['peak_rss_mb']:,.0f} MB ({long_mb} MB document)")
    long_rows = [[f"one {long_mb} MB single-line JSONL document", f"{one['peak_rss_mb']:,.0f}",
                  f"{one['cpu']:.1f}", f"{long_mb / one['cpu']:.2f}", one["chunks"], one["forced"]]]
    long_table = md_table(["input", "peak RSS MB", "CPU s", "MB per CPU-s", "chunks", "forced cuts"], long_rows)
    return (
        f"{mb:,.1f} MB of real code in Parquet; each run in its own process (peak RSS = VmHWM). Raw "
        "`encode_batch` gets the texts already in memory and its pool size from `RAYON_NUM_THREADS`; "
        "sctool reads Parquet, encodes in bounded windows on exactly `--threads` threads and writes "
        f".bin/.idx.\n\n{table}\n\nsctool's peak RSS / raw's: "
        + ", ".join(f"{r:.2f}× at {t} thread{'s' if t > 1 else ''}" for t, r in zip((1, 2), ratios))
        + " (target ≤ 1.2×).\n\n"
        f"{long_table}\n\nThe document itself is held by the reader (JSON line, Python string, Arrow "
        "column); the encoder adds one window per thread, so memory no longer grows ~50 bytes per character."
    )


def main() -> str:
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    corpus = real_corpus(6_000_000 if quick else 24_000_000)
    texts = [t for _, t in corpus]
    mb = corpus_bytes(texts) / 1e6
    train_texts = texts[: max(1, len(texts) // 2)]
    t0 = time.perf_counter()
    tok = train_tokenizer(train_texts, TokenizerConfig())
    train_s = time.perf_counter() - t0
    vocab = tok.get_vocab_size()

    work = Path(tempfile.mkdtemp(prefix="sctool-bench-tok-"))
    src = work / "corpus.parquet"
    pl.DataFrame({"id": [p for p, _ in corpus], "content": texts}).write_parquet(src)
    tok_file = work / "tokenizer.json"
    tok.save(str(tok_file))
    cfg = TokenizeConfig(tokenizer=str(tok_file))

    def ours() -> None:
        run_tokenize([src], work / "out", cfg, Runtime(quiet=True, overwrite=True))

    def raw() -> None:
        tok.encode_batch(texts, add_special_tokens=False)

    def raw_fast() -> None:
        tok.encode_batch_fast(texts, add_special_tokens=False)

    # Interleave the three so machine noise hits them alike; best of 2 for wall time and for CPU time
    # (user + system of this process, all threads): on a shared machine CPU time is the steadier
    # measure of what each path costs, wall time what a user waits.
    best = {"ours": float("inf"), "raw": float("inf"), "raw_fast": float("inf")}
    best_cpu = dict(best)
    for _ in range(2):
        for name, fn in (("raw", raw), ("ours", ours), ("raw_fast", raw_fast)):
            c0 = os.times()
            with Timer() as t:
                fn()
            c1 = os.times()
            best[name] = min(best[name], t.seconds)
            best_cpu[name] = min(best_cpu[name], (c1.user + c1.system) - (c0.user + c0.system))
    ds = IndexedDataset(work / "out")
    n_tokens = ds.num_tokens
    ok = all(
        ds[i][:-1].tolist() == tok.encode(texts[i], add_special_tokens=False).ids
        for i in range(0, len(texts), max(1, len(texts) // 200))
    )
    labels = {
        "ours": "sctool tokenize (Parquet → .bin/.idx, incl. EOD + I/O)",
        "raw": "tokenizers encode_batch (in memory)",
        "raw_fast": "tokenizers encode_batch_fast (in memory)",
    }
    rows = [
        [labels[k], mb / best[k], f"{n_tokens / best[k]:,.0f}", f"{best[k] / best['ours']:.3f}×",
         f"{best_cpu[k]:.2f}", f"{best_cpu[k] / max(best_cpu['ours'], 1e-9):.3f}×"]
        for k in ("ours", "raw", "raw_fast")
    ]
    tput = md_table(["method", "MB/s (wall)", "tokens/s (wall)", "ours vs this, wall", "CPU s",
                     "ours vs this, CPU"], rows)
    load = os.getloadavg()[0]
    tput_body = (
        f"Corpus: {len(texts):,} files, {mb:,.1f} MB (stdlib + site-packages + /usr/include); "
        f"tokenizer trained here with StarCoder's settings (vocab {vocab:,}) on half of it in {train_s:.0f} s. "
        f"{n_tokens:,} tokens incl. one EOD per document, dtype {ds.dtype}. Load average at the end: "
        f"{load:.1f} on {os.cpu_count()} cores.\n\n{tput}\n\n"
        "\"ours vs this\" is this method's time divided by ours: ≥ 0.9 means our reading, packing and "
        "writing cost less than 10 % on top of the raw encoder (target).\n\n"
        f"Decoded .bin documents equal `tokenizer.encode` of the source on sampled documents: {ok}.\n\n"
        "Peer figure (measured separately on this machine kind): HF tokenizers encode_batch 2.8 MB/s with 2 threads."
    )

    # Long documents: one document of growing size, default chunking vs a single encode call.
    unit = "".join(texts[:50])
    long_rows = []
    eod = tok.token_to_id(EOD_TOKEN)
    for size in (1_000_000, 4_000_000) if not quick else (250_000, 1_000_000):
        doc_code = (unit * (size // max(len(unit), 1) + 1))[:size]
        # Random letters: one giant pre-token, the worst case for BPE's merge loop.
        doc_blob = "".join(random.Random(size).choices(string.ascii_letters, k=size))
        for label, doc in (("code", doc_code), ("random letters, no boundaries", doc_blob)):
            # Alternate the two (BPE's word cache stays warm for both) and keep the best of three.
            c_chunk = t_chunk = c_whole = t_whole = float("inf")
            for _ in range(3):
                c, t = _cpu_and_wall(lambda d=doc: tok.encode_batch_fast([d], add_special_tokens=False), 1)
                c_whole, t_whole = min(c_whole, c), min(t_whole, t)
                c, t = _cpu_and_wall(lambda d=doc: encode_documents(tok, [d], eod_id=eod), 1)
                c_chunk, t_chunk = min(c_chunk, c), min(t_chunk, t)
            mbs = size / 1e6
            long_rows.append([label, f"{mbs:.1f}", t_chunk / mbs, c_chunk / mbs, t_whole / mbs, c_whole / mbs])
    long_body = md_table(["document", "MB", "sctool wall s/MB", "sctool CPU s/MB", "single encode call wall s/MB",
                          "single encode call CPU s/MB"], long_rows) + (
        "\n\nLinear time means s/MB stays flat as the document grows. Chunks are cut at pre-token "
        "boundaries, so ids are identical to the single call except at forced cuts in boundary-free text."
    )

    # FIM on 8193-token windows, one core.
    flat = ds.tokens
    ids = FimTokenIds.from_tokenizer(tok)
    codec = fim_codec(tok)
    fim_cfg = FimConfig()
    length = 8193
    n_windows = min(40 if quick else 200, flat.size // length)
    windows = [np.asarray(flat[i * length : (i + 1) * length]) for i in range(n_windows)]
    t0 = time.perf_counter()
    outs = [apply_fim(w, window_rng(1234, i), fim_cfg, ids, codec) for i, w in enumerate(windows)]
    fim_s = time.perf_counter() - t0
    wps = n_windows / fim_s
    same_len = all(o.size == length for o in outs)
    exact = 0
    for w, o in zip(windows, outs):
        back, orig = unpermute(o, ids, codec), unpermute(w, ids, codec)
        exact += back[:-1] == orig[: len(back) - 1]
    fim_body = md_table(
        ["", "value"],
        [
            ["windows (8193 tokens, fim_rate 0.5, spm 0.5)", n_windows],
            ["windows/s, one core", wps],
            ["tokens/s, one core", f"{wps * length:,.0f}"],
            ["headroom over the CPU trainer (536 tokens/s)", f"{wps * length / TRAINER_TOKENS_PER_S:,.0f}×"],
            ["windows keep their length", same_len],
            ["windows whose complete segments invert exactly", f"{exact}/{n_windows}"],
        ],
    ) + (
        "\n\nPython over HF tokenizers is fast enough here: one data-loader worker FIM-permutes far more "
        "tokens per second than a CPU trainer consumes, so no Rust kernel was written for it."
    )
    SUMMARY["tokenize CPU time vs raw encode_batch (raw / ours)"] = f"{best_cpu['raw'] / best_cpu['ours']:.2f}×"
    mem_body = memory_section(work, tok_file, quick)
    return str(
        write_report(
            "tokenize",
            "Tokenization and FIM",
            [("Throughput vs raw HF tokenizers", tput_body), ("Memory and threads", mem_body),
             ("Long documents", long_body), ("FIM transform", fim_body),
             ("Summary", md_table(["figure", "value"], list(SUMMARY.items())))],
            config={"quick": quick, "vocab": vocab, "threads": "all"},
            packages=("sctool", "tokenizers", "polars", "numpy"),
        )
    )


if __name__ == "__main__":
    print(main())
