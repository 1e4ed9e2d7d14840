"""The Lightning trainer: data module over packed tokens, module around the GPT, ``fit``, the CLI.

Importing this package imports torch and Lightning (``import sctool`` alone does not).
"""

from sctool.train.config import DataConfig, DataSource, FitConfig, OptimConfig, TrainerConfig
from sctool.train.fit import FitResult, fit

__all__ = ["DataConfig", "DataSource", "FitConfig", "FitResult", "OptimConfig", "TrainerConfig", "fit"]
