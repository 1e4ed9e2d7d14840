"""GPU checks for the model and generation (run by ``test_gpu.py`` under pytest, or standalone on a GPU box).

Standalone (a CUDA machine with torch, maybe transformers, none of sctool's other dependencies):

    python tests/model/gpu_check.py        # prints JSON lines; writes $OUT/gpu_infer_check.json if OUT is set

The sctool package is then loaded without its ``__init__`` (which needs the Rust extension), as the
model and generation code import only torch.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def ensure_sctool() -> None:
    try:
        import sctool.model  # noqa: F401
    except ImportError:
        for name in [m for m in sys.modules if m == "sctool" or m.startswith("sctool.")]:
            del sys.modules[name]
        pkg = types.ModuleType("sctool")
        pkg.__path__ = [str(REPO / "python" / "sctool")]
        sys.modules["sctool"] = pkg
        native = types.ModuleType("sctool._native")
        base = type("SctoolError", (Exception,), {})
        native.SctoolError = base
        for name in ("InvalidInputError", "ConfigError", "InternalError"):
            setattr(native, name, type(name, (base,), {}))
        sys.modules["sctool._native"] = native


def backends_agree() -> list[dict[str, Any]]:
    """Every backend in bf16 on the GPU against the fp32 eager reference, packed documents included."""
    import torch

    from sctool.model import GPT, ModelConfig

    out = []
    for n_kv in (1, 2):
        cfg = ModelConfig(vocab_size=1000, n_positions=1024, n_embd=256, n_layer=4, n_head=8, n_kv_heads=n_kv,
                          embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, attention="eager")
        torch.manual_seed(0)
        ref_model = GPT(cfg).cuda().eval()
        x = torch.randint(0, 1000, (4, 512), device="cuda")
        doc = torch.cumsum((torch.rand(4, 512, device="cuda") < 0.01).long(), dim=1)
        with torch.no_grad():
            ref = ref_model(x, doc_ids=doc).logits.float()
        for backend in ("sdpa", "flex", "flash", "eager"):
            m = GPT(cfg.with_changes(attention=backend)).cuda()
            m.load_state_dict(ref_model.state_dict())
            m.eval()
            row: dict[str, Any] = {"check": "backend", "backend": backend, "n_kv_heads": n_kv}
            try:
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
                    got = m(x, doc_ids=doc).logits.float()
                row["max_abs_diff_bf16_vs_fp32_eager"] = float((got - ref).abs().max())
                m.train()
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = m(x, labels=x, doc_ids=doc).loss
                loss.backward()
                row["train_loss"] = float(loss)
                row["grad_finite"] = all(bool(torch.isfinite(p.grad).all()) for p in m.parameters())
            except Exception as exc:  # report, keep checking the others
                row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            out.append(row)
    try:
        import flash_attn  # noqa: F401

        out.append({"check": "flash_attn_installed", "value": True})
    except ImportError:
        out.append({"check": "flash_attn_installed", "value": False})
    return out


def batched_generation_equals_unbatched() -> dict[str, Any]:
    import torch

    from sctool.infer import GenerationConfig, generate_ids
    from sctool.model import GPT, ModelConfig

    cfg = ModelConfig(vocab_size=500, n_positions=256, n_embd=64, n_layer=2, n_head=4, n_kv_heads=1,
                      embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.3)
    torch.manual_seed(0)
    m = GPT(cfg).cuda().eval()
    prompts = [[5, 6, 7], [1], [9] * 20, [3, 4, 5, 6, 7, 8]]
    gc = GenerationConfig(max_new_tokens=16, stop_at_eos=False, batch_size=4)
    batched = [c.token_ids for c in generate_ids(m, prompts, gc)]
    alone = [generate_ids(m, [p], gc)[0].token_ids for p in prompts]
    return {"check": "batched_equals_unbatched_cuda_fp32", "ok": batched == alone}


def decode_speed(preset: str = "1b", new: int = 128, prompt: int = 512) -> list[dict[str, Any]]:
    """Greedy decode of a random-weight preset in bf16, ours vs transformers (if importable)."""
    import torch

    from sctool.infer import GenerationConfig, generate_ids
    from sctool.model import GPT, ModelConfig
    from sctool.model.hf import hf_config_dict, to_hf_state_dict

    yaml_free = {
        "1b": dict(vocab_size=49152, n_positions=8192, n_embd=2048, n_layer=24, n_head=16, n_kv_heads=1,
                   n_inner=8192),
    }[preset]
    cfg = ModelConfig(**yaml_free, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        ours = GPT(cfg).to(torch.bfloat16).eval()
    hf = None
    try:
        import transformers

        hcfg = transformers.GPTBigCodeConfig(**{k: v for k, v in hf_config_dict(cfg).items()
                                                 if k not in ("architectures", "model_type", "dtype")})
        with torch.device("cuda"):
            hf = transformers.GPTBigCodeForCausalLM(hcfg).to(torch.bfloat16).eval()
        hf.load_state_dict(to_hf_state_dict(ours.state_dict(), cfg), strict=False)
        hf.lm_head.weight = hf.transformer.wte.weight
    except Exception as exc:
        hf = None
        hf_error = f"{type(exc).__name__}: {exc}"[:300]
    rows = []
    for b in (1, 8):
        x = torch.randint(1, 49152, (b, prompt), device="cuda", generator=torch.Generator("cuda").manual_seed(b))
        gc = GenerationConfig(max_new_tokens=new, stop_at_eos=False, batch_size=b)
        generate_ids(ours, x[:, :32].tolist(), GenerationConfig(max_new_tokens=4, stop_at_eos=False))
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        mine = [c.token_ids for c in generate_ids(ours, x.tolist(), gc)]
        torch.cuda.synchronize()
        t_ours = time.perf_counter() - t0
        row: dict[str, Any] = {"check": "decode_bf16", "preset": preset, "batch": b, "prompt": prompt, "new": new,
                               "sctool_tokens_per_s": b * new / t_ours}
        if hf is not None:
            with torch.inference_mode():
                hf.generate(x[:, :32], max_new_tokens=4, do_sample=False, pad_token_id=0)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                ref = hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=new, min_new_tokens=new,
                                  do_sample=False, pad_token_id=0)
                torch.cuda.synchronize()
            t_hf = time.perf_counter() - t0
            theirs = ref[:, prompt:].tolist()
            row.update({
                "transformers_tokens_per_s": b * new / t_hf,
                "ratio": t_hf / t_ours,
                "greedy_identical": mine == theirs,
                "first_divergence": next((i for i, (a, c) in enumerate(zip(mine[0], theirs[0])) if a != c), None),
            })
        else:
            row["transformers"] = hf_error
        rows.append(row)
    return rows


def main() -> int:
    ensure_sctool()
    import torch

    results: list[dict[str, Any]] = [{"check": "device", "name": torch.cuda.get_device_name(0),
                                      "torch": torch.__version__}]
    print(json.dumps(results[0]), flush=True)
    for fn in (backends_agree, batched_generation_equals_unbatched, decode_speed):
        try:
            got = fn()
            rows = got if isinstance(got, list) else [got]
        except Exception as exc:
            rows = [{"check": fn.__name__, "error": f"{type(exc).__name__}: {exc}"[:500]}]
        results.extend(rows)
        for row in rows:
            print(json.dumps(row), flush=True)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_infer_check.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
