"""Flash-style attention (forward and backward) for the backbone's (B, H, S, Dh) layout.

Forward: one program per (BLOCK_M queries, batch*head); it streams key/value tiles, keeps the
running max ``m``, normaliser ``l`` and output accumulator (online softmax, base-2 exponentials)
and writes O and the row log-sum-exp (LSE). The S x S score matrix never reaches memory.
Key padding (``key_padding_mask`` True = padding) and ``causal`` set scores to -inf; causal
programs stop at their diagonal. A row whose keys are all masked has ``l == 0``: its output is
0 and its LSE is +inf, so the backward gives it zero probability and no gradient.

Backward (FlashAttention-2 scheme): ``delta = rowsum(dO * O)`` in PyTorch, then one kernel per
key tile accumulates dK, dV over the query tiles (recomputing P from the LSE) and one kernel
per query tile accumulates dQ over the key tiles. No atomics; deterministic.

fp16/bf16 inputs use their native tensor-core dot with fp32 accumulation; fp32 inputs run the
dot as TF32 on a GPU (exact fp32 under the interpreter).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

_LOG2E = 1.4426950408889634


@triton.jit
def _scores_mask(offs_m, offs_n, b, S, mask_ptr, HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr):
    """(BLOCK_M, BLOCK_N) bool: True where query offs_m may attend key offs_n."""
    key_ok = offs_n < S
    if HAS_MASK:
        pad = tl.load(mask_ptr + b * S + offs_n, mask=key_ok, other=1)
        key_ok = key_ok & (pad == 0)
    ok = key_ok[None, :] & (offs_m[:, None] >= 0)
    if CAUSAL:
        ok = ok & (offs_m[:, None] >= offs_n[None, :])
    return ok


@triton.jit
def _attn_fwd_kernel(
    Q, K, V, Mask, O, LSE,
    sqb, sqh, sqs, skb, skh, sks, svb, svh, svs,
    H, S, Dh, qk_scale,
    HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    m_ok = offs_m < S
    d_ok = offs_d < Dh
    q_base = Q + b.to(tl.int64) * sqb + h.to(tl.int64) * sqh
    k_base = K + b.to(tl.int64) * skb + h.to(tl.int64) * skh
    v_base = V + b.to(tl.int64) * svb + h.to(tl.int64) * svh
    q = tl.load(q_base + offs_m[:, None] * sqs + offs_d[None, :], mask=m_ok[:, None] & d_ok[None, :], other=0.0)
    m_i = tl.full((BLOCK_M,), -1.0e30, dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    hi = S
    if CAUSAL:
        hi = tl.minimum(S, (pid_m + 1) * BLOCK_M)
    for n0 in range(0, hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < S
        kt = tl.load(k_base + offs_n[None, :] * sks + offs_d[:, None], mask=d_ok[:, None] & n_ok[None, :], other=0.0)
        s = tl.dot(q, kt) * qk_scale  # (BLOCK_M, BLOCK_N), log2 units
        ok = _scores_mask(offs_m, offs_n, b, S, Mask, HAS_MASK, CAUSAL)
        s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(v_base + offs_n[:, None] * svs + offs_d[None, :], mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    has = l_i > 0.0
    out = tl.where(has[:, None], acc / tl.where(has, l_i, 1.0)[:, None], 0.0)
    o_base = O + pid_bh.to(tl.int64) * S * Dh
    tl.store(o_base + offs_m[:, None] * Dh + offs_d[None, :], out.to(O.dtype.element_ty), mask=m_ok[:, None] & d_ok[None, :])
    lse = tl.where(has, m_i + tl.log2(tl.where(has, l_i, 1.0)), float("inf"))
    tl.store(LSE + pid_bh.to(tl.int64) * S + offs_m, lse, mask=m_ok)


@triton.jit
def _attn_bwd_dkdv_kernel(
    Q, K, V, Mask, DO, LSE, Delta, DK, DV,
    sqb, sqh, sqs, skb, skh, sks, svb, svh, svs,
    H, S, Dh, qk_scale, sm_scale,
    HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    n_ok = offs_n < S
    d_ok = offs_d < Dh
    nd_mask = n_ok[:, None] & d_ok[None, :]
    q_base = Q + b.to(tl.int64) * sqb + h.to(tl.int64) * sqh
    k_base = K + b.to(tl.int64) * skb + h.to(tl.int64) * skh
    v_base = V + b.to(tl.int64) * svb + h.to(tl.int64) * svh
    row_base = pid_bh.to(tl.int64) * S
    k = tl.load(k_base + offs_n[:, None] * sks + offs_d[None, :], mask=nd_mask, other=0.0)  # (BLOCK_N, BLOCK_D)
    v = tl.load(v_base + offs_n[:, None] * svs + offs_d[None, :], mask=nd_mask, other=0.0)
    dk = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    dv = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    lo = 0
    if CAUSAL:
        lo = (pid_n * BLOCK_N // BLOCK_M) * BLOCK_M
    for m0 in range(lo, S, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        m_ok = offs_m < S
        md_mask = m_ok[:, None] & d_ok[None, :]
        q = tl.load(q_base + offs_m[:, None] * sqs + offs_d[None, :], mask=md_mask, other=0.0)
        do = tl.load(DO + row_base * Dh + offs_m[:, None] * Dh + offs_d[None, :], mask=md_mask, other=0.0)
        lse = tl.load(LSE + row_base + offs_m, mask=m_ok, other=float("inf"))
        delta = tl.load(Delta + row_base + offs_m, mask=m_ok, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale  # (BLOCK_M, BLOCK_N)
        ok = _scores_mask(offs_m, offs_n, b, S, Mask, HAS_MASK, CAUSAL)
        p = tl.where(ok, tl.exp2(s - lse[:, None]), 0.0)
        dv += tl.dot(tl.trans(p.to(do.dtype)), do)
        dp = tl.dot(do, tl.trans(v))  # (BLOCK_M, BLOCK_N)
        ds = p * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q)
    out_off = row_base * Dh + offs_n[:, None] * Dh + offs_d[None, :]
    tl.store(DK + out_off, (dk * sm_scale).to(DK.dtype.element_ty), mask=nd_mask)
    tl.store(DV + out_off, dv.to(DV.dtype.element_ty), mask=nd_mask)


@triton.jit
def _attn_bwd_dq_kernel(
    Q, K, V, Mask, DO, LSE, Delta, DQ,
    sqb, sqh, sqs, skb, skh, sks, svb, svh, svs,
    H, S, Dh, qk_scale, sm_scale,
    HAS_MASK: tl.constexpr, CAUSAL: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    m_ok = offs_m < S
    d_ok = offs_d < Dh
    md_mask = m_ok[:, None] & d_ok[None, :]
    q_base = Q + b.to(tl.int64) * sqb + h.to(tl.int64) * sqh
    k_base = K + b.to(tl.int64) * skb + h.to(tl.int64) * skh
    v_base = V + b.to(tl.int64) * svb + h.to(tl.int64) * svh
    row_base = pid_bh.to(tl.int64) * S
    q = tl.load(q_base + offs_m[:, None] * sqs + offs_d[None, :], mask=md_mask, other=0.0)
    do = tl.load(DO + row_base * Dh + offs_m[:, None] * Dh + offs_d[None, :], mask=md_mask, other=0.0)
    lse = tl.load(LSE + row_base + offs_m, mask=m_ok, other=float("inf"))
    delta = tl.load(Delta + row_base + offs_m, mask=m_ok, other=0.0)
    dq = tl.zeros((BLOCK_M, BLOCK_D), dtype=tl.float32)
    hi = S
    if CAUSAL:
        hi = tl.minimum(S, (pid_m + 1) * BLOCK_M)
    for n0 in range(0, hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < S
        nd_mask = n_ok[:, None] & d_ok[None, :]
        k = tl.load(k_base + offs_n[:, None] * sks + offs_d[None, :], mask=nd_mask, other=0.0)
        v = tl.load(v_base + offs_n[:, None] * svs + offs_d[None, :], mask=nd_mask, other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        ok = _scores_mask(offs_m, offs_n, b, S, Mask, HAS_MASK, CAUSAL)
        p = tl.where(ok, tl.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)
    tl.store(DQ + row_base * Dh + offs_m[:, None] * Dh + offs_d[None, :], (dq * sm_scale).to(DQ.dtype.element_ty), mask=md_mask)


def _strides(t: torch.Tensor) -> tuple[int, int, int]:
    return t.stride(0), t.stride(1), t.stride(2)


def _last_contig(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


NUM_WARPS = 8


def launch_config(Dh: int, backward: bool, elem_size: int = 2) -> tuple[int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_D) for head dim Dh and inputs of ``elem_size`` bytes.

    With NUM_WARPS the 16-bit builds compile without register spills on sm_90 (``python -m
    neurosig.kernels.triton.compile_check``): forward 128 x 64 for every head dim; backward
    64 x 64 up to Dh 64, 32 x 64 above (64 x 64 at Dh 128 spills). fp32 at Dh 128 uses a
    64-row forward tile: 128 rows need 256 KiB of shared memory, more than an H100 has.
    """
    BLOCK_D = max(16, triton.next_power_of_2(Dh))
    if backward:
        return (64, 64, BLOCK_D) if BLOCK_D <= 64 else (32, 64, BLOCK_D)
    if elem_size >= 4 and BLOCK_D > 64:
        return (64, 64, BLOCK_D)
    return (128, 64, BLOCK_D)


class _FlashAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask_i8, causal):
        q, k, v = _last_contig(q), _last_contig(k), _last_contig(v)
        B, H, S, Dh = q.shape
        sm_scale = 1.0 / math.sqrt(Dh)
        o = torch.empty(B, H, S, Dh, dtype=q.dtype, device=q.device)
        lse = torch.empty(B, H, S, dtype=torch.float32, device=q.device)  # log2 units
        has_mask = mask_i8 is not None
        mptr = mask_i8 if has_mask else lse
        BLOCK_M, BLOCK_N, BLOCK_D = launch_config(Dh, backward=False, elem_size=q.element_size())
        grid = (triton.cdiv(S, BLOCK_M), B * H)
        if S > 0 and B * H > 0:
            _attn_fwd_kernel[grid](
                q, k, v, mptr, o, lse, *_strides(q), *_strides(k), *_strides(v),
                H, S, Dh, sm_scale * _LOG2E,
                HAS_MASK=has_mask, CAUSAL=causal, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D,
                num_warps=NUM_WARPS,
            )
        ctx.save_for_backward(q, k, v, o, lse, mask_i8 if has_mask else lse.new_empty(0))
        ctx.has_mask, ctx.causal, ctx.sm_scale = has_mask, causal, sm_scale
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse, mask_i8 = ctx.saved_tensors
        B, H, S, Dh = q.shape
        do = do.contiguous()
        delta = (do.float() * o.float()).sum(-1).contiguous()  # (B, H, S)
        dq = torch.empty(B, H, S, Dh, dtype=q.dtype, device=q.device)
        dk = torch.empty_like(dq)
        dv = torch.empty_like(dq)
        mptr = mask_i8 if ctx.has_mask else lse
        BLOCK_M, BLOCK_N, BLOCK_D = launch_config(Dh, backward=True, elem_size=q.element_size())
        args = (*_strides(q), *_strides(k), *_strides(v), H, S, Dh, ctx.sm_scale * _LOG2E, ctx.sm_scale)
        meta = dict(HAS_MASK=ctx.has_mask, CAUSAL=ctx.causal, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_D=BLOCK_D, num_warps=NUM_WARPS)
        if S > 0 and B * H > 0:
            _attn_bwd_dkdv_kernel[(triton.cdiv(S, BLOCK_N), B * H)](q, k, v, mptr, do, lse, delta, dk, dv, *args, **meta)
            _attn_bwd_dq_kernel[(triton.cdiv(S, BLOCK_M), B * H)](q, k, v, mptr, do, lse, delta, dq, *args, **meta)
        return dq, dk, dv, None, None


def attention_triton(q, k, v, key_padding_mask, causal):
    """Kernel path of :func:`neurosig.kernels.ops.attention` (arguments already validated)."""
    mask_i8 = None if key_padding_mask is None else key_padding_mask.to(torch.int8).contiguous()  # (B, S)
    return _FlashAttention.apply(q, k, v, mask_i8, bool(causal))
