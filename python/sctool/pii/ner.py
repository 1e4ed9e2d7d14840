"""Optional: merge a Hugging Face token-classification model's spans (StarPII-style) with the rules'.

StarCoder ran StarPII (a StarEncoder + linear head) over 512-token windows without overlap and
post-filtered its entities (names of two or more words, keys longer than 8 characters, passwords
and e-mails longer than 3, IPs that parse and are global). This module does the same for any local
model directory, so a model can add recall on free-form names and passwords while the rules keep
their precision: where a model span overlaps a rule span, the rule's span is kept.

Needs ``torch`` and ``transformers`` (imported only here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sctool.errors import ConfigError
from sctool.pii import PII_TYPES, SpanTable

# Labels a StarPII-style model may use for our types; *_EXAMPLE, AMBIGUOUS and ID are ignored.
LABEL_ALIASES = {"IP": "IP_ADDRESS", "IPADDRESS": "IP_ADDRESS", "USER": "USERNAME", "PWD": "PASSWORD"}
MIN_LENGTH = {"EMAIL": 4, "KEY": 9, "PASSWORD": 4, "USERNAME": 2, "NAME": 3, "IP_ADDRESS": 3}


def label_type(label: str) -> str | None:
    """``B-NAME`` / ``I-NAME`` / ``NAME`` -> ``NAME``; anything outside our types -> None."""
    base = label.split("-", 1)[1] if label[:2] in ("B-", "I-", "E-", "S-") else label
    base = LABEL_ALIASES.get(base.upper(), base.upper())
    return base if base in PII_TYPES else None


def keep_entity(kind: str, value: str) -> bool:
    """StarCoder's post-filters on model entities."""
    if len(value) < MIN_LENGTH.get(kind, 1):
        return False
    if kind == "NAME":
        return len(value.split()) >= 2
    if kind == "IP_ADDRESS":
        try:
            return ipaddress.ip_address(value).is_global
        except ValueError:
            return False
    return True


@dataclass
class NerModel:
    """A local token-classification model; ``predict`` gives (start, end, type) spans per text."""

    path: Path
    tokenizer: Any
    model: Any
    window: int = 512
    batch_size: int = 16
    rule_name: str = field(default="ner")

    @classmethod
    def load(cls, path: str | Path, *, window: int = 512, batch_size: int = 16, device: str = "cpu") -> NerModel:
        path = Path(path)
        if not path.is_dir():
            raise ConfigError(f"--ner-model {path}: not a directory")
        try:
            from transformers import AutoModelForTokenClassification, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError("--ner-model needs `transformers` and `torch` installed") from exc
        try:
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForTokenClassification.from_pretrained(path).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--ner-model {path}: cannot load a token-classification model: {exc}") from exc
        if not getattr(tok, "is_fast", False):
            raise ConfigError(f"--ner-model {path}: needs a fast tokenizer (character offsets)")
        return cls(path, tok, model, window=window, batch_size=batch_size, rule_name=f"ner:{path.name}")

    def predict(self, texts: list[str | None]) -> list[list[tuple[int, int, str]]]:
        import torch

        id2label = {int(k): v for k, v in self.model.config.id2label.items()}
        out: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        # Windows of `window` tokens, no overlap (as StarPII's inference did).
        windows: list[tuple[int, list[int], list[tuple[int, int]]]] = []
        for i, text in enumerate(texts):
            if not text:
                continue
            enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
            ids, offs = enc["input_ids"], enc["offset_mapping"]
            step = self.window - 2
            for j in range(0, len(ids), step):
                windows.append((i, ids[j : j + step], [tuple(o) for o in offs[j : j + step]]))
        cls_id = self.tokenizer.cls_token_id
        sep_id = self.tokenizer.sep_token_id
        pad_id = self.tokenizer.pad_token_id or 0
        for b in range(0, len(windows), self.batch_size):
            chunk = windows[b : b + self.batch_size]
            rows = [([cls_id] if cls_id is not None else []) + ids + ([sep_id] if sep_id is not None else [])
                    for _, ids, _ in chunk]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            attn = torch.zeros((len(rows), width), dtype=torch.long)
            for k, r in enumerate(rows):
                input_ids[k, : len(r)] = torch.tensor(r)
                attn[k, : len(r)] = 1
            with torch.no_grad():
                logits = self.model(input_ids=input_ids, attention_mask=attn).logits
            pred = logits.argmax(-1).cpu().numpy()
            shift = 1 if cls_id is not None else 0
            for k, (doc, _ids, offs) in enumerate(chunk):
                labels = [id2label.get(int(p), "O") for p in pred[k, shift : shift + len(offs)]]
                out[doc].extend(self._entities(texts[doc] or "", labels, offs))
        return out

    @staticmethod
    def _entities(text: str, labels: list[str], offs: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        ents: list[tuple[int, int, str]] = []
        cur: list[Any] | None = None
        for label, (s, e) in zip(labels, offs):
            kind = label_type(label)
            begins = label.startswith(("B-", "S-"))
            if kind is not None and cur is not None and cur[2] == kind and not begins:
                cur[1] = e
                continue
            if cur is not None:
                ents.append((cur[0], cur[1], cur[2]))
                cur = None
            if kind is not None:
                cur = [s, e, kind]
        if cur is not None:
            ents.append((cur[0], cur[1], cur[2]))
        kept = []
        for s, e, kind in ents:
            value = text[s:e]
            strip = value.strip().strip("\"'`<>()[]{},;:")
            if not strip:
                continue
            s2 = s + value.index(strip)
            e2 = s2 + len(strip)
            if keep_entity(kind, strip):
                kept.append((s2, e2, kind))
        return kept


def merge_spans(table: SpanTable, model_spans: list[list[tuple[int, int, str]]], rule_name: str) -> SpanTable:
    """Add model spans that overlap no rule span (nor each other) to ``table``."""
    rule_names = (*table.rule_names, rule_name)
    ridx = len(rule_names) - 1
    per: dict[int, list[tuple[int, int, int, int]]] = {}
    for d, s, e, t, r in zip(table.doc.tolist(), table.start.tolist(), table.end.tolist(), table.type.tolist(),
                             table.rule.tolist()):
        per.setdefault(d, []).append((s, e, t, r))
    for d, spans in enumerate(model_spans):
        taken = per.setdefault(d, [])
        for s, e, kind in spans:
            if all(e <= ts or s >= te for ts, te, _, _ in taken):
                taken.append((s, e, PII_TYPES.index(kind), ridx))
    rows = [(d, *sp) for d in sorted(per) for sp in sorted(per[d])]
    arr = np.array(rows, dtype=np.int64).reshape(-1, 5)
    col = [np.ascontiguousarray(arr[:, i]) for i in range(5)]
    return SpanTable(table.n_docs, col[0], col[1], col[2], col[3].astype(np.uint8), col[4], rule_names)


__all__ = ["NerModel", "keep_entity", "label_type", "merge_spans"]
