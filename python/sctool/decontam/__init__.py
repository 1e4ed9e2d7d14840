"""Benchmark decontamination: StarCoder's exact substring rule plus normalised n-gram containment."""

from sctool.decontam.benchmarks import BenchmarkItem, BenchmarkSpec, load_benchmarks
from sctool.decontam.index import DecontamIndex, NormalisedParams

__all__ = ["BenchmarkItem", "BenchmarkSpec", "DecontamIndex", "NormalisedParams", "load_benchmarks"]
