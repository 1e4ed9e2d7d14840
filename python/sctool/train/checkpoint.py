"""Getting a model out of a training checkpoint (and into one), for export-hf, import-hf and init_from.

A training checkpoint is Lightning's ``.ckpt``: ``state_dict`` holds the model under ``model.``,
``hyper_parameters["model"]`` its :class:`ModelConfig`. Model directories (sctool's or Hugging Face
GPTBigCode ones) are read through the model developer's :mod:`sctool.model.checkpoint`, so every
place that takes "weights" accepts either.

Every checkpoint the trainer writes gets a ``<name>.sha256`` beside it (``sha256sum -c`` reads it),
checked before the checkpoint is loaded: ``torch.load`` does not check the zip's CRCs, so a
checkpoint with bytes overwritten would otherwise load silently and train on garbage. A checkpoint
without a checksum file (from an older sctool) is checked against the CRC-32 of every zip member.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from sctool.errors import ConfigError, InvalidInputError
from sctool.io.checksum import checksum_path, verify_against_sidecar, write_checksum
from sctool.model.checkpoint import is_model_dir, load_model
from sctool.model.config import ModelConfig
from sctool.model.gpt import GPT

PREFIX = "model."


def resolve_checkpoint(path: str | Path) -> Path:
    """A ``.ckpt`` file as given; a run directory means its ``checkpoints/last.ckpt``."""
    p = Path(path)
    if p.is_file():
        return p
    for cand in (p / "checkpoints" / "last.ckpt", p / "last.ckpt"):
        if cand.exists():
            return cand.resolve()
    if p.is_dir():
        raise FileNotFoundError(f"{p}: no checkpoints/last.ckpt in this run directory")
    raise FileNotFoundError(f"{p}: checkpoint not found")


def verify_checkpoint(path: str | Path) -> None:
    """Raise :class:`InvalidInputError` naming ``path`` unless it is an intact checkpoint file."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InvalidInputError(f"{p}: cannot read checkpoint: {exc.strerror or exc}") from exc
    if p.is_dir():
        return  # a sharded (distributed) checkpoint directory: its own format checks it
    if size == 0:
        raise InvalidInputError(f"{p}: checkpoint is empty (0 bytes; the run was killed while writing it?)")
    if verify_against_sidecar(p):
        return
    try:
        with zipfile.ZipFile(p) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidInputError(f"{p}: not an intact checkpoint (truncated or corrupt zip): {exc}") from exc
    if bad is not None:
        raise InvalidInputError(f"{p}: checkpoint member {bad!r} fails its CRC check (corrupt file)")


def newest_intact_checkpoint(ckpt_dir: str | Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the newest checkpoint of a run that verifies, [(newer ones that did not, why)]).

    ``last.ckpt``'s target comes first, then ``step-*.ckpt`` from the highest step down.
    """
    d = Path(ckpt_dir)
    cands: list[Path] = []
    last = d / "last.ckpt"
    if last.exists() or last.is_symlink():
        cands.append(last.resolve() if last.is_symlink() else last)
    cands += [c for c in sorted(d.glob("step-*.ckpt"), reverse=True) if c not in cands]
    rejected: list[tuple[Path, str]] = []
    for c in cands:
        try:
            verify_checkpoint(c)
        except InvalidInputError as exc:
            rejected.append((c, str(exc)))
            continue
        return c, rejected
    return None, rejected


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    p = resolve_checkpoint(path)
    verify_checkpoint(p)
    try:
        try:
            ckpt = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError:
            # Our own checkpoints hold Lightning loop state beyond tensors; a trusted local file.
            ckpt = torch.load(p, map_location="cpu", weights_only=False, mmap=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise InvalidInputError(f"{p}: cannot read checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise InvalidInputError(f"{p}: not a training checkpoint (no state_dict)")
    return ckpt


def model_state_from_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """(model state dict, model config) from a ``.ckpt``, a run directory or a model directory."""
    p = Path(path)
    if is_model_dir(p) and not (p / "checkpoints").exists():
        model = load_model(p)
        return dict(model.state_dict()), model.config
    ckpt = read_checkpoint(p)
    hp = ckpt.get("hyper_parameters") or {}
    if "model" not in hp:
        raise InvalidInputError(f"{p}: checkpoint has no model config (hyper_parameters.model)")
    try:
        config = ModelConfig.from_dict(hp["model"], where=f"{p}:hyper_parameters.model")
    except ConfigError as exc:
        raise InvalidInputError(str(exc)) from exc
    state = {k[len(PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(PREFIX)}
    if not state:
        raise InvalidInputError(f"{p}: checkpoint holds no model weights")
    return state, config


def model_from_checkpoint(path: str | Path) -> GPT:
    """A :class:`GPT` in eval mode with the checkpoint's weights."""
    state, config = model_state_from_checkpoint(path)
    model = GPT(config)
    if config.tie_word_embeddings:
        state = {k: v for k, v in state.items() if k != "lm_head.weight"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise InvalidInputError(f"{path}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


def run_tokenizer(path: str | Path) -> str | None:
    """The tokenizer a run trained with, from the ``config.yaml`` next to its checkpoints."""
    import yaml

    p = resolve_checkpoint(path)
    for d in (p.parent, p.parent.parent):
        cfg = d / "config.yaml"
        if cfg.exists():
            try:
                data = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                return None
            tok = (data.get("data") or {}).get("tokenizer")
            return str(tok) if tok and Path(tok).exists() else None
    return None


__all__ = [
    "checksum_path", "model_from_checkpoint", "model_state_from_checkpoint", "newest_intact_checkpoint",
    "read_checkpoint", "resolve_checkpoint", "run_tokenizer", "verify_checkpoint", "write_checksum",
]
