"""``python -m train``: the StarCoder trainer's command line (a shim into :mod:`sctool.train.cli`)."""
