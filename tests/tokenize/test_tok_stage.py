"""``sctool tokenize`` as a library stage, data mixes and blended windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from sctool.errors import ConfigError, DatasetError, OutputExistsError
from sctool.packing.blend import BlendedWindows, blending_indices
from sctool.packing.indexed import IndexedDataset
from sctool.stages.base import Runtime
from sctool.stages.tokenize import TokenizeConfig, load_mix, run_tokenize, run_tokenize_mix
from tests.tokenize.test_tok_indexed import read_megatron
from tests.tokenize.tok_corpus import make_corpus

RT = Runtime(quiet=True)


@pytest.fixture(scope="module")
def tok_file(tmp_path_factory, tiny_tokenizer) -> Path:
    p = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tiny_tokenizer.save(str(p))
    return p


def write_parquet(path: Path, texts: list[str | None]) -> Path:
    pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "content": texts}).write_parquet(path)
    return path


def test_tokenize_round_trip(tmp_path, tok_file, tiny_tokenizer):
    texts = [*make_corpus(50, seed=9), "x" * 3000 + "\n" + "y = 1 " * 800]  # one long document
    src = write_parquet(tmp_path / "in.parquet", [*texts[:10], None, "", *texts[10:]])
    cfg = TokenizeConfig(tokenizer=str(tok_file), max_chunk_chars=256)
    m = run_tokenize([src], tmp_path / "out", cfg, Runtime(quiet=True, batch_rows=8))
    ds = IndexedDataset(tmp_path / "out")
    assert ds.dtype == np.uint16 and len(ds) == len(texts)
    for t, i in zip(texts, range(len(ds))):
        ids = ds[i].tolist()
        assert ids[-1] == 0 and ids[:-1] == tiny_tokenizer.encode(t, add_special_tokens=False).ids
    code, seqs, doc_idx = read_megatron(tmp_path / "out")
    assert code == 8 and seqs == [ds[i].tolist() for i in range(len(ds))] and doc_idx == list(range(len(ds) + 1))
    assert m.docs_in == len(texts) + 2 and m.docs_out == len(texts)
    assert m.stats.removed == {"null_text": 1, "empty_text": 1}
    assert m.extra["tokens"] == ds.num_tokens and m.stats.counters["long_documents"] >= 1
    saved = json.loads((tmp_path / "out.manifest.json").read_text())
    assert saved["tokens"] == ds.num_tokens and saved["dtype"] == "uint16"


def test_output_is_identical_across_batching_and_dtypes(tmp_path, tok_file):
    src = write_parquet(tmp_path / "in.parquet", make_corpus(60, seed=2))
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    run_tokenize([src], tmp_path / "a", cfg, Runtime(quiet=True, batch_rows=5))
    run_tokenize([src], tmp_path / "b", cfg, Runtime(quiet=True, batch_rows=1000))
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()
    run_tokenize([src], tmp_path / "w", TokenizeConfig(tokenizer=str(tok_file), dtype="int32"), RT)
    wide = IndexedDataset(tmp_path / "w")
    assert wide.dtype == np.int32 and wide.tokens.tolist() == IndexedDataset(tmp_path / "a").tokens.tolist()


def test_overwrite_and_errors(tmp_path, tok_file):
    src = write_parquet(tmp_path / "in.parquet", ["a = 1\n"])
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    run_tokenize([src], tmp_path / "o", cfg, RT)
    with pytest.raises(OutputExistsError):
        run_tokenize([src], tmp_path / "o", cfg, RT)
    run_tokenize([src], tmp_path / "o", cfg, Runtime(quiet=True, overwrite=True))
    with pytest.raises(DatasetError, match="no such tokenizer"):
        run_tokenize([src], tmp_path / "p", TokenizeConfig(tokenizer=str(tmp_path / "nope.json")), RT)
    with pytest.raises(ConfigError, match="no tokenizer"):
        run_tokenize([src], tmp_path / "p", TokenizeConfig(), RT)
    with pytest.raises(ConfigError):
        TokenizeConfig(tokenizer="x", max_chunk_chars=1)
    # A directory output (what recipes use) holds tokens.bin/.idx and manifest.json.
    run_tokenize([src], f"{tmp_path / 'dir'}/", cfg, RT)
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["manifest.json", "tokens.bin", "tokens.idx"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_data_mix(tmp_path, tok_file):
    (tmp_path / "data").mkdir()
    write_parquet(tmp_path / "data" / "py.parquet", make_corpus(40, seed=1))
    write_parquet(tmp_path / "data" / "c.parquet", make_corpus(20, seed=2))
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"root": "data", "sources": [
        {"name": "python", "weight": 3, "inputs": ["py.parquet"]},
        {"name": "c", "weight": 1, "inputs": ["c.parquet"]},
        {"name": "absent", "weight": 2, "inputs": ["nothing.parquet"]},
    ]}))
    cfg = TokenizeConfig(tokenizer=str(tok_file))
    with pytest.raises(DatasetError, match="absent"):
        run_tokenize_mix(mix, tmp_path / "out", cfg, RT)
    m = run_tokenize_mix(mix, tmp_path / "out", cfg, RT, allow_missing=True)
    assert m.extra["missing_sources"] == ["absent"] and m.docs_out == 60
    blend = yaml.safe_load((tmp_path / "out" / "blend.yaml").read_text())
    assert [(s["name"], s["share"]) for s in blend["sources"]] == [("python", 0.75), ("c", 0.25)]
    line = (tmp_path / "out" / "megatron_data_path.txt").read_text().split()
    assert line[0] == "0.75" and line[1].endswith("out/python") and line[2] == "0.25"
    assert len(IndexedDataset(tmp_path / "out" / "python")) == 40

    windows = BlendedWindows(tmp_path / "out" / "blend.yaml", seq_len=16, num_samples=400)
    counts = np.bincount(windows.source, minlength=2)
    assert counts.tolist() == [300, 100]
    assert all(windows[i].size == 17 for i in range(0, 400, 37))
    assert windows[5].tolist() == BlendedWindows(tmp_path / "out" / "blend.yaml", 16, 400)[5].tolist()
    import pickle

    clone = pickle.loads(pickle.dumps(windows))
    assert all(np.array_equal(clone[i], windows[i]) for i in (0, 1, 399))


@pytest.mark.parametrize("bad,msg", [
    ({"sources": []}, "non-empty"),
    ({"sources": [{"weight": 1}]}, "name"),
    ({"sources": [{"name": "a", "weight": -1}]}, "weight"),
    ({"sources": [{"name": "a/b", "weight": 1}]}, "letters"),
    ({"sources": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]}, "duplicate"),
    ({"sources": [{"name": "a", "weight": 0}]}, "sum to zero"),
])
def test_bad_mixes(tmp_path, bad, msg):
    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=msg):
        load_mix(p)


def test_starcoder_preset_parses():
    preset = Path(__file__).resolve().parents[2] / "configs" / "data-mix" / "starcoder.yaml"
    sources = load_mix(preset)
    weights = {s.name: s.weight for s in sources}
    assert weights["python"] == 60.40 and weights["git-commits"] == 32.0 and weights["json"] == 1.0


def blending_reference(weights: list[float], size: int) -> list[int]:
    """Megatron's build_blending_indices as a plain loop."""
    total = sum(weights)
    w = [x / total for x in weights]
    current = [0] * len(w)
    out = []
    for i in range(size):
        x = max(float(i), 1.0)
        errors = [w[d] * x - current[d] for d in range(len(w))]
        best = max(range(len(w)), key=lambda d: (errors[d], -d))
        out.append(best)
        current[best] += 1
    return out


@pytest.mark.parametrize("weights", [[1.0], [0.5, 0.5], [86.94, 60.4, 1.0, 3.0], [0.0, 2.0, 1.0]])
def test_blending_matches_megatron_rule(weights):
    src, within = blending_indices(weights, 500)
    assert src.tolist() == blending_reference(weights, 500)
    for d in range(len(weights)):
        assert within[src == d].tolist() == list(range(int((src == d).sum())))
    with pytest.raises(ConfigError):
        blending_indices([0.0, 0.0], 3)
