"""The numbers behind every plot, checked against the manifests and against the datasets read
independently (not pixels)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sctool.io.dataset import read_dataset, read_manifest
from sctool.packing.indexed import IndexedDataset
from sctool.reporting import SECTION_ORDER, build_report, build_sections, collect
from sctool.reporting import sections as S
from tests.conftest import run_cli

from .conftest import SECRETS


@pytest.fixture(scope="module")
def built(report_run):
    run = collect([report_run["work"]])
    secs = {s.key: s for s in build_sections(run, sample=100_000)}
    return report_run, run, secs


def _m(work: Path, name: str):
    return read_manifest(work / name)


def test_every_section_computed_without_error(built):
    _, run, secs = built
    assert list(secs) == list(SECTION_ORDER)
    assert not run.problems
    for s in secs.values():
        assert not any("could not be computed" in n for n in s.notes), s.notes


def test_stages_found_in_pipeline_order(built):
    _, run, _ = built
    assert [s.stage for s in run.stages] == ["ingest", "filter", "dedup", "redact", "decontam", "train-tokenizer",
                                             "format", "tokenize"]
    assert run.train_dirs and run.train_dirs[0].name == "train"
    assert {d["task"] for _, d in run.evals} == {"humaneval", "ppl"}


def test_funnel_matches_manifests(built):
    rr, _, secs = built
    work = rr["work"]
    t = secs["funnel"].plot("funnel-docs").table
    ingest = _m(work, "01-ingest")
    assert t.lookup("step", "input", "docs") == ingest.docs_in
    for name in ("01-ingest", "02-filter", "03-dedup", "04-redact", "05-decontam", "07-format", "08-tokenize"):
        assert t.lookup("step", name, "docs") == _m(work, name).docs_out
    assert "06-tokenizer" not in t.column("step")  # a side output, not a funnel step
    assert t.lookup("step", "02-filter", "bytes") == _m(work, "02-filter").stats.bytes_out
    # Token stages report text bytes read, not token-file bytes.
    assert t.lookup("step", "08-tokenize", "bytes") == _m(work, "08-tokenize").stats.bytes_in
    rem = secs["funnel"].plot("funnel-removed-docs").table
    for name in ("01-ingest", "02-filter", "03-dedup", "05-decontam"):
        m = _m(work, name)
        got = {r: rem.lookup("stage", name, r) for r in rem.columns[1:]}
        assert {k: v for k, v in got.items() if v} == m.stats.removed
        assert sum(got.values()) == m.docs_in - m.docs_out


def _lang_bytes(frame: pl.DataFrame) -> dict[str, int]:
    g = frame.select(pl.col("lang").fill_null(S.UNKNOWN), pl.col("content").str.len_bytes()).group_by("lang").sum()
    return {k: int(v) for k, v in g.iter_rows()}


def test_languages_before_after_and_removed_share(built):
    rr, _, secs = built
    work = rr["work"]
    t = secs["languages"].plot("languages-bytes").table
    before = _lang_bytes(read_dataset(work / "01-ingest"))
    after = _lang_bytes(read_dataset(work / "07-format"))
    for lang, b in before.items():
        assert t.lookup("lang", lang, "before MB") == pytest.approx(b / 1e6, abs=1e-3)
        assert t.lookup("lang", lang, "after MB") == pytest.approx(after.get(lang, 0) / 1e6, abs=1e-3)
    share = secs["languages"].plot("languages-removed-share").table
    removed = read_dataset(work / "02-filter", removed=True)
    filt = _lang_bytes(removed)
    # Entered = first dataset + what ingest removed (the png has no language, the empty file 0 bytes).
    ingest_removed = read_dataset(work / "01-ingest", removed=True)
    entered = dict(before)
    for r in ingest_removed.iter_rows(named=True):
        lg = r["lang"] or S.UNKNOWN
        entered[lg] = entered.get(lg, 0) + (len(r["content"].encode()) if r["content"] is not None
                                            else int(r["size_bytes"] or 0))
    assert share.lookup("lang", "python", "02-filter") == pytest.approx(100 * filt["python"] / entered["python"],
                                                                        abs=1e-3)


def test_filter_rule_counts_and_distributions(built):
    rr, _, secs = built
    m = _m(rr["work"], "02-filter")
    sec = secs["filters"]
    t = sec.plot("filter-rules").table
    assert {r: t.lookup("rule", r, "docs") for r in t.column("rule")} == m.stats.removed
    by_lang = sec.plot("filter-rules-by-language").table
    assert by_lang.lookup("lang", "python", "long_line") == 1
    # Without sampling every document is counted once: the histogram's "removed (this rule)" total
    # equals the manifest's count for each rule with a numeric threshold.
    for rule in ("long_line", "alphanum_fraction", "alpha_fraction"):
        stat = {"long_line": "max_line_length"}.get(rule, rule)
        p = sec.plot(f"filter-dist-{rule}-{stat}")
        assert sum(p.table.column("removed (this rule)")) == pytest.approx(m.stats.removed[rule])
    p = sec.plot("filter-dist-long_line-max_line_length")
    assert 1000.0 in p.spec["thresholds"]
    assert p.spec["logx"] is True
    # alphanum_fraction applies to every document: the bins hold the whole filter input.
    p = sec.plot("filter-dist-alphanum_fraction-alphanum_fraction")
    total = sum(sum(p.table.column(c)) for c in p.table.columns[2:])
    assert total == pytest.approx(m.docs_in)
    assert p.spec["thresholds"] == [0.25]


def test_filter_distribution_sampled_is_weighted_back(report_run):
    run = collect([report_run["work"]])
    sec = S.filter_section(run, "content", sample=10, seed=3)
    m = run.of_kind("filter")[0].manifest
    p = sec.plot("filter-dist-alphanum_fraction-alphanum_fraction")
    total = sum(sum(p.table.column(c)) for c in p.table.columns[2:])
    # Kept and removed are sampled separately and weighted to their own totals.
    assert total == pytest.approx(m.docs_in, abs=0.5)
    assert any("sample" in n for n in sec.notes)


def test_dedup_clusters_match_removed_rows(built):
    rr, _, secs = built
    work = rr["work"]
    m = _m(work, "03-dedup")
    sec = secs["dedup"]
    t = sec.plot("dedup-removed").table
    assert t.lookup("kind", "exact_duplicate", "docs") == m.stats.removed["exact_duplicate"] == 3
    assert t.lookup("kind", "near_duplicate", "docs") == m.stats.removed["near_duplicate"] == 4
    rem = read_dataset(work / "03-dedup", removed=True)
    exact_groups = rem.filter(pl.col("reason") == "exact_duplicate").get_column("dup_of").n_unique()
    near_groups = rem.filter(pl.col("reason") == "near_duplicate").get_column("cluster_id").n_unique()
    sizes = sec.plot("dedup-cluster-sizes").table
    assert sum(sizes.column("exact")) == exact_groups == 1
    assert sum(sizes.column("near")) == near_groups == 1
    # The 4 exact copies (original + 3) fall in the [4, 7] bin; 5 handlers in the same bin.
    assert sizes.lookup("size_from", 4, "exact") == 1 and sizes.lookup("size_from", 4, "near") == 1
    jac = sec.plot("dedup-jaccard").table
    assert sum(jac.column("near duplicates")) == 4
    assert sec.plot("dedup-jaccard").spec["thresholds"] == [0.7]
    (_, largest), = [x for x in sec.tables if x[0].startswith("Largest")]
    text = json.dumps(largest.rows)
    assert "handlers_v" in text and "[EMAIL]" in text
    assert SECRETS["email"] not in text


def test_redaction_counts_and_masked_examples(built):
    rr, _, secs = built
    m = _m(rr["work"], "04-redact")
    sec = secs["redaction"]
    t = sec.plot("redaction-types").table
    assert {r: t.lookup("type", r, "findings") for r in t.column("type")} == m.stats.counters["pii_by_type"]
    t = sec.plot("redaction-rules").table
    assert {r: t.lookup("rule", r, "findings") for r in t.column("rule")} == m.stats.counters["pii_by_rule"]
    guard = m.stats.counters.get("parse_guard")
    if guard:
        g = sec.plot("redaction-parse-guard").table
        assert {r: g.lookup("count", r, "value") for r in g.column("count")} == guard
    (_, ex), = [x for x in sec.tables if x[0].startswith("Examples")]
    assert set(ex.column("type")) == set(m.stats.counters["pii_by_type"])
    text = json.dumps(ex.rows)
    for v in SECRETS.values():
        assert v not in text
    assert "[KEY]" in text and "[PASSWORD]" in text


def test_no_secret_anywhere_on_the_page(report_run):
    page = report_run["report"].read_text()
    for v in SECRETS.values():
        assert v not in page
    assert SECRETS["key"][:8] not in page  # not even a prefix long enough to search for


def test_decontam_items(built):
    rr, _, secs = built
    m = _m(rr["work"], "05-decontam")
    sec = secs["decontamination"]
    t = sec.plot("decontam-benchmarks").table
    b = m.extra["benchmarks"]["bench.text"]
    assert t.lookup("benchmark", "bench.text", "items loaded") == b["items_loaded"] == 2
    assert t.lookup("benchmark", "bench.text", "items found") == b["items_found"] == 1
    items = sec.plot("decontam-items").table
    assert items.to_dicts() == [{"item": "bench.text/0", "docs removed": 1}]
    (_, rows), = [x for x in sec.tables if x[0].startswith("Removed")]
    assert rows.rows[0][0].endswith("leak.py")


def test_tokens_per_language_from_index_and_inputs(built):
    rr, _, secs = built
    work = rr["work"]
    m = _m(work, "08-tokenize")
    sec = secs["tokens"]
    assert sec.plot("tokens-sources").table.lookup("source", "08-tokenize", "tokens") == m.extra["tokens"]
    t = sec.plot("tokens-languages").table
    assert sum(t.column("tokens")) == m.extra["tokens"]
    ds = IndexedDataset(work / "08-tokenize" / "tokens")
    langs = read_dataset(work / "07-format").get_column("lang").fill_null(S.UNKNOWN).to_list()
    expect: dict[str, int] = {}
    for lg, n in zip(langs, ds.sizes.tolist()):
        expect[lg] = expect.get(lg, 0) + n
    ds.close()
    assert {r["lang"]: r["tokens"] for r in t.to_dicts()} == expect
    mix = sec.plot("tokens-mix").table.to_dicts()
    assert mix[0]["weight share %"] == 100.0 and mix[0]["tokens"] == m.extra["tokens"]
    # Trained 100 * 1024 tokens of one source.
    assert mix[0]["epochs"] == pytest.approx(round(100 * 1024 / m.extra["tokens"], 4))


def test_training_series_match_metrics_csv(built):
    rr, _, secs = built
    sec = secs["training"]
    with open(rr["work"] / "train" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    train = [r for r in rows if r["loss"]]
    val = [r for r in rows if r["val_loss"]]
    loss = sec.plot("training-loss").table
    got_train = [(r["tokens"], r["loss"]) for r in loss.to_dicts() if r["loss"] is not None]
    assert got_train == [(float(r["tokens"]), float(r["loss"])) for r in train]
    # Validation rows carry no tokens: they get the tokens of the training row at their step.
    got_val = [(r["step"], r["tokens"], r["val_loss"]) for r in loss.to_dicts() if r["val_loss"] is not None]
    assert got_val == [(float(r["step"]), float(r["step"]) * 1024, float(r["val_loss"])) for r in val]
    for key, col in (("training-lr", "lr"), ("training-grad-norm", "grad_norm"),
                     ("training-throughput", "tokens_per_s"), ("training-mfu", "mfu")):
        assert sec.plot(key).table.column(col) == [float(r[col]) for r in train]
    scores = {r["score"]: r["value"] for r in sec.plot("training-eval").table.to_dicts()}
    assert scores == {"humaneval pass@1": 0.25, "humaneval pass@10": 0.5}
    (_, ev), = sec.tables
    assert {"task": "ppl", "metric": "perplexity", "value": 12.5} in [
        {k: d[k] for k in ("task", "metric", "value")} for d in ev.to_dicts()]


def test_long_training_is_downsampled_keeping_the_ends(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    n = 4 * S.MAX_LINE_POINTS
    lines = ["step,tokens,loss,lr"] + [f"{s},{s * 10},{10 / s:.6f},0.001" for s in range(1, n + 1)]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    p = S._line_plot("x", "x", S.read_metrics(run_dir), ["loss"], "loss")
    steps = p.table.column("step")
    assert len(steps) <= S.MAX_LINE_POINTS
    assert steps[0] == 1 and steps[-1] == n
    assert np.all(np.diff(steps) > 0)


def test_masked_excerpt_masks_given_spans_and_detected_values():
    text = f"user = 'x'  # mail {SECRETS['email']} key {SECRETS['key']}"
    start = text.index("'x'")
    out = S.masked_excerpt([text], [[(start, start + 3, "USERNAME")]])[0]
    assert "[USERNAME]" in out and "[EMAIL]" in out and "[KEY]" in out
    assert SECRETS["email"] not in out and SECRETS["key"] not in out


def test_missing_and_failed_stages_still_render(report_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(report_run["work"], work, symlinks=True)
    shutil.rmtree(work / "03-dedup")
    shutil.rmtree(work / "train")
    (work / "report.html").unlink()
    partial = work / ".09-extra.sctool-partial" / "_parts"
    partial.mkdir(parents=True)
    (partial / "00000.json").write_text("{}")
    (work / "05-decontam" / "manifest.json").write_text("{not json")
    out = tmp_path / "r.html"
    res = build_report([work], out, expected=[("dedup", work / "03-dedup")])
    page = out.read_text()
    assert "did not finish" in page and "09-extra" in page
    assert "stage &#x27;dedup&#x27;: no output" in page
    assert "unreadable manifest" in page
    assert "No dedup stage in this run." in page
    assert "No decontam stage in this run." in page
    assert "No training run" in page
    for key in SECTION_ORDER:
        assert f'data-section="{key}"' in page
    assert res.problems and res.plots > 5


def test_order_follows_inputs_not_start_times(report_run, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(report_run["work"], work, symlinks=True,
                    ignore=shutil.ignore_patterns("*.parquet", "*.bin", "train", "eval"))
    # Reverse the start times; the inputs still say filter read ingest's output, and so on.
    for i, m in enumerate(sorted(work.glob("0*/manifest.json"))):
        d = json.loads(m.read_text())
        d["started_at"] = f"2020-01-{28 - i:02d}T00:00:00+00:00"
        d["inputs"] = [{**x, "path": str(x["path"]).replace(str(report_run["work"]), str(work))}
                       for x in d["inputs"]]
        m.write_text(json.dumps(d))
    run = collect([work])
    kinds = [s.stage for s in run.stages]
    assert kinds.index("ingest") < kinds.index("filter") < kinds.index("dedup") < kinds.index("redact")
    assert kinds.index("decontam") < kinds.index("format") < kinds.index("tokenize")


def test_cli_report_and_errors(report_run, tmp_path):
    out = tmp_path / "cli.html"
    proc = run_cli("report", report_run["work"], "-o", out, "--quiet", check=True)
    assert proc.stdout.strip() == str(out)
    assert out.stat().st_size > 10_000
    proc = run_cli("report", report_run["work"] / "01-ingest", "-o", tmp_path / "one.html", "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["plots"] >= 3 and Path(summary["path"]).exists()
    bad = run_cli("report", tmp_path / "nope", "-o", tmp_path / "x.html")
    assert bad.returncode == 2 and "nope" in bad.stderr and "unexpected" not in bad.stderr
    bad = run_cli("report", report_run["work"], "--train", tmp_path, "-o", tmp_path / "x.html")
    assert bad.returncode == 2 and "metrics.csv" in bad.stderr


def test_run_report_written_by_recipe(report_run):
    assert report_run["report"].exists()
    assert "report written to" in report_run["stderr"]
    page = report_run["report"].read_text()
    assert page.count('<figure class="plot"') >= 20
    assert len(page.encode()) < 5_000_000


def test_extension_expression_equals_extension_of():
    import sysconfig

    from sctool.languages import extension_of

    tricky = ["a/b.tar.gz", "CMakeLists.txt", "x/config.cmake.in", ".bashrc", "noext", "dir.d/file", "A.PY",
              "a/b.", "a..b", "x/.hidden.yml", "ünï/cödé.Rs", "a/b.c.d.e", "trailing.dot."]
    real = [str(p) for p in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*"))[:3000]]
    paths = tricky + real
    got = pl.select(S.extension_expr(pl.Series(paths, dtype=pl.String)).alias("e")).get_column("e").to_list()
    assert got == [extension_of(p) for p in paths]
    assert pl.select(S.extension_expr(pl.Series([None], dtype=pl.String))).item() is None


def test_metrics_being_written_and_non_finite_values(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # A line the trainer is still writing is left out; nan/inf cells and a ragged line do not fail.
    (run_dir / "metrics.csv").write_text("step,tokens,loss,lr\n5,5120,8.2,0.001\n10,10240,nan,inf\n"
                                         "15,15360,7.5,0.001,extra\n20,2")
    rows = S.read_metrics(run_dir)
    assert [r["step"] for r in rows] == [5, 10, 15]
    assert rows[1]["loss"] is None and rows[1]["lr"] is None
    assert rows[2]["loss"] == 7.5
    (run_dir / "metrics.csv").write_text("")
    assert S.read_metrics(run_dir) == []


def test_run_report_of_a_failed_recipe_names_what_is_missing(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(3):
        (tree / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    work = tmp_path / "work"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
workdir: {work}
stages:
  - stage: ingest
    config: {{sources: ["{tree}"]}}
  - stage: decontam
    config: {{benchmarks: ["jsonl:text={tmp_path / 'missing.jsonl'}"]}}
  - stage: filter
""")
    proc = run_cli("run", recipe, "--quiet", "--report", tmp_path / "failed.html")
    assert proc.returncode == 2 and "missing.jsonl" in proc.stderr
    page = (tmp_path / "failed.html").read_text()
    assert "stage &#x27;decontam&#x27;: no output" in page and "stage &#x27;filter&#x27;: no output" in page
    assert 'data-plot="funnel-docs"' in page


def test_ema_equals_weighted_average_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=300).tolist()
    span = 12.0
    a = 2 / (span + 1)
    ref = []
    for t in range(len(x)):
        w = np.array([(1 - a) ** i for i in range(t + 1)])
        ref.append(float(np.dot(w, x[t::-1]) / w.sum()))
    assert S.ema(x, span) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert S.ema([3.0] * 50, 5) == pytest.approx([3.0] * 50)


def test_long_noisy_series_get_a_smoothed_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    n = 2000
    lines = ["step,tokens,loss"] + [f"{s},{s * 10},{5 + (s % 2)}" for s in range(1, n + 1)]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    p = S._line_plot("x", "x", S.read_metrics(run_dir), ["loss"], "loss")
    assert p.spec["smoothed"] == {"loss": "loss (smoothed)"}
    sm = p.table.column("loss (smoothed)")
    assert sm[-1] == pytest.approx(5.5, abs=0.05)  # the average of the alternating 5, 6


def test_paths_holding_pii_are_masked_too():
    from sctool.reporting.model import Table

    t = Table(["document", "n"], [[f"users/{SECRETS['email']}/notes.py", 1], ["plain/path.py", 2], [None, 3]])
    S.mask_columns(t, ["document"])
    assert t.rows[0][0] == "users/[EMAIL]/notes.py"
    assert t.rows[1][0] == "plain/path.py" and t.rows[2][0] is None


def test_text_is_withheld_when_the_detector_fails(monkeypatch):
    import sctool.pii

    def broken(*a, **k):
        raise RuntimeError("detector unavailable")

    monkeypatch.setattr(sctool.pii, "detect_pii", broken)
    out = S.masked_excerpt([f"mail {SECRETS['email']}", "plain"])
    assert len(out) == 2 and all(o.startswith("[withheld") for o in out)
    assert not any(SECRETS["email"] in o for o in out)


def test_tick_labels_are_distinct_and_exact():
    from sctool.reporting.render import _distinct_labels, _short

    assert _distinct_labels([1.1, 1.125, 1.15, 1.175], exact=True) == ["1.1", "1.125", "1.15", "1.175"]
    assert _distinct_labels([20000, 20020, 20040], exact=True) == ["20k", "20.02k", "20.04k"]
    assert [_short(x) for x in (0, 950, 1500, 2.5e6, 3e9, 0.00025)] == ["0", "950", "1.5k", "2.5M", "3G", "0.00025"]
