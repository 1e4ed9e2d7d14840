"""GitHub issues as StarCoder trained on them (the StarCoder paper, bigcode-dataset ``filtering_issues.py``).

Input: one record per issue with ``events``, a list (or a JSON string of a list) of objects with
``action`` (``opened``, ``created`` for a comment, ``closed``, ``reopened``), ``author`` and the
text in ``text``, ``comment`` or ``description``; an optional ``title`` on the record.

Cleaning, in StarCoder's order: e-mail reply boilerplate and quoted lines removed, comments over 80
lines cut to the first 60 + ``[Truncated]`` + the last 20, bot events removed (with the comment that
called the bot), and the issue kept only with ≥ 200 characters of text and either ≥ 2 distinct
users or ≤ 7000 characters in ≤ 10 events. Author names become ``username_0``, ``username_1``, … in
order of appearance, in the author field and inside the text.

The token template is not in bigcode-dataset (the StarCoder paper); sctool writes::

    <issue_start>Title: {title}\\nusername_0: {opening text}<issue_comment>username_1: {comment}…<issue_closed>

with ``<issue_closed>`` where the issue was closed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ISSUE_START = "<issue_start>"
ISSUE_COMMENT = "<issue_comment>"
ISSUE_CLOSED = "<issue_closed>"

BOT_NAMES = frozenset({
    "apache-hbase", "autorestci", "claassistant", "cmsbuild", "codecov-io", "codecov-commenter", "coveralls",
    "danger-public", "dnfclas", "msftclas", "pydocteur", "sparkqa", "karma-pr-reporter", "claassistantio",
    "probot-stale",
})
BOT_SUBSTRINGS = ("[bot]", "botmanager", "bors-", "jenkins", "k8s-", "-test-", "travis")
BOT_SUFFIXES = (
    "-automaton", "-automation", "-benchmark", "-build", "-deployer", "-cloud", "bot", "-ci", "-linter",
    "-teamcity", "-test", "-testing", "-service-account",
)

# E-mail replies: GitHub's footer, the "On … wrote:" header, sign-offs, quoted lines, long rules.
_EMAIL_FOOTER = re.compile(
    r"(?:—|--)?\s*\n?You are receiving this because.*|\s*Reply to this email directly.*?view it on GitHub.*",
    re.IGNORECASE | re.DOTALL,
)
_WROTE = re.compile(r"\n?On .{0,200}?<?notifications@github\.com>?\s*wrote:.*", re.IGNORECASE | re.DOTALL)
_SIGNED_OFF = re.compile(r"^Signed-off-by:.*$\n?", re.MULTILINE)
_QUOTED = re.compile(r"^>.*$\n?", re.MULTILINE)
_RULE = re.compile(r"_{20,}.*", re.DOTALL)


@dataclass(frozen=True)
class IssueConfig:
    """StarCoder's issue filters."""

    max_comment_lines: int = field(default=80, metadata={"help": "comments longer than this are truncated"})
    keep_head_lines: int = field(default=60, metadata={"help": "lines kept from the start of a long comment"})
    keep_tail_lines: int = field(default=20, metadata={"help": "lines kept from the end of a long comment"})
    min_chars: int = field(default=200, metadata={"help": "drop issues with less text"})
    max_chars_single_user: int = field(
        default=7000, metadata={"help": "single-user issues are kept only up to this many characters"}
    )
    max_events_single_user: int = field(
        default=10, metadata={"help": "single-user issues are kept only up to this many events"}
    )


class IssueError(ValueError):
    """The record cannot become an issue document; ``reason`` is the counter name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Event:
    action: str
    author: str
    text: str


def is_bot(author: str) -> bool:
    a = author.lower()
    return a in BOT_NAMES or any(s in a for s in BOT_SUBSTRINGS) or a.endswith(BOT_SUFFIXES)


def strip_boilerplate(text: str) -> str:
    for rx in (_WROTE, _EMAIL_FOOTER, _RULE):
        text = rx.sub("", text)
    text = _SIGNED_OFF.sub("", text)
    text = _QUOTED.sub("", text)
    return text.strip()


def truncate_lines(text: str, config: IssueConfig) -> str:
    lines = text.split("\n")
    if len(lines) <= config.max_comment_lines:
        return text
    head = "\n".join(lines[: config.keep_head_lines])
    tail = "\n".join(lines[-config.keep_tail_lines :]) if config.keep_tail_lines else ""
    return f"{head}\n[Truncated]\n{tail}"


def parse_events(raw: Any) -> list[Event]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise IssueError("malformed_issue", f"events is not valid JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise IssueError("malformed_issue", f"events must be a list, got {type(raw).__name__}")
    events = []
    for k, ev in enumerate(raw):
        if not isinstance(ev, dict):
            raise IssueError("malformed_issue", f"event {k} is not an object")
        author = ev.get("author")
        action = ev.get("action") or "created"
        parts = [ev.get(key) for key in ("text", "description", "comment")]
        if not isinstance(author, str) or not author or not isinstance(action, str):
            raise IssueError("malformed_issue", f"event {k} has no author")
        if any(p is not None and not isinstance(p, str) for p in parts):
            raise IssueError("malformed_issue", f"event {k} has non-text content")
        text = "\n".join(p for p in parts if p)
        events.append(Event(action=action, author=author, text=text))
    return events


def _drop_bots(events: list[Event]) -> tuple[list[Event], int]:
    keep = [True] * len(events)
    removed = 0
    for i, ev in enumerate(events):
        if not is_bot(ev.author):
            continue
        keep[i] = False
        removed += 1
        if i and keep[i - 1]:
            prev = events[i - 1].text
            if f"@{ev.author}".lower() in prev.lower() or prev.lstrip().startswith("/"):
                keep[i - 1] = False
                removed += 1
    return [e for e, k in zip(events, keep) if k], removed


def _mask_usernames(events: list[Event], title: str) -> tuple[list[Event], str]:
    names: dict[str, str] = {}
    for ev in events:
        names.setdefault(ev.author, f"username_{len(names)}")
    ordered = sorted(names, key=len, reverse=True)
    rx = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in ordered) + r")(?![\w-])")

    def mask(t: str) -> str:
        return rx.sub(lambda m: names[m.group(1)], t)

    return [Event(e.action, names[e.author], mask(e.text)) for e in events], mask(title)


def format_issue(raw_events: Any, title: str | None, config: IssueConfig) -> tuple[str, dict[str, int]]:
    """The training text of one issue and counters (``bot_events``); raises IssueError to drop it."""
    events = parse_events(raw_events)
    for ev in events:
        ev.text = truncate_lines(strip_boilerplate(ev.text), config)
    events, n_bot = _drop_bots(events)
    if not events:
        raise IssueError("issue_no_events", "no events left after removing bots")
    total = sum(len(e.text) for e in events) + len(title or "")
    users = {e.author for e in events}
    if total < config.min_chars:
        raise IssueError("issue_too_short", f"{total} characters")
    if len(users) < 2 and (total > config.max_chars_single_user or len(events) > config.max_events_single_user):
        raise IssueError("issue_single_user_too_long", f"{total} characters in {len(events)} events")
    events, masked_title = _mask_usernames(events, title or "")
    parts = [ISSUE_START]
    if masked_title:
        parts.append(f"Title: {masked_title}\n")
    first = True
    for ev in events:
        if ev.action in ("closed", "reopened") and not ev.text:
            if ev.action == "closed":
                parts.append(ISSUE_CLOSED)
            continue
        if not first:
            parts.append(ISSUE_COMMENT)
        parts.append(f"{ev.author}: {ev.text}")
        first = False
        if ev.action == "closed":
            parts.append(ISSUE_CLOSED)
    return "".join(parts), {"bot_events": n_bot}
