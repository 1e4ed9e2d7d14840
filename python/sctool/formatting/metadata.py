"""StarCoder's metadata prefix (the StarCoder paper; bigcode-dataset ``add_content_with_meta.py``).

Independently, each with probability 0.2: ``<reponame>{repo}``, then ``<filename>{path}``, then
``<gh_stars>{bucket}``; when any was added a newline follows, then the file content. Seeing the
repository, path and popularity only sometimes lets the model use them as a prompt without learning
to depend on them. The draws are keyed by document id (see :mod:`sctool.formatting.rand`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sctool.formatting.rand import uniform

REPONAME, FILENAME, GH_STARS = "<reponame>", "<filename>", "<gh_stars>"


def stars_bucket(stars: int | float | None) -> str:
    """StarCoder's star buckets: ``0`` (none), ``1-10``, ``10-100``, ``100-1000``, ``1000+``."""
    if stars is None or stars != stars or stars <= 0:  # stars != stars: NaN
        return "0"
    if stars <= 10:
        return "1-10"
    if stars <= 100:
        return "10-100"
    if stars <= 1000:
        return "100-1000"
    return "1000+"


@dataclass(frozen=True)
class MetadataConfig:
    """Probabilities of each metadata element (StarCoder: 0.2 each) and the seed of the draws."""

    p_reponame: float = field(default=0.2, metadata={"help": "probability of the <reponame> prefix"})
    p_filename: float = field(default=0.2, metadata={"help": "probability of the <filename> prefix"})
    p_stars: float = field(default=0.2, metadata={"help": "probability of the <gh_stars> prefix"})


def metadata_prefixes(
    ids: Sequence[str],
    repos: Sequence[str | None],
    paths: Sequence[str | None],
    stars: Sequence[int | float | None] | None,
    config: MetadataConfig,
    seed: int,
) -> list[str]:
    """The prefix each document gets (``""`` for most), ending in a newline when not empty.

    A missing repo or path means that element cannot be added; missing stars fall in bucket ``0``
    as in StarCoder (where a null star count was bucketed, not skipped). A document with no star
    column at all never gets ``<gh_stars>``.
    """
    u_repo = uniform(ids, seed, "meta.reponame")
    u_file = uniform(ids, seed, "meta.filename")
    u_stars = uniform(ids, seed, "meta.stars")
    out: list[str] = []
    for i in range(len(ids)):
        parts = []
        repo, path = repos[i], paths[i]
        if repo and u_repo[i] < config.p_reponame:
            parts.append(f"{REPONAME}{repo}")
        if path and u_file[i] < config.p_filename:
            parts.append(f"{FILENAME}{path}")
        if stars is not None and u_stars[i] < config.p_stars:
            parts.append(f"{GH_STARS}{stars_bucket(stars[i])}")
        out.append("".join(parts) + "\n" if parts else "")
    return out
