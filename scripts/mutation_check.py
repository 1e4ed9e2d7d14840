"""A small mutation check: do the targeted tests notice one-line breaks in the core modules?

Why not mutmut: mutmut 3 rewrites every function of a module into a trampoline inside a ``mutants/``
copy of the tree and first runs the whole selected suite to map tests to functions; with a compiled
extension inside the package, a shared working tree and two cores that is slow and fragile. This
script does the same thing more plainly:

* the package ``python/sctool`` (with its compiled ``_native`` module) is copied once to a temporary
  directory that is put first on ``PYTHONPATH``; the working tree is never edited, so other
  processes importing ``sctool`` at the same time are never affected;
* for every target (a file, the functions or classes in it to mutate, the tests that cover it) the
  Python ``ast`` yields one mutant per site: a comparison flipped (``<`` <-> ``<=``, ``==`` <-> ``!=``,
  ``in`` <-> ``not in``, ...), an arithmetic operator swapped (``+`` <-> ``-``, ``*`` <-> ``/``), ``and``
  <-> ``or``, a ``not`` dropped, an ``if`` condition replaced by ``False`` (a deleted check), a number
  or boolean constant changed; plus a few named mutants written by hand (the breaks the issue names);
* each mutant is written to the copy (the original copy is restored in ``finally``), and the
  target's tests run in a fresh ``pytest -x`` process: a failure kills the mutant, a pass is a
  survivor, a run over the time limit counts as killed (timeout).

Usage: ``python scripts/mutation_check.py [--target NAME ...] [--list] [--report FILE]``
(``make mutation``). The exit status is 0 when every named mutant is killed; survivors among the
generated ones are listed with their line for a person to judge (see docs/testing.md).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Target:
    name: str
    path: str  # relative to python/
    scopes: tuple[str, ...]  # function / class names (dotted for methods); () = whole module
    tests: tuple[str, ...]
    # Only mutate nodes on these source lines of the original file (inclusive), given as
    # (first text, last text) anchors so the range follows edits; None = the whole scope.
    anchors: tuple[str, str] | None = None
    named: tuple[tuple[str, str, str], ...] = ()  # (label, exact old text, new text)


TARGETS: tuple[Target, ...] = (
    Target(
        "recipe", "sctool/recipe.py", ("_resolve_ref", "plan_recipe", "_up_to_date", "run_recipe"),
        ("tests/contract/test_recipe_plan.py", "tests/contract/test_mutation_kills.py"),
        named=(("recipe: stage skipped although its config changed",
                "if old.stage != step.stage.name or old.config != config_to_dict(step.config):",
                "if old.stage != step.stage.name:"),
               ("recipe: downstream stage skipped after an upstream rerun",
                "old = None if upstream_rerun else _up_to_date(step)", "old = _up_to_date(step)")),
    ),
    Target(
        "config", "sctool/config.py", ("config_to_dict", "_coerce", "config_from_dict"),
        ("tests/contract/test_mutation_kills.py",),
    ),
    Target(
        "stage-base", "sctool/stages/base.py", ("Runtime", "register_stage", "empty_removed"),
        ("tests/contract/test_mutation_kills.py",),
    ),
    Target(
        "dedup-steps", "sctool/dedup/steps.py", ("split_by_decisions", "first_occurrences", "content_hashes"),
        ("tests/foundation/test_dedup_exact.py", "tests/contract/test_mutation_kills.py", "tests/dedup/test_steps.py"),
    ),
    Target(
        "dedup-decisions", "sctool/dedup/decisions.py", ("exact_duplicates",),
        ("tests/foundation/test_dedup_exact.py", "tests/contract/test_mutation_kills.py"),
    ),
    Target(
        "passk", "sctool/eval/passk.py", ("pass_at_k", "mean_pass_at_k"),
        ("tests/eval/test_passk.py", "tests/contract/test_mutation_kills.py::test_mean_pass_at_k_of_no_problems_is_empty"),
    ),
    Target(
        "ppl", "sctool/eval/ppl.py", (), ("tests/eval/test_model_eval.py::test_perplexity_matches_brute_force",
                                          "tests/eval/test_model_eval.py::test_ppl_cli_reports_bits_per_byte"),
        anchors=("mean = nll_sum / scored", '"bits_per_byte":'),
        named=(("ppl: bits_per_byte in base e",
                '"bits_per_byte": (nll_sum / math.log(2) / nbytes)', '"bits_per_byte": (nll_sum / nbytes)'),),
    ),
    Target(
        "decontam-defaults", "sctool/stages/decontam.py", ("DecontamConfig",),
        ("tests/contract/test_mutation_kills.py",
         "tests/decontam/test_evidence.py::test_default_threshold_is_half_the_pieces_evidence"),
        named=(("decontam: default threshold 0.5 -> 0.9",
                "threshold: float = field(default=0.5,", "threshold: float = field(default=0.9,"),),
    ),
)

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult}


@dataclass
class Mutant:
    target: str
    label: str
    line: int
    source: str  # the whole mutated module
    named: bool = False
    outcome: str = ""
    seconds: float = 0.0
    detail: str = field(default="", repr=False)


def _scope_nodes(tree: ast.Module, scopes: tuple[str, ...]) -> list[ast.AST]:
    if not scopes:
        return [tree]
    found: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in scopes:
            found.append(node)
        if isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef) and f"{node.name}.{sub.name}" in scopes:
                    found.append(sub)
    missing = set(scopes) - {getattr(n, "name", "") for n in found} - {
        s for s in scopes if "." in s}
    if missing:
        raise SystemExit(f"mutation_check: scopes not found: {sorted(missing)}")
    return found


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    return isinstance(parents.get(node), ast.Expr)


def _sites(tree: ast.Module, scopes: tuple[str, ...], lines: tuple[int, int] | None) -> Iterator[tuple[int, str]]:
    """(index of the node in ast.walk order, label) for every mutation site in scope."""
    order = {id(n): i for i, n in enumerate(ast.walk(tree))}
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    seen: set[tuple[int, str]] = set()
    for root in _scope_nodes(tree, scopes):
        for node in ast.walk(root):
            ln = getattr(node, "lineno", None)
            if ln is None or (lines and not lines[0] <= ln <= lines[1]):
                continue
            idx = order[id(node)]
            labels: list[str] = []
            if isinstance(node, ast.Compare):
                for j, op in enumerate(node.ops):
                    if type(op) in _CMP_SWAP:
                        labels.append(f"cmp{j}:{type(op).__name__}->{_CMP_SWAP[type(op)].__name__}")
            elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
                labels.append(f"binop:{type(node.op).__name__}->{_BIN_SWAP[type(node.op)].__name__}")
            elif isinstance(node, ast.BoolOp):
                labels.append("boolop:" + ("And->Or" if isinstance(node.op, ast.And) else "Or->And"))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                labels.append("not:dropped")
            elif isinstance(node, (ast.If, ast.IfExp)):
                labels.append("if:condition->False")
            elif isinstance(node, ast.Constant) and not _is_docstring(node, parents):
                v = node.value
                if isinstance(v, bool):
                    labels.append(f"const:{v}->{not v}")
                elif isinstance(v, int):
                    labels.append(f"const:{v}->{v + 1}")
                elif isinstance(v, float):
                    labels.append(f"const:{v}->{v * 2 if v else 1.0}")
            for lab in labels:
                if (idx, lab) not in seen:
                    seen.add((idx, lab))
                    yield idx, lab


def _mutate(tree: ast.Module, idx: int, label: str) -> ast.Module:
    new = copy.deepcopy(tree)
    node = list(ast.walk(new))[idx]
    kind = label.partition(":")[0]
    if kind.startswith("cmp"):
        j = int(kind[3:])
        node.ops[j] = _CMP_SWAP[type(node.ops[j])]()
    elif kind == "binop":
        node.op = _BIN_SWAP[type(node.op)]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        parents = {c: p for p in ast.walk(new) for c in ast.iter_child_nodes(p)}
        parent = parents[node]
        for fname, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, fname, node.operand)
            elif isinstance(value, list):
                setattr(parent, fname, [node.operand if v is node else v for v in value])
    elif kind == "if":
        node.test = ast.Constant(False)
    elif kind == "const":
        v = node.value
        node.value = (not v) if isinstance(v, bool) else (v + 1 if isinstance(v, int) else (v * 2 if v else 1.0))
    ast.fix_missing_locations(new)
    return new


def _anchor_lines(text: str, anchors: tuple[str, str]) -> tuple[int, int]:
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines, 1) if anchors[0] in ln)
    last = next(i for i, ln in enumerate(lines, 1) if i >= first and anchors[1] in ln)
    return first, last


def mutants_for(t: Target) -> list[Mutant]:
    text = (REPO / "python" / t.path).read_text(encoding="utf-8")
    out: list[Mutant] = []
    for label, old, new in t.named:
        if text.count(old) != 1:
            raise SystemExit(f"mutation_check: named mutant {label!r}: {old!r} occurs {text.count(old)} times "
                             f"in {t.path} (update the script)")
        line = text[: text.index(old)].count("\n") + 1
        out.append(Mutant(t.name, label, line, text.replace(old, new), named=True))
    tree = ast.parse(text)
    lines = _anchor_lines(text, t.anchors) if t.anchors else None
    nodes = list(ast.walk(tree))
    for idx, label in _sites(tree, t.scopes, lines):
        src = ast.unparse(_mutate(tree, idx, label))
        out.append(Mutant(t.name, label, nodes[idx].lineno, src))
    return out


def _run_tests(tests: tuple[str, ...], pkg_root: Path, timeout: float) -> tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": f"{pkg_root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep),
           "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, ""
    took = time.monotonic() - t0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    failed = [ln.split(" - ")[0].removeprefix("FAILED ") for ln in lines if ln.startswith("FAILED ")]
    tail = lines[-1] if lines else ""
    if proc.returncode == 0:
        return "survived", took, tail
    if proc.returncode == 1:
        return "killed", took, failed[0] if failed else tail
    return f"error(rc={proc.returncode})", took, tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", action="append", help="only these targets (default: all): "
                    + ", ".join(t.name for t in TARGETS))
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--named-only", action="store_true", help="only the hand-written mutants")
    ap.add_argument("--match", action="append", help="only mutants whose 'path:line label' contains this "
                    "(repeatable; e.g. to recheck a survivor after adding a test)")
    ap.add_argument("--report", type=Path, help="write every mutant's outcome to this JSON file")
    args = ap.parse_args(argv)
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    if args.target and len(chosen) != len(set(args.target)):
        ap.error(f"unknown target in {args.target}")
    plan = [(t, mutants_for(t)) for t in chosen]
    if args.named_only:
        plan = [(t, [m for m in ms if m.named]) for t, ms in plan]
    if args.match:
        plan = [(t, [m for m in ms if any(s in f"{t.path}:{m.line} {m.label}" for s in args.match)]) for t, ms in plan]
    if args.list:
        for t, ms in plan:
            for m in ms:
                print(f"{t.name:18} {t.path}:{m.line:<4} {'NAMED ' if m.named else ''}{m.label}")
        print(f"{sum(len(ms) for _, ms in plan)} mutants")
        return 0

    results: list[Mutant] = []
    with tempfile.TemporaryDirectory(prefix="sctool-mutation-") as tmp:
        pkg_root = Path(tmp)
        shutil.copytree(REPO / "python" / "sctool", pkg_root / "sctool",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        probe = subprocess.run([sys.executable, "-c", "import sctool; print(sctool.__file__)"], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(pkg_root)}, capture_output=True, text=True)
        if not probe.stdout.strip().startswith(str(pkg_root)):
            raise SystemExit(f"mutation_check: the package copy is not the one imported: {probe.stdout}{probe.stderr}")
        for t, ms in plan:
            if not ms:
                continue
            path = pkg_root / t.path
            original = path.read_text(encoding="utf-8")
            status, base_s, tail = _run_tests(t.tests, pkg_root, timeout=900)
            print(f"== {t.name}: {len(ms)} mutants; unmutated tests {status} in {base_s:.0f}s ({tail})", flush=True)
            if status != "survived":
                print(f"   skipping {t.name}: its tests fail without any mutation", flush=True)
                continue
            limit = 3 * base_s + 30
            for m in ms:
                try:
                    path.write_text(m.source, encoding="utf-8")
                    m.outcome, m.seconds, m.detail = _run_tests(t.tests, pkg_root, timeout=limit)
                finally:
                    path.write_text(original, encoding="utf-8")
                by = f" by {m.detail}" if m.outcome == "killed" else ""
                print(f"   {m.outcome:9} {t.path}:{m.line:<4} {'NAMED ' if m.named else ''}{m.label}"
                      f"  [{m.seconds:.0f}s]{by}", flush=True)
                results.append(m)
    killed = sum(m.outcome in ("killed", "timeout") for m in results)
    survived = [m for m in results if m.outcome == "survived"]
    errors = [m for m in results if m.outcome.startswith("error")]
    print(f"\n{len(results)} mutants: {killed} killed, {len(survived)} survived, {len(errors)} errors")
    for m in survived:
        print(f"  SURVIVED {m.target}: python/{next(t.path for t in TARGETS if t.name == m.target)}:{m.line} "
              f"{'NAMED ' if m.named else ''}{m.label}")
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps([{"target": m.target, "line": m.line, "mutation": m.label,
                                            "named": m.named, "outcome": m.outcome, "detail": m.detail,
                                            "seconds": round(m.seconds, 1)} for m in results], indent=1))
    return 1 if any(m.named and m.outcome != "killed" for m in results) or errors else 0


if __name__ == "__main__":
    sys.exit(main())
