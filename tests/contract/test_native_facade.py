"""``sctool.native`` is the library's one door to the Rust extension."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "sctool"
# errors.py takes the exception classes the extension defines (Rust raises them); nothing else may.
ALLOWED = {PACKAGE / "native.py", PACKAGE / "errors.py"}
EXCEPTIONS = {"SctoolError", "ConfigError", "InternalError", "InvalidInputError"}


def native_imports(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import) and any(a.name == "sctool._native" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            from_package = node.module == "sctool" or (node.level > 0 and not node.module)
            if node.module == "sctool._native" or (from_package and "_native" in names):
                lines.append(node.lineno)
    return lines


def test_only_the_facade_imports_the_extension() -> None:
    offenders = [f"{p.relative_to(PACKAGE)}:{line}" for p in sorted(PACKAGE.rglob("*.py")) if p not in ALLOWED
                 for line in native_imports(p)]
    assert offenders == [], f"import sctool.native instead of sctool._native in {offenders}"


def test_the_facade_covers_every_kernel_and_only_real_ones() -> None:
    from sctool import _native, native

    public = {n for n in dir(_native) if not n.startswith("_")} - EXCEPTIONS
    wrapped = {"hash_content"}  # Python wrappers that convert results
    assert public - wrapped == set(native.KERNELS), "add new kernels to sctool.native (import + KERNELS)"
    for name in native.KERNELS:
        assert getattr(native, name) is getattr(_native, name)
        assert name in native.__all__


def test_the_checker_sees_each_import_form(tmp_path) -> None:
    probe = tmp_path / "m.py"
    probe.write_text("import sctool._native\nfrom sctool import _native\nfrom sctool._native import x\n"
                     "from . import _native\nfrom sctool import native\n")
    assert native_imports(probe) == [1, 2, 3, 4]
