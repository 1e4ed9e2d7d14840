"""Model directories: save, load, and export/import Hugging Face GPTBigCode checkpoints.

An sctool model directory is a Hugging Face GPTBigCode directory plus one file:

* ``sctool_model.json`` — our full :class:`ModelConfig` (attention backend, ``n_kv_heads``, …);
* ``config.json`` + ``model.safetensors`` — transformers' format and weight layout, so
  ``GPTBigCodeForCausalLM.from_pretrained(dir)`` loads it as is (omitted only for grouped-query
  models, which GPTBigCode cannot express; their weights then keep sctool's layout);
* ``tokenizer.json`` (+ ``tokenizer_config.json``, ``special_tokens_map.json``) when a tokenizer is given.

:func:`load_model` therefore reads both our directories and published StarCoder-family
checkpoints (single or sharded safetensors, or ``pytorch_model.bin``). Directories are written
to a staging name and renamed, so a crash never leaves a half-written model under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sctool.errors import ConfigError, InvalidInputError, OutputExistsError
from sctool.model.config import ModelConfig
from sctool.model.gpt import GPT
from sctool.model.hf import (
    from_hf_state_dict,
    hf_config_dict,
    hf_exportable,
    model_config_from_hf,
    to_hf_state_dict,
)

SCTOOL_MODEL_FILE = "sctool_model.json"
HF_CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
FORMAT_VERSION = 1
# StarCoder's tokenizer uses one special token for beginning, end and unknown.
EOS_TOKEN = "<|endoftext|>"

TokenizerSource = Any  # a path to tokenizer.json, a directory holding one, or a tokenizers.Tokenizer


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def _tokenizer_json(tokenizer: TokenizerSource) -> str | None:
    if tokenizer is None:
        return None
    if hasattr(tokenizer, "to_str") and hasattr(tokenizer, "token_to_id"):
        return str(tokenizer.to_str())
    p = Path(tokenizer)
    if p.is_dir():
        p = p / TOKENIZER_FILE
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{p}: tokenizer file not found") from exc


def _special_token_ids(tokenizer_json: str | None) -> tuple[int, str | None]:
    """(eos id, eos token) from the tokenizer's added tokens; StarCoder's ``<|endoftext|>`` is id 0."""
    if tokenizer_json is None:
        return 0, None
    data = json.loads(tokenizer_json)
    for tok in data.get("added_tokens", []):
        if tok.get("content") == EOS_TOKEN:
            return int(tok["id"]), EOS_TOKEN
    vocab = (data.get("model") or {}).get("vocab") or {}
    if isinstance(vocab, dict) and EOS_TOKEN in vocab:
        return int(vocab[EOS_TOKEN]), EOS_TOKEN
    return 0, None


def _write_tokenizer(staging: Path, tokenizer_json: str, eos_token: str | None, n_positions: int) -> None:
    (staging / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
    special = {}
    if eos_token is not None:
        special = {"bos_token": eos_token, "eos_token": eos_token, "unk_token": eos_token}
    tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": n_positions, **special}
    (staging / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n", encoding="utf-8")
    (staging / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")


def _prepare_output(out_dir: Path, overwrite: bool) -> Path:
    if out_dir.exists() and not overwrite:
        raise OutputExistsError(f"{out_dir}: output exists (pass overwrite=True / --overwrite to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}.", dir=out_dir.parent))
    from sctool.io.atomic import current_umask

    staging.chmod(0o777 & ~current_umask())  # the model directory gets the umask's mode, not mkdtemp's 0700
    return staging


def _commit(staging: Path, out_dir: Path) -> None:
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".old-{out_dir.name}.", dir=out_dir.parent))
        os.replace(out_dir, old / "x")
        os.replace(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out_dir)


def _write_model_dir(
    model: GPT,
    tokenizer: TokenizerSource,
    out_dir: str | Path,
    *,
    overwrite: bool,
    dtype: torch.dtype | None,
    hf_only: bool,
    extra: Mapping[str, Any] | None,
) -> Path:
    from safetensors.torch import save_file

    cfg = model.config
    out = Path(out_dir)
    tok_json = _tokenizer_json(tokenizer)
    eos_id, eos_token = _special_token_ids(tok_json)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    store_dtype = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
    exportable = hf_exportable(cfg) is None
    if exportable:
        weights = to_hf_state_dict(state, cfg)
    else:
        weights = {k: v.contiguous() for k, v in state.items()
                   if not (k == "lm_head.weight" and cfg.tie_word_embeddings)}
    weights = {k: v.cpu() for k, v in weights.items()}

    staging = _prepare_output(out, overwrite)
    try:
        save_file(weights, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        from sctool.io.checksum import write_checksum  # safetensors checks its header, not the tensors

        write_checksum(staging / WEIGHTS_FILE)
        if exportable:
            hf_cfg = hf_config_dict(cfg, bos_token_id=eos_id, eos_token_id=eos_id, dtype=store_dtype)
            (staging / HF_CONFIG_FILE).write_text(json.dumps(hf_cfg, indent=2) + "\n", encoding="utf-8")
            gen = {"bos_token_id": eos_id, "eos_token_id": eos_id}
            (staging / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n", encoding="utf-8")
        if not hf_only:
            meta = {
                "format": "sctool-model",
                "format_version": FORMAT_VERSION,
                "weights_layout": "gpt_bigcode" if exportable else "sctool",
                "model": cfg.to_dict(),
                "eos_token_id": eos_id,
                **(dict(extra) if extra else {}),
            }
            (staging / SCTOOL_MODEL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if tok_json is not None:
            _write_tokenizer(staging, tok_json, eos_token, cfg.n_positions)
        _commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def save_model_dir(
    model: GPT,
    tokenizer: TokenizerSource,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and the tokenizer, if not None) as an sctool model directory.

    ``dtype`` converts the stored weights (e.g. ``torch.bfloat16`` halves the size); ``extra`` is
    JSON-able provenance (training step, data) stored in ``sctool_model.json``.
    """
    return _write_model_dir(model, tokenizer, out_dir, overwrite=overwrite, dtype=dtype, hf_only=False, extra=extra)


def export_hf(
    model: GPT | str | Path,
    out_dir: str | Path,
    tokenizer: TokenizerSource = None,
    *,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a directory ``transformers.GPTBigCodeForCausalLM.from_pretrained`` loads.

    ``model`` is a :class:`GPT` or a model directory; a directory's own tokenizer is exported with
    it unless ``tokenizer`` is given.
    """
    if not isinstance(model, GPT):
        src = Path(model)
        if tokenizer is None and (src / TOKENIZER_FILE).exists():
            tokenizer = src / TOKENIZER_FILE
        model = load_model(src)
    reason = hf_exportable(model.config)
    if reason:
        raise ConfigError(f"cannot export to Hugging Face GPTBigCode: {reason}")
    return _write_model_dir(model, tokenizer, out_dir, overwrite=overwrite, dtype=dtype, hf_only=True, extra=None)


def import_hf(
    hf_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
    attention: str | None = None,
) -> Path:
    """Convert a Hugging Face GPTBigCode directory (e.g. a StarCoder checkpoint) into an sctool one."""
    src = Path(hf_dir)
    model = load_model(src, attention=attention)
    tok = src / TOKENIZER_FILE
    return save_model_dir(
        model,
        tok if tok.exists() else None,
        out_dir,
        overwrite=overwrite,
        dtype=dtype,
        extra={"imported_from": str(src)},
    )


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: expected a JSON object")
    return data


def is_model_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and ((p / SCTOOL_MODEL_FILE).exists() or (p / HF_CONFIG_FILE).exists())


def load_model_config(path: str | Path) -> tuple[ModelConfig, str]:
    """The model's config and the weight layout (``gpt_bigcode`` or ``sctool``) of a model directory."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: model directory not found")
    if not p.is_dir():
        raise InvalidInputError(f"{p}: a model is a directory (sctool model or Hugging Face GPTBigCode)")
    ours = p / SCTOOL_MODEL_FILE
    if ours.exists():
        meta = _read_json(ours)
        if meta.get("format") != "sctool-model":
            raise InvalidInputError(f"{ours}: not an sctool model file (format={meta.get('format')!r})")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise InvalidInputError(
                f"{ours}: format_version {meta.get('format_version')} is newer than this sctool supports "
                f"({FORMAT_VERSION})"
            )
        cfg = ModelConfig.from_dict(meta.get("model") or {}, where=str(ours))
        return cfg, str(meta.get("weights_layout", "gpt_bigcode"))
    hf = p / HF_CONFIG_FILE
    if hf.exists():
        return model_config_from_hf(_read_json(hf), where=str(hf)), "gpt_bigcode"
    raise InvalidInputError(f"{p}: neither {SCTOOL_MODEL_FILE} nor {HF_CONFIG_FILE} found; not a model directory")


def _weight_files(p: Path) -> list[Path]:
    single = p / WEIGHTS_FILE
    if single.exists():
        return [single]
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = p / index_name
        if index.exists():
            wm = _read_json(index).get("weight_map")
            if not isinstance(wm, dict):
                raise InvalidInputError(f"{index}: no weight_map")
            return [p / f for f in sorted(set(wm.values()))]
    binf = p / "pytorch_model.bin"
    if binf.exists():
        return [binf]
    raise FileNotFoundError(f"{p}: no weights (model.safetensors, a sharded index or pytorch_model.bin)")


def _read_weights(files: list[Path]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from sctool.io.checksum import verify_against_sidecar

    state: dict[str, torch.Tensor] = {}
    for f in files:
        if f.exists():
            verify_against_sidecar(f)
        try:
            if f.suffix == ".safetensors":
                part = load_file(str(f))
            else:
                part = torch.load(f, map_location="cpu", weights_only=True)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{f}: weight file not found") from exc
        except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as exc:
            raise InvalidInputError(f"{f}: cannot read weights: {exc}") from exc
        if not isinstance(part, dict):
            raise InvalidInputError(f"{f}: expected a state dict")
        state.update(part)
    return state


def load_model(
    path: str | Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    attention: str | None = None,
) -> GPT:
    """Load an sctool model directory or a Hugging Face GPTBigCode directory, in eval mode.

    ``dtype`` None keeps the stored dtype; ``attention`` overrides the backend (it never changes
    results, so an imported checkpoint can run with any of them).
    """
    p = Path(path)
    cfg, layout = load_model_config(p)
    if attention is not None:
        cfg = cfg.with_changes(attention=attention)
    files = _weight_files(p)
    raw = _read_weights(files)
    where = str(files[0] if len(files) == 1 else p)
    state = from_hf_state_dict(raw, cfg, where) if layout == "gpt_bigcode" else dict(raw)
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    with torch.device("meta"):
        model = GPT(cfg)
    expected = {k for k in model.state_dict() if not (cfg.tie_word_embeddings and k == "lm_head.weight")}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise InvalidInputError(
            f"{where}: weights do not match the config: missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )
    for name, t in model.state_dict().items():
        if name in state and tuple(state[name].shape) != tuple(t.shape):
            raise InvalidInputError(
                f"{where}: {name} has shape {tuple(state[name].shape)}, the config implies {tuple(t.shape)}"
            )
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=False, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.transformer.wte.weight
    return model.to(device).eval()


def find_tokenizer_file(path: str | Path) -> Path | None:
    """The ``tokenizer.json`` stored with a model directory, if any."""
    p = Path(path)
    cand = p / TOKENIZER_FILE if p.is_dir() else p
    return cand if cand.exists() and cand.name.endswith(".json") else None


__all__ = [
    "SCTOOL_MODEL_FILE",
    "export_hf",
    "find_tokenizer_file",
    "import_hf",
    "is_model_dir",
    "load_model",
    "load_model_config",
    "save_model_dir",
]
