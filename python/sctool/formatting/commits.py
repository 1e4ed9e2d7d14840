"""Git commits as StarCoder trained on them (the StarCoder paper, ``filtering_git_commits.ipynb``).

Input: one record per changed file with ``old_contents``, ``new_contents``, the commit ``subject``
(or ``message``, whose first line is used) and the file path (``new_file``, ``old_file`` or
``path``). Filters, each a counted removal reason:

* ``commit_too_large``: ``old_contents`` of 100,000 characters or more; ``commit_empty_new``: empty new file;
* ``commit_change_span``: only 10 % of commits whose changed line span is ≤ 2, and 10 % of those ≥ 200, are kept;
* ``commit_subject``: empty, contains ``auto commit`` / ``update contributing`` / ``<?xml``, is exactly
  one of the boilerplate subjects, is version-like, averages > 20 characters a word, or is a single
  word starting with whitespace; only 50 % of subjects under 5 words are kept;
* ``commit_extension``: the file's extension is not in the language table (Dockerfile, Makefile kept);
* ``commit_data_subsample``: json/yml/yaml/xml/html files are kept at 50 %.

The opt-out list and the repo+filename dedup of the original are not applied here (the first needs
data sctool does not ship; the second is global: run ``sctool dedup``).

Layout: with probability 0.2 the whole files, ``<commit_before>{old}<commit_msg>{subject}<commit_after>{new}``;
otherwise the same tokens around a window of the change with ``randint(0, 32)`` context lines before
and after. Every random choice is keyed by the record id.
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field

from sctool.formatting.rand import doc_seed
from sctool.languages import detect_language, extension_of

COMMIT_BEFORE = "<commit_before>"
COMMIT_MSG = "<commit_msg>"
COMMIT_AFTER = "<commit_after>"

BOILERPLATE_SUBJECTS = frozenset({
    "readme", "update", "dummy", "updated", "debug", "test", "update readme", "update readme.md",
    "updated readme.md", "updated readme",
})
BANNED_SUBSTRINGS = ("auto commit", "update contributing", "<?xml")
VERSION_LIKE = re.compile(r"v?\d+\.\d+\.\d+")
DATA_EXTENSIONS = frozenset({"json", "yml", "yaml", "xml", "html"})
ALWAYS_KEPT_NAMES = frozenset({"dockerfile", "makefile"})


@dataclass(frozen=True)
class CommitConfig:
    """StarCoder's commit filters and layout."""

    max_old_chars: int = field(default=100_000, metadata={"help": "drop commits whose old file is this long or longer"})
    full_file_rate: float = field(default=0.2, metadata={"help": "probability of whole files instead of a window"})
    max_context_lines: int = field(default=32, metadata={"help": "context lines around the change: randint(0, this)"})
    filters: bool = field(default=True, metadata={"help": "apply StarCoder's commit filters (off: format only)"})


class CommitError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def subject_of(message: str) -> str:
    return message.strip().split("\n", 1)[0] if message.strip() else ""


def subject_rejection(subject: str, rng: random.Random) -> str | None:
    """Why StarCoder would drop this subject, or None; draws one number for the short-subject coin."""
    coin = rng.random()
    if not subject.strip():
        return "empty subject"
    low = subject.lower()
    if any(b in low for b in BANNED_SUBSTRINGS):
        return "banned phrase"
    if low.strip() in BOILERPLATE_SUBJECTS:
        return "boilerplate subject"
    if VERSION_LIKE.search(subject):
        return "version-like subject"
    words = subject.split()
    if words and len(subject) / len(words) > 20:
        return "long words"
    if len(words) == 1 and subject[:1].isspace():
        return "single word after whitespace"
    if len(words) < 5 and coin >= 0.5:
        return "short subject (50 % kept)"
    return None


def _changed_range(old_lines: list[str], new_lines: list[str]) -> tuple[int, int, int, int] | None:
    """(old_start, old_end, new_start, new_end) covering every changed line, or None if identical."""
    ops = [op for op in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
           if op[0] != "equal"]
    if not ops:
        return None
    return ops[0][1], ops[-1][2], ops[0][3], ops[-1][4]


def format_commit(
    key: str, old: str | None, new: str | None, message: str | None, path: str, config: CommitConfig, seed: int
) -> str:
    """The training text of one changed file; raises CommitError(reason) to drop it."""
    if old is None:
        old = ""
    if not isinstance(old, str) or not isinstance(new, (str, type(None))) or not isinstance(message, (str, type(None))):
        raise CommitError("malformed_commit", "old/new contents and message must be text")
    rng = random.Random(doc_seed(key, seed, "commit"))
    subject = subject_of(message or "")
    old_lines = old.split("\n")
    new_lines = (new or "").split("\n")
    changed = _changed_range(old_lines, new_lines) if new else None
    if config.filters:
        if len(old) >= config.max_old_chars:
            raise CommitError("commit_too_large", f"old file has {len(old)} characters")
        if not new:
            raise CommitError("commit_empty_new", "new file is empty")
        span = 0 if changed is None else max(changed[1] - changed[0], changed[3] - changed[2])
        if (span <= 2 or span >= 200) and rng.random() >= 0.1:
            raise CommitError("commit_change_span", f"changed span of {span} lines (10 % kept)")
        why = subject_rejection(subject, rng)
        if why:
            raise CommitError("commit_subject", why)
        name = path.rsplit("/", 1)[-1].lower()
        if name not in ALWAYS_KEPT_NAMES and detect_language(path) is None:
            raise CommitError("commit_extension", f"{path}: extension not in the language table")
        if extension_of(path) in DATA_EXTENSIONS and rng.random() >= 0.5:
            raise CommitError("commit_data_subsample", "data-like file (50 % kept)")
    if rng.random() < config.full_file_rate or changed is None:
        before, after = old, new or ""
    else:
        ctx_before = rng.randint(0, config.max_context_lines)
        ctx_after = rng.randint(0, config.max_context_lines)
        o0, o1, n0, n1 = changed
        before = "\n".join(old_lines[max(0, o0 - ctx_before) : o1 + ctx_after])
        after = "\n".join(new_lines[max(0, n0 - ctx_before) : n1 + ctx_after])
    return f"{COMMIT_BEFORE}{before}{COMMIT_MSG}{subject}{COMMIT_AFTER}{after}"
