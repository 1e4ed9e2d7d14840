"""The committed ``_native.pyi`` describes the extension that is built: same names, same parameters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_native_stub_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_native_stub", REPO / "scripts" / "gen_native_stub.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    from sctool import _native

    committed = (REPO / "python" / "sctool" / "_native.pyi").read_text(encoding="utf-8")
    assert gen.render(_native) == committed, "python/sctool/_native.pyi is stale: run python scripts/gen_native_stub.py"


def test_package_is_typed() -> None:
    assert (REPO / "python" / "sctool" / "py.typed").exists()
