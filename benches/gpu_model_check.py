"""GPU check: bf16 training throughput, MFU and peak memory of the `1b` preset.

Runs on a CUDA machine that has torch (and optionally transformers) but none of sctool's other
dependencies: the sctool package is loaded without its ``__init__`` (which needs the Rust extension
and polars), since the model code imports only torch. Prints one JSON line per configuration and
writes them to $OUT/gpu_model_check.json when OUT is set.

    python benches/gpu_model_check.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load_model_package() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bare_sctool import install_sctool_stub

    install_sctool_stub()


# H100 SXM dense bf16 peak (NVIDIA datasheet, without sparsity).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_for(name: str) -> float:
    for key, val in PEAK_FLOPS.items():
        if key in name:
            return val
    return float("nan")


def bench(model, batch: int, seq: int, steps: int = 10, warmup: int = 3) -> dict:
    import torch

    dev = "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=True)
    x = torch.randint(0, 49152, (batch, seq), device=dev)
    torch.cuda.reset_peak_memory_stats()
    for i in range(warmup + steps):
        if i == warmup:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(x, labels=x)
        loss = out.loss if hasattr(out, "loss") else out[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    return {"step_s": dt, "tokens_per_s": batch * seq / dt,
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30, "loss": float(loss)}


def main() -> None:
    import torch

    _load_model_package()
    from sctool.model.config import ModelConfig
    from sctool.model.gpt import GPT

    name = torch.cuda.get_device_name(0)
    peak = peak_for(name)
    results = []
    base = ModelConfig.from_yaml(REPO / "configs" / "model" / "1b.yaml")
    base = dataclasses.replace(base, embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
    fpt_by_seq: dict[int, float] = {}
    for backend, batch, seq in [("sdpa", 4, 2048), ("eager", 4, 2048), ("sdpa", 1, 8192)]:
        cfg = dataclasses.replace(base, attention=backend)
        torch.manual_seed(0)
        model = GPT(cfg).cuda()
        r = bench(model, batch, seq)
        fpt = fpt_by_seq.setdefault(seq, model.flops_per_token(seq))
        r.update(impl="sctool", backend=backend, batch=batch, seq=seq, params=model.num_params(),
                 mfu=r["tokens_per_s"] * fpt / peak, device=name, torch=torch.__version__)
        print(json.dumps(r), flush=True)
        results.append(r)
        del model
        torch.cuda.empty_cache()
    try:
        import transformers

        hf_cfg = transformers.GPTBigCodeConfig(
            vocab_size=base.vocab_size, n_positions=base.n_positions, n_embd=base.n_embd, n_layer=base.n_layer,
            n_head=base.n_head, n_inner=base.n_inner, multi_query=True, activation_function="gelu_pytorch_tanh",
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, attn_implementation="sdpa")
        torch.manual_seed(0)
        hf = transformers.GPTBigCodeForCausalLM(hf_cfg).cuda()
        r = bench(hf, 4, 2048)
        r.update(impl="transformers", backend="sdpa", batch=4, seq=2048, device=name,
                 transformers=transformers.__version__, mfu=r["tokens_per_s"] * fpt_by_seq[2048] / peak)
        print(json.dumps(r), flush=True)
        results.append(r)
    except Exception as exc:  # transformers missing or incompatible: the sctool numbers still stand
        print(json.dumps({"impl": "transformers", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    out = os.environ.get("OUT")
    if out:
        Path(out, "gpu_model_check.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
