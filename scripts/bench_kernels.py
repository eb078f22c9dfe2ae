#!/usr/bin/env python
"""Benchmark neurosig's fused kernels against the best PyTorch paths and the H100 limits.

    python scripts/bench_kernels.py --json bench_kernels.json [--device cuda]

For each kernel at neurosig's shapes (STFT: 256 x 19 ch x 10 s at 200 Hz, n_fft 200, hop 100;
RVQ: N = 256*19*10 vectors, 8 levels x 8192 x 64; attention: 256-4096 tokens, head dim 64) it
times the Triton kernel and the PyTorch baseline (torch.stft + abs + angle; the unfused cdist
quantizer and the chunked matmul reference; SDPA), their ratio, and the fraction of the
hardware limit (bytes/s vs 3.0 TB/s, FLOP/s vs 798 TFLOP/s), plus the end-to-end tokenizer
encode throughput with kernels vs without, in the same run. On CPU only the PyTorch paths are
timed (``"device": "cpu"``) at reduced shapes unless ``--full-shapes``: Triton under the
interpreter is not timed (with ``TRITON_INTERPRET=1`` not on CUDA either; the JSON records
``interpreted`` and ``fp32_dot_precision``). JSON keys are documented in
``neurosig/kernels/bench.py``. ``--device`` takes cpu, cuda or cuda:N and ``--only`` one or more of
stft rvq attention e2e; anything else is a one-line error (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path


def _encode_throughput(device, impl, *, batch, channels, seconds, sfreq=200.0, kind="tf", iters=3):
    """Tokenizer encode windows/s with every kernel call forced to ``impl``."""
    import torch

    from neurosig.kernels import kernel_impl
    from neurosig.tokenizers import build_tokenizer

    tok = build_tokenizer(kind, {}).to(device).eval()
    g = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.randn(batch, channels, int(seconds * sfreq), generator=g) * 20).to(device)  # (B, C, T) uV
    ang = torch.rand(channels, 2, generator=g) * torch.tensor([3.1416, 1.5708])  # scalp-like positions
    pos = 0.09 * torch.stack([ang[:, 0].cos() * ang[:, 1].cos(), ang[:, 0].sin() * ang[:, 1].cos(), ang[:, 1].sin()], -1)
    pos = pos[None].expand(batch, -1, -1).to(device)  # (B, C, 3) metres
    ch_type = torch.zeros(batch, channels, dtype=torch.long, device=device)  # eeg
    ch_mask = torch.ones(batch, channels, dtype=torch.bool, device=device)
    from neurosig.kernels.bench import time_ms

    with torch.no_grad(), kernel_impl(impl):
        ms = time_ms(lambda: tok.encode(x, pos=pos, ch_type=ch_type, ch_mask=ch_mask), device, warmup=1, iters=iters)
    return {"tokenizer": kind, "impl": impl, "shape": f"{batch}x{channels}x{x.shape[-1]}", "encode_ms": round(ms, 3), "windows_per_s": round(batch / (ms * 1e-3), 2)}


STEPS = ("stft", "rvq", "attention", "e2e")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``bench_kernels: error: ...``."""

    def error(self, message):  # noqa: D102
        print(f"bench_kernels: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _device_arg(value: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {value!r}")
    return value


def main(argv=None) -> int:
    ap = _Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--device", type=_device_arg, default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    ap.add_argument("--full-shapes", action="store_true", help="on CPU, run neurosig's full shapes too (slow)")
    ap.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS), metavar="STEP", help=f"subset of: {' '.join(STEPS)}")
    args = ap.parse_args(argv)

    import torch
    from tqdm import tqdm

    from neurosig.kernels import bench

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_kernels: --device cuda but torch sees no CUDA device; run on a GPU machine or use --device cpu.", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        print(f"bench_kernels: --device {args.device} but torch sees {torch.cuda.device_count()} CUDA device(s); use cuda:0..cuda:{torch.cuda.device_count() - 1}.", file=sys.stderr)
        return 2
    full = device.type == "cuda" or args.full_shapes
    result = {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        **bench.run_info(),  # interpreted, fp32_dot_precision
        "full_shapes": full,
        "limits": {"hbm_tb_s": bench.HBM_TB_S, "peak_tflop_s_bf16": bench.PEAK_TFLOP_S},
        "entries": [],
        "end_to_end": [],
    }
    try:
        import triton

        result["triton"] = triton.__version__
    except Exception:
        result["triton"] = None
    steps = []
    if "stft" in args.only:
        steps.append(("stft", lambda: bench.bench_stft(device) if full else bench.bench_stft(device, batch=8)))
    if "rvq" in args.only:
        steps.append(("rvq", lambda: bench.bench_rvq(device) if full else bench.bench_rvq(device, n=2048, levels=2, iters=3)))
    if "attention" in args.only:
        steps.append(("attention", lambda: bench.bench_attention(device) if full else bench.bench_attention(device, seqs=(256, 1024), batch=1, heads=4, iters=3)))
    for name, fn in tqdm(steps, desc="kernels", disable=None):
        t0 = time.perf_counter()
        result["entries"] += fn()
        tqdm.write(f"{name}: {time.perf_counter() - t0:.1f} s")
    if "e2e" in args.only:
        try:
            import neurosig.tokenizers  # noqa: F401

            shape = dict(batch=256, channels=19, seconds=10.0) if full else dict(batch=4, channels=19, seconds=10.0)
            skip = bench._triton_skip_reason(device)
            for kind in ("tf", "rvq"):
                impls = ["torch"] if skip else ["torch", "triton"]
                for impl in impls:
                    result["end_to_end"].append(_encode_throughput(device, impl, kind=kind, **shape))
                if skip:
                    result["end_to_end"].append({"tokenizer": kind, "impl": "triton", "skip_reason": skip})
                else:
                    t, k = result["end_to_end"][-2], result["end_to_end"][-1]
                    k["speedup_vs_torch"] = round(t["encode_ms"] / k["encode_ms"], 3)
        except Exception as err:  # the tokenizer is another engineer's part: report, do not fail
            result["end_to_end"].append({"skip_reason": f"tokenizer encode failed: {type(err).__name__}: {err}"[:300]})
    result["summary"] = bench.summarize(result["entries"])

    cols = ("kernel", "case", "shape", "torch_ms", "triton_ms", "speedup", "frac_bw", "frac_flops")
    print(" | ".join(cols))
    for e in result["entries"]:
        print(" | ".join(str(e.get(c)) for c in cols))
    for e in result["end_to_end"]:
        print("e2e:", e)
    print("summary:", json.dumps(result["summary"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
