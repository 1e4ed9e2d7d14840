"""``sctool optout``: remove the documents of developers who opted out ("Am I in The Stack?").

A document is owned by an opted-out user or repository when any of its repository columns
(``repo``, ``max_stars_repo_name``, ``max_issues_repo_name``, ``max_forks_repo_name``, ``repo_name``,
``repos``) names an opted-out ``owner/repo`` or an opted-out owner, when a commit's author is opted
out, or when an issue was opened by an opted-out user. Matching is case-insensitive. Removed
documents go to ``removed/`` with ``reason = opt_out`` and ``opt_out_match`` saying what matched.

Issues opened by someone else keep going, but an opted-out participant's events are dropped and
their username is masked everywhere else in the issue (title and other comments).

StarCoder's report notes that copies of opted-out code survive in other people's repositories:
with ``near_copies`` the stage first collects the opted-out documents' MinHash signatures (the same
shingles, permutations and banding as ``sctool dedup``) and then also removes every other document
whose estimated Jaccard similarity to one of them reaches the threshold, with ``dup_of`` naming the
opted-out original.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sctool.errors import ConfigError
from sctool.io.dataset import Manifest
from sctool.io.sources import InputReader, resolve_inputs
from sctool.stages.base import Runtime, Stage, StageOutput, register_stage, run_map_stage

REPO_COLUMNS = ("repo", "max_stars_repo_name", "max_issues_repo_name", "max_forks_repo_name", "repo_name",
                "repository", "repos")
AUTHOR_COLUMNS = ("author", "committer", "author_login", "committer_login", "user", "username")
MASK = "opted_out_user"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class OptOutConfig:
    """Who opted out, and whether near copies of their code elsewhere go too."""

    users_file: str | None = field(default=None, metadata={
        "help": "file with one opted-out username per line (in a recipe: relative to the recipe file)",
        "flag": "--users", "recipe_relative": True})
    repos_file: str | None = field(default=None, metadata={
        "help": "file with one opted-out owner/repo per line (in a recipe: relative to the recipe file)",
        "flag": "--repos", "recipe_relative": True})
    near_copies: bool = field(
        default=False, metadata={"help": "also remove near-duplicates (MinHash, dedup's settings) of opted-out documents"})
    threshold: float = field(default=0.7, metadata={"help": "Jaccard threshold for --near-copies (dedup's default)"})
    num_perm: int = field(default=256, metadata={"help": "MinHash permutations for --near-copies"})
    ngram: int = field(default=5, metadata={"help": "shingle n-gram size for --near-copies"})
    seed: int = field(default=42, metadata={"help": "MinHash seed for --near-copies"})


@dataclass(frozen=True)
class OptOutLists:
    users: frozenset[str]
    repos: frozenset[str]

    @classmethod
    def load(cls, users_file: str | None, repos_file: str | None) -> OptOutLists:
        if not users_file and not repos_file:
            raise ConfigError("opt-out needs --users FILE and/or --repos FILE")
        users = _read_list(users_file, repo=False) if users_file else set()
        repos = _read_list(repos_file, repo=True) if repos_file else set()
        return cls(frozenset(users), frozenset(repos))

    def repo_match(self, name: str | None) -> str | None:
        """What opted out ``name`` (``owner/repo``; a ``repos`` cell may list several, comma-separated)."""
        if not name:
            return None
        for one in str(name).split(","):
            one = one.strip().lower().removeprefix("https://github.com/").strip("/")
            if not one:
                continue
            if one in self.repos:
                return f"repo:{one}"
            owner = one.split("/", 1)[0]
            if owner in self.users:
                return f"owner:{owner}"
        return None

    def user_match(self, author: Any) -> str | None:
        if not isinstance(author, str) or not author:
            return None
        a = author.strip().lower()
        if a.endswith(">") and "<" in a:  # "Name <email>": the e-mail's local part is the best guess
            a = a[a.rindex("<") + 1: -1].split("@", 1)[0]
        return f"user:{a}" if a in self.users else None


def _read_list(path: str, *, repo: bool) -> set[str]:
    out = set()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the opt-out list ({exc.strerror or exc})") from exc
    for n, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip().removeprefix("https://github.com/").strip("/").lower()
        if not entry:
            continue
        parts = entry.split("/")
        ok = (len(parts) == 2 if repo else len(parts) == 1) and all(_NAME.match(p) for p in parts)
        if not ok:
            want = "owner/repo" if repo else "a username"
            raise ConfigError(f"{path}:{n}: {line.strip()!r} is not {want}")
        out.add(entry)
    return out


def _events_list(raw: Any) -> tuple[list[dict[str, Any]] | None, bool]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, True
        return (raw if isinstance(raw, list) else None), True
    return (raw if isinstance(raw, list) else None), False


def _mask(text: Any, pattern: re.Pattern[str] | None) -> Any:
    return pattern.sub(MASK, text) if isinstance(text, str) and pattern is not None else text


def clean_issue(events_raw: Any, title: Any, lists: OptOutLists) -> tuple[str | None, Any, Any, int, int]:
    """(match that removes the whole issue or None, new events, new title, events dropped, names masked)."""
    events, as_json = _events_list(events_raw)
    if not events:
        return None, events_raw, title, 0, 0
    authors = [e.get("author") if isinstance(e, dict) else None for e in events]
    opener = lists.user_match(authors[0])
    if opener:
        return f"issue_opener:{opener}", events_raw, title, 0, 0
    gone = {a for a in authors if lists.user_match(a)}
    if not gone:
        return None, events_raw, title, 0, 0
    pattern = re.compile(r"@?\b(?:" + "|".join(re.escape(a) for a in sorted(gone, key=len, reverse=True))
                         + r")\b", re.IGNORECASE)
    kept, masked = [], 0
    for e in events:
        if isinstance(e, dict) and e.get("author") in gone:
            continue
        if isinstance(e, dict):
            e = dict(e)
            for key in ("text", "comment", "description"):
                if isinstance(e.get(key), str):
                    new, k = pattern.subn(MASK, e[key])
                    masked += k
                    e[key] = new
        kept.append(e)
    new_title, k = pattern.subn(MASK, title) if isinstance(title, str) else (title, 0)
    masked += k
    out = json.dumps(kept) if as_json else kept
    return None, out, new_title, len(events) - len(kept), masked


@dataclass
class NearCopyIndex:
    """MinHash signatures and LSH band keys of the opted-out documents."""

    ids: list[str]
    sigs: np.ndarray
    band_keys: list[np.ndarray]
    bands: int
    rows: int
    config: OptOutConfig

    @staticmethod
    def keys(sigs: np.ndarray, bands: int, rows: int) -> list[np.ndarray]:
        """One uint64 key per document and band (a polynomial hash of the band's slots)."""
        out = []
        mult = np.uint64(0x9E3779B97F4A7C15)
        with np.errstate(over="ignore"):
            for b in range(bands):
                h = np.full(sigs.shape[0], np.uint64(b + 1) * np.uint64(0x100000001B3), dtype=np.uint64)
                for j in range(rows):
                    h = (h * mult) ^ sigs[:, b * rows + j].astype(np.uint64)
                out.append(h)
        return out

    def signatures(self, texts: pl.Series, threads: int) -> np.ndarray:
        from sctool.dedup.minhash import minhash

        c = self.config
        return minhash(texts.fill_null(""), num_perm=c.num_perm, ngram=c.ngram, seed=c.seed, threads=threads)

    def match(self, texts: pl.Series, threads: int) -> list[str | None]:
        """For each text, the id of the most similar opted-out document at or above the threshold."""
        out: list[str | None] = [None] * texts.len()
        if not self.ids or texts.len() == 0:
            return out
        sigs = self.signatures(texts, threads)
        keys = self.keys(sigs, self.bands, self.rows)
        cand: dict[int, set[int]] = {}
        for b in range(self.bands):
            hit = np.nonzero(np.isin(keys[b], self.band_keys[b]))[0]
            for i in hit:
                js = np.nonzero(self.band_keys[b] == keys[b][i])[0]
                cand.setdefault(int(i), set()).update(int(j) for j in js)
        empty = np.uint32(2**32 - 1)
        for i, js in cand.items():
            if (sigs[i] == empty).all():
                continue  # no shingles: nothing to compare
            order = sorted(js)
            sims = (self.sigs[order] == sigs[i]).mean(axis=1)
            best = int(np.argmax(sims))
            if sims[best] >= self.config.threshold:
                out[i] = self.ids[order[best]]
        return out


def _owner_matches(batch: pl.DataFrame, lists: OptOutLists) -> list[str | None]:
    n = batch.height
    matches: list[str | None] = [None] * n
    for col in REPO_COLUMNS:
        if col in batch.columns and batch.schema[col] == pl.String:
            for i, v in enumerate(batch.get_column(col).to_list()):
                if matches[i] is None and v:
                    matches[i] = lists.repo_match(v)
    for col in AUTHOR_COLUMNS:
        if col in batch.columns and batch.schema[col] == pl.String:
            for i, v in enumerate(batch.get_column(col).to_list()):
                if matches[i] is None and v:
                    m = lists.user_match(v)
                    matches[i] = f"commit_author:{m}" if m else None
    return matches


def optout_batch(batch: pl.DataFrame, lists: OptOutLists, near: NearCopyIndex | None,
                 runtime: Runtime) -> StageOutput:
    """Split one batch: opted-out documents (and near copies) removed, issues cleaned."""
    matches = _owner_matches(batch, lists)
    counters: dict[str, Any] = {"issue_events_dropped": 0, "usernames_masked": 0}
    if "events" in batch.columns:
        titles = batch.get_column("title").to_list() if "title" in batch.columns else [None] * batch.height
        new_events, new_titles = [], []
        for i, (ev, title) in enumerate(zip(batch.get_column("events").to_list(), titles)):
            m, ev2, t2, dropped, masked = (None, ev, title, 0, 0) if matches[i] else clean_issue(ev, title, lists)
            matches[i] = matches[i] or m
            new_events.append(ev2)
            new_titles.append(t2)
            counters["issue_events_dropped"] += dropped
            counters["usernames_masked"] += masked
        if counters["issue_events_dropped"]:
            dtype = batch.schema["events"]
            batch = batch.with_columns(pl.Series("events", new_events, dtype=dtype, strict=False))
            if "title" in batch.columns:
                batch = batch.with_columns(pl.Series("title", new_titles, dtype=batch.schema["title"]))
    dup_of: list[str | None] = [None] * batch.height
    text_col = runtime.text_column
    if near is not None and text_col in batch.columns:
        rest = [i for i, m in enumerate(matches) if m is None]
        if rest:
            found = near.match(batch.get_column(text_col)[rest], runtime.threads)
            for i, d in zip(rest, found):
                if d is not None:
                    matches[i] = "near_copy"
                    dup_of[i] = d
    match_s = pl.Series("opt_out_match", matches, dtype=pl.String)
    drop = match_s.is_not_null()
    kept = batch.filter(~drop)
    removed = batch.filter(drop).with_columns(
        pl.lit("opt_out").alias("reason"), match_s.filter(drop),
        pl.Series("dup_of", dup_of, dtype=pl.String).filter(drop))
    kinds: dict[str, int] = {}
    for m in matches:
        if m:
            k = m.split(":", 1)[0]
            kinds[k] = kinds.get(k, 0) + 1
    counters["removed_by_match"] = kinds
    return StageOutput(kept=kept, removed=removed, counters=counters)


def build_near_index(inputs: Sequence[str | Path], lists: OptOutLists, config: OptOutConfig,
                     runtime: Runtime) -> NearCopyIndex:
    """First pass of ``near_copies``: signatures of every opted-out document in ``inputs``."""
    from sctool.dedup.minhash import optimal_param

    if not 0.0 < config.threshold < 1.0:
        raise ConfigError(f"threshold must be strictly between 0 and 1, got {config.threshold}")
    bands, rows = optimal_param(config.threshold, config.num_perm)
    idx = NearCopyIndex([], np.zeros((0, config.num_perm), np.uint32), [], bands, rows, config)
    reader = InputReader(resolve_inputs(inputs), text_column=runtime.text_column, batch_rows=runtime.batch_rows,
                         require_text=False)
    ids: list[str] = []
    sigs: list[np.ndarray] = []
    for b in reader.batches():
        out = optout_batch(b.frame, lists, None, runtime)
        rem = out.removed
        if rem is None or rem.height == 0 or runtime.text_column not in rem.columns:
            continue
        ids.extend(rem.get_column("id").to_list())
        sigs.append(idx.signatures(rem.get_column(runtime.text_column), runtime.threads))
    if sigs:
        idx.sigs = np.concatenate(sigs)
        idx.ids = ids
    idx.band_keys = NearCopyIndex.keys(idx.sigs, bands, rows)
    return idx


def run_optout(inputs: Sequence[str | Path], output: str | Path, config: OptOutConfig, runtime: Runtime) -> Manifest:
    return OptOutStage(config, runtime).run(inputs, output)


@register_stage
class OptOutStage(Stage[OptOutConfig]):
    """Remove every document owned by an opted-out user or repository (repository owner, commit
    author, issue opener; case-insensitive), drop opted-out participants' issue comments and mask
    their usernames; with --near-copies also remove near-duplicates of opted-out documents found
    under other owners (dup_of names the original). Removed documents go to removed/ with
    reason = opt_out."""

    name = "optout"
    Config = OptOutConfig
    summary = "remove documents of developers who opted out (and near copies of them elsewhere)"
    require_text = False

    def setup(self) -> None:
        self.lists = OptOutLists.load(self.config.users_file, self.config.repos_file)

    def run(self, inputs: Sequence[str | Path], output: str | Path) -> Manifest:
        self.setup()
        near = build_near_index(inputs, self.lists, self.config, self.runtime) if self.config.near_copies else None
        extra = {"opted_out_users": len(self.lists.users), "opted_out_repos": len(self.lists.repos)}
        if near is not None:
            extra["near_copies"] = {"originals": len(near.ids), "bands": near.bands, "rows": near.rows}
        return run_map_stage(stage=self.name, config=self.config, inputs=inputs, output=output,
                             runtime=self.runtime, process=lambda b: optout_batch(b, self.lists, near, self.runtime),
                             manifest_extra=extra, require_text=False)
