"""Start-up structure: what a stage command has (not) loaded when its first batch starts, the
opt-in milestone trace, and the input hashing that overlaps the imports. No timings are asserted
(they belong to benches/bench_startup.py); these facts are what keeps start-up small."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

from sctool.errors import DatasetError
from sctool.io import fingerprint
from sctool.io.dataset import DatasetWriter, DeferredInputs, PartStats
from sctool_cli.startup import input_candidates
from tests.conftest import sctool_cmd

ORDER = ["cli_entry", "parser_built", "args_parsed", "first_batch_read"]
MAP_ORDER = ["cli_entry", "parser_built", "args_parsed", "writer_ready", "first_batch_read", "first_batch_map",
             "first_batch_done"]
# Never needed by a curation stage before its first batch: the trainer's and the report's stacks.
NEVER_BEFORE_FIRST_BATCH = {"torch", "transformers", "lightning", "ray", "matplotlib", "pandas"}


def _dataset(tmp_path: Path, n: int = 50) -> Path:
    path = tmp_path / "in.parquet"
    pl.DataFrame({"content": [f"def f{i}(x):\n    return x + {i}  # some code\n" * 3 for i in range(n)]}).write_parquet(path)
    return path


def _trace(args: list[str], tmp_path: Path, *, trace: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("SCTOOL_TRACE_STARTUP", None)
    if trace:
        env["SCTOOL_TRACE_STARTUP"] = "1"
    proc = subprocess.run([*sctool_cmd(), *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    marks = {}
    for line in proc.stderr.splitlines():
        if line.startswith("sctool-trace "):
            name, *fields = line.split()[1:]
            marks[name] = dict(f.split("=", 1) for f in fields if "=" in f)
    return proc, marks


def _loaded(mark: dict) -> set[str]:
    return set(mark["loaded"].split(",")) - {"-"}


@pytest.mark.parametrize("command", ["filter", "redact"])
def test_map_stage_milestones_in_order_and_nothing_heavy_unneeded(tmp_path: Path, command: str) -> None:
    src = _dataset(tmp_path)
    _, marks = _trace([command, str(src), "-o", str(tmp_path / "out"), "--quiet"], tmp_path)
    assert list(marks) == MAP_ORDER
    monos = [float(marks[m]["mono"]) for m in MAP_ORDER]
    assert monos == sorted(monos)
    first = _loaded(marks["first_batch_map"])
    assert "polars" in first  # the batch is a Polars frame: the one import start-up cannot skip
    assert not first & NEVER_BEFORE_FIRST_BATCH, first
    assert "tqdm" not in first  # --quiet draws no bar, so tqdm is never imported
    assert "tokenizers" not in first  # the default rules need no tokenizer


def test_global_stages_trace_their_first_batch(tmp_path: Path) -> None:
    src = _dataset(tmp_path)
    _, marks = _trace(["dedup", str(src), "-o", str(tmp_path / "dd"), "--quiet"], tmp_path)
    assert [m for m in ORDER if m in marks] == ORDER
    assert not _loaded(marks["first_batch_read"]) & (NEVER_BEFORE_FIRST_BATCH | {"tokenizers", "tqdm"})


def test_tokenize_loads_no_model_stack(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(["def f(x): return x"] * 10,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<unk>"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    src = _dataset(tmp_path)
    _, marks = _trace(["tokenize", str(src), "-o", str(tmp_path / "tok" / "x"), "--tokenizer",
                       str(tmp_path / "tokenizer.json"), "--quiet"], tmp_path)
    assert [m for m in ORDER if m in marks] == ORDER
    assert not _loaded(marks["first_batch_read"]) & NEVER_BEFORE_FIRST_BATCH


def test_no_trace_unless_asked(tmp_path: Path) -> None:
    src = _dataset(tmp_path)
    proc, marks = _trace(["filter", str(src), "-o", str(tmp_path / "out"), "--quiet"], tmp_path, trace=False)
    assert marks == {} and "sctool-trace" not in proc.stderr


def test_version_and_cli_module_import_nothing_heavy() -> None:
    code = ("import sys, sctool_cli.main, sctool_cli.startup, sctool.startup_trace, sctool.io.fingerprint\n"
            "print(','.join(m for m in ('polars','pyarrow','numpy','yaml','tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""  # the prefetch starts before any of these is imported (sctool._native, ~2 ms, is)


def test_manifest_fingerprint_is_the_whole_file_sha256(tmp_path: Path) -> None:
    src = _dataset(tmp_path)
    _trace(["filter", str(src), "-o", str(tmp_path / "out"), "--quiet"], tmp_path, trace=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"][0]["fingerprint"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_input_candidates_are_positional_inputs_only(tmp_path: Path) -> None:
    a = _dataset(tmp_path)
    other = tmp_path / "other.parquet"
    other.write_bytes(a.read_bytes())
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "manifest.json").write_text("{}")
    (ds / "part-00000.parquet").write_bytes(a.read_bytes())
    assert input_candidates(["filter", str(a), "-o", str(other)]) == [a]  # -o's value is never hashed
    assert input_candidates(["dedup", str(ds), "-o", str(tmp_path / "x")]) == [ds / "part-00000.parquet"]
    assert input_candidates(["filter", "--preset", "starcoder", str(a)]) == [a]
    assert input_candidates(["stats", str(a)]) == []  # stats does not fingerprint its inputs
    assert input_candidates(["filter", str(tmp_path / "missing.parquet"), str(tmp_path / "notes.txt")]) == []
    assert input_candidates(["--version"]) == []


def test_prefetched_hash_is_reused_and_follows_edits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "data.parquet"
    f.write_bytes(os.urandom(3 << 20))
    opened = []
    real_open = open

    def counting_open(path, *a, **k):
        if Path(path) == f:
            opened.append(threading.current_thread().name)
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", counting_open)
    thread = fingerprint.prefetch([f])
    assert thread is not None
    # Called at once, usually while the prefetch is still hashing: waits for it instead of re-reading.
    assert fingerprint.content_hash(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    thread.join()
    assert fingerprint.content_hash(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    assert len(opened) == 1  # hashed once, by whichever thread got there first
    f.write_bytes(b"changed")
    assert fingerprint.content_hash(f) == hashlib.sha256(b"changed").hexdigest()


def test_prefetch_of_unreadable_file_is_reported_by_the_stage(tmp_path: Path) -> None:
    missing = tmp_path / "gone.parquet"
    thread = fingerprint.prefetch([missing])
    assert thread is not None
    thread.join()  # the background thread swallows it ...
    with pytest.raises(DatasetError, match=r"gone\.parquet"):  # ... and the stage's own call names the file
        fingerprint.content_hash(missing)


def test_deferred_inputs_wait_until_the_first_part(tmp_path: Path) -> None:
    calls = []
    desc = [{"path": str(tmp_path / "in.parquet"), "kind": "parquet", "size_bytes": 1, "fingerprint": "ab"}]

    def describe() -> list[dict]:
        calls.append(1)
        return desc

    out = tmp_path / "out"
    w = DatasetWriter(out, stage="t", config={}, inputs=DeferredInputs([desc[0]["path"]], describe))
    assert calls == [] and not (w.staging / "_state.json").exists()  # fresh output: nothing to resume yet
    kept = pl.DataFrame({"id": ["a"], "content": ["x"]})
    w.write(0, kept, None, PartStats(docs_in=1, docs_out=1))
    assert calls == [1] and (w.staging / "_state.json").exists()
    w.close()
    # An interrupted run's staging directory exists: the resume decision needs the fingerprints at once.
    w2 = DatasetWriter(out, stage="t", config={}, inputs=DeferredInputs([desc[0]["path"]], describe))
    assert calls == [1, 1] and w2.done(0)
    manifest = w2.finalize()
    assert manifest.inputs == desc and manifest.stats.docs_in == 1


@pytest.mark.parametrize("package", ["polars", "numpy", "pyarrow", "yaml", "sctool", "sctool_cli"])
def test_first_batch_imports_come_from_bytecode(package: str) -> None:
    # Where PYTHONDONTWRITEBYTECODE is set (as on our CI) Python never caches bytecode itself, and uv
    # installs without it: every process would compile Polars, NumPy and PyArrow from source (0.8 s
    # to the first batch instead of 0.27 s). `make setup` / `make build` compile it ahead of time.
    import importlib
    import importlib.util

    mod = importlib.import_module(package)
    init = Path(mod.__file__ or "")
    assert init.name == "__init__.py", init
    cached = Path(importlib.util.cache_from_source(str(init)))
    assert cached.is_file(), f"no bytecode for {package}: {cached} (run `make build`)"
    for sub in sorted(init.parent.glob("*.py"))[:20]:
        assert Path(importlib.util.cache_from_source(str(sub))).is_file(), sub


def test_trainer_help_and_config_need_no_torch() -> None:
    # The model config and presets live apart from the torch module (sctool.model imports it lazily),
    # so `sctool train fit --help` answers in a fraction of a second instead of after torch's import.
    code = ("import sys, contextlib, io\nfrom sctool_cli.main import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
            "    main(['train', 'fit', '--help'])\n"
            "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
            "    main(['train', 'fit', '--config', 'tiny', '--print_config'])\n"
            "import sctool.model\n"
            "print('torch' in sys.modules, '--data' in buf.getvalue(), 'n_layer' in buf.getvalue())\n"
            "sctool.model.GPT\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True", "True"], out
