"""Near-dedup: sctool against datasketch and rensa on the same data in the same run.

1. Signature throughput from raw text (the real corpus), 1 thread and all threads; peers include
   their Python-side shingling (BigCode's ``re.split`` + 5-gram join), and rensa is also timed on
   pre-shingled input.
2. End-to-end near dedup (signatures → LSH → clusters) at 256 permutations / 5-grams / 0.7, each tool
   in its own process for a fair peak RSS; plus ``sctool dedup --near`` from Parquet to dataset.
3. Quality on ``../shared/data/neardup/neardup-public.jsonl``: pair precision and recall against the
   exact 5-gram Jaccard (BigCode definition) at 0.7, raw LSH candidates and ``--verify``.

``SCTOOL_BENCH_QUICK=1`` shrinks the corpora; ``SCTOOL_NEARDUP_MB`` / ``SCTOOL_NEARDUP_E2E_MB`` /
``SCTOOL_NEARDUP_PEER_MB`` set the sizes explicitly.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import polars as pl

import sctool
from benches.harness import (
    WORK,
    corpus_bytes,
    md_table,
    measure_in_subprocess,
    real_corpus,
    write_report,
)
from sctool.dedup import kernel_isa

REPO = Path(__file__).resolve().parents[1]
NEARDUP = REPO.parent / "shared" / "data" / "neardup" / "neardup-public.jsonl"
NON_ALPHA = re.compile("[^A-Za-z_0-9]")


def shingle(text: str) -> list[str]:
    """BigCode's shingles (as the peers must compute them in Python)."""
    toks = NON_ALPHA.split(text)
    if len(toks) < 5:
        return []
    return list({" ".join(toks[i:i + 5]) for i in range(len(toks) - 4)})


def _mb(n: float) -> int:
    return int(n * 1_000_000)


def timed(fn, repeat: int = 2) -> tuple[float, float]:
    """Best ``(wall seconds, process CPU seconds)`` of ``repeat`` runs.

    CPU seconds (all threads of this process) make single-thread throughput comparable on a shared,
    oversubscribed machine, where wall time mostly measures the neighbours' load.
    """
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c)
    return best


# --- 1. signatures ------------------------------------------------------------------------------

def signature_section(texts: list[str], peer_texts: list[str]) -> str:
    mb = corpus_bytes(texts) / 1e6
    pmb = corpus_bytes(peer_texts) / 1e6
    series = pl.Series("content", texts)
    rows = []
    for h in ("sha1", "xxh3"):
        for threads in (1, 0):
            w, c = timed(lambda h=h, threads=threads: sctool.minhash(series, hash=h, threads=threads))
            label = f"sctool.minhash, {'StarCoder-exact sha1' if h == 'sha1' else 'xxh3 shingles'}, " \
                    f"{'1 thread' if threads == 1 else f'all {os.cpu_count()} threads'}"
            rows.append([label, mb, w, c, len(texts)])
    import numpy as np
    from rensa import RMinHash

    w0, c0 = time.perf_counter(), time.process_time()
    shingled = [shingle(t) for t in peer_texts]
    tsh = (time.perf_counter() - w0, time.process_time() - c0)
    rows.append(["Python BigCode shingling alone (peers' input step)", pmb, *tsh, len(peer_texts)])
    tr = timed(lambda: RMinHash.digest_matrix_from_token_sets(shingled, 256, 42))
    rows.append(["rensa digest_matrix_from_token_sets, pre-shingled", pmb, *tr, len(peer_texts)])
    rows.append(["rensa incl. Python shingling", pmb, tr[0] + tsh[0], tr[1] + tsh[1], len(peer_texts)])
    from datasketch import MinHash

    k = max(1, len(shingled) // 4)  # datasketch is slow: a quarter of the peer corpus
    sub_mb = corpus_bytes(peer_texts[:k]) / 1e6
    enc = [[s.encode() for s in sh] for sh in shingled[:k]]
    td = timed(lambda: MinHash.bulk(enc, num_perm=256, seed=42, scheme="legacy"), repeat=1)
    frac = k / len(shingled)
    rows.append(["datasketch MinHash.bulk (legacy = StarCoder scheme), pre-shingled", sub_mb, *td, k])
    rows.append(["datasketch incl. Python shingling", sub_mb, td[0] + tsh[0] * frac, td[1] + tsh[1] * frac, k])
    # Exactness: sctool's sha1 signatures equal datasketch legacy's on sampled documents.
    sample = list(range(0, k, max(1, k // 50)))
    ours = sctool.minhash([peer_texts[i] for i in sample])
    theirs = MinHash.bulk([enc[i] for i in sample], num_perm=256, seed=42, scheme="legacy")
    equal = all(np.array_equal(ours[j], m.hashvalues) for j, m in enumerate(theirs))
    table = md_table(["method", "MB", "wall s", "MB/s (wall)", "CPU s", "MB per CPU-second", "docs/s (wall)"],
                     [[r[0], r[1], r[2], r[1] / r[2], r[3], r[1] / r[3], f"{r[4] / r[2]:,.0f}"] for r in rows])
    ours_1t = rows[0][1] / rows[0][3]
    rensa_incl = pmb / (tr[1] + tsh[1])
    SUMMARY["MinHash StarCoder-exact, 1 thread, MB per CPU-s"] = f"{ours_1t:.1f}"
    SUMMARY["MinHash vs rensa incl. shingling (CPU)"] = f"{ours_1t / rensa_incl:.1f}×"
    from sctool import _native

    name, how = _native.minhash_kernel()
    return (f"Real corpus: {len(texts):,} files, {mb:,.1f} MB; peers on the first {len(peer_texts):,} files "
            f"({pmb:,.1f} MB). 256 permutations, 5-grams, seed 42. CPU features: `{kernel_isa()}`; signature "
            f"kernel `{name}` ({how}).\n\n"
            f"{table}\n\n\"MB per CPU-second\" divides by the process's CPU time (all its threads): for the 1-thread "
            f"rows it is the per-core throughput, robust to the load of the shared machine.\n\n"
            f"StarCoder-exact, 1 thread: **{ours_1t:.1f} MB per CPU-second = {ours_1t / rensa_incl:.1f}× rensa "
            f"including its shingling** ({rensa_incl:.1f}) in this run (targets: ≥ 100 MB per CPU-second, ≥ 5×).\n\n"
            f"{kernel_table(peer_texts)}\n\n"
            f"sctool (sha1) signatures identical to `datasketch.MinHash(scheme='legacy')` on "
            f"{len(sample)} sampled documents: **{equal}**.")


KERNEL_CHILD = """
import json, os, sys, time
sys.path.insert(0, {repo!r})
import pyarrow as pa
from benches.harness import real_corpus
from sctool import _native
texts = [t for _, t in real_corpus({nbytes})]
col = pa.array(texts)
best = 1e9
for _ in range(3):
    c0 = time.process_time()
    _native.minhash_signatures(col, 256, 5, 42, "bigcode", "sha1", 1)
    best = min(best, time.process_time() - c0)
print(json.dumps({{"kernel": _native.minhash_kernel()[0], "mb": sum(len(t.encode()) for t in texts) / 1e6,
                  "cpu": best}}))
"""


def kernel_table(peer_texts: list[str]) -> str:
    """Each SIMD signature kernel pinned in its own process, same texts: what calibration chose from."""
    from sctool import _native

    nbytes = corpus_bytes(peer_texts)
    rows = []
    for k in [k for k in _native.minhash_kernels() if not k.startswith("generic")]:
        os.environ["SCTOOL_MINHASH_KERNEL"] = k
        try:
            r = measure_in_subprocess(KERNEL_CHILD.format(repo=str(REPO), nbytes=nbytes))
        finally:
            del os.environ["SCTOOL_MINHASH_KERNEL"]
        rows.append([f"`{k}`", r["mb"], r["cpu"], r["mb"] / r["cpu"]])
    return ("Each kernel pinned with `SCTOOL_MINHASH_KERNEL` (StarCoder-exact sha1, 1 thread, same texts, "
            "best of 3; shingling and SHA-1 included, so differences are the permutation step's):\n\n"
            + md_table(["kernel", "MB", "CPU s", "MB per CPU-second"], rows))


SUMMARY: dict[str, str] = {}


# --- 2. end to end ------------------------------------------------------------------------------

SCTOOL_E2E = """
import json, time, polars as pl, sctool

def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return 0.0
df = pl.read_parquet({path!r})
t = time.perf_counter(); c = time.process_time()
kept, removed = sctool.dedup(df, mode='near', verify={verify}, threads={threads})
print(json.dumps({{"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "hwm_mb": _hwm(), "removed": sorted(removed['id'].to_list())}}))
"""

DATASKETCH_E2E = """
import json, re, time, polars as pl
from datasketch import MinHash, MinHashLSH

def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return 0.0
df = pl.read_parquet({path!r})
ids, texts = df['id'].to_list(), df['content'].to_list()
NA = re.compile('[^A-Za-z_0-9]')
t = time.perf_counter(); c = time.process_time()
def sh(x):
    toks = NA.split(x)
    return [] if len(toks) < 5 else list({{' '.join(toks[i:i+5]) for i in range(len(toks)-4)}})
shingles = [sh(x) for x in texts]
mhs = MinHash.bulk([[s.encode() for s in s_] for s_ in shingles], num_perm=256, seed=42, scheme='legacy')
lsh = MinHashLSH(threshold=0.7, num_perm=256)
for i, (m, s) in enumerate(zip(mhs, shingles)):
    if s:
        lsh.insert(i, m)
parent = list(range(len(texts)))
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]; x = parent[x]
    return x
for i, (m, s) in enumerate(zip(mhs, shingles)):
    if s:
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b: parent[max(a, b)] = min(a, b)
removed = sorted(ids[i] for i in range(len(texts)) if find(i) != i)
print(json.dumps({{"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "hwm_mb": _hwm(), "removed": removed}}))
"""

RENSA_E2E = """
import json, re, time, polars as pl
from rensa import RMinHash, RMinHashLSH

def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return 0.0
df = pl.read_parquet({path!r})
ids, texts = df['id'].to_list(), df['content'].to_list()
NA = re.compile('[^A-Za-z_0-9]')
t = time.perf_counter(); c = time.process_time()
def sh(x):
    toks = NA.split(x)
    return [] if len(toks) < 5 else list({{' '.join(toks[i:i+5]) for i in range(len(toks)-4)}})
shingles = [sh(x) for x in texts]
keep = [i for i, s in enumerate(shingles) if s]
mhs = RMinHash.from_token_sets([shingles[i] for i in keep], 256, 42)
lsh = RMinHashLSH(0.7, 256, 32)
lsh.insert_pairs(list(zip(keep, mhs)))
parent = list(range(len(texts)))
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]; x = parent[x]
    return x
for i, cands in zip(keep, lsh.query_all(mhs)):
    for j in cands:
        a, b = find(i), find(j)
        if a != b: parent[max(a, b)] = min(a, b)
removed = sorted(ids[i] for i in range(len(texts)) if find(i) != i)
print(json.dumps({{"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "hwm_mb": _hwm(), "removed": removed}}))
"""


_HWM = """
def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    return 0.0
"""


def end_to_end_section(corpus: list[tuple[str, str]]) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "neardup-e2e.parquet"
    # Ids in corpus order (zero-padded, so every tool's "lowest id" is the same document).
    df = pl.DataFrame({"id": [f"{i:08d}" for i in range(len(corpus))], "content": [t for _, t in corpus]})
    df.write_parquet(path)
    mb = corpus_bytes(df["content"].to_list()) / 1e6
    runs = {}
    for name, code in (
        ("sctool.dedup, all threads", SCTOOL_E2E.format(path=str(path), verify=False, threads=0)),
        ("sctool.dedup, 1 thread", SCTOOL_E2E.format(path=str(path), verify=False, threads=1)),
        ("sctool.dedup --verify, all threads", SCTOOL_E2E.format(path=str(path), verify=True, threads=0)),
        ("rensa (Python shingling + RMinHash + RMinHashLSH 32×8)", RENSA_E2E.format(path=str(path))),
        ("datasketch (Python shingling + MinHash legacy + MinHashLSH 25×10)", DATASKETCH_E2E.format(path=str(path))),
    ):
        runs[name] = measure_in_subprocess(code)
    base_rss = measure_in_subprocess(
        "import json, polars as pl, sctool\n" + _HWM + f"pl.read_parquet({str(path)!r})\nprint(json.dumps({{'hwm_mb': _hwm()}}))"
    )
    # The CLI from Parquet to a dataset directory (reads, dedups, writes; its own process).
    out = WORK / "neardup-e2e-out"
    # Run the CLI's main in a fresh interpreter that reports its own VmHWM (ru_maxrss of a child
    # inherits the forking parent's peak, which here holds the whole corpus).
    cli_code = ("import json, sys, time\n" + _HWM + "t = time.perf_counter()\nfrom sctool_cli.main import main\n"
                f"rc = main(['dedup', {str(path)!r}, '-o', {str(out)!r}, '--near', '--overwrite', '--quiet'])\n"
                "print(json.dumps({'seconds': time.perf_counter() - t, 'hwm_mb': _hwm(), 'rc': rc}))")
    t0 = time.perf_counter()
    cli = measure_in_subprocess(cli_code)
    cli_s = time.perf_counter() - t0
    cli_rss = cli["hwm_mb"]
    manifest = json.loads((out / "manifest.json").read_text())
    ref = set(runs["datasketch (Python shingling + MinHash legacy + MinHashLSH 25×10)"]["removed"])
    t_ds = runs["datasketch (Python shingling + MinHash legacy + MinHashLSH 25×10)"]["seconds"]
    t_rensa = runs["rensa (Python shingling + RMinHash + RMinHashLSH 32×8)"]["seconds"]
    c_ds = runs["datasketch (Python shingling + MinHash legacy + MinHashLSH 25×10)"]["cpu"]
    c_rensa = runs["rensa (Python shingling + RMinHash + RMinHashLSH 32×8)"]["cpu"]
    rows = []
    for name, r in runs.items():
        removed = set(r["removed"])
        rows.append([name, r["seconds"], r["cpu"], mb / r["seconds"], len(removed), len(removed ^ ref),
                     r["hwm_mb"], t_ds / r["seconds"], t_rensa / r["seconds"], c_ds / r["cpu"], c_rensa / r["cpu"]])
    rows.append(["`sctool dedup --near` CLI (Parquet → dataset, incl. startup, read, write)", cli_s, "–", mb / cli_s,
                 manifest["removed"].get("near_duplicate", 0), "–", cli_rss, t_ds / cli_s, t_rensa / cli_s, "–", "–"])
    table = md_table(["pipeline", "wall s", "CPU s", "MB/s (wall)", "removed", "differs from datasketch",
                      "peak RSS MB (VmHWM)", "× datasketch (wall)", "× rensa (wall)", "× datasketch (CPU)", "× rensa (CPU)"],
                     rows)
    return (f"{len(corpus):,} files, {mb:,.1f} MB of the real corpus; each pipeline in a fresh process (time "
            f"excludes interpreter start and loading the Parquet file, except the CLI row). Peak RSS of a process "
            f"that only loads the corpus: {base_rss['hwm_mb']:,.0f} MB. \"differs\" counts documents removed by "
            f"one tool and not the other (datasketch with the legacy scheme computes the same signatures and "
            f"25×10 bands as StarCoder).\n\n{table}\n\nsctool engine counters (CLI run): "
            f"`{json.dumps(manifest['near_dedup']['engine'])}`")


# --- 3. quality -------------------------------------------------------------------------------

def quality_section() -> str:
    if not NEARDUP.exists():
        return "../shared/data/neardup is not present on this machine: quality not measured."
    recs = [json.loads(line) for line in NEARDUP.open()]
    truth = [r["jaccard_5gram"]["bigcode"] >= 0.7 for r in recs]
    sets = [(set(shingle(r["a"])), set(shingle(r["b"]))) for r in recs]
    exact = [len(a & b) / len(a | b) if (a or b) else 1.0 for a, b in sets]

    def score(pred: list[bool]) -> tuple[float, float, float]:
        tp = sum(p and t for p, t in zip(pred, truth))
        fp = sum(p and not t for p, t in zip(pred, truth))
        fn = sum(t and not p for p, t in zip(pred, truth))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        return p, r, 2 * p * r / (p + r) if p + r else 0.0

    rows = []
    timings = {}
    for verify in (False, True):
        t0 = time.perf_counter()
        pred = []
        for r in recs:
            _, removed = sctool.dedup(pl.DataFrame({"id": ["a", "b"], "content": [r["a"], r["b"]]}), mode="near",
                                      verify=verify, threads=1)
            pred.append(removed.height == 1)
        timings[verify] = time.perf_counter() - t0
        rows.append([f"sctool 25×10{' --verify' if verify else ''}", *score(pred)])
    from datasketch import MinHash, MinHashLSH

    cand = []
    for (a, b) in sets:
        ma, mb = (MinHash.bulk([[s.encode() for s in x]], num_perm=256, seed=42, scheme="legacy")[0] for x in (a, b))
        lsh = MinHashLSH(threshold=0.7, num_perm=256)
        lsh.insert("a", ma)
        cand.append("a" in lsh.query(mb))
    rows.append(["datasketch MinHashLSH 25×10 (legacy)", *score(cand)])
    rows.append(["datasketch + exact-Jaccard verification", *score([c and j >= 0.7 for c, j in zip(cand, exact)])])
    from rensa import RMinHash, RMinHashLSH

    for bands in (32,):
        cand = []
        for (a, b) in sets:
            ma, mb = RMinHash.from_token_sets([list(a), list(b)], 256, 42)
            lsh = RMinHashLSH(0.7, 256, bands)
            lsh.insert(0, ma)
            cand.append(0 in lsh.query(mb))
        rows.append([f"rensa RMinHashLSH {bands} bands", *score(cand)])
        rows.append([f"rensa {bands} bands + exact-Jaccard verification",
                     *score([c and j >= 0.7 for c, j in zip(cand, exact)])])
    table = md_table(["method", "precision", "recall", "F1"], rows)
    return (f"{len(recs)} pairs; ground truth: exact BigCode 5-gram Jaccard ≥ 0.7 ({sum(truth)} positives). Each pair "
            f"is deduplicated on its own (sctool: the full engine; peers: insert a, query b).\n\n{table}\n\n"
            f"sctool wall time for the 320 two-document runs: {timings[False]:.1f} s raw, {timings[True]:.1f} s "
            f"with --verify.")


def scale_section() -> str:
    """The stored result of ``python -m benches.neardup_scale`` (minutes per GB: not run by make bench)."""
    path = REPO / "benches" / "results" / "neardup_scale.json"
    if not path.exists():
        return "Not run on this machine yet: `python -m benches.neardup_scale 0.5 1 2` writes it."
    r = json.loads(path.read_text())
    rows = [[f"{x['gb']:.2f}", f"{x['documents']:,}", f"{x['removed']:,}", x["seconds"], x["cpu_seconds"],
             x["cpu_s_per_gb"], f"{x['peak_rss_mb']:,}", f"{x['engine'].get('bytes_spilled', 0) / 1e6:,.0f}"]
            for x in r["runs"]]
    table = md_table(["GB of text", "documents", "removed", "wall s", "CPU s", "CPU s per GB", "peak RSS MB",
                      "MB spilled"], rows)
    m = r["machine"]
    first, last = r["runs"][0], r["runs"][-1]
    SUMMARY["near-dedup scale check, peak RSS at largest size"] = f"{last['peak_rss_mb']:,} MB at {last['gb']:.1f} GB"
    return (
        f"Run {r['run']} on {m['cpu']} ({m['cores']} cores, {m['memory']}; load average {r['load_average'][0]:.1f}) "
        f"by `python -m benches.neardup_scale` (not part of `make bench`): `sctool dedup --near --memory-budget "
        f"{r['memory_budget']}` on the real corpus ({r['base_corpus_mb']:.0f} MB) repeated, every copy after the "
        "first with the identifiers of one copy-specific initial letter renamed, each size in its own process "
        f"(CLI incl. reading and writing Parquet).\n\n{table}\n\n"
        f"CPU seconds per GB go from {first['cpu_s_per_gb']} to {last['cpu_s_per_gb']} as the corpus grows "
        f"{last['gb'] / first['gb']:.0f}× (flat = linear time); peak RSS stays under the 3 GB target: "
        f"**{max(x['peak_rss_mb'] for x in r['runs']) < 3000}**. "
        + (f"Worker threads: {r['threads']} (`--threads`), so CPU seconds are one core's; wall seconds are "
           "inflated by the other work on this shared machine (compare CPU seconds). " if "threads" in r else "")
        + (f"Measured source: {r['commit']}." if "commit" in r else "")
    )


def main() -> str:
    quick = bool(os.environ.get("SCTOOL_BENCH_QUICK"))
    sig_mb = float(os.environ.get("SCTOOL_NEARDUP_MB", 20 if quick else 100))
    peer_mb = float(os.environ.get("SCTOOL_NEARDUP_PEER_MB", 5 if quick else 40))
    e2e_mb = float(os.environ.get("SCTOOL_NEARDUP_E2E_MB", 5 if quick else 40))
    corpus = real_corpus(_mb(max(sig_mb, e2e_mb)))
    texts = [t for _, t in corpus]
    sig_texts, total = [], 0
    for t in texts:
        if total >= _mb(sig_mb):
            break
        sig_texts.append(t)
        total += len(t.encode())
    peer_texts, total = [], 0
    for t in texts:
        if total >= _mb(peer_mb):
            break
        peer_texts.append(t)
        total += len(t.encode())
    e2e, total = [], 0
    for item in corpus:
        if total >= _mb(e2e_mb):
            break
        e2e.append(item)
        total += len(item[1].encode())
    load = os.getloadavg()
    sections = [
        ("Signature throughput from raw text", signature_section(sig_texts, peer_texts)),
        ("End-to-end near dedup", end_to_end_section(e2e)),
        ("Quality: pair precision/recall at Jaccard 0.7 (neardup-public)", quality_section()),
        ("Scale check (stored run)", scale_section()),
        ("Summary", md_table(["figure", "value"], list(SUMMARY.items()))),
        ("Notes", f"Load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
                  f"{os.cpu_count()} cores (the machine is shared: absolute numbers are rough, ratios from the "
                  "same run are what counts)."),
    ]
    return str(write_report("neardup", "Near deduplication: sctool vs datasketch and rensa", sections,
                            config={"num_perm": 256, "ngram": 5, "seed": 42, "threshold": 0.7, "bands×rows": "25×10",
                                    "signature_MB": sig_mb, "peer_MB": peer_mb, "e2e_MB": e2e_mb},
                            packages=("sctool", "datasketch", "rensa", "polars", "numpy")))


if __name__ == "__main__":
    print(main())
