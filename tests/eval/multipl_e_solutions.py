"""The hand-translated MultiPL-E solutions under tests/eval/data/multipl_e/<lang>/solutions.txt.

Format: ``=== <problem name>`` starts a problem, ``--- correct`` / ``--- wrong`` start a completion;
lines before the first ``===`` are comments. Each completion is exactly what a model would write after
MultiPL-E's prompt (the body, plus the closing brace/``end`` where the language's tests do not supply it).
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "multipl_e"
MULTIPL_E = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "benchmarks" / "multipl-e"
TRANSLATED = ("js", "ts", "java", "cpp", "rs", "go", "sh", "pl", "php", "rb", "lua", "r", "rkt")
CASES = ("correct", "wrong", "empty")


def load_solutions(lang: str) -> dict[str, dict[str, str]]:
    """{problem name: {"correct": completion, "wrong": completion, "empty": ""}}."""
    out: dict[str, dict[str, list[str]]] = {}
    cur: str | None = None
    kind: str | None = None
    for line in (DATA / lang / "solutions.txt").read_text(encoding="utf-8").split("\n"):
        if line.startswith("=== "):
            cur, kind = line[4:].strip(), None
            out[cur] = {}
        elif line.startswith("--- ") and cur is not None:
            kind = line[4:].strip()
            out[cur][kind] = []
        elif cur is not None and kind is not None:
            out[cur][kind].append(line)
    result = {}
    for name, parts in out.items():
        if set(parts) != {"correct", "wrong"}:
            raise ValueError(f"{lang}/{name}: needs exactly a correct and a wrong completion, has {sorted(parts)}")
        result[name] = {k: "\n".join(v).rstrip("\n") + "\n" for k, v in parts.items()}
        result[name]["empty"] = ""
    return result


def cases(lang: str, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(problem name, case, completion) for the first ``limit`` problems."""
    sols = load_solutions(lang)
    names = list(sols)[:limit] if limit else list(sols)
    return [(name, case, sols[name][case]) for name in names for case in CASES]
