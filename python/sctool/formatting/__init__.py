"""The training text of each document, as StarCoder built it (the StarCoder paper).

Code files get the ``<reponame>``/``<filename>``/``<gh_stars>`` metadata prefix; notebooks become
scripts or the ``<jupyter_…>`` structured form; GitHub issues and commits get their own token
layouts. The per-document functions live in the submodules; :mod:`sctool.stages.format` applies
them to datasets.
"""

from sctool.formatting.commits import CommitConfig, CommitError, format_commit
from sctool.formatting.issues import IssueConfig, IssueError, format_issue
from sctool.formatting.metadata import MetadataConfig, metadata_prefixes, stars_bucket
from sctool.formatting.notebooks import NotebookError, notebook_to_script, notebook_to_structured

__all__ = [
    "CommitConfig",
    "CommitError",
    "IssueConfig",
    "IssueError",
    "MetadataConfig",
    "NotebookError",
    "format_commit",
    "format_issue",
    "metadata_prefixes",
    "notebook_to_script",
    "notebook_to_structured",
    "stars_bucket",
]
