"""sctool dedup IN -o OUT [--exact | --near | --both] [near-dedup options]"""

from __future__ import annotations

import argparse

from sctool_cli.common import add_io_args, finish, runtime_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dedup",
        help="remove exact and near-duplicate documents",
        description="Exact deduplication (default): keep the first of each group of identical documents. "
        "--near: MinHash-LSH near-deduplication as StarCoder ran it (5-grams of [^A-Za-z_0-9] tokens, 256 "
        "permutations, seed 42, Jaccard 0.7 → 25 bands × 10 rows, keep the lowest id of each cluster). "
        "--both: exact first, then near. Removed documents go to removed/ with reason "
        "(exact_duplicate / near_duplicate), dup_of (the id kept), cluster_id and jaccard (estimate).",
    )
    add_io_args(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--exact", dest="mode", action="store_const", const="exact",
                      help="remove exact duplicates only (XXH3-128 of the content)")
    mode.add_argument("--near", dest="mode", action="store_const", const="near",
                      help="remove near duplicates (MinHash-LSH); exact copies count as near duplicates")
    mode.add_argument("--both", dest="mode", action="store_const", const="both",
                      help="remove exact duplicates first, then near duplicates (the default)")
    p.set_defaults(mode="both")
    near = p.add_argument_group("near-duplicate options (with --near/--both)")
    near.add_argument("--threshold", type=float, default=0.7,
                      help="Jaccard threshold; bands × rows derived from it like datasketch/StarCoder (default 0.7)")
    near.add_argument("--bands", type=int, default=None, help="LSH bands (give with --rows; overrides --threshold's banding)")
    near.add_argument("--rows", type=int, default=None, help="rows per band (with --bands)")
    near.add_argument("--num-perm", type=int, default=256, help="MinHash permutations (default 256)")
    near.add_argument("--ngram", type=int, default=5, help="shingle size (default 5)")
    near.add_argument("--seed", type=int, default=42, help="permutation seed (default 42)")
    near.add_argument("--shingle", choices=("bigcode", "words", "chars"), default="bigcode",
                      help="bigcode (StarCoder tokens, default), words (empty tokens dropped) or chars (character n-grams)")
    near.add_argument("--hash", choices=("sha1", "xxh3"), default="sha1",
                      help="shingle hash: sha1 (StarCoder-exact, default) or xxh3 (faster)")
    near.add_argument("--verify", action="store_true",
                      help="merge candidates only when their exact shingle Jaccard reaches the threshold")
    near.add_argument("--keep", choices=("lowest-id", "longest", "most-stars"), default="lowest-id",
                      help="which document of a cluster survives (default lowest-id, as StarCoder)")
    near.add_argument("--stars-column", default="max_stars_count", help="star counts for --keep most-stars")
    near.add_argument("--clusters", metavar="PATH", default=None, help="write the cluster table to this Parquet file")
    near.add_argument("--memory-budget", default="1G", metavar="SIZE",
                      help="memory for band records before spilling to disk, e.g. 512M, 4G (default 1G)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sctool.dedup.near import parse_size_mb
    from sctool.stages.dedup import DedupConfig, run_dedup

    cfg = DedupConfig(
        mode=args.mode, threshold=args.threshold, bands=args.bands, rows=args.rows, num_perm=args.num_perm,
        ngram=args.ngram, seed=args.seed, shingle=args.shingle, hash=args.hash, verify=args.verify, keep=args.keep,
        stars_column=args.stars_column, clusters=args.clusters, memory_budget_mb=parse_size_mb(args.memory_budget),
    )
    return finish(run_dedup(args.inputs, args.output, cfg, runtime_from_args(args)), args)
