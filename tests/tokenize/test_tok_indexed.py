"""The Megatron indexed-dataset files: round trip, interoperability and bad input.

``read_megatron`` and ``write_megatron`` below are written from the format's description (Megatron-LM
``MMapIndexedDataset``: magic, version, dtype code, counts, int32 sizes, int64 byte pointers, int64
doc_idx) with ``struct`` only, independently of sctool's module, so a shared misreading cannot make
both sides agree.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.errors import DatasetError, InvalidInputError
from sctool.packing.indexed import IndexedDataset, IndexedDatasetWriter, dtype_for_vocab

CODES = {1: "B", 2: "b", 3: "h", 4: "i", 5: "q", 8: "H"}
SIZES = {"B": 1, "b": 1, "h": 2, "i": 4, "q": 8, "H": 2}


def read_megatron(prefix: Path) -> tuple[int, list[list[int]], list[int]]:
    idx = Path(f"{prefix}.idx").read_bytes()
    data = Path(f"{prefix}.bin").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack("<Q", idx[9:17])
    assert version == 1
    code = idx[17]
    n, d = struct.unpack("<QQ", idx[18:34])
    pos = 34
    sizes = list(struct.unpack(f"<{n}i", idx[pos : pos + 4 * n]))
    pos += 4 * n
    pointers = list(struct.unpack(f"<{n}q", idx[pos : pos + 8 * n]))
    pos += 8 * n
    doc_idx = list(struct.unpack(f"<{d}q", idx[pos : pos + 8 * d]))
    assert pos + 8 * d == len(idx)
    fmt = CODES[code]
    seqs = []
    for size, ptr in zip(sizes, pointers):
        seqs.append(list(struct.unpack(f"<{size}{fmt}", data[ptr : ptr + size * SIZES[fmt]])))
    return code, seqs, doc_idx


def write_megatron(prefix: Path, seqs: list[list[int]], code: int, doc_idx: list[int]) -> None:
    fmt = CODES[code]
    data = b"".join(struct.pack(f"<{len(s)}{fmt}", *s) for s in seqs)
    pointers, off = [], 0
    for s in seqs:
        pointers.append(off)
        off += len(s) * SIZES[fmt]
    n = len(seqs)
    idx = b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + bytes([code]) + struct.pack("<QQ", n, len(doc_idx))
    idx += struct.pack(f"<{n}i", *[len(s) for s in seqs])
    idx += struct.pack(f"<{n}q", *pointers)
    idx += struct.pack(f"<{len(doc_idx)}q", *doc_idx)
    Path(f"{prefix}.bin").write_bytes(data)
    Path(f"{prefix}.idx").write_bytes(idx)


docs_strategy = st.lists(st.lists(st.integers(0, 65535), max_size=50), max_size=30)


@settings(max_examples=40, deadline=None)
@given(docs=docs_strategy, wide=st.booleans())
def test_round_trip_against_independent_reader(tmp_path_factory, docs, wide):
    prefix = tmp_path_factory.mktemp("rt") / "data"
    dtype = np.int32 if wide else np.uint16
    with IndexedDatasetWriter(prefix, dtype) as w:
        for d in docs[: len(docs) // 2]:
            w.add_document(np.array(d, dtype=np.int64))
        rest = docs[len(docs) // 2 :]
        if rest:
            w.add_documents(np.array([t for d in rest for t in d], dtype=np.int64), [len(d) for d in rest])
    code, seqs, doc_idx = read_megatron(prefix)
    assert code == (4 if wide else 8)
    assert seqs == docs
    assert doc_idx == list(range(len(docs) + 1))

    ds = IndexedDataset(prefix)
    assert len(ds) == len(docs) == ds.num_documents
    assert ds.dtype == np.dtype(dtype)
    assert ds.num_tokens == sum(map(len, docs))
    assert [ds[i].tolist() for i in range(len(ds))] == docs
    assert ds.tokens.tolist() == [t for d in docs for t in d]
    assert ds.sizes.tolist() == [len(d) for d in docs]
    for i, d in enumerate(docs):
        if len(d) >= 3:
            assert ds.get(i, 1, 2).tolist() == d[1:3]
            assert ds.get(i, offset=2).tolist() == d[2:]
    assert [x.tolist() for x in ds[1:4]] == docs[1:4]
    if docs:
        assert ds[-1].tolist() == docs[-1]


def test_reads_files_written_elsewhere_with_grouped_documents(tmp_path):
    """Megatron lets doc_idx group several sequences into one document; indexing stays per sequence."""
    seqs = [[5, 6, 7], [8], [], [9, 10]]
    write_megatron(tmp_path / "theirs", seqs, 4, [0, 2, 4])
    ds = IndexedDataset(tmp_path / "theirs")
    assert ds.dtype == np.int32
    assert len(ds) == 4 and ds.num_documents == 2
    assert ds.doc_idx.tolist() == [0, 2, 4]
    assert [ds[i].tolist() for i in range(4)] == seqs
    assert ds.tokens.tolist() == [5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize("code,dtype", [(1, np.uint8), (3, np.int16), (5, np.int64), (8, np.uint16)])
def test_reads_every_integer_dtype_code(tmp_path, code, dtype):
    write_megatron(tmp_path / "d", [[1, 2], [3]], code, [0, 1, 2])
    ds = IndexedDataset(tmp_path / "d")
    assert ds.dtype == np.dtype(dtype)
    assert ds[0].tolist() == [1, 2] and ds[1].tolist() == [3]


def test_dtype_for_vocab_follows_megatron():
    assert dtype_for_vocab(49152) == np.uint16
    assert dtype_for_vocab(65499) == np.uint16
    assert dtype_for_vocab(65500) == np.int32
    assert dtype_for_vocab(152064) == np.int32


def test_empty_dataset(tmp_path):
    IndexedDatasetWriter(tmp_path / "e", np.uint16).finalize()
    ds = IndexedDataset(tmp_path / "e")
    assert len(ds) == 0 and ds.num_tokens == 0 and ds.tokens.size == 0
    assert read_megatron(tmp_path / "e")[1:] == ([], [0])


def test_token_that_does_not_fit_is_rejected(tmp_path):
    w = IndexedDatasetWriter(tmp_path / "x", np.uint16)
    with pytest.raises(InvalidInputError, match="does not fit uint16"):
        w.add_document(np.array([1, 70000]))
    with pytest.raises(InvalidInputError, match="does not fit"):
        w.add_document(np.array([-1]))
    with pytest.raises(InvalidInputError, match="1-D"):
        w.add_document(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(InvalidInputError, match="integers"):
        w.add_document(np.array([1.5]))
    with pytest.raises(InvalidInputError, match="sum to"):
        w.add_documents(np.arange(5), [2, 2])
    with pytest.raises(InvalidInputError, match="token dtype"):
        IndexedDatasetWriter(tmp_path / "y", np.float32)
    w.abort()


def test_writes_are_atomic(tmp_path):
    with pytest.raises(RuntimeError), IndexedDatasetWriter(tmp_path / "a", np.uint16) as w:
        w.add_document(np.arange(10))
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    # An existing dataset stays readable until the new one replaces it in one step.
    with IndexedDatasetWriter(tmp_path / "a", np.uint16) as w:
        w.add_document(np.arange(3))
    w2 = IndexedDatasetWriter(tmp_path / "a", np.uint16)
    w2.add_document(np.arange(7))
    assert IndexedDataset(tmp_path / "a")[0].tolist() == [0, 1, 2]
    w2.finalize()
    assert IndexedDataset(tmp_path / "a")[0].tolist() == list(range(7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.idx"]


def test_damaged_files_give_clear_errors(tmp_path):
    with IndexedDatasetWriter(tmp_path / "d", np.uint16) as w:
        w.add_document(np.arange(100))
        w.add_document(np.arange(50))
    idx = (tmp_path / "d.idx").read_bytes()
    binary = (tmp_path / "d.bin").read_bytes()

    with pytest.raises(DatasetError, match=r"d\.bin.*truncated"):
        (tmp_path / "d.bin").write_bytes(binary[:200])
        IndexedDataset(tmp_path / "d")
    (tmp_path / "d.bin").write_bytes(binary)
    with pytest.raises(DatasetError, match="truncated index"):
        (tmp_path / "d.idx").write_bytes(idx[:40])
        IndexedDataset(tmp_path / "d")
    with pytest.raises(DatasetError, match="bad magic"):
        (tmp_path / "d.idx").write_bytes(b"NOTMAGIC!" + idx[9:])
        IndexedDataset(tmp_path / "d")
    with pytest.raises(DatasetError, match="dtype code"):
        (tmp_path / "d.idx").write_bytes(idx[:17] + b"\x63" + idx[18:])
        IndexedDataset(tmp_path / "d")
    with pytest.raises(DatasetError, match="no such file"):
        IndexedDataset(tmp_path / "missing")
    (tmp_path / "d.idx").write_bytes(idx)
    ds = IndexedDataset(tmp_path / "d")
    with pytest.raises(IndexError):
        ds[2]
    with pytest.raises(IndexError):
        ds.get(1, 40, 20)


def test_pickles_by_path_not_by_data(tmp_path):
    import pickle

    with IndexedDatasetWriter(tmp_path / "p", np.uint16) as w:
        w.add_document(np.arange(100_000) % 60000)
    ds = IndexedDataset(tmp_path / "p")
    blob = pickle.dumps(ds)
    assert len(blob) < 1000  # the path, not 200 kB of tokens
    clone = pickle.loads(blob)
    assert np.array_equal(clone[0], ds[0])


def test_closed_dataset_refuses_reads(tmp_path):
    with IndexedDatasetWriter(tmp_path / "c", np.uint16) as w:
        w.add_document(np.arange(5))
    with IndexedDataset(tmp_path / "c") as ds:
        assert ds[0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DatasetError, match="closed"):
        ds.tokens  # noqa: B018
    with pytest.raises(DatasetError, match="closed"):
        ds[0]
