"""The numbers behind every plot of the report, computed from manifests and, where the manifests
do not carry them, from the datasets themselves.

Reading is kept proportional to what a plot needs: manifests first, then narrow columns of the
``removed/`` parts (small next to the kept data), the language and length columns of the first and
last datasets, and a bounded sample (row groups drawn at random) for the filter statistics, which
the filter's own Rust text-statistics pass recomputes. Nothing here draws; :mod:`.render` does.

Text shown on the page (cluster members, redaction examples) is an excerpt with every detected
secret or PII span replaced by its type, so a report never shows a secret in full.
"""

from __future__ import annotations

import bisect
import io
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from sctool.reporting.collect import RunInfo, StageRun
from sctool.reporting.model import Plot, Section, Table

TOP_LANGUAGES = 30
TOP_ITEMS = 30
MAX_LINE_POINTS = 1500
MAX_TABLE_ROWS = 300
UNKNOWN = "(unknown)"
# Stages whose manifests describe a dataset flowing down the pipeline (a tokenizer is a side output).
SIDE_STAGES = {"train-tokenizer"}
TOKEN_STAGES = {"tokenize", "tokenize-mix"}


# ---------------------------------------------------------------- helpers


def _columns(path: Path) -> list[str]:
    return pq.read_schema(path).names


def _mb(n: float) -> float:
    return round(n / 1e6, 3)


def _text_bytes_out(s: StageRun) -> int:
    """Text bytes a stage passed on (token stages report token-file bytes as ``bytes_out``)."""
    st = s.manifest.stats
    if s.stage in TOKEN_STAGES:
        return st.bytes_in - sum(int(v) for v in st.removed_bytes.values())
    return st.bytes_out


def pipeline(run: RunInfo) -> list[StageRun]:
    """The stages that pass documents on, in run order."""
    return [s for s in run.stages if s.stage not in SIDE_STAGES]


def lang_bytes(parts: Iterable[Path], text_column: str) -> dict[str, tuple[int, int]]:
    """Documents and text bytes per language of some Parquet parts (``(unknown)`` without a language).

    For removed rows without text (binary or oversized files at ingest) the recorded ``size_bytes``
    counts instead, as the stage's own removal bytes do.
    """
    queries = []
    for p in parts:
        cols = _columns(p)
        sel = [c for c in ("lang", text_column, "size_bytes") if c in cols]
        if not sel:
            continue
        lang = (pl.col("lang").cast(pl.String).fill_null(UNKNOWN).replace("", UNKNOWN) if "lang" in sel
                else pl.lit(UNKNOWN))
        length = pl.col(text_column).str.len_bytes().cast(pl.Int64) if text_column in sel else pl.lit(None, pl.Int64)
        if "size_bytes" in sel:
            length = pl.coalesce(length, pl.col("size_bytes").cast(pl.Int64))
        queries.append(pl.scan_parquet(p).select(lang.alias("lang"), length.fill_null(0).alias("b"))
                       .group_by("lang").agg(pl.len().alias("n"), pl.col("b").sum()))
    out: dict[str, list[int]] = {}
    for g in pl.collect_all(queries) if queries else []:  # the parts are read in parallel
        for lg, n, b in g.iter_rows():
            acc = out.setdefault(str(lg), [0, 0])
            acc[0] += int(n)
            acc[1] += int(b or 0)
    return {k: (v[0], v[1]) for k, v in out.items()}


def sample_parts(parts: list[Path], n: int, *, seed: int = 0,
                 columns: list[str] | None = None) -> tuple[pl.DataFrame, int]:
    """Up to ``n`` rows drawn from whole row groups chosen at random, and the population's row count.

    Reading whole row groups keeps the cost at a few Parquet pages per sampled group however large
    the dataset is; the rows are then drawn uniformly from the groups read.
    """
    groups: list[tuple[Path, int, int]] = []
    for p in parts:
        md = pq.ParquetFile(p).metadata
        groups.extend((p, i, md.row_group(i).num_rows) for i in range(md.num_row_groups))
    total = sum(g[2] for g in groups)
    if not groups or n <= 0:
        return pl.DataFrame(), total
    rng = random.Random(seed)
    rng.shuffle(groups)
    chosen: list[tuple[Path, int, int]] = []
    have = 0
    for g in groups:
        if have >= n:
            break
        chosen.append(g)
        have += g[2]
    frames = []
    for p, i, _ in sorted(chosen, key=lambda g: (str(g[0]), g[1])):
        pf = pq.ParquetFile(p)
        cols = [c for c in columns if c in pf.schema_arrow.names] if columns is not None else None
        frames.append(pl.from_arrow(pf.read_row_group(i, columns=cols)))
    frames = [f for f in frames if isinstance(f, pl.DataFrame) and f.width]
    if not frames:
        return pl.DataFrame(), total
    frame = pl.concat(frames, how="diagonal_relaxed")
    if frame.height > n:
        frame = frame.sample(n=n, seed=seed)
    return frame, total


def rows_by_id(parts: Iterable[Path], ids: Iterable[str], columns: list[str]) -> dict[str, dict[str, Any]]:
    """The rows with the given ids: the id column of every part is read first, the wide columns
    (document text) only from the parts that hold one of the ids."""
    want = set(ids)
    out: dict[str, dict[str, Any]] = {}
    for p in parts:
        if not want - set(out):
            break
        cols = _columns(p)
        if "id" not in cols:
            continue
        hit = pl.read_parquet(p, columns=["id"]).with_row_index("__i").filter(pl.col("id").is_in(list(want)))
        if hit.height == 0:
            continue
        sel = ["id", *[c for c in columns if c in cols and c != "id"]]
        f = pl.read_parquet(p, columns=sel).with_row_index("__i").join(hit.select("__i"), on="__i").drop("__i")
        for r in f.iter_rows(named=True):
            out.setdefault(str(r["id"]), r)
    return out


def masked_excerpt(texts: list[str], spans: list[list[tuple[int, int, str]]] | None = None) -> list[str]:
    """Each text with the given spans, and anything the PII detector finds in it, replaced by
    ``[TYPE]``; newlines shown as ``⏎``. The detector runs on the excerpt itself, so a value cut at
    the excerpt's edge is still caught."""
    from sctool.pii import detect_pii

    first = []
    for i, t in enumerate(texts):
        sp = sorted(spans[i], reverse=True) if spans else []
        for s, e, typ in sp:
            t = t[:max(s, 0)] + f"[{typ}]" + t[max(e, 0):]
        first.append(t)
    try:
        found = detect_pii(first) if first else []
    except Exception as exc:  # without the detector nothing from the data is shown, rather than unmasked
        return [f"[withheld: the PII detector failed ({type(exc).__name__})]"] * len(texts)
    out = []
    for t, sp in zip(first, found):
        for x in sorted(sp, key=lambda x: -x.start):
            t = t[:x.start] + f"[{x.type}]" + t[x.end:]
        out.append(t.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " "))
    return out


def mask_columns(table: Table, columns: Iterable[str]) -> Table:
    """``table`` with detected PII masked in the given columns too (document ids and paths come from
    the data, and a path can hold an e-mail address or a user name)."""
    for c in columns:
        i = table.columns.index(c)
        vals = [str(r[i]) if r[i] not in (None, "") else "" for r in table.rows]
        for r, v in zip(table.rows, masked_excerpt(vals) if vals else []):
            if r[i] not in (None, ""):
                r[i] = v
    return table


def _first_lines(text: str | None, width: int = 120) -> str:
    if not text:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ⏎ ".join(lines)[:width] if lines else ""


def _downsample(n: int, limit: int) -> list[int]:
    """Evenly spaced indices (first and last kept) to draw at most ``limit`` points."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def _missing(section: Section, what: str) -> Section:
    section.notes.append(what)
    return section


# ---------------------------------------------------------------- 1. funnel


def funnel_section(run: RunInfo) -> Section:
    sec = Section("funnel", "Funnel: what each stage kept and removed")
    stages = pipeline(run)
    if not stages:
        return _missing(sec, "No stage manifests were found, so there is no funnel to draw.")
    first = stages[0].manifest.stats
    rows: list[list[Any]] = [["input", "", first.docs_in, first.bytes_in, _mb(first.bytes_in)]]
    for s in stages:
        st = s.manifest.stats
        rows.append([s.label, s.stage, st.docs_out, _text_bytes_out(s), _mb(_text_bytes_out(s))])
    table = Table(["step", "stage", "docs", "bytes", "MB"], rows)
    sec.plots.append(Plot("funnel-docs", "Documents after each stage", "bar", table,
                          {"x": "step", "series": ["docs"], "ylabel": "documents"},
                          "The first bar is what the first stage read."))
    sec.plots.append(Plot("funnel-bytes", "Text after each stage (MB)", "bar", table,
                          {"x": "step", "series": ["MB"], "ylabel": "MB of text"},
                          "Token stages count the text they read; redaction and formatting change bytes "
                          "slightly without removing documents."))
    reasons: list[str] = []
    for s in stages:
        for r in s.manifest.stats.removed:
            if r not in reasons:
                reasons.append(r)
    docs_rows, mb_rows = [], []
    for s in stages:
        st = s.manifest.stats
        docs_rows.append([s.label, *[int(st.removed.get(r, 0)) for r in reasons]])
        mb_rows.append([s.label, *[_mb(st.removed_bytes.get(r, 0)) for r in reasons]])
    if reasons:
        sec.plots.append(Plot("funnel-removed-docs", "Documents removed, by stage and reason", "bar",
                              Table(["stage", *reasons], docs_rows),
                              {"x": "stage", "series": reasons, "stacked": True, "ylabel": "documents removed"}))
        sec.plots.append(Plot("funnel-removed-bytes", "Text removed, by stage and reason (MB)", "bar",
                              Table(["stage", *reasons], mb_rows),
                              {"x": "stage", "series": reasons, "stacked": True, "ylabel": "MB removed"}))
    else:
        sec.notes.append("No stage removed any document.")
    seconds = Table(["stage", "kind", "docs in", "docs out", "MB in", "seconds", "MB/s"],
                    [[s.label, s.stage, s.manifest.stats.docs_in, s.manifest.stats.docs_out,
                      _mb(s.manifest.stats.bytes_in), round(s.manifest.seconds, 2),
                      round(s.manifest.stats.bytes_in / 1e6 / max(s.manifest.seconds, 1e-9), 1)]
                     for s in run.stages])
    sec.tables.append(("Stages", seconds))
    return sec


# ---------------------------------------------------------------- 2. languages


def _input_by_language(run: RunInfo, dataset: StageRun) -> dict[str, tuple[int, int]] | None:
    """Documents and bytes per language of ``dataset`` as a filter stage that read it counted them
    (saves a pass over the text), when the counts are there and add up to the dataset's."""
    for f in run.of_kind("filter"):
        ins = [run.producer_of(p) for p in f.input_paths()]
        ibl = f.manifest.stats.counters.get("input_by_language")
        if not ins or any(x is not dataset for x in ins) or not isinstance(ibl, Mapping) or not ibl:
            continue
        try:
            out = {(UNKNOWN if k in ("", "unknown") else str(k)): (int(v["docs"]), int(v["bytes"]))
                   for k, v in ibl.items()}
        except (KeyError, TypeError, ValueError):
            continue
        if sum(d for d, _ in out.values()) == dataset.manifest.stats.docs_out:
            return out
    return None


def language_section(run: RunInfo, text_column: str) -> Section:
    sec = Section("languages", "Languages: what curation did to each language")
    datasets = [s for s in pipeline(run) if s.parts]
    if not datasets:
        return _missing(sec, "No dataset with Parquet parts was found, so bytes per language cannot be "
                             "measured.")
    first, last = datasets[0], datasets[-1]
    before = _input_by_language(run, first) or lang_bytes(first.parts, text_column)
    after = lang_bytes(last.parts, text_column) if last is not first else before
    stages = pipeline(run)
    start = stages.index(first)
    removed: dict[str, dict[str, int]] = {}
    for s in stages[: stages.index(last) + 1]:
        if s.removed_parts:
            removed[s.label] = {k: v[1] for k, v in lang_bytes(s.removed_parts, text_column).items()}
    # Bytes that entered the pipeline per language: the first dataset plus what earlier stages removed.
    entered = {k: v[1] for k, v in before.items()}
    for s in stages[: start + 1]:
        for k, b in removed.get(s.label, {}).items():
            entered[k] = entered.get(k, 0) + b
    langs = sorted(entered, key=lambda k: (-entered[k], k))[:TOP_LANGUAGES]
    sec.plots.append(Plot(
        "languages-bytes", f"Text per language before and after (top {len(langs)}, MB)", "bar",
        Table(["lang", "before MB", "after MB"],
              [[lg, _mb(before.get(lg, (0, 0))[1]), _mb(after.get(lg, (0, 0))[1])] for lg in langs]),
        {"x": "lang", "series": ["before MB", "after MB"], "horizontal": True, "log": True, "xlabel": "MB"},
        f"Before: output of {first.label}; after: output of {last.label}."))
    stage_labels = [lb for lb in removed if any(removed[lb].get(lg, 0) for lg in langs)]
    rows = []
    for lg in langs:
        denom = entered.get(lg, 0)
        rows.append([lg, *[round(100 * removed[lb].get(lg, 0) / denom, 3) if denom else 0.0
                           for lb in stage_labels]])
    if stage_labels:
        sec.plots.append(Plot(
            "languages-removed-share", "Share of each language's bytes removed, by stage (%)", "bar",
            Table(["lang", *stage_labels], rows),
            {"x": "lang", "series": stage_labels, "stacked": True, "horizontal": True,
             "xlabel": "% of the language's bytes"},
            "Percent of the bytes of each language that entered the pipeline; bars add up to the total "
            "removed."))
    else:
        sec.notes.append("No stage removed documents, so no language lost bytes.")
    return sec


# ---------------------------------------------------------------- 3. filters


def _rule_set(rules: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """Rebuild the rule set a filter stage recorded; rules needing a missing tokenizer are switched off."""
    from dataclasses import replace

    from sctool.filters.rules import TOKEN_STATS, RuleSet, parse_rule

    notes: list[str] = []
    parsed = [parse_rule(d, "manifest rules") for d in rules.get("rules", [])]
    tok = rules.get("tokenizer")
    if tok and not Path(tok).exists():
        tok = None
    if not tok:
        off = [r.name for r in parsed if r.enabled and r.stats() & set(TOKEN_STATS)]
        if off:
            notes.append(f"rule(s) {off} need the tokenizer the filter used, which is not present; "
                         "their statistics are not drawn")
            parsed = [replace(r, enabled=False) if r.name in off else r for r in parsed]
    rs = RuleSet(name=str(rules.get("name", "")), rules=tuple(parsed),
                 generated_markers=tuple(rules.get("generated_markers") or ()),
                 marker_lines=int(rules.get("marker_lines", 5)), tokenizer=tok)
    return rs, notes


def extension_expr(path: pl.Expr) -> pl.Expr:
    """:func:`sctool.languages.extension_of` as a Polars expression (the filter engine maps it over
    rows in Python, which costs more than the statistics themselves on a sample)."""
    from sctool.languages import _maps

    by_ext, _ = _maps()
    name = path.cast(pl.String).str.replace(r"^.*/", "").str.to_lowercase()
    parts = name.str.split(".")
    two = parts.list.slice(-2, 2).list.join(".")
    n = parts.list.len()
    return (pl.when(path.is_null()).then(pl.lit(None, pl.String))
            .when((n >= 3) & two.is_in(list(by_ext))).then(two)
            .when(n > 1).then(parts.list.last()).otherwise(pl.lit("")))


def _hist_edges(values: np.ndarray, stat: str, thresholds: list[float]) -> tuple[np.ndarray, bool]:
    finite = values[np.isfinite(values)]
    if stat.endswith("_fraction") or (finite.size and finite.min() >= 0 and finite.max() <= 1
                                      and all(0 <= t <= 1 for t in thresholds)):
        return np.linspace(0.0, 1.0, 51), False
    hi = max([float(finite.max()) if finite.size else 1.0, *thresholds]) * 1.05
    pos = finite[finite > 0]
    lo = max(min(float(pos.min()) if pos.size else 1.0, *[t for t in thresholds if t > 0] or [1.0]), 1e-3)
    lo = max(lo * 0.95, 1e-3)
    if hi <= lo * 10:
        return np.linspace(0.0, max(hi, 1.0), 41), False
    return np.geomspace(lo, hi, 41), True


def filter_distributions(stage: StageRun, text_column: str, sample: int, seed: int) -> tuple[list[Plot], list[str]]:
    """Per numeric rule condition: the statistic's distribution over the documents the rule applies
    to, kept vs removed, with the threshold(s), estimated from a sample of the filter's input."""
    from sctool.filters.engine import _applies, _value_expr, evaluate

    rules = stage.manifest.extra.get("rules")
    if not isinstance(rules, Mapping):
        return [], [f"{stage.label}: the manifest records no rules, so thresholds cannot be drawn"]
    rs, notes = _rule_set(rules)
    kept, n_kept = sample_parts(stage.parts, sample, seed=seed)
    removed, n_removed = sample_parts(stage.removed_parts, sample, seed=seed)
    frames, weights = [], []
    for f, total in ((kept, n_kept), (removed, n_removed)):
        if f.height and text_column in f.columns:
            frames.append(f.drop([c for c in ("reason", "fired") if c in f.columns]))
            weights.append(np.full(f.height, total / f.height))
    if not frames:
        return [], [*notes, f"{stage.label}: no documents to sample"]
    frame = pl.concat(frames, how="diagonal_relaxed")
    if "ext" not in frame.columns and "path" in frame.columns:
        frame = frame.with_columns(extension_expr(pl.col("path")).alias("ext"))
    w = np.concatenate(weights)
    res = evaluate(frame, rs, text_column=text_column)
    st = res.stats.with_columns(pl.col("extension").alias("__ext"), pl.col("lang").alias("__lang"),
                                res.reason.alias("__reason"))
    sampled = frame.height
    if sampled < n_kept + n_removed:
        notes.append(f"{stage.label}: statistics from a sample of {sampled:,} of {n_kept + n_removed:,} "
                     "documents (removed documents sampled separately), weighted back to the full counts")
    plots = []
    for rule in rs.enabled():
        by_stat: dict[str, list[Any]] = {}
        for c in rule.conditions:
            if c.op in (">", ">=", "<", "<=") and not isinstance(c.value, bool) and c.stat in st.columns:
                by_stat.setdefault(c.stat, []).append(c)
        for stat, conds in by_stat.items():
            thr_exprs = [_value_expr(rule, c).alias(f"__t{i}") for i, c in enumerate(conds)]
            sub = st.with_columns(_applies(rule, pl.col("__ext"), pl.col("__lang")).alias("__applies"),
                                  *thr_exprs, pl.Series("__w", w))
            has_thr = pl.any_horizontal([pl.col(f"__t{i}").is_not_null() for i in range(len(conds))])
            sub = sub.filter(pl.col("__applies").fill_null(False) & has_thr & pl.col(stat).is_not_null())
            if sub.height == 0:
                continue
            thresholds: dict[float, float] = {}
            for i in range(len(conds)):
                g = sub.group_by(f"__t{i}").agg(pl.col("__w").sum()).drop_nulls()
                for t, ww in g.iter_rows():
                    thresholds[float(t)] = thresholds.get(float(t), 0.0) + float(ww)
            drawn = sorted(sorted(thresholds, key=lambda t: -thresholds[t])[:4])
            vals = sub.get_column(stat).cast(pl.Float64).to_numpy()
            edges, logx = _hist_edges(vals, stat, drawn)
            clipped = np.clip(vals, edges[0], edges[-1])
            reason = sub.get_column("__reason")
            this = (reason == rule.name).fill_null(False).to_numpy()
            other = (reason.is_not_null() & (reason != rule.name)).fill_null(False).to_numpy()
            kept_m = ~(this | other)
            ww = sub.get_column("__w").to_numpy()
            series = {name: np.histogram(clipped[m], bins=edges, weights=ww[m])[0]
                      for name, m in (("kept", kept_m), ("removed (this rule)", this),
                                      ("removed (earlier rule)", other))}
            rows = [[float(f"{edges[i]:.6g}"), float(f"{edges[i + 1]:.6g}"),
                     *[round(float(series[k][i]), 1) for k in series]] for i in range(len(edges) - 1)]
            ops = " or ".join(f"{c.op} {c.value if c.value is not None else 'per extension'}" for c in conds)
            others = sorted(set(thresholds) - set(drawn))
            caption = (f"{rule.description or rule.name}. Removed when {stat} {ops}"
                       + (f"; per-extension thresholds also at {others[:8]}" if others else "")
                       + f". Over the {round(float(ww.sum())):,} documents this rule applies to"
                       + (" (estimated)." if sampled < n_kept + n_removed else "."))
            plots.append(Plot(
                f"filter-dist-{rule.name}-{stat}", f"{rule.name}: {stat}", "hist",
                Table(["bin_lo", "bin_hi", *series], rows),
                {"series": list(series), "logx": logx, "logy": True, "xlabel": stat, "ylabel": "documents",
                 "thresholds": drawn, "stacked": True},
                caption))
    return plots, notes


def filter_section(run: RunInfo, text_column: str, sample: int, seed: int) -> Section:
    sec = Section("filters", "Filters: which rules removed what")
    stages = run.of_kind("filter")
    if not stages:
        return _missing(sec, "No filter stage in this run.")
    for s in stages:
        st = s.manifest.stats
        by_rule = st.counters.get("removed_by_rule")
        if isinstance(by_rule, Mapping) and by_rule:
            items = {r: (int(v.get("docs", 0)), int(v.get("bytes", 0))) for r, v in by_rule.items()
                     if isinstance(v, Mapping)}
        else:
            items = {r: (int(n), int(st.removed_bytes.get(r, 0))) for r, n in st.removed.items()}
        order = sorted(items, key=lambda r: (-items[r][0], r))
        suffix = f" ({s.label})" if len(stages) > 1 else ""
        if order:
            sec.plots.append(Plot(
                f"filter-rules{suffix and '-' + s.label}", f"Documents removed per rule{suffix}", "bar",
                Table(["rule", "docs", "MB"], [[r, items[r][0], _mb(items[r][1])] for r in order]),
                {"x": "rule", "series": ["docs"], "horizontal": True, "xlabel": "documents removed"},
                f"{st.docs_in - st.docs_out:,} of {st.docs_in:,} documents removed; a document counts under "
                "the first rule that fired."))
        else:
            sec.notes.append(f"{s.label}: no rule removed a document.")
        by_lang = st.counters.get("removed_by_language")
        if isinstance(by_lang, Mapping) and by_lang:
            tot = {lg: sum(int(v.get("docs", 0)) for v in d.values() if isinstance(v, Mapping))
                   for lg, d in by_lang.items() if isinstance(d, Mapping)}
            langs = sorted(tot, key=lambda k: (-tot[k], k))[:TOP_LANGUAGES]
            rules = [r for r in order if any(r in by_lang.get(lg, {}) for lg in langs)]
            rows = [[UNKNOWN if lg in ("", "unknown") else lg, *[int(by_lang[lg].get(r, {}).get("docs", 0))
                                                                 for r in rules]] for lg in langs]
            inp = st.counters.get("input_by_language") or {}
            sec.plots.append(Plot(
                f"filter-rules-by-language{suffix and '-' + s.label}",
                f"Documents removed per language and rule{suffix}", "bar",
                Table(["lang", *rules], rows),
                {"x": "lang", "series": rules, "stacked": True, "horizontal": True,
                 "xlabel": "documents removed"},
                "Languages with the most removals; input documents per language: "
                + ", ".join(f"{lg} {int(inp.get(lg, {}).get('docs', 0)):,}" for lg in langs[:8]
                            if isinstance(inp.get(lg), Mapping))))
        elif order:
            sec.notes.append(f"{s.label}: the manifest has no per-language counters.")
        if not s.parts and not s.removed_parts:
            sec.notes.append(f"{s.label}: the dataset's parts are gone, so statistic distributions "
                             "cannot be drawn")
            continue
        plots, notes = filter_distributions(s, text_column, sample, seed)
        sec.plots.extend(plots)
        sec.notes.extend(notes)
    return sec


# ---------------------------------------------------------------- 4. dedup


def _cluster_bins(sizes: np.ndarray) -> np.ndarray:
    hi = int(sizes.max()) if sizes.size else 2
    edges = [2]
    while edges[-1] <= hi:
        edges.append(edges[-1] * 2)
    return np.array(edges)


def dedup_section(run: RunInfo, text_column: str) -> Section:
    sec = Section("dedup", "Deduplication: exact copies and near-duplicate clusters")
    stages = run.of_kind("dedup")
    if not stages:
        return _missing(sec, "No dedup stage in this run.")
    for s in stages:
        st = s.manifest.stats
        suffix = f"-{s.label}" if len(stages) > 1 else ""
        kinds = [r for r in ("exact_duplicate", "near_duplicate") if r in st.removed] or sorted(st.removed)
        sec.plots.append(Plot(
            f"dedup-removed{suffix}", "Exact vs near duplicates removed", "bar",
            Table(["kind", "docs", "MB"], [[k, int(st.removed.get(k, 0)), _mb(st.removed_bytes.get(k, 0))]
                                           for k in kinds] or [["none", 0, 0.0]]),
            {"x": "kind", "series": ["docs"], "ylabel": "documents removed"},
            f"{st.docs_in - st.docs_out:,} of {st.docs_in:,} documents removed "
            f"({100 * (st.docs_in - st.docs_out) / max(st.docs_in, 1):.1f}%)."))
        nd = s.manifest.extra.get("near_dedup") or {}
        if nd:
            sec.tables.append((f"Near-dedup parameters{suffix}", Table(
                ["parameter", "value"],
                [[k, str(v)] for k, v in nd.items() if not isinstance(v, Mapping)])))
        if not s.removed_parts:
            sec.notes.append(f"{s.label}: no removed/ parts, so cluster sizes cannot be drawn")
            continue
        frames = []
        for p in s.removed_parts:
            cols = [c for c in ("id", "path", "reason", "dup_of", "cluster_id", "jaccard") if c in _columns(p)]
            frames.append(pl.read_parquet(p, columns=cols))
        rem = pl.concat(frames, how="diagonal_relaxed")
        if "dup_of" not in rem.columns:
            sec.notes.append(f"{s.label}: removed rows carry no dup_of column; cluster sizes cannot be drawn")
            continue
        key = (pl.coalesce(pl.col("cluster_id"), pl.col("dup_of")) if "cluster_id" in rem.columns
               else pl.col("dup_of"))
        rem = rem.with_columns(key.alias("__cluster"))
        clusters = (rem.group_by("__cluster", "reason")
                    .agg(pl.len().alias("removed"), pl.col("dup_of").first().alias("kept"),
                         *([pl.col("jaccard").min().alias("min_jaccard")] if "jaccard" in rem.columns else []))
                    .with_columns((pl.col("removed") + 1).alias("size"))
                    .sort(["size", "__cluster"], descending=[True, False]))
        sizes = clusters.get_column("size").to_numpy()
        edges = _cluster_bins(sizes)
        series = {}
        for r in ("exact_duplicate", "near_duplicate"):
            m = (clusters.get_column("reason") == r).to_numpy()
            series[r.replace("_duplicate", "")] = np.histogram(sizes[m], bins=edges)[0]
        rows = [[int(edges[i]), int(edges[i + 1]) - 1, *[int(series[k][i]) for k in series]]
                for i in range(len(edges) - 1)]
        sec.plots.append(Plot(
            f"dedup-cluster-sizes{suffix}", "Duplicate cluster sizes", "hist",
            Table(["size_from", "size_to", *series], rows),
            {"series": list(series), "logx": True, "logy": True, "xlabel": "documents in the cluster (kept + removed)",
             "ylabel": "clusters", "edges_inclusive": True, "stacked": True,
             "xticks": [int(e) for e in edges]},
            f"{clusters.height:,} clusters; a cluster is one kept document and the copies removed for it."))
        if "jaccard" in rem.columns:
            jac = rem.filter(pl.col("reason") == "near_duplicate").get_column("jaccard").drop_nulls().to_numpy()
            if jac.size:
                edges_j = np.linspace(0.0, 1.0, 41)
                h = np.histogram(np.clip(jac, 0, 1), bins=edges_j)[0]
                thr = nd.get("threshold")
                sec.plots.append(Plot(
                    f"dedup-jaccard{suffix}", "Estimated Jaccard of near duplicates to the kept document", "hist",
                    Table(["bin_lo", "bin_hi", "near duplicates"],
                          [[round(float(edges_j[i]), 3), round(float(edges_j[i + 1]), 3), int(h[i])]
                           for i in range(len(h))]),
                    {"series": ["near duplicates"], "logy": False, "xlabel": "MinHash Jaccard estimate",
                     "ylabel": "documents", "thresholds": [float(thr)] if isinstance(thr, (int, float)) else []},
                    "Pairs below the threshold joined a cluster through other members (LSH clusters are "
                    "connected components)."))
        sec.tables.append((f"Largest clusters{suffix}", _largest_clusters(s, rem, clusters, text_column)))
    return sec


def _largest_clusters(s: StageRun, rem: pl.DataFrame, clusters: pl.DataFrame, text_column: str,
                      top: int = 6, members: int = 3) -> Table:
    big = clusters.head(top)
    want = (rem.join(big.select("__cluster", "reason"), on=["__cluster", "reason"])
            .sort(["__cluster", "id"]).group_by("__cluster", maintain_order=True).head(members))
    found = rows_by_id(s.removed_parts, want.get_column("id").to_list(), [text_column])
    texts = {k: r.get(text_column) for k, r in found.items()}
    ex = masked_excerpt([_first_lines(texts.get(str(i))) for i in want.get_column("id").to_list()])
    exmap = dict(zip(want.get_column("id").to_list(), ex))
    rows = []
    for c in big.iter_rows(named=True):
        mem = want.filter((pl.col("__cluster") == c["__cluster"]) & (pl.col("reason") == c["reason"]))
        for j, m in enumerate(mem.iter_rows(named=True)):
            kind = str(c["reason"]).replace("_duplicate", "")
            rows.append([c["kept"] if j == 0 else "", c["size"] if j == 0 else "", kind if j == 0 else "",
                         m.get("path") or m["id"],
                         round(float(m["jaccard"]), 3) if m.get("jaccard") is not None else "",
                         exmap.get(m["id"], "")])
    return mask_columns(Table(["kept document", "size", "kind", "removed member (sample)", "Jaccard to kept",
                               "excerpt (PII masked)"], rows), ["kept document", "removed member (sample)"])


# ---------------------------------------------------------------- 5. redaction


def redaction_section(run: RunInfo, text_column: str, examples: int = 8) -> Section:
    sec = Section("redaction", "Redaction: secrets and PII found and replaced")
    stages = run.of_kind("redact")
    if not stages:
        return _missing(sec, "No redact stage in this run.")
    for s in stages:
        c = s.manifest.stats.counters
        suffix = f"-{s.label}" if len(stages) > 1 else ""
        by_type = c.get("pii_by_type") or {}
        by_rule = c.get("pii_by_rule") or {}
        docs = int(c.get("pii_documents", 0) or 0)
        total = s.manifest.stats.docs_in
        redacted = c.get("pii_redacted")
        summary = (f"{docs:,} of {total:,} documents ({100 * docs / max(total, 1):.1f}%) had at least one "
                   f"finding; {sum(int(v) for v in by_type.values()):,} findings"
                   + (f", {int(redacted):,} replaced" if isinstance(redacted, (int, float)) else "") + ".")
        sec.notes.append(f"{s.label}: {summary}")
        if by_type:
            order = sorted(by_type, key=lambda k: (-int(by_type[k]), k))
            sec.plots.append(Plot(f"redaction-types{suffix}", "Findings by type", "bar",
                                  Table(["type", "findings"], [[t, int(by_type[t])] for t in order]),
                                  {"x": "type", "series": ["findings"], "ylabel": "findings"}, summary))
        if by_rule:
            order = sorted(by_rule, key=lambda k: (-int(by_rule[k]), k))
            sec.plots.append(Plot(f"redaction-rules{suffix}", "Findings by detector rule", "bar",
                                  Table(["rule", "findings"], [[r, int(by_rule[r])] for r in order]),
                                  {"x": "rule", "series": ["findings"], "horizontal": True, "xlabel": "findings"}))
        if not by_type and not by_rule:
            sec.notes.append(f"{s.label}: no findings.")
        guard = c.get("parse_guard") or s.manifest.extra.get("parse_guard")
        if isinstance(guard, Mapping) and guard:
            keys = [k for k, v in guard.items() if isinstance(v, (int, float))]
            sec.plots.append(Plot(f"redaction-parse-guard{suffix}", "Parse guard", "bar",
                                  Table(["count", "value"], [[k, int(guard[k])] for k in keys]),
                                  {"x": "count", "series": ["value"], "ylabel": "count"},
                                  "Documents whose parse was checked after redaction, repaired, spans narrowed "
                                  "and findings left unreplaced to keep the file parsing."))
        else:
            sec.notes.append(f"{s.label}: the manifest has no parse-guard counts (older run or annotate-only).")
        table, note = _redaction_examples(run, s, text_column, examples)
        if note:
            sec.notes.append(note)
        if table is not None and len(table):
            sec.tables.append((f"Examples{suffix} (every finding masked)", table))
    return sec


def _redaction_examples(run: RunInfo, s: StageRun, text_column: str, limit: int) -> tuple[Table | None, str]:
    col = str(s.manifest.config.get("pii_column") or "pii")
    picked: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
    for p in s.parts:
        cols = _columns(p)
        if col not in cols or "id" not in cols:
            return None, f"{s.label}: the output has no {col!r} column, so no examples"
        f = pl.read_parquet(p, columns=["id", col]).filter(pl.col(col).list.len() > 0)
        for i, spans in f.iter_rows():
            for sp in spans:
                lst = picked.setdefault(sp["type"], [])
                if len(lst) < limit and all(x[0] != i for x in lst):
                    lst.append((i, spans))
        if sum(len(v) for v in picked.values()) >= limit * max(len(picked), 1):
            break
    if not picked:
        return None, ""
    # Round-robin over types so every type gets an example.
    chosen: list[tuple[str, str, list[dict[str, Any]]]] = []
    k = 0
    while len(chosen) < limit and any(len(v) > k for v in picked.values()):
        for t in sorted(picked):
            if len(picked[t]) > k and len(chosen) < limit:
                chosen.append((t, *picked[t][k]))
        k += 1
    # Original text (offsets refer to it): the redact stage's input parts.
    files = [p for p in s.input_paths() if p.suffix == ".parquet" and p.exists()]
    if not files:
        return None, f"{s.label}: its input is not available as Parquet, so examples cannot be shown"
    found = rows_by_id(files, [c[1] for c in chosen], [text_column, "path"])
    originals = {k: (r.get(text_column) or "", r.get("path") or k) for k, r in found.items()}
    texts, spans_list, meta = [], [], []
    for typ, i, spans in chosen:
        if i not in originals:
            continue
        text, path = originals[i]
        sp = next(x for x in spans if x["type"] == typ)
        a, b = max(sp["start"] - 50, 0), min(sp["end"] + 50, len(text))
        window = [(max(x["start"], a) - a, min(x["end"], b) - a, x["type"]) for x in spans
                  if x["start"] < b and x["end"] > a]
        texts.append(("…" if a else "") + text[a:b])
        shift = 1 if a else 0
        spans_list.append([(s0 + shift, e0 + shift, t) for s0, e0, t in window])
        meta.append((path, typ, sp["rule"], sp.get("redacted", True)))
    masked = masked_excerpt(texts, spans_list)
    rows = [[m[0], m[1], m[2], "yes" if m[3] in (True, None) else "no", t] for m, t in zip(meta, masked)]
    return mask_columns(Table(["document", "type", "rule", "replaced", "context (findings masked)"], rows),
                        ["document"]), ""


# ---------------------------------------------------------------- 6. decontamination


def decontam_section(run: RunInfo) -> Section:
    sec = Section("decontamination", "Decontamination: benchmark items found in the data")
    stages = run.of_kind("decontam")
    if not stages:
        return _missing(sec, "No decontam stage in this run.")
    for s in stages:
        suffix = f"-{s.label}" if len(stages) > 1 else ""
        benches = s.manifest.extra.get("benchmarks") or {}
        c = s.manifest.stats.counters
        if benches:
            names = sorted(benches)
            sec.plots.append(Plot(
                f"decontam-benchmarks{suffix}", "Benchmark items: loaded vs found in the data", "bar",
                Table(["benchmark", "items loaded", "items found", "docs removed"],
                      [[b, int(benches[b].get("items_loaded", 0)), int(benches[b].get("items_found", 0)),
                        int(benches[b].get("docs_removed", 0))] for b in names]),
                {"x": "benchmark", "series": ["items loaded", "items found"], "log": True, "ylabel": "items"}))
        else:
            sec.notes.append(f"{s.label}: the manifest has no per-benchmark summary.")
        found = c.get("items_found") or {}
        items = [(f"{b}/{it}", int(n)) for b, d in found.items() if isinstance(d, Mapping) for it, n in d.items()]
        items.sort(key=lambda x: (-x[1], x[0]))
        if items:
            sec.plots.append(Plot(
                f"decontam-items{suffix}", f"Documents removed per benchmark item (top {min(len(items), TOP_ITEMS)})",
                "bar", Table(["item", "docs removed"], [list(x) for x in items[:TOP_ITEMS]]),
                {"x": "item", "series": ["docs removed"], "horizontal": True, "xlabel": "documents removed"},
                f"{len(items):,} items found; "
                + ", ".join(f"{k}: {v:,} docs" for k, v in sorted((c.get("docs_by_method") or {}).items()))))
        else:
            sec.notes.append(f"{s.label}: no benchmark item was found in the data.")
        if s.removed_parts:
            rows = []
            for p in s.removed_parts:
                cols = _columns(p)
                if "matches" not in cols or len(rows) >= 50:
                    continue
                f = pl.read_parquet(p, columns=[c for c in ("id", "path", "matches") if c in cols])
                for r in f.iter_rows(named=True):
                    for m in (r["matches"] or [])[:3]:
                        rows.append([r.get("path") or r.get("id"), m.get("benchmark"), m.get("item"),
                                     m.get("method"), m.get("part"),
                                     round(float(m["score"]), 3) if m.get("score") is not None else "",
                                     str(m.get("excerpt") or "")[:200]])
                    if len(rows) >= 50:
                        break
            if rows:
                cols_out = ["document", "benchmark", "item", "method", "part", "score"]
                if any(r[-1] for r in rows):  # matched text, where the stage recorded it: masked like all text
                    for r, ex in zip(rows, masked_excerpt([r[-1] for r in rows])):
                        r[-1] = ex
                    cols_out.append("excerpt (PII masked)")
                else:
                    rows = [r[:-1] for r in rows]
                sec.tables.append((f"Removed documents and what matched{suffix}",
                                   mask_columns(Table(cols_out, rows), ["document"])))
    return sec


# ---------------------------------------------------------------- 7. tokens


def _tokens_by_language(s: StageRun, text_column: str) -> tuple[dict[str, int] | None, str]:
    from sctool.packing.indexed import IndexedDataset

    files = s.manifest.extra.get("files") or []
    idx = [Path(f) for f in files if str(f).endswith(".idx")]
    if not idx:
        return None, f"{s.label}: no token files recorded"
    prefix = idx[0].with_suffix("")
    try:
        ds = IndexedDataset(prefix)
    except Exception as exc:  # a missing or damaged token file: say so, draw the rest
        return None, f"{s.label}: cannot open the token files ({exc})"
    try:
        sizes = np.asarray(ds.sizes, dtype=np.int64)
        inputs = [p for p in s.input_paths()]
        if not inputs or not all(p.suffix == ".parquet" and p.exists() for p in inputs):
            return None, f"{s.label}: its input parts are not all present as Parquet, so tokens per language are unknown"
        skipped = any(int(v) for v in (s.manifest.extra.get("skipped") or {}).values())
        langs: list[pl.Series] = []
        for p in inputs:
            cols = _columns(p)
            sel = (["lang"] if "lang" in cols else []) + ([text_column] if skipped and text_column in cols else [])
            f = pl.read_parquet(p, columns=sel) if sel else pl.DataFrame({"lang": [None] * pq.ParquetFile(p).metadata.num_rows})
            if skipped and text_column in f.columns:
                f = f.filter(pl.col(text_column).str.len_bytes() > 0)
            lang = f.get_column("lang") if "lang" in f.columns else pl.Series([None] * f.height, dtype=pl.String)
            langs.append(lang.cast(pl.String).fill_null(UNKNOWN))
        lang_all = pl.concat(langs) if langs else pl.Series([], dtype=pl.String)
        if lang_all.len() != sizes.size:
            return None, (f"{s.label}: {sizes.size:,} token sequences but {lang_all.len():,} input documents; "
                          "the inputs changed since tokenizing, so tokens per language are not shown")
        g = pl.DataFrame({"lang": lang_all, "t": sizes}).group_by("lang").agg(pl.col("t").sum())
        return {str(k): int(v) for k, v in g.iter_rows()}, ""
    finally:
        ds.close()


def _prefix_tokens(prefix: str | Path) -> int | None:
    from sctool.packing.indexed import IndexedDataset

    try:
        ds = IndexedDataset(prefix)
    except Exception:  # the source is gone or damaged: the caller shows it as missing
        return None
    try:
        return ds.num_tokens
    finally:
        ds.close()


def _train_tokens(run_dir: Path) -> int | None:
    rows = read_metrics(run_dir)
    toks = [r.get("tokens") for r in rows if r.get("tokens") is not None]
    return int(max(toks)) if toks else None


def tokens_section(run: RunInfo, text_column: str) -> Section:
    sec = Section("tokens", "Tokens: per source, per language, and the data mix")
    stages = run.of_kind("tokenize", "tokenize-mix")
    sources: list[list[Any]] = []
    for s in stages:
        if s.stage == "tokenize":
            sources.append([s.label, int(s.manifest.extra.get("tokens") or s.manifest.stats.counters.get("tokens", 0)),
                            s.manifest.stats.docs_out])
    if sources:
        sec.plots.append(Plot("tokens-sources", "Tokens per source", "bar",
                              Table(["source", "tokens", "documents"], sources),
                              {"x": "source", "series": ["tokens"], "horizontal": True, "xlabel": "tokens"},
                              f"{sum(r[1] for r in sources):,} tokens in all."))
    by_lang: dict[str, int] = {}
    for s in stages:
        if s.stage != "tokenize":
            continue
        d, note = _tokens_by_language(s, text_column)
        if note:
            sec.notes.append(note)
        for k, v in (d or {}).items():
            by_lang[k] = by_lang.get(k, 0) + v
    if by_lang:
        order = sorted(by_lang, key=lambda k: (-by_lang[k], k))[:TOP_LANGUAGES]
        total = sum(by_lang.values())
        sec.plots.append(Plot("tokens-languages", f"Tokens per language (top {len(order)})", "bar",
                              Table(["lang", "tokens", "share %"],
                                    [[k, by_lang[k], round(100 * by_lang[k] / total, 3)] for k in order]),
                              {"x": "lang", "series": ["tokens"], "horizontal": True, "log": True,
                               "xlabel": "tokens"}))
    mix_rows, mix_note = _mix_rows(run)
    if mix_rows:
        sec.plots.append(Plot("tokens-mix", "Data mix: sampling weight vs share of tokens", "bar",
                              Table(["source", "weight share %", "token share %", "tokens", "epochs"], mix_rows),
                              {"x": "source", "series": ["weight share %", "token share %"], "horizontal": True,
                               "xlabel": "%"}, mix_note))
    if not stages and not mix_rows:
        sec.notes.append("No tokenize stage and no training data mix in this run.")
    elif not mix_rows:
        sec.notes.append("No data mix (a tokenize-mix blend or a training config with sources) was found.")
    return sec


def _mix_rows(run: RunInfo) -> tuple[list[list[Any]], str]:
    import yaml

    for s in run.of_kind("tokenize-mix"):
        blend = s.manifest.extra.get("blend")
        try:
            data = yaml.safe_load(Path(blend).read_text(encoding="utf-8")) if blend else None
        except (OSError, yaml.YAMLError):
            data = None
        if isinstance(data, Mapping) and isinstance(data.get("sources"), list):
            return _mix_table([(str(e.get("name")), float(e.get("weight", 0)), e.get("tokens"))
                               for e in data["sources"] if isinstance(e, Mapping)], None), f"From {blend}."
    for td in run.train_dirs:
        cfg = td / "config.yaml"
        try:
            data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        srcs = ((data or {}).get("data") or {}).get("sources") if isinstance(data, Mapping) else None
        if isinstance(srcs, list) and srcs:
            entries = []
            for e in srcs:
                if not isinstance(e, Mapping) or not e.get("prefix"):
                    continue
                pre = Path(str(e["prefix"]))
                name = str(e.get("name") or f"{pre.parent.name}/{pre.name}")
                entries.append((name, float(e.get("weight", 1.0)), _prefix_tokens(e["prefix"])))
            if entries:
                return _mix_table(entries, _train_tokens(td)), (
                    f"From {cfg}; epochs = tokens trained × weight share ÷ the source's tokens.")
    return [], ""


def _mix_table(entries: list[tuple[str, float, Any]], trained: int | None) -> list[list[Any]]:
    wsum = sum(w for _, w, _ in entries) or 1.0
    tsum = sum(int(t) for _, _, t in entries if t) or 1
    rows = []
    for name, w, t in entries:
        share = w / wsum
        epochs = round(trained * share / t, 4) if trained and t else None
        rows.append([name, round(100 * share, 3), round(100 * int(t) / tsum, 3) if t else 0.0,
                     int(t) if t else None, epochs])
    return rows


# ---------------------------------------------------------------- 8. training


def read_metrics(run_dir: Path) -> list[dict[str, float | None]]:
    """``metrics.csv`` rows as numbers (empty cells are None); validation rows get the tokens of the
    training row at the same step."""
    path = run_dir / "metrics.csv"
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):  # a line the trainer is still writing
        data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        return []
    frame = pl.read_csv(io.BytesIO(data), infer_schema=False, truncate_ragged_lines=True)
    frame = frame.select([pl.col(c).cast(pl.Float64, strict=False) for c in frame.columns if c])
    frame = frame.with_columns([pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in frame.columns])
    rows = frame.to_dicts()
    tokens_at = {r["step"]: r["tokens"] for r in rows if r.get("step") is not None and r.get("tokens") is not None}
    steps = sorted(tokens_at)
    for r in rows:
        if r.get("tokens") is None and r.get("step") is not None and steps:
            st = r["step"]
            if st in tokens_at:
                r["tokens"] = tokens_at[st]
            else:  # between logged steps: tokens grow linearly with steps
                i = bisect.bisect_right(steps, st)
                x0 = steps[max(i - 1, 0)]
                r["tokens"] = tokens_at[x0] * (st / x0) if x0 else tokens_at[x0]
    return rows


SMOOTH_FROM = 200  # series with more points than this also get a smoothed line


def ema(values: list[float], span: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (the first values are not pulled
    towards zero)."""
    a = 2.0 / (span + 1.0)
    out, acc, norm = [], 0.0, 0.0
    for v in values:
        acc = (1 - a) * acc + a * v
        norm = (1 - a) * norm + a
        out.append(acc / norm)
    return out


def _line_plot(key: str, title: str, rows: list[dict[str, float | None]], series: list[str],
               ylabel: str, *, logy: bool = False, caption: str = "", smooth: bool = True) -> Plot | None:
    """``smooth`` adds a moving average to long series (noisy measurements, not a schedule)."""
    cols = [c for c in series if any(r.get(c) is not None for r in rows)]
    if not cols:
        return None
    pts = [dict(r) for r in rows if r.get("tokens") is not None and any(r.get(c) is not None for c in cols)]
    smoothed = {}
    for c in cols:  # smoothed over every point, before thinning, so it is the same at any resolution
        sel = [r for r in pts if r.get(c) is not None]
        if smooth and len(sel) > SMOOTH_FROM:
            name = f"{c} (smoothed)"
            for r, v in zip(sel, ema([float(r[c]) for r in sel], span=max(10.0, len(sel) / 100))):
                r[name] = round(v, 6)
            smoothed[c] = name
    keep = []
    for c in cols:  # downsample each series on its own, so a sparse one keeps every point
        sel = [r for r in pts if r.get(c) is not None]
        keep.extend(id(sel[i]) for i in _downsample(len(sel), MAX_LINE_POINTS))
    keep_ids = set(keep)
    pts = [r for r in pts if id(r) in keep_ids]
    out_cols = [x for c in cols for x in ([c, smoothed[c]] if c in smoothed else [c])]
    table = Table(["step", "tokens", *out_cols], [[r.get("step"), r.get("tokens"), *[r.get(c) for c in out_cols]]
                                                  for r in pts])
    vals = [v for r in pts for c in cols if (v := r.get(c)) is not None]
    logy = logy and min(vals) > 0 and max(vals) / min(vals) > 50  # a log axis only where it helps
    if smoothed:
        caption = (caption + " " if caption else "") + ("Faint: every logged value; solid: exponential moving "
                                                         "average over about 1% of the run.")
    return Plot(key, title, "line", table, {"x": "tokens", "series": cols, "smoothed": smoothed, "ylabel": ylabel,
                                            "logy": logy, "xlabel": "tokens"}, caption)


def training_section(run: RunInfo) -> Section:
    sec = Section("training", "Training: loss, learning rate, throughput and evaluation")
    if not run.train_dirs:
        sec.notes.append("No training run (a directory with metrics.csv) was found; pass --train RUN_DIR.")
    for k, td in enumerate(run.train_dirs):
        suffix = f"-{k + 1}" if len(run.train_dirs) > 1 else ""
        try:
            rows = read_metrics(td)
        except (OSError, pl.exceptions.PolarsError) as exc:
            sec.notes.append(f"{td}: cannot read metrics.csv ({exc})")
            continue
        if not rows:
            sec.notes.append(f"{td}: metrics.csv has no rows yet")
            continue
        last = next((r for r in reversed(rows) if r.get("loss") is not None), None)
        first = next((r for r in rows if r.get("loss") is not None), None)
        if first and last:
            sec.notes.append(f"{td}: step {int(last['step'] or 0):,}, {int(last['tokens'] or 0):,} tokens; "
                             f"loss {first['loss']:.3f} → {last['loss']:.3f}")
        specs: list[tuple[str, str, list[str], str, bool, bool]] = [
            ("loss", "Loss vs tokens", ["loss", "val_loss"], "cross-entropy (nats/token)", False, True),
            ("lr", "Learning rate", ["lr"], "learning rate", False, False),
            ("grad-norm", "Gradient norm (before clipping)", ["grad_norm"], "L2 norm", True, True),
            ("throughput", "Throughput", ["tokens_per_s"], "tokens / s", False, True),
            ("mfu", "Model FLOPs utilisation", ["mfu"], "MFU", False, True),
        ]
        for key, title, cols, ylabel, logy, smooth in specs:
            p = _line_plot(f"training-{key}{suffix}", title, rows, cols, ylabel, logy=logy, smooth=smooth,
                           caption=str(td) if len(run.train_dirs) > 1 else "")
            if p is not None:
                sec.plots.append(p)
            else:
                sec.notes.append(f"{td}: metrics.csv has no {'/'.join(cols)} column values")
    if run.evals:
        rows_e: list[list[Any]] = []
        for path, d in run.evals:
            for metric, v in _eval_metrics(d).items():
                rows_e.append([d["task"], metric, v, str(path)])
        frac = [r for r in rows_e if 0.0 <= r[2] <= 1.0 and (r[1].startswith("pass@") or "match" in r[1])]
        if frac:
            sec.plots.append(Plot("training-eval", "Evaluation scores", "bar",
                                  Table(["score", "value"], [[f"{r[0]} {r[1]}", r[2]] for r in frac]),
                                  {"x": "score", "series": ["value"], "horizontal": True, "xlabel": "score (0–1)",
                                   "xlim": [-0.02, 1.02], "dots": True}))
        sec.tables.append(("Evaluation results", Table(["task", "metric", "value", "file"], rows_e)))
    else:
        sec.notes.append("No evaluation results (JSON files with a 'task' key) were found.")
    return sec


EVAL_KEYS = ("perplexity", "bits_per_byte", "bits_per_token", "loss_nats_per_token", "exact_match")


def _eval_metrics(d: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    scores = d.get("scores")
    if isinstance(scores, Mapping):
        out.update({str(k): float(v) for k, v in scores.items() if isinstance(v, (int, float))})
    for k in EVAL_KEYS:
        if isinstance(d.get(k), (int, float)):
            out.setdefault(k, float(d[k]))
    return out


# ---------------------------------------------------------------- all


SECTION_ORDER = ("funnel", "languages", "filters", "dedup", "redaction", "decontamination", "tokens", "training")


def _guarded(key: str, title: str, fn: Callable[[], Section]) -> Section:
    try:
        return fn()
    except Exception as exc:  # one unreadable input must not cost the reader the whole page
        return Section(key, title, notes=[f"This section could not be computed: {type(exc).__name__}: {exc}"])


def iter_sections(run: RunInfo, *, text_column: str = "content", sample: int = 10000, seed: int = 0,
                  workers: int = 2) -> Iterator[Section]:
    """Every section, in page order, computed ``workers`` at a time on threads (the reading and the
    kernels release the GIL, so a caller drawing one section overlaps the reading of the next); a
    section that fails to compute says why instead of plotting."""
    builders: list[tuple[str, str, Callable[[], Section]]] = [
        ("funnel", "Funnel", lambda: funnel_section(run)),
        ("languages", "Languages", lambda: language_section(run, text_column)),
        ("filters", "Filters", lambda: filter_section(run, text_column, sample, seed)),
        ("dedup", "Deduplication", lambda: dedup_section(run, text_column)),
        ("redaction", "Redaction", lambda: redaction_section(run, text_column)),
        ("decontamination", "Decontamination", lambda: decontam_section(run)),
        ("tokens", "Tokens", lambda: tokens_section(run, text_column)),
        ("training", "Training", lambda: training_section(run)),
    ]
    if workers <= 1:
        for b in builders:
            yield _guarded(*b)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sctool-report") as pool:
        futures = [pool.submit(_guarded, *b) for b in builders]
        for f in futures:
            yield f.result()


def build_sections(run: RunInfo, *, text_column: str = "content", sample: int = 10000,
                   seed: int = 0, workers: int = 2) -> list[Section]:
    """Every section, in page order (see :func:`iter_sections`)."""
    return list(iter_sections(run, text_column=text_column, sample=sample, seed=seed, workers=workers))
