"""``sctool train-tokenizer``: train StarCoder's BPE on datasets and save it with a manifest."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from sctool.config import config_to_dict
from sctool.errors import OutputExistsError
from sctool.io.atomic import write_json
from sctool.io.dataset import Manifest, PartStats
from sctool.io.sources import InputReader, resolve_inputs
from sctool.progress import progress
from sctool.stages.base import Runtime, Stage, register_stage
from sctool.tokenizer import TokenizerConfig, save_tokenizer, special_token_ids, train_tokenizer


def run_train_tokenizer(
    inputs: Sequence[str | Path], output: str | Path, config: TokenizerConfig, runtime: Runtime
) -> Manifest:
    """Train on the text column of ``inputs``; ``output`` is ``tokenizer.json`` or a directory.

    A ``.json`` output gets its manifest as ``<name>.manifest.json`` beside it; a directory gets
    ``tokenizer.json``, the transformers config files and ``manifest.json`` (so ``sctool run`` can
    skip it when nothing changed).
    """
    out = Path(output)
    is_file = out.suffix == ".json"
    target = out if is_file else out / "tokenizer.json"
    if target.exists() and not runtime.overwrite:
        raise OutputExistsError(f"{target} exists (use --overwrite to replace it)")
    files = resolve_inputs(inputs)
    reader = InputReader(files, text_column=runtime.text_column, batch_rows=runtime.batch_rows)
    st = PartStats()
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    bar = progress(reader.total_rows(), "sctool train-tokenizer", quiet=runtime.quiet)

    def texts() -> Iterator[str]:
        with bar:
            for batch in reader.batches():
                col = batch.frame.get_column(runtime.text_column).drop_nulls()
                st.docs_in += batch.frame.height
                st.bytes_in += int(col.str.len_bytes().sum() or 0)
                bar.update(batch.frame.height)
                for t in col.to_list():
                    st.docs_out += 1
                    yield t

    tok = train_tokenizer(texts(), config)
    written = save_tokenizer(tok, out)
    ids = special_token_ids(tok)
    manifest = Manifest(
        stage="train-tokenizer",
        config=config_to_dict(config),
        inputs=[f.describe() for f in files],
        stats=st,
        parts=1,
        seconds=time.perf_counter() - t0,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        threads=runtime.threads,
        extra={
            "files": [str(p) for p in written],
            "vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "special_token_ids": ids,
        },
        output=str(out),
    )
    write_json(Path(f"{out}.manifest.json") if is_file else out / "manifest.json", manifest.to_dict())
    return manifest


@register_stage
class TrainTokenizerStage(Stage[TokenizerConfig]):
    """Byte-level BPE with StarCoder's settings: vocabulary 49152 including the 19 special tokens
    at ids 0-18, every digit split, no prefix space. -o NAME.json writes the tokenizer file; any
    other path becomes a directory that transformers' AutoTokenizer.from_pretrained loads."""

    name = "train-tokenizer"
    Config = TokenizerConfig
    summary = "train StarCoder's byte-level BPE tokenizer"

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        # Reads the text once into the BPE trainer; its output is a tokenizer, not a dataset.
        return run_train_tokenizer(inputs, output, self.config, self.runtime)
