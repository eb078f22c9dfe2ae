"""Fused STFT patches: strided frame gather -> windowed DFT as a tensor-core matmul -> log|X|, phase.

One program computes a (BLOCK_M frames) x (BLOCK_F bins) tile: it gathers the frames straight
from ``x`` (reflect padding for ``center=True`` is index arithmetic, never a padded copy),
multiplies them with the window-folded cosine and sine basis tiles with ``tl.dot`` (fp32 inputs
run as TF32 on the tensor cores of a GPU), and writes log-magnitude and phase (or the magnitude)
once, in the ``(..., n_frames, F)`` patch layout. The samples are read once and the outputs
written once: ≈ 4 B/sample in + 2 x 4 B x F / hop out.

Phase uses ``_atan2`` below (plain arithmetic: octant reduction, a pi/6 shift and an odd
polynomial, |error| < 1e-6 rad), because libdevice ``atan2`` is missing in the interpreter.

Backward (``torch.autograd.Function``): the transposed matmul in PyTorch. The complex spectrum is
recomputed from the frames (``frames @ C``, ``frames @ S``), the output gradients are turned into
``dRe, dIm``, ``dframes = dRe @ C^T + dIm @ S^T`` and the frames are overlap-added back with
``index_add_`` (the reflect padding folds back onto the signal). The window gets no gradient
(the dispatcher refuses a window that requires grad). ``|X|`` is a scaled hypot in the kernel and
``torch.hypot`` in the backward, and the backward uses ``X / |X|`` and ``1 / |X|`` (0 where
``X == 0``, as the reference), never ``1 / |X|^2``, whose square under/overflows in fp32.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

import neurosig.kernels.triton as _kt
from neurosig.kernels.ops import LOG_EPS

_PI = math.pi


@triton.jit
def _atan2(y, x):
    """atan2(y, x) in (-pi, pi] with plain arithmetic (no libdevice); 0 at the origin."""
    ax = tl.abs(x)
    ay = tl.abs(y)
    hi = tl.maximum(ax, ay)
    lo = tl.minimum(ax, ay)
    a = lo / tl.where(hi > 0.0, hi, 1.0)  # in [0, 1]
    # reduce to |t| <= tan(pi/12): atan(a) = pi/6 + atan((sqrt(3) a - 1) / (a + sqrt(3)))
    big = a > 0.2679491924311228
    t = tl.where(big, (1.7320508075688772 * a - 1.0) / (a + 1.7320508075688772), a)
    t2 = t * t
    # odd Taylor series to t^13 (truncation < 3e-10 on |t| <= 0.268)
    p = 1.0 + t2 * (-0.3333333333333333 + t2 * (0.2 + t2 * (-0.14285714285714285
        + t2 * (0.1111111111111111 + t2 * (-0.09090909090909091 + t2 * 0.07692307692307693)))))
    r = t * p
    r = tl.where(big, r + 0.5235987755982988, r)
    r = tl.where(ay > ax, 1.5707963267948966 - r, r)
    r = tl.where(x < 0.0, 3.141592653589793 - r, r)
    r = tl.where(y < 0.0, -r, r)
    return r


@triton.jit
def _stft_fwd_kernel(
    x_ptr, cos_ptr, sin_ptr, out1_ptr, out2_ptr,
    n_rows, T, stride_xr, n_frames, n_fft, F, hop, pad, log_eps,
    CENTER: tl.constexpr, MAG_ONLY: tl.constexpr, DOT_PREC: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_f = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # global frame index over (R * n_frames)
    row_ok = rows < n_rows * n_frames
    r = (rows // n_frames).to(tl.int64)  # signal index
    t = rows % n_frames  # frame index within the signal
    fs = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    f_ok = fs < F
    acc_re = tl.zeros((BLOCK_M, BLOCK_F), dtype=tl.float32)
    acc_im = tl.zeros((BLOCK_M, BLOCK_F), dtype=tl.float32)
    for k0 in range(0, n_fft, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_ok = ks < n_fft
        pos = t[:, None] * hop + ks[None, :] - pad  # (BLOCK_M, BLOCK_K) sample index
        if CENTER:  # reflect padding as index arithmetic
            pos = tl.where(pos < 0, -pos, pos)
            pos = tl.where(pos >= T, 2 * (T - 1) - pos, pos)
        fmask = row_ok[:, None] & k_ok[None, :]
        frames = tl.load(x_ptr + r[:, None] * stride_xr + pos, mask=fmask, other=0.0).to(tl.float32)
        bmask = k_ok[:, None] & f_ok[None, :]
        boff = ks[:, None] * F + fs[None, :]
        cb = tl.load(cos_ptr + boff, mask=bmask, other=0.0)  # (BLOCK_K, BLOCK_F) window * cos
        sb = tl.load(sin_ptr + boff, mask=bmask, other=0.0)  # (BLOCK_K, BLOCK_F) -window * sin
        acc_re = tl.dot(frames, cb, acc_re, input_precision=DOT_PREC)
        acc_im = tl.dot(frames, sb, acc_im, input_precision=DOT_PREC)
    # |X| as a scaled hypot: re^2 + im^2 would overflow fp32 for |X| > 1.8e19 (torch's abs does not)
    hi = tl.maximum(tl.abs(acc_re), tl.abs(acc_im))
    lo = tl.minimum(tl.abs(acc_re), tl.abs(acc_im))
    ratio = lo / tl.where(hi > 0.0, hi, 1.0)  # in [0, 1]
    mag = hi * tl.sqrt(1.0 + ratio * ratio)
    ooff = rows.to(tl.int64)[:, None] * F + fs[None, :]
    omask = row_ok[:, None] & f_ok[None, :]
    if MAG_ONLY:
        tl.store(out1_ptr + ooff, mag.to(out1_ptr.dtype.element_ty), mask=omask)
    else:
        tl.store(out1_ptr + ooff, tl.log(mag + log_eps).to(out1_ptr.dtype.element_ty), mask=omask)
        tl.store(out2_ptr + ooff, _atan2(acc_im, acc_re).to(out2_ptr.dtype.element_ty), mask=omask)


_BASIS_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def dft_basis(window: torch.Tensor, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window-folded one-sided DFT basis: C[k, f] = w[k] cos(2 pi k f / n), S[k, f] = -w[k] sin(...).

    Returns two float32 (n_fft, n_fft // 2 + 1) tensors on the window's device. Angles are taken
    from ``k * f mod n`` in float64 and exact zeros are kept, so DC/Nyquist bins are real.
    """
    F = n_fft // 2 + 1
    k = torch.arange(n_fft, dtype=torch.float64, device=window.device)
    f = torch.arange(F, dtype=torch.float64, device=window.device)
    ang = 2.0 * _PI * torch.remainder(k[:, None] * f[None, :], n_fft) / n_fft  # (n_fft, F)
    cos, sin = torch.cos(ang), torch.sin(ang)
    cos = torch.where(cos.abs() < 1e-12, torch.zeros_like(cos), cos)
    sin = torch.where(sin.abs() < 1e-12, torch.zeros_like(sin), sin)
    w = window.detach().to(torch.float64)[:, None]
    return (w * cos).float().contiguous(), (-w * sin).float().contiguous()


def _basis(window: torch.Tensor, n_fft: int, default_window: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The basis for ``window``; cached only for the default Hann window (keyed by n_fft and
    device), since a user's window tensor may change or be freed and its address reused."""
    if not default_window:
        return dft_basis(window, n_fft)
    key = (n_fft, str(window.device))
    hit = _BASIS_CACHE.get(key)
    if hit is None:
        if len(_BASIS_CACHE) > 16:
            _BASIS_CACHE.clear()
        hit = _BASIS_CACHE[key] = dft_basis(window, n_fft)
    return hit


def _frame_index(T: int, n_fft: int, hop: int, n_frames: int, center: bool, device) -> torch.Tensor:
    """(n_frames, n_fft) sample index of each frame element in the unpadded signal."""
    pad = n_fft // 2 if center else 0
    pos = torch.arange(n_frames, device=device)[:, None] * hop + torch.arange(n_fft, device=device)[None, :] - pad
    if center:
        pos = torch.where(pos < 0, -pos, pos)
        pos = torch.where(pos >= T, 2 * (T - 1) - pos, pos)
    return pos


def launch_config(F: int) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_F, BLOCK_K, num_warps) for F frequency bins.

    64 x 64 tiles with 8 warps compile without register spills on sm_90 (``python -m
    neurosig.kernels.triton.compile_check``); 64 x 128 spills (two accumulators + atan2 epilogue).
    """
    return 64, (64 if F > 32 else max(16, triton.next_power_of_2(F))), 32, 8


def _launch(x2: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, n_fft: int, hop: int, center: bool, mag_only: bool):
    R, T = x2.shape
    pad = n_fft // 2 if center else 0
    n_frames = 1 + (T + 2 * pad - n_fft) // hop
    F = n_fft // 2 + 1
    out1 = torch.empty(R, n_frames, F, dtype=x2.dtype, device=x2.device)
    out2 = out1 if mag_only else torch.empty_like(out1)
    if R * n_frames == 0:
        return out1, out2, n_frames
    BLOCK_M, BLOCK_F, BLOCK_K, num_warps = launch_config(F)
    grid = (triton.cdiv(R * n_frames, BLOCK_M), triton.cdiv(F, BLOCK_F))
    _stft_fwd_kernel[grid](
        x2, cos, sin, out1, out2,
        R, T, x2.stride(0), n_frames, n_fft, F, hop, pad, LOG_EPS,
        CENTER=center, MAG_ONLY=mag_only, DOT_PREC=_kt.FP32_DOT_PRECISION, BLOCK_M=BLOCK_M, BLOCK_F=BLOCK_F, BLOCK_K=BLOCK_K,
        num_warps=num_warps,
    )
    return out1, out2, n_frames


class _STFTPatches(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x2, window, n_fft, hop, center, mag_only, default_window):
        cos, sin = _basis(window, n_fft, default_window)
        out1, out2, n_frames = _launch(x2, cos, sin, n_fft, hop, center, mag_only)
        ctx.save_for_backward(x2, cos, sin)
        ctx.cfg = (n_fft, hop, center, mag_only, n_frames)
        if mag_only:
            return out1
        return out1, out2

    @staticmethod
    def backward(ctx, *grads):
        x2, cos, sin = ctx.saved_tensors
        n_fft, hop, center, mag_only, n_frames = ctx.cfg
        R, T = x2.shape
        if R == 0:  # empty batch: nothing to overlap-add (reshape(0, -1) would be ambiguous)
            return torch.zeros_like(x2), None, None, None, None, None, None
        idx = _frame_index(T, n_fft, hop, n_frames, center, x2.device)  # (n_frames, n_fft)
        frames = x2.float()[:, idx]  # (R, n_frames, n_fft)
        re = frames @ cos  # (R, n_frames, F)
        im = frames @ sin
        mag = torch.hypot(re, im)  # no overflow of re^2 + im^2 (as the forward)
        # unit phasor (cos phi, sin phi) = X / |X|, and 0 where X == 0 (the reference's gradient
        # there is 0). Written with X / |X| and 1 / |X| rather than 1 / |X|^2, whose square
        # underflows to 0 for |X| < 1e-19 (0 * inf = NaN on an all-zero channel) or overflows.
        inv = torch.where(mag > 0, 1.0 / mag.clamp_min(torch.finfo(mag.dtype).tiny), torch.zeros_like(mag))
        c, s = re * inv, im * inv
        if mag_only:
            g = grads[0].float() if grads[0] is not None else torch.zeros_like(mag)
            d_re, d_im = g * c, g * s
        else:
            g_lm = grads[0].float() if grads[0] is not None else torch.zeros_like(mag)
            g_ph = grads[1].float() if grads[1] is not None else torch.zeros_like(mag)
            a = g_lm / (mag + LOG_EPS)  # d log(|X|+eps) = (c dRe + s dIm) * a
            b = g_ph * inv  # d atan2(im, re) = (c dIm - s dRe) / |X|; 0 where X == 0
            d_re = c * a - s * b
            d_im = s * a + c * b
        d_frames = d_re @ cos.T + d_im @ sin.T  # (R, n_frames, n_fft)
        dx = torch.zeros(R, T, dtype=torch.float32, device=x2.device)
        dx.index_add_(1, idx.reshape(-1), d_frames.reshape(R, -1))  # overlap-add (+ reflect fold)
        return dx.to(x2.dtype), None, None, None, None, None, None


def stft_patches_triton(x, n_fft, hop, window, center, output, default_window=False):
    """Kernel path of :func:`neurosig.kernels.ops.stft_patches` (arguments already validated)."""
    lead, T = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, T)  # (R, T)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    mag_only = output == "magnitude"
    out = _STFTPatches.apply(x2, window, n_fft, hop, bool(center), mag_only, bool(default_window))
    if mag_only:
        return out.reshape(*lead, out.shape[-2], out.shape[-1])  # (..., n_frames, F)
    lm, ph = out
    return lm.reshape(*lead, lm.shape[-2], lm.shape[-1]), ph.reshape(*lead, ph.shape[-2], ph.shape[-1])
