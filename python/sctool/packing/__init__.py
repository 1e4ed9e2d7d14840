"""Packed training data: Megatron indexed-dataset files and the blending of several sources."""

from sctool.packing.indexed import IndexedDataset, IndexedDatasetWriter, dtype_for_vocab

__all__ = ["IndexedDataset", "IndexedDatasetWriter", "dtype_for_vocab"]
