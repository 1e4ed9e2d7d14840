"""Pipeline stages. Each stage module exposes a frozen config dataclass and ``run_<stage>``.

The CLI, the recipe runner (``sctool run``) and the Python API all call these same functions.
"""
