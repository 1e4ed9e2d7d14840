"""sctool: StarCoder-style code-data curation with Rust kernels, and a multi-query-attention GPT trainer.

The public Python API lives here. ``import sctool`` never imports torch: the model, trainer and
inference code load only when their modules are imported.
"""

from sctool import dedup  # callable package: sctool.dedup(frame, ...)
from sctool._version import __version__
from sctool.dedup import minhash
from sctool.errors import (
    ConfigError,
    DatasetError,
    InternalError,
    InvalidInputError,
    OutputExistsError,
    SctoolError,
)
from sctool.io.dataset import read_dataset
from sctool.native import hash_content
from sctool.pii import detect_pii, redact

__all__ = [
    "ConfigError",
    "DatasetError",
    "InternalError",
    "InvalidInputError",
    "OutputExistsError",
    "SctoolError",
    "__version__",
    "dedup",
    "detect_pii",
    "hash_content",
    "minhash",
    "read_dataset",
    "redact",
]
