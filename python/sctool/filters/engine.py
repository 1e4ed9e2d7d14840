"""Compute the statistics a rule set needs and evaluate its rules on a batch.

The cheap statistics come from one Rust pass over every document; HTML visible text, comment
ratios and tokenizer fertility are computed only for the documents a rule applies to. Rules are
then vectorised Polars expressions over the statistics, so evaluation costs nothing next to the
kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from sctool import native
from sctool.errors import ConfigError
from sctool.filters.rules import (
    COMMENT_STATS,
    HTML_STATS,
    TEXT_STATS,
    TOKEN_STATS,
    Condition,
    Rule,
    RuleSet,
)
from sctool.native import TextColumn, as_arrow_text

# Comment syntax code (see rust textstats::comments) of each language.
COMMENT_SYNTAX = {
    **dict.fromkeys(["python", "shell", "ruby", "r", "perl", "yaml", "makefile", "cmake", "julia", "elixir",
                     "powershell", "tcsh", "awk", "dockerfile", "nim", "coffeescript"], 1),
    **dict.fromkeys(["c", "cpp", "c-sharp", "java", "javascript", "typescript", "go", "rust", "kotlin", "scala",
                     "swift", "php", "dart", "cuda", "groovy", "solidity", "protocol-buffer", "css", "zig",
                     "glsl", "verilog", "systemverilog", "thrift", "stan", "java-server-pages"], 2),
    **dict.fromkeys(["sql", "lua", "haskell", "ada", "vhdl", "elm"], 3),
    **dict.fromkeys(["html", "xslt", "markdown"], 4),
}


def text_stats(texts: TextColumn, *, generated_markers: tuple[str, ...] = (), marker_lines: int = 5,
               threads: int = 0) -> pl.DataFrame:
    """Per-document statistics (one row per document; all null for a null document)."""
    ints, floats, flags = native.text_stats(as_arrow_text(texts), generated_markers=list(generated_markers),
                                             marker_lines=marker_lines, threads=threads)
    valid = ints[:, 0].astype(bool)
    cols: dict[str, Any] = {
        "n_bytes": ints[:, 1], "n_chars": ints[:, 2], "n_lines": ints[:, 3], "max_line_length": ints[:, 4],
        "avg_line_length": floats[:, 0], "alphanum_fraction": floats[:, 1], "alpha_fraction": floats[:, 2],
        "whitespace_fraction": floats[:, 3], "xml_header": flags[:, 0].astype(bool),
        "generated_marker": flags[:, 1] >= 0, "generated_marker_index": flags[:, 1],
    }
    df = pl.DataFrame(cols)
    if not valid.all():
        mask = pl.Series(valid)
        df = df.select([pl.when(mask).then(pl.col(c)).otherwise(None).alias(c) for c in df.columns])
    return df


@lru_cache(maxsize=4)
def _tokenizer(path: str) -> Any:
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
        raise ConfigError(f"{path}: cannot load tokenizer: {exc}") from exc


def _applies(rule: Rule, ext: pl.Expr, lang: pl.Expr) -> pl.Expr:
    cond = pl.lit(True)
    if rule.languages or rule.extensions:
        cond = lang.is_in(list(rule.languages)) | ext.is_in(list(rule.extensions))
    if rule.skip_languages:
        cond = cond & ~lang.is_in(list(rule.skip_languages))
    if rule.skip_extensions:
        cond = cond & ~ext.is_in(list(rule.skip_extensions))
    return cond


def _value_expr(rule: Rule, c: Condition) -> pl.Expr:
    """The threshold per row: per-extension override, else per-language, else the rule's value."""
    expr = pl.lit(c.value, dtype=pl.Float64) if not isinstance(c.value, bool) else pl.lit(float(c.value))
    if rule.per_language:
        m = {k: (None if v is None else float(v)) for k, v in rule.per_language.items()}
        expr = pl.col("__lang").replace_strict(m, default=expr, return_dtype=pl.Float64)
    if rule.per_extension:
        m = {k: (None if v is None else float(v)) for k, v in rule.per_extension.items()}
        has = pl.col("__ext").is_in(list(m))
        expr = pl.when(has).then(pl.col("__ext").replace_strict(m, default=None, return_dtype=pl.Float64)) \
            .otherwise(expr)
    return expr


def _condition_expr(rule: Rule, c: Condition) -> pl.Expr:
    col = pl.col(c.stat)
    if c.null_as is not None:
        col = col.fill_null(c.null_as)
    if c.op in ("in", "not_in"):
        e = col.cast(pl.String).str.to_lowercase().is_in(list(c.value))
        return ~e if c.op == "not_in" else e
    if c.op == "matches":
        return col.cast(pl.String).str.contains(c.value)
    v = _value_expr(rule, c)
    x = col.cast(pl.Float64)
    return {">": x > v, ">=": x >= v, "<": x < v, "<=": x <= v, "==": x == v, "!=": x != v}[c.op]


@dataclass
class FilterResult:
    """``reason`` per document (null = kept), every rule that fired, and the statistics used."""

    reason: pl.Series
    fired: pl.Series
    stats: pl.DataFrame


def evaluate(batch: pl.DataFrame, rules: RuleSet, *, text_column: str = "content", threads: int = 0) -> FilterResult:
    """Evaluate ``rules`` on ``batch``; null documents are never dropped by a rule."""
    from sctool.languages import extension_of, language_table

    n = batch.height
    text = batch.get_column(text_column)
    needed = rules.needed_stats()
    missing_cols = sorted(
        s for s in needed
        if s not in TEXT_STATS + HTML_STATS + COMMENT_STATS + TOKEN_STATS + ("extension", "lang", "path")
        and s not in batch.columns
    )
    st = text_stats(text, generated_markers=rules.generated_markers, marker_lines=rules.marker_lines,
                    threads=threads)
    # Extension and language of each document.
    if "ext" in batch.columns:
        ext = batch.get_column("ext").cast(pl.String).str.to_lowercase().str.strip_chars_start(".")
    elif "path" in batch.columns:
        ext = batch.get_column("path").cast(pl.String).map_elements(extension_of, return_dtype=pl.String)
    else:
        ext = pl.Series([None] * n, dtype=pl.String)
    lang = (batch.get_column("lang").cast(pl.String).str.to_lowercase() if "lang" in batch.columns
            else pl.Series([None] * n, dtype=pl.String))
    # Without a path, a document takes its language's first extension (so per-extension rules apply).
    first_ext = {k: (v.get("extensions") or [""])[0] for k, v in language_table().items()}
    ext = pl.select(pl.coalesce(ext, lang.replace_strict(first_ext, default=None, return_dtype=pl.String))
                    ).to_series().fill_null("")
    lang = lang.fill_null("")
    frame = st.with_columns(ext.alias("__ext"), lang.alias("__lang"), ext.alias("extension"), lang.alias("lang"))
    if "path" in batch.columns:
        frame = frame.with_columns(batch.get_column("path").cast(pl.String).alias("path"))
    elif "path" in needed:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("path"))
    for c in missing_cols:
        # A rule on a metadata column the input lacks (e.g. max_stars_count): every value is missing.
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    for c in needed:
        if c in batch.columns and c not in frame.columns:
            frame = frame.with_columns(batch.get_column(c).alias(c))

    enabled = rules.enabled()
    ext_e, lang_e = pl.col("__ext"), pl.col("__lang")
    applies = {r.name: _applies(r, ext_e, lang_e) for r in enabled}
    frame = _costly_stats(frame, text, rules, enabled, applies, threads)

    exprs = []
    for r in enabled:
        conds = [_condition_expr(r, c) for c in r.conditions]
        combined = pl.all_horizontal(conds) if r.combine == "all" else pl.any_horizontal(conds)
        exprs.append((applies[r.name] & combined).fill_null(False).alias(r.name))
    fired = frame.select(exprs) if exprs else pl.DataFrame({"__none": [False] * n})
    valid = text.is_not_null()
    fired = fired.with_columns([(pl.col(c) & valid) for c in fired.columns])
    names = [r.name for r in enabled]
    if names:
        reason = fired.select(
            pl.coalesce([pl.when(pl.col(nm)).then(pl.lit(nm)) for nm in names]).alias("reason")
        ).to_series()
        fired_list = fired.select(
            pl.concat_list([pl.when(pl.col(nm)).then(pl.lit(nm)) for nm in names]).list.drop_nulls().alias("fired")
        ).to_series()
    else:
        reason = pl.Series("reason", [None] * n, dtype=pl.String)
        fired_list = pl.Series("fired", [[] for _ in range(n)], dtype=pl.List(pl.String))
    return FilterResult(reason=reason, fired=fired_list, stats=frame.drop("__ext", "__lang"))


def _costly_stats(frame: pl.DataFrame, text: pl.Series, rules: RuleSet, enabled: list[Rule],
                  applies: dict[str, pl.Expr], threads: int) -> pl.DataFrame:
    """Add HTML, comment and fertility statistics, computed only where a rule using them applies."""
    n = frame.height

    def rows_for(stats: tuple[str, ...]) -> np.ndarray:
        users = [r for r in enabled if r.stats() & set(stats)]
        if not users:
            return np.zeros(0, dtype=np.int64)
        mask = frame.select(pl.any_horizontal([applies[r.name] for r in users]).fill_null(False)).to_series()
        mask = mask & text.is_not_null()
        return np.flatnonzero(mask.to_numpy())

    def scatter(name: str, idx: np.ndarray, values: np.ndarray) -> pl.Series:
        full = np.full(n, np.nan)
        full[idx] = values
        return pl.Series(name, full).fill_nan(None)

    idx = rows_for(HTML_STATS)
    if len(idx) or set(HTML_STATS) & rules.needed_stats():
        sub = text.gather(idx) if len(idx) else text.head(0)
        vis = native.html_visible_chars(as_arrow_text(sub), threads=threads).astype(np.float64)
        nchars = frame.get_column("n_chars").to_numpy()[idx].astype(np.float64) if len(idx) else np.zeros(0)
        frac = np.divide(vis, nchars, out=np.zeros_like(vis), where=nchars > 0)
        frame = frame.with_columns(scatter("html_visible_chars", idx, vis), scatter("html_visible_fraction", idx, frac))
    idx = rows_for(COMMENT_STATS)
    if set(COMMENT_STATS) & rules.needed_stats():
        langs = frame.get_column("__lang").to_numpy()[idx] if len(idx) else np.zeros(0, dtype=object)
        codes = np.array([COMMENT_SYNTAX.get(str(x), 0) for x in langs], dtype=np.uint8)
        sub = text.gather(idx) if len(idx) else text.head(0)
        cc = native.comment_chars(as_arrow_text(sub), codes, threads=threads).astype(np.float64)
        nchars = frame.get_column("n_chars").to_numpy()[idx].astype(np.float64) if len(idx) else np.zeros(0)
        frac = np.divide(cc, nchars, out=np.zeros_like(cc), where=nchars > 0)
        frac[codes == 0] = np.nan  # unknown syntax: no measure, the rule does not fire
        frame = frame.with_columns(scatter("comment_fraction", idx, frac))
    idx = rows_for(TOKEN_STATS)
    if set(TOKEN_STATS) & rules.needed_stats():
        if not rules.tokenizer:
            raise ConfigError("the fertility statistic needs a tokenizer")
        tok = _tokenizer(rules.tokenizer)
        docs = text.gather(idx).to_list() if len(idx) else []
        ntok = np.array([len(e.ids) for e in tok.encode_batch(docs)], dtype=np.float64) if docs else np.zeros(0)
        nchars = frame.get_column("n_chars").to_numpy()[idx].astype(np.float64) if len(idx) else np.zeros(0)
        fert = np.divide(nchars, ntok, out=np.full_like(nchars, np.nan), where=ntok > 0)
        frame = frame.with_columns(scatter("fertility", idx, fert))
    return frame

