"""``sctool format``: the training text of every document (StarCoder's formatting).

Each row is recognised by what it carries:

* ``issue``: an ``events`` column (GitHub issue events) → :func:`sctool.formatting.format_issue`;
* ``commit``: ``old_contents`` + ``new_contents`` columns → :func:`sctool.formatting.format_commit`;
* ``notebook``: a path ending in ``.ipynb`` (or ``lang`` ``jupyter-notebook``) → a script (jupytext) or
  the structured ``<jupyter_start>`` form, per ``notebooks``;
* ``code``: everything else.

Code files and notebook scripts get the metadata prefix. Rows that cannot be formatted (malformed
notebook or issue JSON, filtered commits, too-short issues) go to ``removed/`` with their reason,
never a crash. All randomness is keyed by document id, so output is independent of batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from sctool.errors import ConfigError
from sctool.formatting.commits import CommitConfig, CommitError, format_commit
from sctool.formatting.issues import IssueConfig, IssueError, format_issue
from sctool.formatting.metadata import MetadataConfig, metadata_prefixes
from sctool.formatting.notebooks import NotebookError, notebook_to_script, notebook_to_structured
from sctool.io.dataset import Manifest
from sctool.stages.base import MapStage, Runtime, StageOutput, register_stage

REPO_COLUMNS = ("repo", "max_stars_repo_name", "repo_name")
PATH_COLUMNS = ("path", "max_stars_repo_path", "new_file", "old_file")
STARS_COLUMNS = ("stars", "max_stars_count")


@dataclass(frozen=True)
class FormatConfig:
    """How `sctool format` builds training text; the defaults are StarCoder's."""

    seed: int = field(default=0, metadata={"help": "seed of every random choice (keyed by document id)"})
    metadata: MetadataConfig = field(default_factory=MetadataConfig, metadata={"help": "metadata prefix rates"})
    notebooks: Literal["script", "structured", "keep"] = field(
        default="script",
        metadata={"help": "notebooks become jupytext scripts, the <jupyter_start> structured form, or stay as is"},
    )
    notebook_output_chars: int = field(
        default=1000, metadata={"help": "structured form: cell outputs longer than this are cut + [...]"}
    )
    issues: IssueConfig = field(default_factory=IssueConfig, metadata={"help": "GitHub issue filters"})
    commits: CommitConfig = field(default_factory=CommitConfig, metadata={"help": "git commit filters and layout"})

    def __post_init__(self) -> None:
        m = self.metadata
        for name in ("p_reponame", "p_filename", "p_stars"):
            v = getattr(m, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"metadata.{name} must be in [0, 1], got {v}")
        if not 0.0 <= self.commits.full_file_rate <= 1.0:
            raise ConfigError("commits.full_file_rate must be in [0, 1]")
        if self.notebooks not in ("script", "structured", "keep"):
            raise ConfigError(f"notebooks must be script, structured or keep, got {self.notebooks!r}")


def _first_column(frame: pl.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _strings(frame: pl.DataFrame, name: str | None) -> list[Any]:
    if name is None:
        return [None] * frame.height
    col = frame.get_column(name)
    if col.dtype != pl.String and col.dtype.is_numeric():
        col = col.cast(pl.String)
    return col.to_list()


def _kinds(frame: pl.DataFrame, text_column: str, paths: list[Any]) -> list[str]:
    issue = frame.get_column("events").is_not_null().to_list() if "events" in frame.columns else None
    commit = (
        frame.get_column("new_contents").is_not_null().to_list()
        if {"old_contents", "new_contents"} <= set(frame.columns)
        else None
    )
    langs = frame.get_column("lang").to_list() if "lang" in frame.columns else None
    kinds = []
    for i in range(frame.height):
        if issue is not None and issue[i]:
            kinds.append("issue")
        elif commit is not None and commit[i]:
            kinds.append("commit")
        elif (isinstance(paths[i], str) and paths[i].lower().endswith(".ipynb")) or (
            langs is not None and langs[i] in ("jupyter-notebook", "jupyter")
        ):
            kinds.append("notebook")
        else:
            kinds.append("code")
    return kinds


def format_batch(batch: pl.DataFrame, config: FormatConfig, text_column: str = "content") -> StageOutput:
    """Format one batch: kept rows get the new text in ``text_column`` and a ``format_kind`` column."""
    if text_column not in batch.columns:
        batch = batch.with_columns(pl.lit(None, dtype=pl.String).alias(text_column))
    ids = [str(x) for x in batch.get_column("id").to_list()]
    texts = batch.get_column(text_column).to_list()
    paths = _strings(batch, _first_column(batch, PATH_COLUMNS))
    repos = _strings(batch, _first_column(batch, REPO_COLUMNS))
    stars_col = _first_column(batch, STARS_COLUMNS)
    stars = batch.get_column(stars_col).to_list() if stars_col else None
    if stars is not None and not all(s is None or isinstance(s, (int, float)) for s in stars):
        stars = [s if isinstance(s, (int, float)) else None for s in stars]
    kinds = _kinds(batch, text_column, paths)
    prefixes = metadata_prefixes(ids, repos, paths, stars, config.metadata, config.seed)

    out: list[str | None] = [None] * batch.height
    reasons: list[str | None] = [None] * batch.height
    counters: dict[str, Any] = {"kinds": {}, "metadata": {"reponame": 0, "filename": 0, "gh_stars": 0}, "bot_events": 0}

    titles = _strings(batch, "title" if "title" in batch.columns else None)
    events = batch.get_column("events").to_list() if "events" in batch.columns else None
    olds = batch.get_column("old_contents").to_list() if "old_contents" in batch.columns else None
    news = batch.get_column("new_contents").to_list() if "new_contents" in batch.columns else None
    msg_col = _first_column(batch, ("subject", "message"))
    messages = _strings(batch, msg_col)

    for i, kind in enumerate(kinds):
        text = texts[i]
        prefix = prefixes[i]
        try:
            if kind == "issue":
                assert events is not None
                out[i], c = format_issue(events[i], titles[i], config.issues)
                counters["bot_events"] += c["bot_events"]
                prefix = ""
            elif kind == "commit":
                assert olds is not None and news is not None
                out[i] = format_commit(ids[i], olds[i], news[i], messages[i], paths[i] or "", config.commits,
                                       config.seed)
                prefix = ""
            elif text is None:
                reasons[i] = "null_text"
                continue
            elif kind == "notebook" and config.notebooks == "script":
                out[i] = prefix + notebook_to_script(text)[0]
            elif kind == "notebook" and config.notebooks == "structured":
                out[i] = notebook_to_structured(text, config.notebook_output_chars)
                prefix = ""
            else:
                out[i] = prefix + text
        except (NotebookError, IssueError, CommitError) as exc:
            reasons[i] = exc.reason
            out[i] = None
            continue
        counters["kinds"][kind] = counters["kinds"].get(kind, 0) + 1
        if prefix:
            for tag, name in (("<reponame>", "reponame"), ("<filename>", "filename"), ("<gh_stars>", "gh_stars")):
                if tag in prefix:
                    counters["metadata"][name] += 1

    keep = pl.Series([r is None for r in reasons], dtype=pl.Boolean)
    new_text = pl.Series(text_column, out, dtype=pl.String)
    kind_col = pl.Series("format_kind", kinds, dtype=pl.String)
    kept = batch.with_columns(new_text, kind_col).filter(keep)
    removed = batch.with_columns(pl.Series("reason", reasons, dtype=pl.String)).filter(~keep)
    return StageOutput(kept=kept, removed=removed, counters=counters)


def run_format(
    inputs: Sequence[str | Path], output: str | Path, config: FormatConfig, runtime: Runtime
) -> Manifest:
    """Format ``inputs`` into the dataset ``output``."""
    return FormatStage(config, runtime).run(inputs, output)


@register_stage
class FormatStage(MapStage[FormatConfig]):
    """The training text of each document: <reponame>/<filename>/<gh_stars> prefixes (each with
    probability 0.2, keyed by document id); notebooks as jupytext scripts or the <jupyter_start>
    structured form; GitHub issues (an 'events' column) and commits (old_contents/new_contents
    columns) in their token layouts. Rows that cannot be formatted go to removed/ with a reason."""

    name = "format"
    Config = FormatConfig
    summary = "build StarCoder's training text (metadata, notebooks, issues, commits)"
    require_text = False

    def map(self, batch: pl.DataFrame) -> StageOutput:
        return format_batch(batch, self.config, self.runtime.text_column)


__all__ = ["FormatConfig", "FormatStage", "format_batch", "run_format"]
