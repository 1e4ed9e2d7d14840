"""Batch encoding of documents into packed token arrays: linear in document length, bounded in memory.

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

Memory: a ``tokenizers.Encoding`` costs about 70 bytes per token (ids, type ids, token strings,
offsets, masks) and ``Encoding.ids`` another ~36 (a Python list of ints), i.e. ~30–50 bytes per
input character. :class:`StreamEncoder` therefore never hands the encoder more than one *window*
(about ``window_chars`` characters of chunks) per thread, turns each window's ids into a compact
NumPy array at once, and cuts long documents lazily, so encoding memory is O(threads × window)
whatever the document or batch size. Its worker threads are plain Python threads each running
``encode_batch_fast`` with the library's own Rayon pool switched off, so ``threads=N`` means N
encoding threads even when something else in the process already started that pool.
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
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


def _inside_special(text: str, cut: int, specials: Sequence[str]) -> bool:
    for s in specials:
        start = text.find(s, max(0, cut - len(s) + 1), cut + len(s) - 1)
        if start != -1 and start < cut < start + len(s):
            return True
    return False


def _last_cut(rx: re.Pattern[str], text: str, lo: int, hi: int, specials: Sequence[str] = ()) -> int:
    """The last match of ``rx`` in ``[lo, hi)`` that does not fall inside a special token.

    Special tokens are matched before pre-tokenization, so a letter→punctuation position inside
    ``<filename>`` is not a boundary at all.
    """
    cuts = [m.end() for m in rx.finditer(text, lo, hi)]
    for cut in reversed(cuts):
        if not specials or not _inside_special(text, cut, specials):
            return cut
    return -1


def _off_specials(text: str, cut: int, specials: Sequence[str]) -> int:
    """Move a forced cut to the start of any special token it would split."""
    for s in specials:
        start = text.find(s, max(0, cut - len(s) + 1), cut + len(s) - 1)
        if start != -1 and start < cut < start + len(s):
            return start
    return cut


def iter_chunks(
    text: str, max_chars: int, specials: Sequence[str] = (), stats: EncodeStats | None = None
) -> Iterator[str]:
    """Yield ``text`` in chunks of at most ``max_chars`` characters cut at pre-token boundaries.

    Lazy: only the chunk being yielded is copied out of ``text``, so a 200 MB document costs one
    chunk of extra memory, not a second copy of itself.
    """
    if len(text) <= max_chars:
        yield text
        return
    start = 0
    n = len(text)
    while n - start > max_chars:
        limit = start + max_chars
        lo = start + max_chars // 2
        cut = -1
        for rx in (_NEWLINE_CUT, _SPACE_CUT, _WORD_PUNCT_CUT):
            cut = _last_cut(rx, text, lo, limit, specials)
            if cut > start:
                break
        if cut <= start:
            cut = _off_specials(text, limit, specials)
            if cut <= start:
                cut = limit
            if stats is not None:
                stats.forced_splits += 1
        yield text[start:cut]
        start = cut
    yield text[start:]


def split_text(text: str, max_chars: int, specials: Sequence[str] = (), stats: EncodeStats | None = None) -> list[str]:
    """Cut ``text`` into chunks of at most ``max_chars`` characters at pre-token boundaries."""
    return list(iter_chunks(text, max_chars, specials, stats))


_ENV_LOCK = threading.Lock()
_ENV_DEPTH = 0
_ENV_SAVED: str | None = None


@contextmanager
def tokenizers_pool_off() -> Iterator[None]:
    """Switch HF tokenizers' internal Rayon parallelism off while the block runs.

    tokenizers reads ``TOKENIZERS_PARALLELISM`` on every batch call (unlike ``RAYON_NUM_THREADS``,
    which counts only before its pool first starts), so this bounds its threads at any time.
    Nested and concurrent uses share one setting; the previous value comes back at the end.
    """
    global _ENV_DEPTH, _ENV_SAVED
    with _ENV_LOCK:
        if _ENV_DEPTH == 0:
            _ENV_SAVED = os.environ.get("TOKENIZERS_PARALLELISM")
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        _ENV_DEPTH += 1
    try:
        yield
    finally:
        with _ENV_LOCK:
            _ENV_DEPTH -= 1
            if _ENV_DEPTH == 0:
                if _ENV_SAVED is None:
                    os.environ.pop("TOKENIZERS_PARALLELISM", None)
                else:
                    os.environ["TOKENIZERS_PARALLELISM"] = _ENV_SAVED


def resolve_threads(threads: int) -> int:
    """``0`` means every CPU this process may run on."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class Window:
    """One unit of encoder work: chunks, the document each belongs to, and whether it ends it."""

    chunks: list[str]
    last: list[bool]


def _encode_window(tokenizer: Any, win: Window, eod_id: int | None, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids with an EOD after each document's last chunk, tokens per chunk incl. that EOD)."""
    encs = tokenizer.encode_batch_fast(win.chunks, add_special_tokens=False)
    # ``Encoding.ids`` builds a fresh Python list on every access: take each one exactly once.
    id_lists = [e.ids for e in encs]
    del encs
    lens = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    if eod_id is None:
        flat = np.fromiter(chain.from_iterable(id_lists), dtype=dtype, count=int(lens.sum()))
        return flat, lens
    eod = (eod_id,)
    seqs = (chain(ids, eod) if last else ids for ids, last in zip(id_lists, win.last))
    lens += np.asarray(win.last, dtype=np.int64)
    flat = np.fromiter(chain.from_iterable(seqs), dtype=dtype, count=int(lens.sum()))
    return flat, lens


class StreamEncoder:
    """Encodes a stream of documents window by window with a fixed number of threads.

    :meth:`encode` yields ``(tokens, lengths)`` pairs in document order: ``tokens`` continues the
    token stream (it may end inside a document), ``lengths`` are the token counts of the documents
    that *ended* in it (counting their earlier windows' tokens and the EOD). At most ``2 × threads``
    windows are in flight, so memory does not grow with the input.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        eod_id: int | None,
        max_chunk_chars: int = 65536,
        dtype: Any = np.int64,
        specials: Sequence[str] = (),
        threads: int = 0,
        window_chars: int = 1 << 18,
        window_chunks: int = 1024,
        stats: EncodeStats | None = None,
    ) -> None:
        if max_chunk_chars < 1 or window_chars < 1 or window_chunks < 1:
            raise ValueError("max_chunk_chars, window_chars and window_chunks must be positive")
        self.tokenizer = tokenizer
        self.eod_id = eod_id
        self.max_chunk_chars = max_chunk_chars
        self.dtype = np.dtype(dtype)
        self.specials = tuple(specials)
        self.threads = resolve_threads(threads)
        self.window_chars = max(window_chars, max_chunk_chars)
        self.window_chunks = window_chunks
        self.stats = stats if stats is not None else EncodeStats()
        self.max_window_chars_seen = 0

    def windows(self, texts: Iterable[str]) -> Iterator[Window]:
        """Group the documents' chunks into windows of about ``window_chars`` characters."""
        st = self.stats
        chunks: list[str] = []
        last: list[bool] = []
        size = 0
        for text in texts:
            if len(text) > self.max_chunk_chars:
                st.long_documents += 1
            pieces = iter_chunks(text, self.max_chunk_chars, self.specials, st)
            piece = next(pieces)
            for nxt in chain(pieces, (None,)):
                if size and size + len(piece) > self.window_chars:
                    self.max_window_chars_seen = max(self.max_window_chars_seen, size)
                    yield Window(chunks, last)
                    chunks, last, size = [], [], 0
                chunks.append(piece)
                last.append(nxt is None)
                size += len(piece)
                st.chunks += 1
                if len(chunks) >= self.window_chunks:
                    self.max_window_chars_seen = max(self.max_window_chars_seen, size)
                    yield Window(chunks, last)
                    chunks, last, size = [], [], 0
                if nxt is not None:
                    piece = nxt
        if chunks:
            self.max_window_chars_seen = max(self.max_window_chars_seen, size)
            yield Window(chunks, last)

    def _assemble(self, parts: Iterator[tuple[np.ndarray, np.ndarray, list[bool]]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        open_len = 0
        for flat, lens, last in parts:
            done: list[int] = []
            for n, is_last in zip(lens.tolist(), last):
                open_len += n
                if is_last:
                    done.append(open_len)
                    open_len = 0
            yield flat, np.asarray(done, dtype=np.int64)

    def encode(self, texts: Iterable[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(tokens, lengths of the documents completed so far in this piece)`` in order."""
        return self._assemble(self._encoded(texts))

    def _encoded(self, texts: Iterable[str]) -> Iterator[tuple[np.ndarray, np.ndarray, list[bool]]]:
        with tokenizers_pool_off():
            if self.threads == 1:
                for win in self.windows(texts):
                    flat, lens = _encode_window(self.tokenizer, win, self.eod_id, self.dtype)
                    yield flat, lens, win.last
                return
            pending: deque[tuple[Future[tuple[np.ndarray, np.ndarray]], list[bool]]] = deque()
            with ThreadPoolExecutor(self.threads, thread_name_prefix="sctool-encode") as pool:
                try:
                    for win in self.windows(texts):
                        if len(pending) >= 2 * self.threads:
                            fut, last = pending.popleft()
                            yield (*fut.result(), last)
                        pending.append(
                            (pool.submit(_encode_window, self.tokenizer, win, self.eod_id, self.dtype), win.last)
                        )
                    while pending:
                        fut, last = pending.popleft()
                        yield (*fut.result(), last)
                finally:
                    for fut, _ in pending:
                        fut.cancel()


def encode_documents(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    eod_id: int | None,
    max_chunk_chars: int = 65536,
    dtype: Any = np.int64,
    specials: Sequence[str] = (),
    stats: EncodeStats | None = None,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids, per-document lengths) for ``texts``; ``eod_id`` (when not None) ends each document.

    The in-memory form of :class:`StreamEncoder` (same ids, same chunking), for callers that want
    the whole result at once.
    """
    enc = StreamEncoder(tokenizer, eod_id=eod_id, max_chunk_chars=max_chunk_chars, dtype=dtype,
                        specials=specials, threads=threads, stats=stats)
    flats: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    for flat, done in enc.encode(texts):
        flats.append(flat)
        lens.append(done)
    flat = np.concatenate(flats) if flats else np.zeros(0, dtype=dtype)
    doc_lens = np.concatenate(lens) if lens else np.zeros(0, dtype=np.int64)
    return flat.astype(dtype, copy=False), doc_lens
