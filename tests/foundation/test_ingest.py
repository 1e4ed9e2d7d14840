"""sctool ingest: source trees with bad files, tables, the stdlib corpus."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sctool.io.dataset import read_dataset, read_manifest
from sctool.languages import detect_language, language_table
from sctool.stages.base import Runtime
from sctool.stages.ingest import IngestConfig, run_ingest

RT = Runtime(quiet=True)


def test_source_tree_skips_bad_files_with_reasons(source_tree: Path, tmp_path: Path) -> None:
    m = run_ingest([source_tree], tmp_path / "out", IngestConfig(max_file_size=100_000), RT)
    kept = read_dataset(tmp_path / "out")
    removed = read_dataset(tmp_path / "out", removed=True)
    assert kept.columns[:6] == ["id", "content", "path", "repo", "lang", "size_bytes"]
    assert sorted(kept["path"].to_list()) == ["README.md", "main.c", "notes", "pkg/a.py", "pkg/b.py"]
    reasons = dict(zip(removed["path"].to_list(), removed["reason"].to_list()))
    assert reasons == {"empty.py": "empty", "latin1.py": "invalid_utf8", "image.png": "binary",
                       "big.js": "too_large"}
    assert removed["content"].null_count() == removed.height
    assert m.stats.removed == {"binary": 1, "empty": 1, "invalid_utf8": 1, "too_large": 1}
    assert m.docs_in == kept.height + removed.height == 9  # .git and __pycache__ are not walked
    row = kept.filter(pl.col("path") == "pkg/a.py").row(0, named=True)
    assert row["id"] == "myrepo/pkg/a.py" and row["repo"] == "myrepo" and row["lang"] == "python"
    assert row["size_bytes"] == len(row["content"].encode())
    assert kept.filter(pl.col("path") == "notes")["lang"].to_list() == [None]
    assert m.stats.bytes_in == sum(p.stat().st_size for p in source_tree.rglob("*")
                                   if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts)


def test_keep_empty_and_only_known_languages(source_tree: Path, tmp_path: Path) -> None:
    run_ingest([source_tree], tmp_path / "o1", IngestConfig(keep_empty=True), RT)
    assert "empty.py" in read_dataset(tmp_path / "o1")["path"].to_list()
    m = run_ingest([source_tree], tmp_path / "o2", IngestConfig(only_known_languages=True), RT)
    assert m.stats.removed.get("unknown_language") == 1  # "notes"; image.png counts as binary first
    assert "notes" not in read_dataset(tmp_path / "o2")["path"].to_list()


def test_tables_map_common_columns(tmp_path: Path) -> None:
    rows = [
        {"content": "print(1)\n", "max_stars_repo_path": "src/x.py", "max_stars_repo_name": "o/r",
         "max_stars_count": 12, "max_stars_repo_licenses": ["MIT"]},
        {"content": "fn main() {}\n", "max_stars_repo_path": "main.rs", "max_stars_repo_name": "o/s",
         "max_stars_count": None, "max_stars_repo_licenses": []},
    ]
    src = tmp_path / "stack.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + "garbage\n")
    m = run_ingest([src], tmp_path / "out", IngestConfig(), RT)
    kept = read_dataset(tmp_path / "out")
    assert kept["path"].to_list() == ["src/x.py", "main.rs"]
    assert kept["repo"].to_list() == ["o/r", "o/s"]
    assert kept["lang"].to_list() == ["python", "rust"]
    assert kept["stars"].to_list() == [12, None]
    assert m.extra["malformed_lines"] == 1


def test_stdlib_ingest_is_a_real_corpus(tmp_path: Path) -> None:
    m = run_ingest([], tmp_path / "std", IngestConfig(stdlib=True), RT)
    assert m.docs_out > 500 and m.stats.bytes_out > 5_000_000
    kept = read_dataset(tmp_path / "std", columns=["path", "lang"])
    assert "os.py" in kept["path"].to_list()
    assert not any("site-packages" in p for p in kept["path"].to_list())


def test_language_table() -> None:
    table = language_table()
    assert len(table) >= 86
    for path, lang in [("a.py", "python"), ("x/Y.JAVA", "java"), ("Makefile", "makefile"),
                       ("Dockerfile", "dockerfile"), ("a.h", "c"), ("a.hpp", "cpp"), ("CMakeLists.txt", "cmake"),
                       ("a.yml", "yaml"), ("a.unknownext", None), ("README", None), ("a.cs", "c-sharp")]:
        assert detect_language(path) == lang, path


def test_manifest_records_config(source_tree: Path, tmp_path: Path) -> None:
    run_ingest([source_tree], tmp_path / "out", IngestConfig(max_file_size=1234), RT)
    man = read_manifest(tmp_path / "out")
    assert man.stage == "ingest" and man.config["max_file_size"] == 1234
    assert man.inputs[0]["kind"] == "source_tree"
