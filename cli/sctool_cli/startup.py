"""Work a stage command can start before its parser exists: hashing the inputs named on the line.

Building a stage's parser imports the stage (and Polars, ~0.4 CPU-s); the stage then fingerprints
every input with a whole-file SHA-256 (~0.6 GB/s a core). ``hashlib`` releases the GIL, so hashing
the inputs in a background thread from the first moment overlaps the two. Which arguments are
inputs is not known before parsing, so this reads the command line conservatively: only positional
words (never the word after an option, which may be that option's value, such as ``-o OUT``) that
are existing Parquet/JSONL files or sctool dataset directories, and only for the commands that
fingerprint their inputs. A wrong guess costs only the hashing; the stage still decides what it
reads and records (``sctool.io.fingerprint`` caches by path, size, mtime and ctime).
"""

from __future__ import annotations

from pathlib import Path

#: Commands whose runs record every input's content hash before (or while) their first batch.
FINGERPRINTING = frozenset({"filter", "dedup", "redact", "decontam", "format", "tokenize", "optout"})
_SUFFIXES = (".parquet", ".pq", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".json.gz")


def input_candidates(argv: list[str]) -> list[Path]:
    """The files a stage command's argv names as inputs, as far as can be told without its parser."""
    command = next((w for w in argv if not w.startswith("-")), None)
    if command not in FINGERPRINTING:
        return []
    start = argv.index(command) + 1
    out: list[Path] = []
    for i in range(start, len(argv)):
        word, prev = argv[i], argv[i - 1] if i > start else ""
        if word == "--" or word.startswith("-") or (prev.startswith("-") and "=" not in prev and prev != "--"):
            continue
        p = Path(word)
        try:
            if p.is_file() and word.lower().endswith(_SUFFIXES):
                out.append(p)
            elif p.is_dir() and (p / "manifest.json").is_file():
                from sctool.io.fingerprint import dataset_part_files

                out.extend(dataset_part_files(p))
        except OSError:
            continue
    return out


def prefetch_input_hashes(argv: list[str]) -> None:
    """Start hashing the inputs ``argv`` names (daemon thread; nothing when there are none)."""
    paths = input_candidates(argv)
    if paths:
        from sctool.io.fingerprint import prefetch

        prefetch(paths)
