"""Generation half of the evaluation: prompts -> samples JSONL, resumable.

The model is reached through two small callables so the protocol code (prompt preparation, stop
words, resume bookkeeping) is the same for sctool's inference engine and for a test double:

* ``CompleteFn(prompts, max_new_tokens, seed) -> continuations`` (text after each prompt only);
* ``InfillFn(prefixes, suffixes, max_new_tokens, seed) -> middles``.

``model_backend`` builds both from a model directory with ``sctool.infer``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctool.eval.problems import CodeProblem
from sctool.eval.protocol import GenerationSettings, code_prompt, model_prompt, stop_at_stop_words
from sctool.eval.samples import (
    Sample,
    SampleWriter,
    check_or_write_meta,
    count_by_task,
    iter_missing,
    read_samples,
)

CompleteFn = Callable[[Sequence[str], int, int], list[str]]
InfillFn = Callable[[Sequence[str], Sequence[str], int, int], list[str]]
CountTokensFn = Callable[[str], int]


@dataclass
class GenerationReport:
    samples_path: Path
    already_present: int
    generated: int
    total: int


def batch_seed(base: int, task_id: str, sample_index: int) -> int:
    """A seed that depends only on what is generated, so a resumed run samples like an uninterrupted one
    would for the same batch layout."""
    digest = hashlib.blake2b(f"{base}\0{task_id}\0{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


def generate_samples(
    problems: Mapping[str, CodeProblem],
    settings: GenerationSettings,
    samples_path: str | Path,
    complete: CompleteFn,
    count_tokens: CountTokensFn,
    *,
    meta: dict[str, Any],
    quiet: bool = True,
) -> GenerationReport:
    """Fill ``samples_path`` up to ``settings.n_samples`` completions per problem (resuming)."""

    def produce(batch: list[tuple[str, int]]) -> list[Sample]:
        code_prompts = [code_prompt(problems[tid].prompt, settings) for tid, _ in batch]
        prompts = [model_prompt(problems[tid].prompt, settings) for tid, _ in batch]
        longest = max(count_tokens(p) for p in prompts)
        outs = _within_budget(settings, longest, batch, lambda budget, seed: complete(prompts, budget, seed))
        samples = []
        for (tid, idx), cp, out in zip(batch, code_prompts, outs):
            recorded_prompt = cp if cp != problems[tid].prompt else None
            samples.append(Sample(tid, stop_at_stop_words(out, settings.stop_words), idx, recorded_prompt))
        return samples

    return _fill_resumable(problems, settings, samples_path, meta, quiet, "generating", produce)


def generate_infill_samples(
    problems: Mapping[str, CodeProblem],
    settings: GenerationSettings,
    samples_path: str | Path,
    infill: InfillFn,
    count_tokens: CountTokensFn,
    *,
    meta: dict[str, Any],
    quiet: bool = True,
) -> GenerationReport:
    """Middles for FIM problems (prefix = problem prompt, suffix = problem suffix), resumable."""

    def produce(batch: list[tuple[str, int]]) -> list[Sample]:
        prefixes = [settings.prefix + problems[tid].prompt for tid, _ in batch]
        suffixes = [problems[tid].suffix for tid, _ in batch]
        # three FIM sentinel tokens join the two parts
        longest = max(count_tokens(p) + count_tokens(s) + 3 for p, s in zip(prefixes, suffixes))
        outs = _within_budget(settings, longest, batch, lambda budget, seed: infill(prefixes, suffixes, budget, seed))
        return [Sample(tid, stop_at_stop_words(out, settings.stop_words), idx) for (tid, idx), out in zip(batch, outs)]

    return _fill_resumable(problems, settings, samples_path, meta, quiet, "infilling", produce)


def _within_budget(
    settings: GenerationSettings,
    longest_prompt: int,
    batch: list[tuple[str, int]],
    call: Callable[[int, int], list[str]],
) -> list[str]:
    """Run ``call(budget, seed)``; ``max_length`` counts prompt + generation (the harness's
    ``max_length_generation``), so a prompt that already fills it gets an empty completion."""
    budget = settings.max_length - longest_prompt
    if budget <= 0:
        return [""] * len(batch)
    return call(budget, batch_seed(settings.seed, *batch[0]))


def _fill_resumable(
    problems: Mapping[str, CodeProblem],
    settings: GenerationSettings,
    samples_path: str | Path,
    meta: dict[str, Any],
    quiet: bool,
    label: str,
    produce: Callable[[list[tuple[str, int]]], list[Sample]],
) -> GenerationReport:
    """The resumable loop both generators share: the samples already in the file count, the missing
    (task, sample index) pairs are produced batch by batch and appended as each batch finishes."""
    from sctool.progress import progress

    path = Path(samples_path)
    check_or_write_meta(path, meta)
    existing = read_samples(path).samples if path.exists() else []
    todo = list(iter_missing(problems.keys(), count_by_task(existing), settings.n_samples))
    bar = progress(len(todo), label, unit="sample", quiet=quiet)
    generated = 0
    try:
        with SampleWriter(path) as writer:
            for b in range(0, len(todo), settings.batch_size):
                samples = produce(todo[b : b + settings.batch_size])
                writer.write(samples)
                generated += len(samples)
                bar.update(len(samples))
    finally:
        bar.close()
    return GenerationReport(path, len(existing), generated, len(existing) + generated)
