"""KV-cached text generation: greedy and temperature / top-k / top-p sampling, stop sequences, batches.

Prompts of different lengths run together with left padding: each sequence gets its own position
ids (0 at its first real token) and an attention mask that hides the padding, so a batched
prompt produces exactly what it produces alone. Prompts are sorted by length into batches to keep
padding small, and finished sequences leave the batch (their rows are dropped from the cache), so
a long straggler does not make the whole batch pay. The cache is preallocated for prompt + new
tokens (``sctool.model.gpt.KVCache``); with multi-query attention it holds one K/V head per layer.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sctool.errors import ConfigError, DatasetError
from sctool.model.gpt import GPT, KVCache

EOS_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate; ``temperature`` 0 means greedy (argmax) decoding."""

    max_new_tokens: int = field(default=128, metadata={"help": "maximum tokens generated per prompt"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 = greedy"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling: keep the smallest set with this mass"})
    top_k: int = field(default=0, metadata={"help": "keep only the k most likely tokens (0 = all)"})
    stop: tuple[str, ...] = field(
        default=(), metadata={"help": "stop when the generated text contains one of these (not included)"}
    )
    stop_at_eos: bool = field(default=True, metadata={"help": "stop at the end-of-text token"})
    eos_token_id: int | None = field(
        default=None, metadata={"help": "end-of-text token id (default: <|endoftext|> from the tokenizer)"}
    )
    batch_size: int = field(default=8, metadata={"help": "prompts decoded together"})
    screened_greedy: bool = field(
        default=True,
        metadata={"help": "greedy on CPU fp32: screen the output head in bf16 with a proven error bound, "
                  "then compute exact fp32 logits for the candidates (same argmax, ~4x less head work)"},
    )
    seed: int | None = field(default=None, metadata={"help": "random seed for sampling (None = nondeterministic)"})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be >= 0 (got {self.max_new_tokens})")
        if self.temperature < 0 or math.isnan(self.temperature):
            raise ConfigError(f"temperature must be >= 0 (got {self.temperature})")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0 (got {self.top_k})")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 (got {self.batch_size})")
        if any(not s for s in self.stop):
            raise ConfigError("stop sequences must be non-empty strings")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class Completion:
    """One generated continuation: its text (prompt and stop string excluded) and why it ended."""

    text: str
    token_ids: list[int]
    finish_reason: str  # "eos", "stop" (a stop sequence), "length" (max_new_tokens or context full)
    prompt_tokens: int
    truncated_prompt: bool = False


class TokenizerAdapter:
    """One interface over ``tokenizers.Tokenizer``, a path to tokenizer.json, or any object with
    ``encode``/``decode`` (encode returning ids or an object with ``.ids``)."""

    def __init__(self, tokenizer: Any) -> None:
        if isinstance(tokenizer, TokenizerAdapter):
            tokenizer = tokenizer.inner
        if isinstance(tokenizer, (str, bytes)) or hasattr(tokenizer, "__fspath__"):
            from tokenizers import Tokenizer

            from sctool.model.checkpoint import find_tokenizer_file

            path = find_tokenizer_file(tokenizer)
            if path is None:
                raise FileNotFoundError(f"{tokenizer}: no tokenizer.json found")
            tokenizer = Tokenizer.from_file(str(path))
        self.inner = tokenizer

    def encode(self, text: str) -> list[int]:
        if hasattr(self.inner, "encode_batch") and hasattr(self.inner, "get_vocab_size"):
            return list(self.inner.encode(text, add_special_tokens=False).ids)
        out = self.inner.encode(text)
        return list(out.ids) if hasattr(out, "ids") else list(out)

    def decode(self, ids: Sequence[int]) -> str:
        try:
            return str(self.inner.decode(list(ids), skip_special_tokens=True))
        except TypeError:
            return str(self.inner.decode(list(ids)))

    def token_to_id(self, token: str) -> int | None:
        fn = getattr(self.inner, "token_to_id", None)
        if fn is not None:
            tid = fn(token)
            return None if tid is None else int(tid)
        return None


def _eos_id(tok: TokenizerAdapter, cfg: GenerationConfig) -> int | None:
    if cfg.eos_token_id is not None:
        return cfg.eos_token_id
    return tok.token_to_id(EOS_TOKEN)


def sample_next(logits: torch.Tensor, cfg: GenerationConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Pick the next token for each row of (B, V) logits: argmax, or sample after temperature/top-k/top-p."""
    if cfg.greedy:
        return logits.argmax(dim=-1)
    scores = logits.float() / cfg.temperature
    if cfg.top_k > 0 and cfg.top_k < scores.shape[-1]:
        kth = torch.topk(scores, cfg.top_k, dim=-1).values[:, -1:]  # (B, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        # Drop a token when the mass of the tokens strictly before it already reaches top_p; the
        # most likely token is always kept.
        drop = (probs.cumsum(dim=-1) - probs) >= cfg.top_p
        sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class ScreenedArgmax:
    """Greedy argmax of ``h @ W.T`` that reads the (V × C) output head in bf16, with the exact answer.

    At batch 1 the output head is most of a decoding step on a CPU (for the 6×512 benchmark model,
    49152×512 of its 41.8 M weights), and a fp32 mat-vec is bound by memory bandwidth. bf16 halves
    the bytes and uses AMX/AVX-512-BF16 units. The bf16 logits are screened with a rigorous bound
    on their error, and only the tokens that can still be the maximum get exact fp32 logits:

        |l̃_j − l_j| ≤ (2u + u² + C·2⁻²³)·‖h‖·‖w_j‖ + u·|l̃_j|,   u = 2⁻⁸ (bf16 unit round-off),

    from rounding h and w_j to bf16 (relative error ≤ u each, Σ|h_i||w_ji| ≤ ‖h‖‖w_j‖ by
    Cauchy–Schwarz), the fp32 accumulation of C products, and rounding the output to bf16. Every
    token whose upper bound reaches the best lower bound is a candidate, and the candidates' logits
    are recomputed in float64, so the result is the argmax of the exact logits (ties go to the lowest
    id, like ``argmax``). It can differ from an fp32 ``argmax`` only where two logits are within
    fp32 rounding of each other, where the fp32 answer itself depends on the matmul kernel.
    """

    U = 2.0**-8

    def __init__(self, weight: torch.Tensor) -> None:
        w = weight.detach()
        self.weight = w
        self.weight_bf16 = w.to(torch.bfloat16)
        self.row_norm = w.double().norm(dim=1).float()  # (V,)
        c = w.shape[1]
        self.rel = (2 * self.U + self.U * self.U + c * 2.0**-23) * 1.05  # 5 % slack on top of the bound

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """(B, C) fp32 hidden states -> (B,) token ids."""
        approx = F.linear(h.to(torch.bfloat16), self.weight_bf16).float()  # (B, V)
        h_norm = h.double().norm(dim=1, keepdim=True).float()  # (B, 1)
        err = self.rel * h_norm * self.row_norm[None, :] + (self.U * 1.05) * approx.abs()  # (B, V)
        best_lower = (approx - err).max(dim=1, keepdim=True).values  # (B, 1)
        candidates = (approx + err) >= best_lower  # (B, V)
        out = torch.empty(h.shape[0], dtype=torch.long, device=h.device)
        for b in range(h.shape[0]):
            idx = candidates[b].nonzero().squeeze(1)  # ascending ids
            if idx.numel() * 8 > self.weight.shape[0]:  # the screen did not narrow it: do it all
                out[b] = (self.weight.double() @ h[b].double()).argmax()
            else:
                rows = self.weight.index_select(0, idx).double()  # (k, C)
                exact = rows @ h[b].double()  # (k,)
                out[b] = idx[exact.argmax()]
        return out


_SCREENS: weakref.WeakKeyDictionary[GPT, tuple[int, int, ScreenedArgmax]] = weakref.WeakKeyDictionary()


def _screen_for(model: GPT) -> ScreenedArgmax | None:
    """The model's screened head, rebuilt when its weights change (training between generations)."""
    w = model.lm_head.weight
    if w.dtype != torch.float32 or w.device.type != "cpu":
        return None
    key = (w.data_ptr(), w._version)
    hit = _SCREENS.get(model)
    if hit is not None and hit[:2] == key:
        return hit[2]
    screen = ScreenedArgmax(w)
    _SCREENS[model] = (key[0], key[1], screen)
    return screen


def _find_stop(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest stop sequence in ``text``, or -1."""
    best = -1
    for s in stops:
        i = text.find(s)
        if i != -1 and (best == -1 or i < best):
            best = i
    return best


@torch.inference_mode()
def generate_ids(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    tokenizer: Any = None,
) -> list[Completion]:
    """Generate from already-tokenized prompts (FIM prompts are built from token ids).

    ``tokenizer`` is needed for stop sequences and for the completion text; without it the
    texts are empty and only ``token_ids`` are filled.
    """
    tok = TokenizerAdapter(tokenizer) if tokenizer is not None else None
    if config.stop and tok is None:
        raise ConfigError("stop sequences need a tokenizer")
    eos_id = config.eos_token_id if tok is None else _eos_id(tok, config)
    eos = eos_id if config.stop_at_eos else None
    results: list[Completion | None] = [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    generator = None
    if not config.greedy and config.seed is not None:
        generator = torch.Generator(device=model.lm_head.weight.device).manual_seed(config.seed)
    was_training = model.training
    model.eval()  # no dropout while generating, even from a model in the middle of training
    try:
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = _generate_batch(model, [list(prompts[i]) for i in idx], config, tok, eos, eos_id, generator)
            for i, c in zip(idx, batch):
                results[i] = c
    finally:
        model.train(was_training)
    return [r for r in results if r is not None]


def _generate_batch(
    model: GPT,
    prompts: list[list[int]],
    cfg: GenerationConfig,
    tok: TokenizerAdapter | None,
    eos: int | None,
    start_id: int | None,
    generator: torch.Generator | None,
) -> list[Completion]:
    device = model.lm_head.weight.device
    n_ctx = model.config.n_positions
    budget = max(1, n_ctx - cfg.max_new_tokens)
    truncated = []
    for i, p in enumerate(prompts):
        if not p:
            if start_id is None:
                raise ConfigError("an empty prompt needs an end-of-text token to start from")
            prompts[i] = p = [start_id]
        truncated.append(len(p) > budget)
        if len(p) > budget:  # keep the end of the prompt: it is what the continuation depends on
            prompts[i] = p[-budget:]
    b = len(prompts)
    lengths = [len(p) for p in prompts]
    width = max(lengths)
    max_new = min(cfg.max_new_tokens, n_ctx - width)
    pad_id = start_id if start_id is not None else 0
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    mask = torch.zeros((b, width + max(max_new, 0)), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        mask[r, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    padded = min(lengths) != width
    positions = (mask[:, :width].cumsum(dim=1) - 1).clamp(min=0)  # (B, L): 0 at each first real token
    next_pos = torch.tensor(lengths, dtype=torch.long, device=device)  # (B,)

    generated: list[list[int]] = [[] for _ in range(b)]
    finish = ["length"] * b
    if max_new <= 0:
        return _completions(prompts, generated, finish, tok, truncated, cfg)

    screen = _screen_for(model) if cfg.greedy and cfg.screened_greedy else None

    def pick(out: Any) -> torch.Tensor:
        if screen is not None:
            return screen(out.hidden_states[:, -1])  # (B,)
        return sample_next(out.logits[:, -1], cfg, generator)  # (B,)

    cache = KVCache.for_model(model, b, width + max_new)
    out = model(
        ids,
        position_ids=positions,
        past_key_values=cache,
        use_cache=True,
        attention_mask=mask[:, :width] if padded else None,
        logits_to_keep=1,
        compute_logits=screen is None,
    )
    active = list(range(b))  # batch row -> original row in this batch
    seen = width
    for step in range(max_new):
        nxt = pick(out)  # (B_active,)
        nxt_list = nxt.tolist()
        keep_rows: list[int] = []
        for row, (orig, t) in enumerate(zip(active, nxt_list)):
            if eos is not None and t == eos:
                finish[orig] = "eos"
                continue
            generated[orig].append(t)
            if cfg.stop and tok is not None and _find_stop(tok.decode(generated[orig]), cfg.stop) != -1:
                finish[orig] = "stop"
                continue
            keep_rows.append(row)
        if not keep_rows or step == max_new - 1:
            break
        if len(keep_rows) < len(active):
            sel = torch.tensor(keep_rows, dtype=torch.long, device=device)
            cache.select(sel)
            nxt, mask, next_pos = nxt[sel], mask[sel], next_pos[sel]
            active = [active[r] for r in keep_rows]
        seen += 1
        out = model(
            nxt[:, None],
            position_ids=next_pos[:, None],
            past_key_values=cache,
            use_cache=True,
            attention_mask=mask[:, :seen] if padded else None,
            logits_to_keep=1,
            compute_logits=screen is None,
        )
        next_pos = next_pos + 1
    return _completions(prompts, generated, finish, tok, truncated, cfg)


def _completions(
    prompts: list[list[int]],
    generated: list[list[int]],
    finish: list[str],
    tok: TokenizerAdapter | None,
    truncated: list[bool],
    cfg: GenerationConfig,
) -> list[Completion]:
    out = []
    for p, g, f, tr in zip(prompts, generated, finish, truncated):
        text = tok.decode(g) if tok is not None else ""
        if cfg.stop:
            cut = _find_stop(text, cfg.stop)
            if cut != -1:
                text, f = text[:cut], "stop"
        out.append(Completion(text=text, token_ids=g, finish_reason=f, prompt_tokens=len(p), truncated_prompt=tr))
    return out


def generate_completions(
    model: GPT, tokenizer: Any, prompts: Sequence[str], config: GenerationConfig | None = None
) -> list[Completion]:
    """Continue each prompt; a :class:`Completion` per prompt, in order."""
    tok = TokenizerAdapter(tokenizer)
    cfg = config or GenerationConfig()
    return generate_ids(model, [tok.encode(p) for p in prompts], cfg, tok)


@dataclass
class PromptRecord:
    """One prompt of a prompts file and where it came from (for the output row and for errors)."""

    line: int
    id: str
    prompt: str


def read_prompts(path: str | Path, key: str = "prompt") -> list[PromptRecord]:
    """Prompts from a JSONL file: one object per line with the prompt under ``key`` (and an optional
    ``id``), or a bare JSON string. Blank lines are skipped; anything else is an error naming the line.
    """
    import json

    p = Path(path)
    out: list[PromptRecord] = []
    try:
        fh = open(p, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read prompts file ({exc.strerror or exc})") from exc
    with fh:
        try:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{p}:{n}: not valid JSON ({exc.msg})") from exc
                if isinstance(rec, str):
                    out.append(PromptRecord(n, str(len(out)), rec))
                    continue
                if not isinstance(rec, dict) or not isinstance(rec.get(key), str):
                    raise DatasetError(f"{p}:{n}: expected an object with a string {key!r} field or a JSON string")
                rid = rec.get("id", len(out))
                out.append(PromptRecord(n, str(rid), rec[key]))
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{p}: not UTF-8 text ({exc.reason})") from exc
    return out


@dataclass
class BatchRun:
    """What :func:`generate_file` did: the completions in input order and the decoding rate."""

    records: list[PromptRecord]
    completions: list[Completion]
    seconds: float

    @property
    def generated_tokens(self) -> int:
        return sum(len(c.token_ids) for c in self.completions)

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0

    def rows(self) -> Iterator[dict[str, Any]]:
        for r, c in zip(self.records, self.completions):
            yield {"id": r.id, "completion": c.text, "finish_reason": c.finish_reason,
                   "prompt_tokens": c.prompt_tokens, "generated_tokens": len(c.token_ids),
                   "truncated_prompt": c.truncated_prompt}


def generate_file(
    model: GPT, tokenizer: Any, records: Sequence[PromptRecord], config: GenerationConfig
) -> BatchRun:
    """Decode every prompt, ``config.batch_size`` at a time (prompts of similar length together)."""
    import time

    t0 = time.perf_counter()
    completions = generate_completions(model, tokenizer, [r.prompt for r in records], config)
    return BatchRun(list(records), completions, time.perf_counter() - t0)


def generate(
    model: GPT, tokenizer: Any, prompts: Sequence[str] | str, config: GenerationConfig | None = None
) -> list[str]:
    """The generated text (without the prompt) for each prompt — the call the evaluation harness makes."""
    if isinstance(prompts, str):
        prompts = [prompts]
    return [c.text for c in generate_completions(model, tokenizer, prompts, config)]


__all__ = [
    "BatchRun",
    "Completion",
    "GenerationConfig",
    "PromptRecord",
    "ScreenedArgmax",
    "TokenizerAdapter",
    "generate",
    "generate_completions",
    "generate_file",
    "generate_ids",
    "read_prompts",
    "sample_next",
]
