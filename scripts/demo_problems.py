"""Write the demo's own tiny evaluation problems (HumanEval and HumanEval-infilling formats).

The product ships no benchmark data, so `make demo` scores its freshly trained (tiny) model on three
problems written here for the purpose. They exercise the real harness end to end — generation,
sandboxed execution, pass@k, infilling exact match — not the model's skill.

    python scripts/demo_problems.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROBLEMS = [
    {
        "task_id": "Demo/0",
        "entry_point": "add",
        "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
        "canonical_solution": "    return a + b\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    },
    {
        "task_id": "Demo/1",
        "entry_point": "is_even",
        "prompt": 'def is_even(n: int) -> bool:\n    """Return True when n is even."""\n',
        "canonical_solution": "    return n % 2 == 0\n",
        "test": "def check(candidate):\n    assert candidate(4) is True\n    assert candidate(7) is False\n",
    },
    {
        "task_id": "Demo/2",
        "entry_point": "shout",
        "prompt": 'def shout(text: str) -> str:\n    """Return text in upper case followed by an exclamation mark."""\n',
        "canonical_solution": '    return text.upper() + "!"\n',
        "test": "def check(candidate):\n    assert candidate('hi') == 'HI!'\n",
    },
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "demo-humaneval.jsonl", "w") as fh:
        for p in PROBLEMS:
            fh.write(json.dumps(p) + "\n")
    with open(out / "demo-infill.jsonl", "w") as fh:
        for p in PROBLEMS:
            row = {**p, "task_id": f"SingleLineInfilling/{p['task_id']}/L0", "suffix": "\n"}
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
