"""hash_content against the reference xxhash implementation, over every accepted input type."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

import sctool
from sctool.errors import InvalidInputError


@given(st.lists(st.one_of(st.none(), st.text()), max_size=40), st.integers(1, 4))
def test_matches_xxhash_reference(texts: list[str | None], threads: int) -> None:
    got = sctool.hash_content(pl.Series(texts, dtype=pl.String), threads=threads)
    assert got.len() == len(texts)
    for t, h in zip(texts, got.to_list()):
        assert h == (None if t is None else xxhash.xxh3_128_digest(t.encode("utf-8")))


@pytest.mark.parametrize(
    "make",
    [
        lambda xs: xs,
        lambda xs: pl.Series(xs),
        lambda xs: pa.array(xs),
        lambda xs: pa.array(xs, type=pa.large_string()),
        lambda xs: pa.array(xs).cast(pa.string_view()),
        lambda xs: pa.chunked_array([xs[:1], xs[1:]]),
        lambda xs: pl.DataFrame({"content": xs}).to_arrow(),  # a one-column table stream
    ],
)
def test_every_input_type(make) -> None:
    xs = ["a", "é∂ƒ\n", "", "a"]
    got = sctool.hash_content(make(xs))
    assert got.to_list() == [xxhash.xxh3_128_digest(x.encode()) for x in xs]
    assert got[0] == got[3] and got[0] != got[2]


def test_sliced_series_is_read_at_its_offset() -> None:
    s = pl.Series(["zero", "one", "two", "three"]).slice(1, 2)
    assert sctool.hash_content(s).to_list() == [xxhash.xxh3_128_digest(b"one"), xxhash.xxh3_128_digest(b"two")]


@pytest.mark.parametrize("bad", [pl.Series([1, 2, 3]), "a single string", [1, 2]])
def test_non_text_input_is_a_clear_error(bad) -> None:
    with pytest.raises(InvalidInputError):
        sctool.hash_content(bad)


def test_non_string_arrow_array_rejected_by_native_side() -> None:
    with pytest.raises(InvalidInputError, match="strings"):
        sctool.hash_content(pa.array([1, 2, 3]))


def test_exceptions_form_one_hierarchy() -> None:
    assert issubclass(sctool.InvalidInputError, sctool.SctoolError)
    assert issubclass(sctool.DatasetError, sctool.InvalidInputError)
    assert issubclass(sctool.OutputExistsError, FileExistsError)


def test_native_exceptions_pickle() -> None:
    """Errors cross process boundaries (Ray workers, multiprocessing) intact."""
    import pickle

    for cls in (sctool.SctoolError, sctool.InvalidInputError, sctool.ConfigError, sctool.InternalError):
        assert cls.__module__ == "sctool._native"
        err = pickle.loads(pickle.dumps(cls("boom")))
        assert type(err) is cls and str(err) == "boom"


def test_import_sctool_does_not_import_torch() -> None:
    """The curation side must stay light: torch loads only with the model/train/infer/eval modules."""
    import subprocess
    import sys

    code = ("import sys, sctool, sctool.stages.ingest, sctool.stages.dedup, sctool.stages.filter, "
            "sctool.stages.redact, sctool.stages.decontam, sctool.stages.tokenize\n"
            "heavy = [m for m in ('torch', 'lightning', 'transformers', 'ray') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)
