"""``sctool tokenize``: documents → packed token files in Megatron's indexed-dataset layout.

Each document is encoded (HF tokenizers on exactly ``--threads`` threads), followed by
``<|endoftext|>``, and appended to ``PREFIX.bin``; ``PREFIX.idx`` indexes one sequence per document
(:mod:`sctool.packing.indexed`). Encoding streams: documents are cut into bounded windows
(:class:`sctool.tokenizer.encode.StreamEncoder`) whose tokens go straight to disk, so memory stays
flat for any batch or document size. With more than one thread the next input batch is read on a
background thread while this one encodes. Documents are written in the inputs' deterministic batch
order, so reruns give byte-identical files.

After every batch the writer checkpoints (fsynced tokens, sizes and counters, keyed by a hash of
inputs, tokenizer and settings). A killed run leaves its temporary files; the next run of the same
command removes stale ones, truncates to the checkpoint and resumes with the next batch.

Several sources can be tokenized together from a data-mix YAML (:func:`run_tokenize_mix`): each
source gets its own prefix, and the blend (weights, prefixes, token counts) is written as
``blend.yaml`` and as Megatron's ``--data-path`` string, the way StarCoder's training read its mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sctool.config import config_to_dict
from sctool.errors import ConfigError, DatasetError, OutputExistsError
from sctool.io.atomic import write_json
from sctool.io.dataset import Manifest, PartStats, check_output_vs_inputs
from sctool.io.sources import Batch, InputReader, resolve_inputs
from sctool.packing.indexed import IndexedDatasetWriter, data_path, dtype_for_vocab, index_path
from sctool.progress import progress
from sctool.stages.base import Runtime, Stage, register_stage
from sctool.tokenizer import EOD_TOKEN, load_tokenizer
from sctool.tokenizer.encode import EncodeStats, StreamEncoder, resolve_threads, tokenizers_pool_off


@dataclass(frozen=True)
class TokenizeConfig:
    """How `sctool tokenize` encodes and packs documents."""

    tokenizer: str = field(default="", metadata={"help": "tokenizer.json (or a directory holding one)",
                                                   "required": True, "metavar": "PATH"})
    append_eod: bool = field(default=True, metadata={"help": "append <|endoftext|> after every document",
                                                     "negate": "--no-eod"})
    dtype: Literal["auto", "uint16", "int32"] = field(
        default="auto", metadata={"help": "token dtype: auto = uint16 when the vocabulary fits (< 65500), else int32"}
    )
    max_chunk_chars: int = field(
        default=65536,
        metadata={"help": "longer documents are encoded in chunks cut at pre-token boundaries (linear time)"},
    )

    def __post_init__(self) -> None:
        if self.max_chunk_chars < 64:
            raise ConfigError(f"max_chunk_chars must be at least 64, got {self.max_chunk_chars}")
        if self.dtype not in ("auto", "uint16", "int32"):
            raise ConfigError(f"dtype must be auto, uint16 or int32, got {self.dtype!r}")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tokenizer_file(spec: str) -> Path:
    if not spec:
        raise ConfigError("no tokenizer given (--tokenizer tokenizer.json)")
    p = Path(spec)
    return p / "tokenizer.json" if p.is_dir() else p


def _prefetch(it: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Run ``it`` on a thread, ``depth`` batches ahead; its exceptions re-raise here."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(("item", item))
            q.put(("done", None))
        except BaseException as exc:
            q.put(("error", exc))

    t = threading.Thread(target=work, name="sctool-tokenize-reader", daemon=True)
    t.start()
    try:
        while True:
            kind, val = q.get()
            if kind == "item":
                yield val
            elif kind == "error":
                raise val
            else:
                return
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.05)


def _iter_texts(col: Any, rows: int = 256) -> Iterator[str]:
    """The column's strings a slice at a time, so only the ones being encoded exist as Python objects."""
    for off in range(0, col.len(), rows):
        yield from col.slice(off, rows).to_list()


def tokenize_to_prefix(
    inputs: Sequence[str | Path],
    prefix: str | Path,
    config: TokenizeConfig,
    runtime: Runtime,
    *,
    stage: str = "tokenize",
    manifest_path: Path | None = None,
) -> Manifest:
    """Encode ``inputs`` into ``PREFIX.bin``/``PREFIX.idx`` and write the manifest next to them."""
    prefix = Path(prefix)
    manifest_path = manifest_path or Path(f"{prefix}.manifest.json")
    if not runtime.overwrite:
        for p in (data_path(prefix), index_path(prefix)):
            if p.exists():
                raise OutputExistsError(f"{p} exists (use --overwrite to replace it)")
    tok_file = _tokenizer_file(config.tokenizer)
    tok = load_tokenizer(tok_file)
    eod = tok.token_to_id(EOD_TOKEN)
    if config.append_eod and eod is None:
        raise ConfigError(f"{tok_file}: tokenizer has no {EOD_TOKEN} token to end documents with")
    vocab = tok.get_vocab_size(with_added_tokens=True)
    dtype = dtype_for_vocab(vocab) if config.dtype == "auto" else np.dtype(config.dtype)
    if dtype == np.uint16 and vocab > 65536:
        raise ConfigError(f"vocabulary of {vocab} does not fit uint16; use dtype int32")
    specials = [t.content for t in tok.get_added_tokens_decoder().values()]

    files = resolve_inputs(inputs)
    given = [p for p in (*map(str, inputs), *(str(f.path) for f in files)) if not any(c in p for c in "*?[")]
    for out_file in (data_path(prefix), index_path(prefix)):
        check_output_vs_inputs(out_file, given)  # never write tokens over or into what is being read
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    enc_seconds = 0.0
    stats = EncodeStats()
    st = PartStats()
    skipped = {"null_text": 0, "empty_text": 0}
    input_desc = [f.describe() for f in files]
    tok_sha = _file_digest(tok_file)
    resume_key = hashlib.sha256(json.dumps(
        [config_to_dict(config), tok_sha, input_desc, runtime.text_column, runtime.batch_rows, str(dtype),
         config.append_eod], sort_keys=True, default=str,
    ).encode()).hexdigest()
    writer = IndexedDatasetWriter(prefix, dtype, resume_key=resume_key)
    done_batches = 0
    resumed_from = 0
    if writer.resumed is not None:
        r = writer.resumed
        done_batches = resumed_from = int(r["batches"])
        st = PartStats(docs_in=r["docs_in"], docs_out=r["docs_out"], bytes_in=r["bytes_in"], bytes_out=r["bytes_out"])
        skipped = {k: int(v) for k, v in r["skipped"].items()}
        stats = EncodeStats(**r["encode"])
    threads = resolve_threads(runtime.threads)
    encoder = StreamEncoder(
        tok, eod_id=eod if config.append_eod else None, max_chunk_chars=config.max_chunk_chars, dtype=dtype,
        specials=specials, threads=threads, stats=stats,
    )
    bar = progress(reader.total_rows(), f"sctool {stage}", quiet=runtime.quiet)
    # One thread means one: batches are then read inline rather than on a prefetch thread.
    batches = reader.batches() if threads == 1 else _prefetch(reader.batches(), depth=1)
    try:
        with bar, tokenizers_pool_off():
            for batch in batches:
                if batch.index < done_batches:  # written by the run this one resumes
                    bar.update(batch.frame.height)
                    continue
                col = batch.frame.get_column(runtime.text_column)
                height = batch.frame.height
                del batch
                st.docs_in += height
                n_null = col.null_count()
                lens = col.str.len_bytes()
                n_empty = int((lens == 0).sum())
                st.bytes_in += int(lens.sum() or 0)
                if n_null or n_empty:
                    skipped["null_text"] += n_null
                    skipped["empty_text"] += n_empty
                    col = col.filter(lens > 0)
                te = time.perf_counter()
                tokens_before = writer.num_tokens
                for flat, ended in encoder.encode(_iter_texts(col)):
                    writer.write_tokens(flat)
                    writer.end_documents(ended)
                enc_seconds += time.perf_counter() - te
                st.docs_out += col.len()
                st.bytes_out += (writer.num_tokens - tokens_before) * dtype.itemsize
                del col, lens
                done_batches += 1
                writer.checkpoint({
                    "batches": done_batches, "docs_in": st.docs_in, "docs_out": st.docs_out,
                    "bytes_in": st.bytes_in, "bytes_out": st.bytes_out, "skipped": skipped,
                    "encode": dataclasses.asdict(stats),
                })
                bar.update(height)
        writer.finalize()
    except BaseException:
        # Keep the last checkpoint: rerunning the same command resumes from it.
        writer.suspend()
        raise
    seconds = time.perf_counter() - t0
    st.removed = {k: v for k, v in skipped.items() if v}
    st.counters = {
        "tokens": writer.num_tokens,
        "chunks": stats.chunks,
        "long_documents": stats.long_documents,
        "forced_splits": stats.forced_splits,
    }
    extra: dict[str, Any] = {
        "format": "megatron-mmap-indexed-dataset",
        "files": [str(data_path(prefix)), str(index_path(prefix))],
        "dtype": str(dtype),
        "vocab_size": vocab,
        "eod_id": eod,
        "tokenizer_sha256": tok_sha,
        "tokens": writer.num_tokens,
        "tokens_per_second": round(writer.num_tokens / max(seconds, 1e-9)),
        "encode_seconds": round(enc_seconds, 3),
        "skipped": st.removed,
        "encoder_threads": threads,
        "max_window_chars": encoder.max_window_chars_seen,
    }
    if resumed_from:
        extra["resumed_from_batch"] = resumed_from
    if writer.cleaned:
        extra["stale_temp_files_removed"] = len(writer.cleaned)
    if reader.line_errors.count:
        extra["malformed_lines"] = reader.line_errors.count
        extra["malformed_line_samples"] = [f"{p}:{n}: {m}" for p, n, m in reader.line_errors.samples]
    manifest = Manifest(
        stage=stage,
        config=config_to_dict(config),
        inputs=input_desc,
        stats=st,
        parts=1,
        seconds=seconds,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threads=runtime.threads,
        extra=extra,
        output=str(prefix),
    )
    write_json(manifest_path, manifest.to_dict())
    return manifest


def run_tokenize(
    inputs: Sequence[str | Path], output: str | Path, config: TokenizeConfig, runtime: Runtime
) -> Manifest:
    """``output`` is a prefix (``OUT.bin``/``OUT.idx``/``OUT.manifest.json``) or, when it is an
    existing directory or ends in ``/``, a directory receiving ``tokens.bin``/``tokens.idx``/``manifest.json``
    (the form ``sctool run`` recipes use)."""
    out = str(output)
    as_dir = Path(out).is_dir() or out.endswith(("/", "\\"))
    if as_dir:
        d = Path(out)
        if (d / "manifest.json").exists() and not runtime.overwrite:
            raise OutputExistsError(f"{d} already holds a tokenized dataset (use --overwrite)")
        d.mkdir(parents=True, exist_ok=True)
        return tokenize_to_prefix(inputs, d / "tokens", config, runtime, manifest_path=d / "manifest.json")
    return tokenize_to_prefix(inputs, out, config, runtime)


def run_tokenize_stage(
    inputs: Sequence[str | Path], output: str | Path, config: TokenizeConfig, runtime: Runtime
) -> Manifest:
    """Registry entry for recipes: the output is always a directory."""
    return run_tokenize(inputs, f"{Path(output)}/", config, runtime)


# ---------------------------------------------------------------- data mix


@dataclass(frozen=True)
class MixSource:
    name: str
    weight: float
    inputs: tuple[str, ...]


def load_mix(path: str | Path, root: str | Path | None = None) -> list[MixSource]:
    """Read a data-mix YAML: ``sources: [{name, weight, inputs: [...]}, ...]``.

    Relative inputs resolve against ``root`` (default: the YAML's ``root:`` key, else its directory).
    """
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read data mix: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list) or not data["sources"]:
        raise ConfigError(f"{p}: a data mix needs a non-empty 'sources' list")
    base = Path(root) if root is not None else p.parent / str(data.get("root", "."))
    out: list[MixSource] = []
    seen: set[str] = set()
    for k, s in enumerate(data["sources"]):
        where = f"{p}: source #{k + 1}"
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            raise ConfigError(f"{where}: needs a 'name'")
        name = s["name"]
        if not all(ch.isalnum() or ch in "-_." for ch in name):
            raise ConfigError(f"{where}: name {name!r} may use letters, digits, '-', '_' and '.' only")
        if name in seen:
            raise ConfigError(f"{where}: duplicate name {name!r}")
        seen.add(name)
        w = s.get("weight")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise ConfigError(f"{where} ({name}): weight must be a non-negative number, got {w!r}")
        inputs = s.get("inputs", [name])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
            raise ConfigError(f"{where} ({name}): inputs must be a list of paths")
        resolved = tuple(x if Path(x).is_absolute() else str(base / x) for x in inputs)
        out.append(MixSource(name=name, weight=float(w), inputs=resolved))
    if sum(s.weight for s in out) <= 0:
        raise ConfigError(f"{p}: weights sum to zero")
    return out


def _source_exists(src: MixSource) -> bool:
    try:
        resolve_inputs(list(src.inputs))
        return True
    except DatasetError:
        return False


def run_tokenize_mix(
    mix: str | Path,
    output: str | Path,
    config: TokenizeConfig,
    runtime: Runtime,
    *,
    root: str | Path | None = None,
    allow_missing: bool = False,
) -> Manifest:
    """Tokenize every source of a data mix into ``OUTPUT/<name>.{bin,idx}`` and write the blend."""
    import yaml

    sources = load_mix(mix, root)
    out = Path(output)
    if (out / "manifest.json").exists() and not runtime.overwrite:
        raise OutputExistsError(f"{out} already holds a tokenized mix (use --overwrite)")
    present = [s for s in sources if s.weight > 0 and _source_exists(s)]
    missing = [s.name for s in sources if s.weight > 0 and s not in present]
    if missing and not allow_missing:
        raise DatasetError(
            f"{mix}: inputs missing for source(s) {missing[:8]}{' …' if len(missing) > 8 else ''} "
            "(use --root to point at the data, or --allow-missing to blend what exists)"
        )
    if not present:
        raise DatasetError(f"{mix}: none of the sources' inputs exist")
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    total = PartStats()
    entries = []
    weight_sum = sum(s.weight for s in present)
    for s in present:
        m = tokenize_to_prefix(list(s.inputs), out / s.name, config, runtime, stage="tokenize")
        total.add(m.stats)
        entries.append({
            "name": s.name,
            "prefix": s.name,
            "weight": s.weight,
            "share": round(s.weight / weight_sum, 6),
            "documents": m.stats.docs_out,
            "tokens": m.extra["tokens"],
        })
    blend = {"format": "megatron-mmap-indexed-dataset", "mix": str(mix), "sources": entries}
    blend_path = out / "blend.yaml"
    from sctool.io.atomic import atomic_path

    with atomic_path(blend_path) as tmp:
        tmp.write_text(yaml.safe_dump(blend, sort_keys=False), encoding="utf-8")
    data_path_str = " ".join(f"{e['share']} {out.resolve() / e['prefix']}" for e in entries)
    with atomic_path(out / "megatron_data_path.txt") as tmp:
        tmp.write_text(data_path_str + "\n", encoding="utf-8")
    manifest = Manifest(
        stage="tokenize-mix",
        config={**config_to_dict(config), "mix": str(mix)},
        inputs=[{"source": s.name, "inputs": list(s.inputs)} for s in present],
        stats=total,
        parts=len(present),
        seconds=time.perf_counter() - t0,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threads=runtime.threads,
        extra={"blend": str(blend_path), "missing_sources": missing, "tokens": total.counters.get("tokens", 0),
               "skipped": total.removed},
        output=str(out),
    )
    write_json(out / "manifest.json", manifest.to_dict())
    return manifest


@register_stage
class TokenizeStage(Stage[TokenizeConfig]):
    """Encode every document, append <|endoftext|>, and write PREFIX.bin + PREFIX.idx in
    Megatron-LM's indexed-dataset layout (uint16 when the vocabulary fits) with PREFIX.manifest.json.
    In a recipe the output is a directory."""

    name = "tokenize"
    Config = TokenizeConfig
    summary = "encode documents into Megatron .bin/.idx token files"

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        # Its output is a packed token file, not a dataset of parts.
        return run_tokenize_stage(inputs, output, self.config, self.runtime)


__all__ = [
    "MixSource",
    "TokenizeConfig",
    "load_mix",
    "run_tokenize",
    "run_tokenize_mix",
    "run_tokenize_stage",
    "tokenize_to_prefix",
]
