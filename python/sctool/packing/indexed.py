"""Packed token files in Megatron-LM's memory-mapped indexed-dataset layout (``PREFIX.bin`` + ``PREFIX.idx``).

The layout is the one ``megatron/data/indexed_dataset.py`` (``MMapIndexedDataset``) and Megatron-Core /
NeMo read and write, so token files made here train in those frameworks unchanged and theirs load here:

``PREFIX.bin``
    every sequence's tokens back to back, little-endian, in the index's dtype, no header.

``PREFIX.idx`` (all integers little-endian)
    ========  ==========================  =====================================================
    bytes     field                       meaning
    ========  ==========================  =====================================================
    9         magic ``MMIDIDX\\x00\\x00``
    8         version (uint64) = 1
    1         dtype code (uint8)          1 u8, 2 i8, 3 i16, 4 i32, 5 i64, 6 f64, 7 f32, 8 u16
    8         sequence count N (uint64)
    8         doc_idx count D (uint64)
    4·N       sizes (int32)               tokens per sequence
    8·N       pointers (int64)            byte offset of each sequence in ``.bin``
    8·D       doc_idx (int64)             sequence index where each document starts, then N
    ========  ==========================  =====================================================

Megatron lets one document span several sequences (``doc_idx`` groups them); sctool writes one
sequence per document, so ``doc_idx == [0, 1, …, N]``. Indexing (``len``, ``[i]``) is by sequence,
exactly as Megatron's reader does, so a file written elsewhere reads the same here.

The vocabulary decides the dtype: uint16 when every id fits (Megatron's rule: vocab < 65500), else int32.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Union

import numpy as np

from sctool.errors import DatasetError, InvalidInputError, OutputExistsError

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER_BYTES = len(MAGIC) + 8 + 1 + 8 + 8

# Megatron-Core's DType enum (megatron/core/datasets/indexed_dataset.py); the legacy reader maps
# 6 and 7 both to float64, which only matters for non-token data.
DTYPE_CODES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8),
    2: np.dtype(np.int8),
    3: np.dtype(np.int16),
    4: np.dtype(np.int32),
    5: np.dtype(np.int64),
    6: np.dtype(np.float64),
    7: np.dtype(np.float32),
    8: np.dtype(np.uint16),
}
_CODE_OF: dict[np.dtype, int] = {dt: code for code, dt in DTYPE_CODES.items()}
TOKEN_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))

PathLike = Union[str, "os.PathLike[str]"]


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The smallest token dtype Megatron would pick for this vocabulary size."""
    if vocab_size < 65500:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def data_path(prefix: PathLike) -> Path:
    return Path(f"{os.fspath(prefix)}.bin")


def index_path(prefix: PathLike) -> Path:
    return Path(f"{os.fspath(prefix)}.idx")


def _token_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidInputError(f"not a numpy dtype: {dtype!r}") from exc
    dt = dt.newbyteorder("<") if dt.byteorder == ">" else dt
    if dt not in TOKEN_DTYPES:
        raise InvalidInputError(
            f"token dtype must be one of {', '.join(str(d) for d in TOKEN_DTYPES)}, got {dt}"
        )
    return dt


def _default_mode() -> int:
    """``0o666`` under the process umask: the mode ``open()`` would give, not mkstemp's 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _take_lock(path: Path) -> Any:
    """An exclusive, non-blocking ``flock`` on ``path``; refuse clearly when another run holds it."""
    import fcntl

    fh = open(path, "a+")  # noqa: SIM115 - held for the writer's lifetime
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        raise OutputExistsError(
            f"{path}: another run is writing this output right now (lock held); wait for it or choose another -o"
        ) from exc
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()} {os.uname().nodename}\n")
    fh.flush()
    return fh


def stale_temp_files(prefix: PathLike) -> list[Path]:
    """Temporary files a killed writer of ``prefix`` left behind (random-named ``.bin``/``.idx`` parts)."""
    prefix = Path(os.fspath(prefix))
    parent, name = prefix.parent, prefix.name
    if not parent.is_dir():
        return []
    out = []
    for kind in ("bin", "idx"):
        out.extend(p for p in parent.glob(f".tmp-{name}.{kind}.*") if not p.name.endswith(".resume"))
    return sorted(out)


class IndexedDatasetWriter:
    """Streams documents into ``PREFIX.bin`` and writes ``PREFIX.idx`` on :meth:`finalize`.

    Both files are written under temporary names in the target directory and renamed only when
    complete (``.bin`` first, then ``.idx``), so a crash never leaves a readable but truncated
    dataset; existing files under the final names are replaced at that moment.

    With ``resume_key`` the writer is *resumable*: it holds an exclusive lock on the output
    (``.tmp-PREFIX.lock``), removes what killed runs left (:func:`stale_temp_files`), writes under
    fixed temporary names, and :meth:`checkpoint` records how far it got (token bytes, document
    sizes and a caller-supplied state, all fsynced). A later writer with the *same* key truncates
    the temporary files back to the last checkpoint and continues; :attr:`resumed` holds the
    caller's state then. A different key (other inputs or settings) starts over.
    """

    def __init__(self, prefix: PathLike, dtype: Any, *, resume_key: str | None = None) -> None:
        self.prefix = Path(os.fspath(prefix))
        self.dtype = _token_dtype(dtype)
        self._info = np.iinfo(self.dtype)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._sizes: list[np.ndarray] = []
        self._count = 0
        self._num_tokens = 0
        self._pending = 0  # tokens written for the document still open
        self._finalized = False
        self._lock: Any = None
        self._resume_key = resume_key
        self.resumed: dict[str, Any] | None = None
        self.cleaned: list[Path] = []
        if resume_key is None:
            fd, tmp = tempfile.mkstemp(prefix=f".tmp-{self.prefix.name}.bin.", dir=self.prefix.parent)
            self._bin_tmp = Path(tmp)
            self._bin: BinaryIO | None = os.fdopen(fd, "wb", buffering=1 << 20)
            return
        base = self.prefix.parent / f".tmp-{self.prefix.name}"
        self._lock_path = Path(f"{base}.lock")
        self._lock = _take_lock(self._lock_path)
        for p in stale_temp_files(self.prefix):
            p.unlink(missing_ok=True)
            self.cleaned.append(p)
        self._bin_tmp = Path(f"{base}.bin.resume")
        self._sizes_tmp = Path(f"{base}.sizes.resume")
        self._state_tmp = Path(f"{base}.state.json")
        self._sizes_saved = 0
        state = self._load_state(resume_key)
        if state is None:
            for p in (self._bin_tmp, self._sizes_tmp, self._state_tmp):
                p.unlink(missing_ok=True)
            self._bin = open(self._bin_tmp, "wb", buffering=1 << 20)  # noqa: SIM115
            return
        sizes = np.fromfile(self._sizes_tmp, dtype="<i4", count=state["documents"]).astype(np.int32)
        with open(self._bin_tmp, "r+b") as fh:
            fh.truncate(state["bin_bytes"])
        with open(self._sizes_tmp, "r+b") as fh:
            fh.truncate(4 * state["documents"])
        self._sizes = [sizes]
        self._sizes_saved = self._count = int(sizes.size)
        self._num_tokens = int(sizes.sum(dtype=np.int64))
        self._bin = open(self._bin_tmp, "ab", buffering=1 << 20)  # noqa: SIM115
        self.resumed = state["user"]

    def _load_state(self, key: str) -> dict[str, Any] | None:
        """The last checkpoint when it belongs to ``key`` and the files on disk still cover it."""
        try:
            state = json.loads(self._state_tmp.read_text(encoding="utf-8"))
            if state.get("key") != key or state.get("dtype") != str(self.dtype):
                return None
            docs, nbytes = int(state["documents"]), int(state["bin_bytes"])
            if self._bin_tmp.stat().st_size < nbytes or self._sizes_tmp.stat().st_size < 4 * docs:
                return None
            sizes = np.fromfile(self._sizes_tmp, dtype="<i4", count=docs)
            if int(sizes.sum(dtype=np.int64)) * self.dtype.itemsize != nbytes:
                return None
            return state
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def checkpoint(self, user_state: dict[str, Any]) -> None:
        """Make everything written so far durable and record ``user_state`` with it (resumable only)."""
        if self._resume_key is None or self._bin is None:
            raise InvalidInputError(f"{self.prefix}: checkpoint needs an open, resumable writer")
        if self._pending:
            raise InvalidInputError(f"{self.prefix}: cannot checkpoint inside a document")
        self._bin.flush()
        os.fsync(self._bin.fileno())
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int32)
        self._sizes = [sizes]
        with open(self._sizes_tmp, "ab") as fh:
            fh.write(sizes[self._sizes_saved :].astype("<i4").tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        self._sizes_saved = int(sizes.size)
        state = {
            "key": self._resume_key,
            "dtype": str(self.dtype),
            "documents": self._count,
            "bin_bytes": self._num_tokens * self.dtype.itemsize,
            "user": user_state,
        }
        tmp = Path(f"{self._state_tmp}.new")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(state))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._state_tmp)

    def suspend(self) -> None:
        """Stop without finalizing but keep the last checkpoint for a later run to resume."""
        if self._bin is not None:
            self._bin.close()
            self._bin = None
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
            self._lock_path.unlink(missing_ok=True)

    @property
    def num_documents(self) -> int:
        return self._count

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    def _checked(self, tokens: Any) -> np.ndarray:
        arr = np.asarray(tokens)
        if arr.ndim != 1:
            raise InvalidInputError(f"{self.prefix}: a document must be a 1-D token array, got shape {arr.shape}")
        if arr.size == 0:
            return arr.astype(self.dtype)
        if arr.dtype.kind not in "iu":
            raise InvalidInputError(f"{self.prefix}: token ids must be integers, got dtype {arr.dtype}")
        if arr.dtype != self.dtype:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < self._info.min or hi > self._info.max:
                raise InvalidInputError(
                    f"{self.prefix}: token id {hi if hi > self._info.max else lo} does not fit {self.dtype}; "
                    "use int32 for vocabularies of 65500 or more"
                )
            arr = arr.astype(self.dtype)
        return np.ascontiguousarray(arr)

    def add_document(self, tokens: np.ndarray) -> None:
        """Append one document (one sequence)."""
        self.add_documents(tokens, np.array([len(tokens)], dtype=np.int64))

    def write_tokens(self, tokens: Any) -> None:
        """Append tokens to the token stream; :meth:`end_documents` later says where documents end.

        Lets a caller stream a document far larger than memory, a window at a time.
        """
        if self._bin is None:
            raise InvalidInputError(f"{self.prefix}: writer already finalized or closed")
        flat = self._checked(tokens)
        self._bin.write(memoryview(flat.astype(self.dtype.newbyteorder("<"), copy=False)).cast("B"))
        self._pending += int(flat.size)
        self._num_tokens += int(flat.size)

    def end_documents(self, lengths: Any) -> None:
        """Close documents of these token counts, in order, out of the tokens written and not yet assigned."""
        lens = np.asarray(lengths, dtype=np.int64)
        if lens.ndim != 1 or (lens.size and int(lens.min()) < 0):
            raise InvalidInputError(f"{self.prefix}: lengths must be a 1-D array of non-negative integers")
        total = int(lens.sum())
        if total > self._pending:
            raise InvalidInputError(
                f"{self.prefix}: lengths sum to {total} but only {self._pending} tokens were written for them"
            )
        if lens.size and int(lens.max()) > np.iinfo(np.int32).max:
            raise InvalidInputError(f"{self.prefix}: a document longer than 2^31-1 tokens cannot be indexed")
        self._pending -= total
        self._sizes.append(lens.astype(np.int32))
        self._count += int(lens.size)

    def add_documents(self, flat_tokens: np.ndarray, lengths: Any) -> None:
        """Append many documents given as one concatenated array and their lengths (one write per batch)."""
        if self._bin is None:
            raise InvalidInputError(f"{self.prefix}: writer already finalized or closed")
        flat = self._checked(flat_tokens)
        lens = np.asarray(lengths, dtype=np.int64)
        if lens.ndim != 1 or (lens.size and int(lens.min()) < 0):
            raise InvalidInputError(f"{self.prefix}: lengths must be a 1-D array of non-negative integers")
        if int(lens.sum()) != flat.size:
            raise InvalidInputError(
                f"{self.prefix}: lengths sum to {int(lens.sum())} but {flat.size} tokens were given"
            )
        if self._pending:
            raise InvalidInputError(f"{self.prefix}: a streamed document is still open (call end_documents)")
        self.write_tokens(flat)
        self.end_documents(lens)

    def finalize(self) -> None:
        """Write the index and move both files into place."""
        if self._finalized:
            return
        if self._bin is None:
            raise InvalidInputError(f"{self.prefix}: writer was closed without finalizing")
        if self._pending:
            raise InvalidInputError(f"{self.prefix}: {self._pending} tokens written after the last document end")
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int32)
        pointers = np.zeros(sizes.size, dtype=np.int64)
        if sizes.size > 1:
            np.cumsum(sizes[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_idx = np.arange(sizes.size + 1, dtype=np.int64)
        self._bin.flush()
        os.fsync(self._bin.fileno())
        self._bin.close()
        self._bin = None
        fd, idx_tmp_name = tempfile.mkstemp(prefix=f".tmp-{self.prefix.name}.idx.", dir=self.prefix.parent)
        idx_tmp = Path(idx_tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC)
                fh.write(struct.pack("<Q", VERSION))
                fh.write(struct.pack("<B", _CODE_OF[self.dtype]))
                fh.write(struct.pack("<Q", sizes.size))
                fh.write(struct.pack("<Q", doc_idx.size))
                fh.write(sizes.astype("<i4").tobytes())
                fh.write(pointers.astype("<i8").tobytes())
                fh.write(doc_idx.astype("<i8").tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            mode = _default_mode()
            os.chmod(self._bin_tmp, mode)
            os.chmod(idx_tmp, mode)
            os.replace(self._bin_tmp, data_path(self.prefix))
            os.replace(idx_tmp, index_path(self.prefix))
        finally:
            for p in (idx_tmp, self._bin_tmp):
                if p.exists():
                    p.unlink()
        if self._resume_key is not None:
            for p in (self._sizes_tmp, self._state_tmp):
                p.unlink(missing_ok=True)
            self._release_lock()
        self._finalized = True

    def abort(self) -> None:
        """Drop everything written so far; the final paths are left untouched."""
        if self._bin is not None:
            self._bin.close()
            self._bin = None
        if self._bin_tmp.exists():
            self._bin_tmp.unlink()
        if self._resume_key is not None:
            for p in (self._sizes_tmp, self._state_tmp):
                p.unlink(missing_ok=True)
            self._release_lock()

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()

    def __del__(self) -> None:
        # A writer dropped without finalize() must not leave its temporary file behind.
        try:
            if not self._finalized and self._resume_key is None:
                self.abort()
            elif not self._finalized:
                self.suspend()
        except Exception:
            pass


class IndexedDataset:
    """Memory-mapped reader for ``PREFIX.bin``/``PREFIX.idx`` (ours, Megatron-LM's or NeMo's).

    Nothing is read up front beyond the index arrays, which are themselves memory-mapped; a token
    slice costs one page fault, so random access over a multi-terabyte corpus is cheap.
    """

    def __init__(self, prefix: PathLike) -> None:
        self.prefix = Path(os.fspath(prefix))
        idx_file, bin_file = index_path(self.prefix), data_path(self.prefix)
        for p in (idx_file, bin_file):
            if not p.is_file():
                raise DatasetError(f"{p}: no such file (an indexed dataset needs both .bin and .idx)")
        idx_size = idx_file.stat().st_size
        if idx_size < HEADER_BYTES:
            raise DatasetError(f"{idx_file}: too short for an indexed-dataset header ({idx_size} bytes)")
        with open(idx_file, "rb") as fh:
            header = fh.read(HEADER_BYTES)
        if header[: len(MAGIC)] != MAGIC:
            raise DatasetError(f"{idx_file}: not a Megatron MMapIndexedDataset index (bad magic {header[:9]!r})")
        (version,) = struct.unpack_from("<Q", header, 9)
        if version != VERSION:
            raise DatasetError(f"{idx_file}: unsupported index version {version} (expected {VERSION})")
        (code,) = struct.unpack_from("<B", header, 17)
        if code not in DTYPE_CODES:
            raise DatasetError(f"{idx_file}: unknown dtype code {code}")
        self.dtype: np.dtype = DTYPE_CODES[code]
        n, d = struct.unpack_from("<QQ", header, 18)
        need = HEADER_BYTES + 12 * n + 8 * d
        if idx_size < need:
            raise DatasetError(f"{idx_file}: truncated index ({idx_size} bytes, header promises {need})")
        self._idx_map = np.memmap(idx_file, mode="r", dtype=np.uint8)
        buf = self._idx_map
        self.sizes: np.ndarray = np.frombuffer(buf, dtype="<i4", count=n, offset=HEADER_BYTES)
        self.pointers: np.ndarray = np.frombuffer(buf, dtype="<i8", count=n, offset=HEADER_BYTES + 4 * n)
        self.doc_idx: np.ndarray = np.frombuffer(buf, dtype="<i8", count=d, offset=HEADER_BYTES + 12 * n)
        bin_size = bin_file.stat().st_size
        itemsize = self.dtype.itemsize
        if n:
            ends = self.pointers + self.sizes.astype(np.int64) * itemsize
            if int(self.sizes.min()) < 0 or int(self.pointers.min()) < 0 or int(ends.max()) > bin_size:
                raise DatasetError(
                    f"{bin_file}: index points past the end of the data file ({bin_size} bytes); "
                    "the .bin and .idx do not belong together or the .bin is truncated"
                )
        if bin_size % itemsize:
            raise DatasetError(f"{bin_file}: size {bin_size} is not a multiple of the {self.dtype} item size")
        self._bin_map: np.ndarray
        if bin_size:
            self._bin_map = np.memmap(bin_file, mode="r", dtype=self.dtype.newbyteorder("<"))
        else:
            self._bin_map = np.zeros(0, dtype=self.dtype)
        self._closed = False
        self._contiguous = bool(
            n == 0
            or (
                int(self.pointers[0]) == 0
                and np.array_equal(
                    self.pointers[1:], np.cumsum(self.sizes[:-1].astype(np.int64) * itemsize)
                )
            )
        )

    def __getstate__(self) -> dict[str, Any]:
        # Pickling a memmap copies its data; DataLoader workers (spawn) reopen the files instead.
        return {"prefix": str(self.prefix)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["prefix"])  # type: ignore[misc]

    def __len__(self) -> int:
        return int(self.sizes.size)

    @property
    def num_tokens(self) -> int:
        return int(self.sizes.sum(dtype=np.int64))

    @property
    def num_documents(self) -> int:
        """Documents as Megatron counts them (``doc_idx`` groups sequences); equals ``len`` for sctool output."""
        return max(int(self.doc_idx.size) - 1, 0)

    @property
    def tokens(self) -> np.ndarray:
        """All tokens as one flat memory-mapped array, in sequence order.

        Packed training windows cut across document boundaries, so the trainer reads this view
        directly. Only valid when sequences are stored back to back (always true for files written
        by sctool and by Megatron's builder).
        """
        self._check_open()
        if not self._contiguous:
            raise DatasetError(f"{data_path(self.prefix)}: sequences are not stored contiguously; use get()")
        return self._bin_map[: self.num_tokens]

    def _check_open(self) -> None:
        if self._closed:
            raise DatasetError(f"{self.prefix}: dataset was closed")

    def _index(self, i: int) -> int:
        self._check_open()
        n = len(self)
        j = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"sequence index {i} out of range for {n} sequences in {self.prefix}")
        return j

    def get(self, i: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        """Tokens ``[offset, offset + length)`` of sequence ``i`` (to its end when ``length`` is None)."""
        j = self._index(i)
        size = int(self.sizes[j])
        if offset < 0 or offset > size:
            raise IndexError(f"offset {offset} outside sequence {j} of {size} tokens")
        if length is None:
            length = size - offset
        if length < 0 or offset + length > size:
            raise IndexError(f"length {length} from offset {offset} runs past sequence {j} of {size} tokens")
        start = int(self.pointers[j]) // self.dtype.itemsize + offset
        return self._bin_map[start : start + length]

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self.get(j) for j in range(*i.indices(len(self)))]
        return self.get(i)

    def close(self) -> None:
        """Drop this reader's references to the memory maps; the OS unmaps them once arrays handed
        out earlier are gone too (numpy gives no way to invalidate views that are still alive)."""
        self._bin_map = np.zeros(0, dtype=self.dtype)
        self._closed = True

    def __enter__(self) -> IndexedDataset:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"IndexedDataset({str(self.prefix)!r}, sequences={len(self)}, tokens={self.num_tokens}, dtype={self.dtype})"


__all__ = [
    "DTYPE_CODES",
    "MAGIC",
    "IndexedDataset",
    "IndexedDatasetWriter",
    "data_path",
    "dtype_for_vocab",
    "index_path",
    "stale_temp_files",
]
