"""sctool's benchmark suite: us against the peers on the same data in the same run."""
