"""Pretraining throughput: tokens/s and peak memory per training step.

For each preset (tiny, base), attention layout (full, factorised) and token count
(64 .. 4096 tokens = channels x patches), one masked-token training step (forward, backward,
AdamW update; symmetric masks, so the backbone sees 2x the batch) is timed. Every configuration
runs in a fresh subprocess. Peak memory is the most tensor memory allocated at once during one
step (after a warm-up step, so the AdamW state exists), above what was allocated before it:
- CPU: from torch.profiler's memory timeline of one extra profiled step (allocations and frees
  of every tensor, replayed in order; deterministic, so repeats give the same figure). Resident
  set size is not used: glibc keeps freed blocks and ``ru_maxrss`` is the lifetime peak, so its
  differences were noise of the size of the effect (52-68 vs 44-61 MB in repeats);
- CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the steps.
The baseline named in the JSON is full attention at the same preset and token count
(``speedup_vs_full`` = factorised tokens/s / full tokens/s).

    python scripts/bench_pretrain.py --json runs/bench_pretrain.json [--device cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

LAYOUTS = {64: (8, 8), 256: (16, 16), 1024: (32, 32), 4096: (64, 64)}  # tokens -> (channels, patches)


def cpu_peak_bytes(step) -> int:
    """Peak tensor bytes live at once while ``step()`` runs, above those live before it (CPU)."""
    import tempfile
    import warnings

    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        step()
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # export_memory_timeline: deprecated for CUDA snapshots, still the CPU way
        path = os.path.join(d, "timeline.json")
        prof.export_memory_timeline(path, device="cpu")
        with open(path) as fh:
            _, sizes = json.load(fh)  # [times], [[bytes per category] per time]
    return int(max((sum(s) for s in sizes), default=0))


def one(preset: str, attention: str, tokens: int, device: str, batch: int, reps: int, threads: int) -> dict:
    import torch

    from neurosig.models import FoundationModel, foundation_config

    torch.set_num_threads(threads)
    C, N = LAYOUTS[tokens]
    ks = [256] * 4
    torch.manual_seed(0)
    model = FoundationModel(foundation_config(preset, codebook_sizes=ks, objectives=["masked"], backbone=dict(attention=attention))).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 256, (batch, C, N, 4), generator=g).to(device)
    pos = (torch.randn(batch, C, 3, generator=g) * 0.05).to(device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)

    def step(seed):
        with amp:
            out = model.compute_losses(codes, pos, generator=torch.Generator().manual_seed(seed))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()

    step(0)  # warm-up (allocations, kernels)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    for r in range(reps):
        step(r + 1)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps  # timed without the profiler
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = cpu_peak_bytes(lambda: step(reps + 1))
    return {
        "preset": preset, "attention": attention, "tokens": tokens, "channels": C, "patches": N, "batch": batch,
        "device": device, "threads": threads, "params_backbone": sum(p.numel() for p in model.backbone.parameters()),
        "step_s": dt, "tokens_per_s": batch * tokens / dt, "peak_mem_mb": max(peak, 0) / 2**20,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="tokens/s and peak memory per pretraining step")
    ap.add_argument("--json", metavar="PATH", help="write the results here")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--presets", default="tiny,base")
    ap.add_argument("--tokens", default="64,256,1024,4096")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per configuration")
    ap.add_argument("--_one", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._one:
        preset, attention, tokens = a._one.split(":")
        print(json.dumps(one(preset, attention, int(tokens), a.device, a.batch, a.reps, a.threads)))
        return 0
    rows = []
    for preset in a.presets.split(","):
        for tokens in map(int, a.tokens.split(",")):
            for attention in ("full", "factorised"):
                cmd = [sys.executable, __file__, "--_one", f"{preset}:{attention}:{tokens}", "--device", a.device,
                       "--batch", str(a.batch), "--reps", str(a.reps), "--threads", str(a.threads)]
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
                    if p.returncode != 0:
                        row = {"preset": preset, "attention": attention, "tokens": tokens, "error": p.stderr.strip().splitlines()[-1][:200]}
                    else:
                        row = json.loads(p.stdout.strip().splitlines()[-1])
                except subprocess.TimeoutExpired:
                    row = {"preset": preset, "attention": attention, "tokens": tokens, "error": f"timeout after {a.timeout:.0f} s"}
                rows.append(row)
                msg = f"{row.get('tokens_per_s', float('nan')):10.0f} tok/s  {row.get('peak_mem_mb', float('nan')):8.1f} MB" if "error" not in row else row["error"]
                print(f"{preset:5s} {attention:10s} {tokens:5d} tokens: {msg}", flush=True)
    by = {(r["preset"], r["attention"], r["tokens"]): r for r in rows}
    for r in rows:
        full = by.get((r["preset"], "full", r["tokens"]))
        if "tokens_per_s" in r and full and "tokens_per_s" in full:
            r["speedup_vs_full"] = r["tokens_per_s"] / full["tokens_per_s"]
            r["mem_ratio_vs_full"] = r["peak_mem_mb"] / max(full["peak_mem_mb"], 1e-9)
    res = {"baseline": "full attention, same preset and token count", "results": rows}
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
