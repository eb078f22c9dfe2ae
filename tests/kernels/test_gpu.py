"""Compiled kernels on CUDA vs the references, at neurosig-like shapes (GPU tolerances: TF32/bf16).

Run on a GPU machine with the interpreter off:
    NEUROSIG_KERNELS_COMPILED=1 python -m pytest -m gpu tests/kernels/test_gpu.py
Skipped without CUDA (and when the kernels were imported in interpreter mode).
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from neurosig.kernels import LOG_EPS, attention, rvq_search, stft_patches


def _compiled() -> bool:
    if importlib.util.find_spec("triton") is None or not torch.cuda.is_available():
        return False
    import neurosig.kernels.triton as kt

    return not kt.INTERPRETED


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _compiled(), reason="needs CUDA and compiled kernels: NEUROSIG_KERNELS_COMPILED=1 pytest -m gpu"),
]


@pytest.mark.parametrize("center", [False, True])
def test_stft_on_gpu(center):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(64, 19, 2000, generator=g) * 20).cuda()
    lm, ph = stft_patches(x, 200, 100, center=center, impl="triton")
    lr, pr = stft_patches(x, 200, 100, center=center, impl="torch")
    mag = lr.double().exp() - LOG_EPS
    big = mag > 1e-2 * mag.amax(-1, keepdim=True)
    assert (lm - lr)[big].abs().max() < 5e-3  # TF32 DFT: ~1e-3 relative on |X|
    d = torch.remainder(ph.double() - pr.double() + math.pi, 2 * math.pi) - math.pi
    assert (d.abs() * mag).max() < 5e-3 * mag.max()
    xg = x[:4].clone().requires_grad_()
    lm, ph = stft_patches(xg, 200, 100, center=center, impl="triton")
    (lm.sum() + ph.sum()).backward()
    assert torch.isfinite(xg.grad).all()


def test_rvq_on_gpu_picks_nearest_entries():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 64, generator=g).cuda()
    cb = (torch.randn(8, 1024, 64, generator=g) * torch.linspace(1.0, 0.2, 8)[:, None, None]).cuda()
    codes, q = rvq_search(x, cb, impl="triton")
    codes_r, _ = rvq_search(x, cb, impl="torch")
    residual = x.clone()
    for lvl in range(8):  # on the kernel's own residual chain, each choice is (near-)optimal
        d = torch.cdist(residual.double(), cb[lvl].double()) ** 2  # (N, K)
        chosen = d.gather(1, codes[:, lvl : lvl + 1]).squeeze(1)
        assert (chosen - d.min(1).values).max() <= 1e-3 * d.min(1).values.clamp_min(1e-3).max()
        residual = residual - cb[lvl][codes[:, lvl]]
    assert (codes == codes_r).float().mean() > 0.97  # TF32 near-ties may differ and then propagate
    torch.testing.assert_close(q, cb[torch.arange(8)[None, :].cuda(), codes].sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_attention_on_gpu(causal, dtype):
    B, H, S, Dh = 4, 8, 1000, 64
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(B, H, S, Dh, generator=g).cuda().to(dtype).requires_grad_() for _ in range(3))
    mask = torch.zeros(B, S, dtype=torch.bool)
    mask[1, 900:] = True
    mask[3] = True  # fully padded sample
    mask = mask.cuda()
    do = torch.randn(B, H, S, Dh, generator=g).cuda().to(dtype)
    o = attention(q, k, v, key_padding_mask=mask, causal=causal, impl="triton")
    grads = torch.autograd.grad(o, (q, k, v), do)
    qf, kf, vf = (t.detach().float().requires_grad_() for t in (q, k, v))
    o_r = attention(qf, kf, vf, key_padding_mask=mask, causal=causal, impl="torch")
    grads_r = torch.autograd.grad(o_r, (qf, kf, vf), do.float())
    assert (o[3] == 0).all()
    torch.testing.assert_close(o.float(), o_r, rtol=2e-2, atol=2e-2)
    for a, b in zip(grads, grads_r):
        torch.testing.assert_close(a.float(), b, rtol=5e-2, atol=5e-2)
