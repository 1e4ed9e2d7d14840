"""``trainer.host_memory_reuse``: a freed large tensor's pages are reused instead of faulted in anew.

Each case runs in its own interpreter because the setting is process-wide and irreversible.
The assertion is on page faults (``ru_minflt``), which count work, not on time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sctool.train.host_memory import glibc_version

PROBE = r"""
import json, resource, sys
import torch
sys.path.insert(0, {python!r})
if {apply}:
    from sctool.train.host_memory import reuse_freed_memory
    assert reuse_freed_memory() and reuse_freed_memory()  # idempotent
n = 64 * 2**20 // 4  # 64 MiB of fp32: above glibc's largest mmap threshold (32 MiB)
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(n)
    t.fill_(1.0)
    del t
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""

PAGES_64MIB = 64 * 2**20 // 4096


def probe(apply: bool) -> list[int]:
    from tests.conftest import REPO

    code = PROBE.format(python=str(REPO / "python"), apply=apply)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(glibc_version() is None, reason="mallopt tuning is glibc-only")
def test_freed_tensor_pages_are_reused() -> None:
    default = probe(apply=False)
    tuned = probe(apply=True)
    # Without the setting every allocation of the 64 MiB tensor faults in all of its pages again.
    assert all(f >= PAGES_64MIB // 2 for f in default), default
    # With it, once glibc's heap has settled (torch allocates 64-byte aligned blocks, whose split
    # remainders take a few rounds to coalesce), the freed block is reused without faulting.
    assert tuned[0] >= PAGES_64MIB // 2, tuned
    assert all(f < PAGES_64MIB // 20 for f in tuned[-3:]), tuned


def test_glibc_version_shape() -> None:
    version = glibc_version()
    if sys.platform.startswith("linux") and version is not None:
        major, minor = version.split(".")[:2]
        assert int(major) >= 2 and int(minor) >= 0
    else:
        assert version is None
