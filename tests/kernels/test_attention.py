"""attention: flash kernel (Triton interpreter) vs the SDPA reference, outputs and gradients."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from neurosig import NeurosigError
from neurosig.kernels import attention

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float16: dict(rtol=2e-2, atol=5e-3)}


def _qkv(B, H, S, Dh, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, S, Dh, generator=g).to(dtype) for _ in range(3)]


def _mask(B, S, seed=0, p=0.3, full_row=True):
    g = torch.Generator().manual_seed(seed + 100)
    m = torch.rand(B, S, generator=g) < p
    if full_row and B > 1:
        m[0] = True  # a sample whose keys are all padding (e.g. an absent recording)
    return m


def _naive(q, k, v, mask, causal):
    """Explicit softmax attention in float64, rows with no visible key -> 0."""
    q, k, v = (t.double() for t in (q, k, v))
    S, Dh = q.shape[-2], q.shape[-1]
    s = q @ k.transpose(-1, -2) / math.sqrt(Dh)  # (B, H, S, S)
    allowed = torch.ones(S, S, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    allowed = allowed[None, None]
    if mask is not None:
        allowed = allowed & ~mask[:, None, None, :]
    s = s.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(s, -1).nan_to_num(0.0)
    return p @ v


def _run(impl, q, k, v, mask, causal, do):
    ts = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    o = attention(*ts, key_padding_mask=mask, causal=causal, impl=impl)
    grads = torch.autograd.grad(o, ts, do)
    return o, grads


# (B, H, S, Dh, causal, masked, dtype): S not a multiple of the 64/128 blocks, head dims 32..128
CASES = [
    (2, 3, 37, 32, False, True, torch.float32),
    (1, 2, 70, 48, True, True, torch.float32),
    (2, 1, 19, 64, True, False, torch.float16),
    (1, 1, 5, 128, False, True, torch.float32),
    (3, 2, 29, 64, False, True, torch.float16),
]


@needs_triton
@pytest.mark.parametrize("B,H,S,Dh,causal,masked,dtype", CASES)
def test_kernel_matches_reference(B, H, S, Dh, causal, masked, dtype):
    q, k, v = _qkv(B, H, S, Dh, dtype=dtype)
    mask = _mask(B, S) if masked else None
    do = torch.randn(B, H, S, Dh, generator=torch.Generator().manual_seed(9)).to(dtype)
    o, grads = _run("triton", q, k, v, mask, causal, do)
    # reference in fp32 on the same (rounded) inputs
    o_r, grads_r = _run("torch", q.float(), k.float(), v.float(), mask, causal, do.float())
    assert o.dtype == dtype and o.shape == (B, H, S, Dh)
    torch.testing.assert_close(o.float(), o_r, **TOL[dtype])
    for g, gr in zip(grads, grads_r):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g.float(), gr, **TOL[dtype])


@pytest.mark.parametrize("causal", [False, True])
def test_reference_matches_naive_softmax(causal):
    q, k, v = _qkv(2, 2, 23, 16, seed=1)
    mask = _mask(2, 23, seed=1)
    o = attention(q, k, v, key_padding_mask=mask, causal=causal, impl="torch")
    torch.testing.assert_close(o.double(), _naive(q, k, v, mask, causal), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", ["torch", pytest.param("triton", marks=needs_triton)])
def test_fully_padded_rows_are_zero_with_zero_gradient(impl):
    q, k, v = _qkv(2, 2, 11, 32, seed=2)
    mask = torch.zeros(2, 11, dtype=torch.bool)
    mask[1] = True  # every key of sample 1 is padding
    do = torch.ones(2, 2, 11, 32)
    o, (gq, gk, gv) = _run(impl, q, k, v, mask, False, do)
    assert torch.isfinite(o).all() and (o[1] == 0).all()
    assert (gq[1] == 0).all() and (gk[1] == 0).all() and (gv[1] == 0).all()
    assert gq[0].abs().sum() > 0
    # causal + padding: query 0 of sample 0 only sees key 0; pad it -> row 0 is zero, row 1 is not
    mask2 = torch.zeros(2, 11, dtype=torch.bool)
    mask2[0, 0] = True
    o2, _ = _run(impl, q, k, v, mask2, True, do)
    assert (o2[0, :, 0] == 0).all() and (o2[0, :, 1].abs().sum() > 0)
    torch.testing.assert_close(o2[0, :, 1], v[0, :, 1])  # row 1 sees only key 1


@needs_triton
def test_empty_mask_equals_no_mask_and_strided_inputs():
    B, S, H, Dh = 2, 21, 3, 32
    g = torch.Generator().manual_seed(3)
    base = torch.randn(3, B, S, H, Dh, generator=g)  # (B, S, H, Dh) layout, viewed as (B, H, S, Dh)
    q, k, v = (t.transpose(1, 2) for t in base)
    assert not q.is_contiguous()
    o1 = attention(q, k, v, key_padding_mask=torch.zeros(B, S, dtype=torch.bool), impl="triton")
    o2 = attention(q, k, v, impl="triton")
    o3 = attention(q.contiguous(), k.contiguous(), v.contiguous(), impl="torch")
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(o1, o3, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(key_padding_mask=torch.zeros(2, 5, dtype=torch.bool)), r"key_padding_mask must have shape \(B, S\) = \(2, 7\)"),
        (dict(key_padding_mask=torch.zeros(2, 7)), "key_padding_mask must be a bool tensor"),
        (dict(impl="flash"), "impl='flash' is not supported"),
    ],
)
def test_bad_arguments(kwargs, match):
    q, k, v = _qkv(2, 1, 7, 16)
    with pytest.raises(NeurosigError, match=match):
        attention(q, k, v, **kwargs)


def test_shape_mismatch():
    q, k, v = _qkv(2, 1, 7, 16)
    with pytest.raises(NeurosigError, match="q, k, v must all be"):
        attention(q, k[:, :, :5], v)
    with pytest.raises(NeurosigError, match="q must have 4 dimensions"):
        attention(q[0], k, v)


@needs_triton
def test_head_dim_out_of_kernel_range():
    q, k, v = _qkv(1, 1, 7, 8)
    with pytest.raises(NeurosigError, match="head dim 16..128"):
        attention(q, k, v, impl="triton")
