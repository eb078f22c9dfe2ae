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


@needs_triton
def test_bf16_under_the_interpreter_is_refused():
    # The interpreter's bf16 tl.dot is wrong (outputs ~1e8 instead of ~1): refuse, never return it.
    q, k, v = _qkv(1, 2, 8, 16, dtype=torch.bfloat16)
    with pytest.raises(NeurosigError, match="does not support bfloat16") as err:
        attention(q, k, v, impl="triton")
    assert "\n" not in str(err.value)
    o = attention(q.half(), k.half(), v.half(), impl="triton")  # the suggested fix works
    torch.testing.assert_close(o.float(), attention(q.float(), k.float(), v.float(), impl="torch"), **TOL[torch.float16])


def _full_mask_reference(q, k, v, mask, causal):
    """The (B, 1, S, S)-mask formulation the reference used before (kept to pin its results)."""
    B, H, S, Dh = q.shape
    allowed = torch.ones(B, 1, S, S, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & ~mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(S, S, dtype=torch.bool).tril()
    row_ok = allowed.any(-1, keepdim=True)
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed | ~row_ok)
    return out * row_ok.to(out.dtype)


def test_reference_builds_no_square_mask_unless_causal_with_padding(monkeypatch):
    # The reference is the benchmark's SDPA baseline and nn.attention's CPU path: causal alone must
    # use is_causal=True and padding alone a broadcast (B, 1, 1, S) key mask, not a (B, 1, S, S) one.
    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False, **kw):
        calls.append((None if attn_mask is None else tuple(attn_mask.shape), is_causal))
        return sdpa(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kw)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    B, H, S, Dh = 2, 3, 9, 16
    q, k, v = _qkv(B, H, S, Dh)
    mask = _mask(B, S)
    attention(q, k, v, causal=True, impl="torch")
    attention(q, k, v, key_padding_mask=mask, impl="torch")
    attention(q, k, v, key_padding_mask=mask, causal=True, impl="torch")
    assert calls == [(None, True), ((B, 1, 1, S), False), ((B, 1, S, S), False)]


@pytest.mark.parametrize("causal,masked", [(True, False), (False, True), (True, True)])
def test_reference_results_equal_the_full_mask_formulation(causal, masked):
    # Same outputs and gradients, bit for bit, including a fully padded sample (-> 0, no gradient).
    q, k, v = _qkv(3, 2, 37, 32, seed=4)
    mask = _mask(3, 37, seed=4) if masked else None
    do = torch.randn(3, 2, 37, 32, generator=torch.Generator().manual_seed(5))
    o, grads = _run("torch", q, k, v, mask, causal, do)
    ts = [t.clone().requires_grad_() for t in (q, k, v)]
    o_old = _full_mask_reference(*ts, mask, causal)
    grads_old = torch.autograd.grad(o_old, ts, do)
    assert torch.equal(o, o_old)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_old))


@pytest.mark.parametrize("causal", ["no", 1, None])
def test_causal_must_be_a_bool(causal):
    q, k, v = _qkv(1, 1, 4, 16)
    with pytest.raises(NeurosigError, match=r"causal must be a bool \(True or False\), got") as err:
        attention(q, k, v, causal=causal)
    assert "\n" not in str(err.value)
