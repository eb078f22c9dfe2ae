"""Compile every kernel variant for an H100 (sm_90) without a GPU and report registers/spills.

    python -m neurosig.kernels.triton.compile_check [--arch 90]

Runs Triton's full pipeline (TTIR -> TTGIR -> LLVM -> PTX) and the ptxas that ships with
Triton (``ptxas -v``), using the launch configurations the kernels really use. Exits 1 when a
variant fails to compile or needs more shared memory than the GPU has (H100: 227 KiB per
block); register spills are reported (a performance warning, not an error). Needs ``TRITON_INTERPRET`` unset (the kernels
must be decorated as compiled JIT functions); no GPU is needed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile


def _variants():
    from neurosig.kernels.triton import attention, rvq, stft

    st = {n: "i32" for n in "sqb sqh sqs skb skh sks svb svh svs".split()}
    F = 101  # n_fft 200
    bm, bf, bk, nw = stft.launch_config(F)
    for dt in ("fp32", "fp16"):
        for center in (False, True):
            for mag in (False, True):
                sig = {"x_ptr": f"*{dt}", "cos_ptr": "*fp32", "sin_ptr": "*fp32", "out1_ptr": f"*{dt}", "out2_ptr": f"*{dt}",
                       "n_rows": "i32", "T": "i32", "stride_xr": "i32", "n_frames": "i32", "n_fft": "i32", "F": "i32",
                       "hop": "i32", "pad": "i32", "log_eps": "fp32"}
                yield stft._stft_fwd_kernel, sig, dict(CENTER=center, MAG_ONLY=mag, DOT_PREC="tf32", BLOCK_M=bm, BLOCK_F=bf, BLOCK_K=bk), nw
    for D in (64, 128):
        bn, bk, bd, nw = rvq.launch_config(D)
        for dt in ("fp32", "bf16"):
            sig = {"x_ptr": f"*{dt}", "cb_ptr": f"*{dt}", "norms_ptr": "*fp32", "codes_ptr": "*i64", "q_ptr": f"*{dt}",
                   "N": "i32", "K": "i32", "D": "i32", "stride_xn": "i32"}
            yield rvq._rvq_kernel, sig, dict(L=8, DOT_PREC="tf32", BLOCK_N=bn, BLOCK_K=bk, BLOCK_D=bd), nw
    for Dh in (32, 64, 128):
        for dt in ("bf16", "fp16", "fp32"):
            for has_mask in (False, True):
                for causal in (False, True):
                    m, n, d = attention.launch_config(Dh, backward=False, elem_size=4 if dt == "fp32" else 2)
                    meta = dict(HAS_MASK=has_mask, CAUSAL=causal, BLOCK_M=m, BLOCK_N=n, BLOCK_D=d)
                    sig = {"Q": f"*{dt}", "K": f"*{dt}", "V": f"*{dt}", "Mask": "*i8", "O": f"*{dt}", "LSE": "*fp32", **st,
                           "H": "i32", "S": "i32", "Dh": "i32", "qk_scale": "fp32"}
                    yield attention._attn_fwd_kernel, sig, meta, attention.NUM_WARPS
                    m, n, d = attention.launch_config(Dh, backward=True, elem_size=4 if dt == "fp32" else 2)
                    meta = dict(HAS_MASK=has_mask, CAUSAL=causal, BLOCK_M=m, BLOCK_N=n, BLOCK_D=d)
                    common = {"Q": f"*{dt}", "K": f"*{dt}", "V": f"*{dt}", "Mask": "*i8", "DO": f"*{dt}", "LSE": "*fp32", "Delta": "*fp32"}
                    tail = {**st, "H": "i32", "S": "i32", "Dh": "i32", "qk_scale": "fp32", "sm_scale": "fp32"}
                    yield attention._attn_bwd_dkdv_kernel, {**common, "DK": f"*{dt}", "DV": f"*{dt}", **tail}, meta, attention.NUM_WARPS
                    yield attention._attn_bwd_dq_kernel, {**common, "DQ": f"*{dt}", **tail}, meta, attention.NUM_WARPS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="compile neurosig's Triton kernels for sm_XX and report spills")
    ap.add_argument("--arch", type=int, default=90)
    ap.add_argument("--quick", action="store_true", help="one variant per kernel, dtype and head dim")
    ap.add_argument("--smem-kib", type=int, default=227, help="shared memory per block of the target (H100: 227)")
    args = ap.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("unset TRITON_INTERPRET: the interpreter cannot compile kernels", file=sys.stderr)
        return 2
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler.compiler import ASTSource

    ptxas = get_ptxas(args.arch).path
    target = GPUTarget("cuda", args.arch, 32)
    bad = spills = n_done = 0
    seen = set()
    for fn, sig, meta, nw in _variants():
        key = (fn.__name__, sig.get("Q", sig.get("x_ptr")), meta.get("BLOCK_D"))
        if args.quick and key in seen:
            continue
        seen.add(key)
        n_done += 1
        full = dict(sig, **{k: "constexpr" for k in meta})
        try:
            k = triton.compile(ASTSource(fn, full, constexprs=meta), target=target, options={"num_warps": nw})
            with tempfile.TemporaryDirectory() as tmp:
                ptx = os.path.join(tmp, "k.ptx")
                with open(ptx, "w") as f:
                    f.write(k.asm["ptx"])
                out = subprocess.run([ptxas, "-v", f"--gpu-name=sm_{args.arch}a", ptx, "-o", os.path.join(tmp, "k.cubin")],
                                     capture_output=True, text=True)
            log = out.stdout + out.stderr
            regs = int(re.search(r"Used (\d+) registers", log).group(1))
            spill = int(re.search(r"(\d+) bytes spill stores", log).group(1))
            smem_bad = k.metadata.shared > args.smem_kib * 1024
            status = "SMEM" if smem_bad else ("ok" if spill == 0 else "spills")
            bad += smem_bad
            spills += spill > 0
            print(f"{status:6s} {fn.__name__:24s} {str(meta):90s} warps={nw} regs={regs} spill={spill}B smem={k.metadata.shared}B")
        except Exception as err:  # a compile failure is what this tool exists to catch
            bad += 1
            print(f"FAIL   {fn.__name__:24s} {meta}: {type(err).__name__}: {str(err)[:300]}")
    print(f"{n_done} variants: {bad} failed or over the shared-memory limit, {spills} with register spills")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
