"""No import cycles between the dedup, executor and stage layers, lazy imports included.

A cycle hidden by an import inside a function still ties two modules together (each needs the
other to work) and breaks as soon as someone hoists the import. The graph here is read from the
source with ``ast``: every ``import`` anywhere in a module counts except those under
``if TYPE_CHECKING:`` (annotations only, never executed), and importing ``a.b.c`` also runs the
packages ``a`` and ``a.b`` (those
the importing module is not itself inside). Layers, lowest first: ``executors`` (knows no stage or dedup code),
``dedup`` (its steps run on any executor), ``stages`` (the commands).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "python"
LAYERS = ("sctool.executors", "sctool.dedup", "sctool.stages")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, modules: set[str], package: str) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else []))
                subs = {f"{base}.{a.name}" for a in child.names} & modules
                found.update(subs)
                if len(subs) < len(child.names):  # some names are the package's own attributes
                    found.add(base)
            visit(child)

    visit(tree)
    out = set()
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            p = ".".join(parts[:i])
            # A module inside package p runs while p is already being imported: no edge to p itself.
            if p in modules and (i == len(parts) or not (package + ".").startswith(p + ".")):
                out.add(p)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.joinpath("sctool").rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = _imports(ast.parse(path.read_text(encoding="utf-8")), modules, package) - {name}
    return graph


def _cycles(graph: dict[str, set[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), restricted to ``nodes``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in nodes:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def _in(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def test_the_graph_sees_lazy_imports_and_skips_type_checking() -> None:
    g = import_graph()
    # near.py imports make_scratch_dir inside a function; executors.base names StageOutput for
    # annotations only.
    assert "sctool.executors.spill" in g["sctool.dedup.near"]
    assert "sctool.stages.base" not in g["sctool.executors.base"]
    assert "sctool.executors" in g["sctool.stages.base"]


def test_no_cycle_among_dedup_executors_and_stages() -> None:
    g = import_graph()
    nodes = {m for m in g if any(_in(m, layer) for layer in LAYERS)}
    assert _cycles(g, nodes) == []


def test_layers_import_only_downwards() -> None:
    g = import_graph()
    bad = []
    for m, deps in g.items():
        for low, high in ((0, 1), (0, 2), (1, 2)):
            if _in(m, LAYERS[low]) and any(_in(d, LAYERS[high]) for d in deps):
                bad.append((m, sorted(d for d in deps if _in(d, LAYERS[high]))))
    # dedup may use the stage contract (Runtime, StageOutput) in sctool.stages.base, nothing else
    # of the stages: the commands depend on dedup, not the other way round.
    allowed = {"sctool.stages", "sctool.stages.base"}
    bad = [(m, ds) for m, ds in bad if not (_in(m, "sctool.dedup") and set(ds) <= allowed)]
    assert bad == []


def test_cycle_finder_finds_a_planted_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g, set(g)) == [["a", "b", "c"]]
