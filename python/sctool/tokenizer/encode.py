"""Batch encoding of documents into one packed token array, linear in document length.

Byte-level BPE merges inside a pre-token ("word"); HF ``tokenizers`` does that with a heap, which
is superlinear for a huge word (a 1.6 MB run of letters takes ~35× as long as 100 kB), and one long
document is encoded on one thread. Documents longer than ``max_chunk_chars`` are therefore cut into
chunks *at positions where the pre-tokenizer splits anyway*, encoded in parallel with the rest of
the batch, and concatenated: the ids are identical to encoding the whole document.

A cut is exact when it falls (in order of preference) before a newline or other ASCII whitespace
that follows a non-space character, or between a letter and a punctuation mark. Neither GPT-2's
pre-tokenizer regex nor the digit splitter ever joins across such a position, and special tokens
contain neither. Only a chunk-sized stretch without any of these (e.g. a megabyte of base64) is cut
at an arbitrary character (moved off any special token); those cuts are counted as
``forced_splits`` because the few tokens at the seam may differ from an unsplit encoding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

_NEWLINE_CUT = re.compile(r"(?<=\S)(?=\n)")
_SPACE_CUT = re.compile(r"(?<=\S)(?=[ \t\n\r\f\v])")
_WORD_PUNCT_CUT = re.compile(r"(?<=[^\W\d_])(?=[^\w\s]|_)")


@dataclass
class EncodeStats:
    """What encoding a batch did besides producing ids."""

    chunks: int = 0
    long_documents: int = 0
    forced_splits: int = 0


def _last_cut(rx: re.Pattern[str], text: str, lo: int, hi: int) -> int:
    last = -1
    for m in rx.finditer(text, lo, hi):
        last = m.end()
    return last


def _off_specials(text: str, cut: int, specials: Sequence[str]) -> int:
    """Move a forced cut to the start of any special token it would split."""
    for s in specials:
        start = text.find(s, max(0, cut - len(s) + 1), cut + len(s) - 1)
        if start != -1 and start < cut < start + len(s):
            return start
    return cut


def split_text(text: str, max_chars: int, specials: Sequence[str] = (), stats: EncodeStats | None = None) -> list[str]:
    """Cut ``text`` into chunks of at most ``max_chars`` characters at pre-token boundaries."""
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    start = 0
    n = len(text)
    while n - start > max_chars:
        limit = start + max_chars
        lo = start + max_chars // 2
        cut = -1
        for rx in (_NEWLINE_CUT, _SPACE_CUT, _WORD_PUNCT_CUT):
            cut = _last_cut(rx, text, lo, limit)
            if cut > start:
                break
        if cut <= start:
            cut = _off_specials(text, limit, specials)
            if cut <= start:
                cut = limit
            if stats is not None:
                stats.forced_splits += 1
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def encode_documents(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    eod_id: int | None,
    max_chunk_chars: int = 65536,
    dtype: Any = np.int64,
    specials: Sequence[str] = (),
    stats: EncodeStats | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids, per-document lengths) for ``texts``; ``eod_id`` (when not None) ends each document.

    One ``encode_batch_fast`` call per batch: tokenizers converts the strings, releases the GIL and
    encodes on all its threads (``RAYON_NUM_THREADS`` / ``TOKENIZERS_PARALLELISM`` control it).
    """
    st = stats if stats is not None else EncodeStats()
    chunks: list[str] = []
    owners: list[int] = []
    for i, t in enumerate(texts):
        if len(t) > max_chunk_chars:
            st.long_documents += 1
            parts = split_text(t, max_chunk_chars, specials, st)
        else:
            parts = [t]
        chunks.extend(parts)
        owners.extend([i] * len(parts))
    st.chunks += len(chunks)
    encs = tokenizer.encode_batch_fast(chunks, add_special_tokens=False) if chunks else []
    # ``Encoding.ids`` builds a fresh Python list on every access: take each one exactly once.
    id_lists = [e.ids for e in encs]
    chunk_lens = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    if texts:
        doc_lens = np.bincount(np.asarray(owners, dtype=np.int64), weights=chunk_lens, minlength=len(texts))
        doc_lens = doc_lens.astype(np.int64)
    else:
        doc_lens = np.zeros(0, dtype=np.int64)
    if eod_id is None:
        total = int(chunk_lens.sum())
        flat = np.fromiter(chain.from_iterable(id_lists), dtype=dtype, count=total)
        return flat, doc_lens
    # The EOD follows each document's last chunk.
    last_chunk = np.zeros(len(chunks), dtype=bool)
    if chunks:
        owners_arr = np.asarray(owners)
        last_chunk[:-1] = owners_arr[1:] != owners_arr[:-1]
        last_chunk[-1] = True
    eod = (eod_id,)
    seqs = (chain(ids, eod) if last else ids for ids, last in zip(id_lists, last_chunk.tolist()))
    total = int(chunk_lens.sum()) + len(texts)
    flat = np.fromiter(chain.from_iterable(seqs), dtype=dtype, count=total)
    return flat, doc_lens + 1
