"""The ``sctool`` command-line application: thin argument parsing over the sctool library."""
