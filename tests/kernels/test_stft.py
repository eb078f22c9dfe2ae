"""stft_patches: Triton kernel (interpreter) vs the torch.stft reference, outputs and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from neurosig import NeurosigError
from neurosig.kernels import LOG_EPS, stft_patches

import importlib.util

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")

# (x shape, n_fft, hop, center): odd lengths (not multiples of the 64-frame / 32-sample blocks),
# one channel, many channels, odd n_fft, hop > n_fft / 2 and hop < n_fft / 4.
CASES = [
    ((1, 257), 64, 17, False),
    ((3, 5, 401), 200, 100, True),
    ((2, 19, 250), 200, 100, False),
    ((7, 130), 31, 9, True),
    ((333,), 50, 40, False),
]


def _rand(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * 20.0).to(dtype)  # EEG-like amplitudes (uV)


def _wrap(d):
    return torch.remainder(d + math.pi, 2 * math.pi) - math.pi


def _assert_close_spectra(lm, ph, lr, pr, rtol):
    """Compare log-magnitude where |X| is not tiny, and the complex value |X| e^{i phase}."""
    mag_r = lr.double().exp() - LOG_EPS
    scale = mag_r.max()
    big = mag_r > 1e-3 * scale
    assert (lm.double() - lr.double())[big].abs().max() <= rtol * 10
    # phase: wrapped difference weighted by magnitude (phase is ill-defined where |X| ~ 0)
    err = (_wrap(ph.double() - pr.double()).abs() * mag_r).max()
    assert err <= rtol * scale, float(err / scale)
    assert ph.double().max() <= math.pi + 1e-6 and ph.double().min() > -math.pi - 1e-3


@needs_triton
@pytest.mark.parametrize("shape,n_fft,hop,center", CASES)
def test_forward_matches_reference_fp32(shape, n_fft, hop, center):
    x = _rand(shape)
    lm, ph = stft_patches(x, n_fft, hop, center=center, impl="triton")
    lr, pr = stft_patches(x, n_fft, hop, center=center, impl="torch")
    T = shape[-1] + (2 * (n_fft // 2) if center else 0)
    n_frames = 1 + (T - n_fft) // hop
    assert lm.shape == lr.shape == (*shape[:-1], n_frames, n_fft // 2 + 1)
    assert lm.dtype == ph.dtype == torch.float32
    _assert_close_spectra(lm, ph, lr, pr, rtol=1e-5)


@needs_triton
def test_magnitude_and_given_window():
    x = _rand((4, 3, 211), seed=1)
    g = torch.Generator().manual_seed(5)
    window = torch.rand(48, generator=g) + 0.1  # arbitrary positive window
    m = stft_patches(x, 48, 13, window=window, center=True, output="magnitude", impl="triton")
    mr = stft_patches(x, 48, 13, window=window, center=True, output="magnitude", impl="torch")
    assert m.shape == mr.shape
    torch.testing.assert_close(m, mr, rtol=1e-5, atol=1e-5 * float(mr.max()))


@needs_triton
def test_given_window_is_not_cached_across_calls():
    x = _rand((2, 200), seed=6)
    for seed in range(3):  # fresh windows of the same length (possibly at a reused address)
        w = torch.rand(40, generator=torch.Generator().manual_seed(seed)) + 0.1
        m = stft_patches(x, 40, 20, window=w, output="magnitude", impl="triton")
        mr = stft_patches(x, 40, 20, window=w, output="magnitude", impl="torch")
        torch.testing.assert_close(m, mr, rtol=1e-5, atol=1e-5 * float(mr.max()))
        w.mul_(2.0)  # in-place change of the same tensor
        m2 = stft_patches(x, 40, 20, window=w, output="magnitude", impl="triton")
        torch.testing.assert_close(m2, 2 * m, rtol=1e-5, atol=1e-5 * float(mr.max()))


@needs_triton
def test_phase_of_real_bins_is_in_half_open_interval():
    # A constant negative signal: DC bin is real and negative -> phase exactly +pi, not -pi.
    x = -torch.ones(1, 64)
    _, ph = stft_patches(x, 32, 16, window=torch.ones(32), impl="triton")
    assert torch.allclose(ph[..., 0], torch.full_like(ph[..., 0], math.pi))


@needs_triton
def test_fp16_matches_reference():
    x = _rand((2, 3, 301), seed=2, dtype=torch.float16)
    lm, ph = stft_patches(x, 64, 25, center=True, impl="triton")
    lr, pr = stft_patches(x, 64, 25, center=True, impl="torch")
    assert lm.dtype == torch.float16 and ph.dtype == torch.float16
    # fp16 output rounding: ~1e-3 relative
    _assert_close_spectra(lm, ph, lr, pr, rtol=2e-3)


@needs_triton
@pytest.mark.parametrize("center,output", [(False, "logmag_phase"), (True, "logmag_phase"), (True, "magnitude")])
def test_gradients_match_reference(center, output):
    x = _rand((2, 157), seed=3).double().float()
    g = torch.Generator().manual_seed(7)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    outs = [stft_patches(xi, 40, 11, center=center, output=output, impl=impl) for xi, impl in zip(xs, ("triton", "torch"))]
    if output == "magnitude":
        w = torch.randn(outs[1].shape, generator=g)
        losses = [(o * w).sum() for o in outs]
    else:
        w1 = torch.randn(outs[1][0].shape, generator=g)
        w2 = torch.randn(outs[1][1].shape, generator=g)
        losses = [(o[0] * w1).sum() + (o[1] * w2).sum() for o in outs]
    (gk,) = torch.autograd.grad(losses[0], xs[0])
    (gr,) = torch.autograd.grad(losses[1], xs[1])
    assert gk.shape == x.shape
    torch.testing.assert_close(gk, gr, rtol=1e-3, atol=1e-4 * float(gr.abs().max()))


def test_reference_matches_explicit_dft():
    # The reference itself: frames . (window * e^{-i 2 pi k f / n}) computed by hand in float64.
    x = _rand((1, 100), seed=4).double()
    n_fft, hop = 20, 7
    w = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    frames = x[0].unfold(0, n_fft, hop)  # (n_frames, n_fft)
    k = torch.arange(n_fft, dtype=torch.float64)
    f = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    basis = torch.exp(-2j * math.pi * k[:, None] * f[None, :] / n_fft)
    X = (frames * w).to(torch.complex128) @ basis
    lm, ph = stft_patches(x, n_fft, hop, impl="torch")
    torch.testing.assert_close(lm[0], torch.log(X.abs() + LOG_EPS))
    assert (_wrap(ph[0] - torch.angle(X)).abs() * X.abs()).max() < 1e-9


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_fft=400, hop=100), "n_fft=400 is larger than the signal length"),
        (dict(n_fft=64, hop=0), "hop must be a positive integer"),
        (dict(n_fft=64, hop=-3), "hop must be a positive integer"),
        (dict(n_fft=64, hop=16, window=torch.ones(10)), "window must have n_fft=64"),
        (dict(n_fft=64, hop=16, output="complex"), "output='complex' is not supported"),
        (dict(n_fft=64, hop=16, impl="cuda"), "impl='cuda' is not supported"),
        (dict(n_fft=1, hop=1), "n_fft must be an integer >= 2"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(NeurosigError, match=match):
        stft_patches(torch.randn(2, 300), **kwargs)


def test_center_needs_longer_signal():
    with pytest.raises(NeurosigError, match="center=True reflect-pads"):
        stft_patches(torch.randn(2, 50), 200, 100, center=True)


if importlib.util.find_spec("triton") is not None:
    import triton
    import triton.language as tl

    from neurosig.kernels.triton.stft import _atan2

    @triton.jit
    def _atan2_kernel(y_ptr, x_ptr, o_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        y = tl.load(y_ptr + offs, mask=m, other=0.0)
        x = tl.load(x_ptr + offs, mask=m, other=1.0)
        tl.store(o_ptr + offs, _atan2(y, x), mask=m)


@needs_triton
def test_atan2_polynomial_matches_torch():
    g = torch.Generator().manual_seed(0)
    ang = torch.linspace(-math.pi, math.pi, 721)
    rad = torch.rand(721, generator=g) * 100 + 1e-3
    y = torch.cat([rad * torch.sin(ang), torch.tensor([0.0, 0.0, 0.0, 1.0, -1.0])])
    x = torch.cat([rad * torch.cos(ang), torch.tensor([1.0, -1.0, 0.0, 0.0, 0.0])])
    out = torch.empty_like(x)
    _atan2_kernel[(triton.cdiv(x.numel(), 128),)](y, x, out, x.numel(), BLOCK=128)
    ref = torch.atan2(y, x)
    ref = torch.where(ref <= -math.pi + 1e-7, ref + 2 * math.pi, ref)  # (-pi, pi]
    d = _wrap(out.double() - ref.double()).abs()
    assert d.max() < 1e-6
    assert out[-4] == pytest.approx(math.pi) and out[-3] == 0.0  # atan2(0, -1) = +pi; atan2(0, 0) = 0
    assert out[-2] == pytest.approx(math.pi / 2) and out[-1] == pytest.approx(-math.pi / 2)
    assert out.double().abs().max() <= math.pi + 1e-6


def _grads(x, *args, **kwargs):
    """d/dx of a random weighting of the outputs, for the kernel and the reference."""
    out = {}
    for impl in ("triton", "torch"):
        xi = x.detach().clone().requires_grad_()
        o = stft_patches(xi, *args, impl=impl, **kwargs)
        g = torch.Generator().manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=g)).sum() for t in (o if isinstance(o, tuple) else (o,)))
        (out[impl],) = torch.autograd.grad(loss, xi)
    return out["triton"], out["torch"]


@needs_triton
@pytest.mark.parametrize("output", ["logmag_phase", "magnitude"])
def test_all_zero_channel_gets_zero_gradient_like_the_reference(output):
    # |X| = 0 on a flat (disconnected) channel: the phase gradient's 1/|X|^2 must not give 0 * inf = NaN.
    x = _rand((3, 300), seed=8)
    x[1] = 0.0
    gk, gr = _grads(x, 64, 32, output=output)
    assert torch.isfinite(gk).all()
    assert (gk[1] == 0).all() and (gr[1] == 0).all()
    torch.testing.assert_close(gk, gr, rtol=1e-3, atol=1e-4 * float(gr.abs().max()))


@needs_triton
def test_huge_magnitudes_do_not_overflow():
    # |X| > 1.8e19: re^2 + im^2 overflows fp32; torch.stft's abs does not (hypot).
    x = _rand((2, 300), seed=9) * 2e18  # |X| up to ~1e21
    lm, ph = stft_patches(x, 64, 32, impl="triton")
    lr, pr = stft_patches(x, 64, 32, impl="torch")
    assert torch.isfinite(lm).all() and float(lr.max()) > math.log(1.8e19)
    _assert_close_spectra(lm, ph, lr, pr, rtol=1e-5)
    m = stft_patches(x, 64, 32, output="magnitude", impl="triton")
    mr = stft_patches(x, 64, 32, output="magnitude", impl="torch")
    torch.testing.assert_close(m, mr, rtol=1e-5, atol=1e-5 * float(mr.max()))
    # the backward recomputes |X| too. Against a float64 reference: torch's own fp32 angle backward
    # divides by |X|^2, which overflows here (its phase gradient comes out 0).
    gk, _ = _grads(x, 64, 32)
    _, gr = _grads(x.double(), 64, 32)
    assert torch.isfinite(gk).all() and gk.abs().max() > 0
    torch.testing.assert_close(gk.double(), gr, rtol=1e-3, atol=1e-4 * float(gr.abs().max()))


@pytest.mark.parametrize("impl", ["torch", pytest.param("triton", marks=needs_triton)])
@pytest.mark.parametrize("center", [False, True])
def test_empty_batch_returns_empty_outputs(impl, center):
    x = torch.randn(0, 19, 2000, requires_grad=True)
    n_frames = 1 + (2000 + (200 if center else 0) - 200) // 100
    lm, ph = stft_patches(x, 200, 100, center=center, impl=impl)
    assert lm.shape == ph.shape == (0, 19, n_frames, 101) and lm.dtype == torch.float32
    m = stft_patches(x, 200, 100, center=center, output="magnitude", impl=impl)
    assert m.shape == (0, 19, n_frames, 101)
    (lm.sum() + ph.sum()).backward()  # an empty batch inside a training step must not break backward
    assert x.grad is not None and x.grad.shape == x.shape


@needs_triton
def test_window_that_requires_grad_is_refused_on_the_kernel_path():
    x = _rand((2, 300), seed=10)
    w = torch.hann_window(64).requires_grad_()
    with pytest.raises(NeurosigError, match="window requires grad.*gives the window no gradient") as err:
        stft_patches(x, 64, 32, window=w, impl="triton")
    assert "\n" not in str(err.value)
    lm, _ = stft_patches(x, 64, 32, window=w, impl="torch")  # the reference learns the window
    (gw,) = torch.autograd.grad(lm.sum(), w)
    assert gw.abs().sum() > 0
    with torch.no_grad():  # no gradient wanted: nothing is lost, the kernel runs
        lk, pk = stft_patches(x, 64, 32, window=w, impl="triton")
        lr, pr = stft_patches(x, 64, 32, window=w, impl="torch")
    _assert_close_spectra(lk, pk, lr, pr, rtol=1e-5)
    stft_patches(x, 64, 32, window=w.detach(), impl="triton")


@pytest.mark.parametrize("center", ["yes", 1, None])
def test_center_must_be_a_bool(center):
    with pytest.raises(NeurosigError, match=r"center must be a bool \(True or False\), got"):
        stft_patches(torch.randn(2, 300), 64, 32, center=center)
