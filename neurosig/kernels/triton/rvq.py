"""Fused residual-VQ search: all levels in one launch, codebook tiles with a running argmin.

One program owns BLOCK_N vectors and keeps their residual in registers for all L levels. For
each level it streams the codebook in (BLOCK_K x D) tiles, computes ``||c||^2 - 2 r.c`` with
``tl.dot`` (the per-row ``||r||^2`` does not change the argmin), keeps a running (min, argmin)
per row with ties going to the lowest index, then gathers the chosen entry, adds it to the
quantized sum and subtracts it from the residual. Neither the N x K distance matrix nor a
one-hot is ever built; HBM traffic is x once in, codes and quantized once out, plus the
codebook tiles (served from L2 across programs).

Distances are computed in float32 (fp16/bf16 inputs are upcast in registers); on a GPU the fp32
``tl.dot`` runs as TF32 on the tensor cores, so near-ties (relative gap below ~1e-3) may pick a
different, equally near entry than the fp32 reference.

A NaN distance (a NaN in the vector or in the entry) counts as +inf, in the reference too: a NaN
entry is never chosen, and a vector whose distances are all NaN keeps code 0 (the running
minimum starts at +inf with index 0 and a strict ``<`` never replaces it).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

import neurosig.kernels.triton as _kt


@triton.jit
def _rvq_kernel(
    x_ptr, cb_ptr, norms_ptr, codes_ptr, q_ptr,
    N, K, D, stride_xn,
    L: tl.constexpr, DOT_PREC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < N
    rows64 = rows.to(tl.int64)
    ds = tl.arange(0, BLOCK_D)
    d_ok = ds < D
    xmask = row_ok[:, None] & d_ok[None, :]
    res = tl.load(x_ptr + rows64[:, None] * stride_xn + ds[None, :], mask=xmask, other=0.0).to(tl.float32)
    quant = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    for lvl in range(L):  # a loop, not unrolled: unrolling 8 levels spills registers
        cb_l = cb_ptr + lvl * K * D
        best = tl.full((BLOCK_N,), float("inf"), dtype=tl.float32)
        best_idx = tl.zeros((BLOCK_N,), dtype=tl.int32)
        for k0 in range(0, K, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)
            k_ok = ks < K
            # codebook tile, transposed on load: (BLOCK_D, BLOCK_K)
            ct = tl.load(cb_l + ks[None, :] * D + ds[:, None], mask=d_ok[:, None] & k_ok[None, :], other=0.0)
            nrm = tl.load(norms_ptr + lvl * K + ks, mask=k_ok, other=float("inf"))  # (BLOCK_K,)
            dist = nrm[None, :] - 2.0 * tl.dot(res, ct.to(tl.float32), input_precision=DOT_PREC)  # (BLOCK_N, BLOCK_K)
            dist = tl.where(dist == dist, dist, float("inf"))  # NaN -> +inf (as the reference): never the minimum
            tmin, targ = tl.min(dist, axis=1, return_indices=True, return_indices_tie_break_left=True)
            better = tmin < best  # strict: an earlier tile wins ties (lowest index)
            best = tl.where(better, tmin, best)
            best_idx = tl.where(better, targ.to(tl.int32) + k0, best_idx)
        tl.store(codes_ptr + rows64 * L + lvl, best_idx.to(tl.int64), mask=row_ok)
        e = tl.load(cb_l + best_idx[:, None].to(tl.int64) * D + ds[None, :], mask=xmask, other=0.0).to(tl.float32)
        quant += e
        res -= e
    tl.store(q_ptr + rows64[:, None] * D + ds[None, :], quant.to(q_ptr.dtype.element_ty), mask=xmask)


def launch_config(D: int) -> tuple[int, int, int, int]:
    """(BLOCK_N, BLOCK_K, BLOCK_D, num_warps) for vectors of size D.

    D <= 64: 64 x 64 tiles with 8 warps compile without register spills on sm_90 (``python -m
    neurosig.kernels.triton.compile_check``); larger D halves the tiles. GPU tuning is owed.
    """
    BLOCK_D = max(16, triton.next_power_of_2(D))
    if BLOCK_D <= 64:
        return 64, 64, BLOCK_D, 8
    return 32, 32, BLOCK_D, 8


def rvq_search_triton(x: torch.Tensor, codebooks: torch.Tensor):
    """Kernel path of :func:`neurosig.kernels.ops.rvq_search` (arguments already validated)."""
    N, D = x.shape
    L, K, _ = codebooks.shape
    if x.stride(-1) != 1:
        x = x.contiguous()
    cb = codebooks.detach().contiguous()
    norms = (cb.float() ** 2).sum(-1).contiguous()  # (L, K) fp32
    codes = torch.empty(N, L, dtype=torch.int64, device=x.device)
    quantized = torch.empty(N, D, dtype=x.dtype, device=x.device)
    if N == 0:
        return codes, quantized
    BLOCK_N, BLOCK_K, BLOCK_D, num_warps = launch_config(D)
    grid = (triton.cdiv(N, BLOCK_N),)
    _rvq_kernel[grid](
        x.detach(), cb, norms, codes, quantized, N, K, D, x.stride(0),
        L=L, DOT_PREC=_kt.FP32_DOT_PRECISION, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, BLOCK_D=BLOCK_D, num_warps=num_warps,
    )
    return codes, quantized
