"""Generated code-like documents for the tokenizer/FIM/packing tests (fixed seeds, no downloads)."""

from __future__ import annotations

import random

WORDS = [
    "def", "return", "import", "class", "self", "value", "items", "for", "in", "if", "else", "print",
    "result", "data", "None", "True", "lambda", "yield", "with", "open", "path", "count", "name", "x",
]
UNICODE = ["héllo", "naïve", "日本語", "данные", "🙂", "λx", "€", "ß", "中文注释", "👩‍💻"]


def make_doc(rng: random.Random, unicode_rate: float = 0.1) -> str:
    """A plausible little Python-ish file: identifiers, numbers, indentation, some non-ASCII."""
    lines = []
    for _ in range(rng.randint(1, 30)):
        indent = "    " * rng.randint(0, 3)
        toks = []
        for _ in range(rng.randint(1, 10)):
            r = rng.random()
            if r < unicode_rate:
                toks.append(rng.choice(UNICODE))
            elif r < 0.25:
                toks.append(str(rng.randint(0, 10**rng.randint(1, 6))))
            else:
                toks.append(rng.choice(WORDS))
        lines.append(indent + " ".join(toks) + rng.choice(["", ":", "()", " = 0", "  # note"]))
    return "\n".join(lines) + "\n"


def make_corpus(n: int, seed: int = 0, unicode_rate: float = 0.1) -> list[str]:
    rng = random.Random(seed)
    return [make_doc(rng, unicode_rate) for _ in range(n)]
