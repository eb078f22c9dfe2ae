"""rvq_search (Triton interpreter vs the unfused reference), codebook_stats and ema_update."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from neurosig import NeurosigError
from neurosig.kernels import codebook_stats, ema_update, rvq_search

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")


def _data(N, D, L, K, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g)
    cb = torch.randn(L, K, D, generator=g) * torch.linspace(1.0, 0.3, L)[:, None, None]  # shrinking levels
    return x.to(dtype), cb.to(dtype)


# N not a multiple of the 64-row block, K not a multiple of the 64-entry tile, D not a power of 2,
# a single vector / single entry, and D = 64 as in the tokenizer.
SHAPES = [(37, 8, 3, 50), (130, 20, 4, 131), (1, 5, 1, 1), (70, 64, 2, 200)]


@needs_triton
@pytest.mark.parametrize("N,D,L,K", SHAPES)
def test_matches_reference_fp32(N, D, L, K):
    x, cb = _data(N, D, L, K)
    codes, q = rvq_search(x, cb, impl="triton")
    codes_r, q_r = rvq_search(x, cb, impl="torch")
    assert codes.shape == (N, L) and codes.dtype == torch.int64
    assert q.shape == (N, D) and q.dtype == x.dtype
    assert torch.equal(codes, codes_r)
    torch.testing.assert_close(q, q_r, rtol=1e-6, atol=1e-6)


@needs_triton
def test_matches_reference_fp16():
    x, cb = _data(45, 24, 3, 77, seed=1, dtype=torch.float16)
    codes, q = rvq_search(x, cb, impl="triton")
    codes_r, q_r = rvq_search(x, cb, impl="torch")
    assert q.dtype == torch.float16
    # both compute distances in fp32 from the same fp16 values
    assert torch.equal(codes, codes_r)
    torch.testing.assert_close(q, q_r, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("impl", ["torch", pytest.param("triton", marks=needs_triton)])
def test_quantized_is_sum_of_chosen_entries_and_each_level_is_nearest(impl):
    x, cb = _data(40, 12, 3, 33, seed=2)
    codes, q = rvq_search(x, cb, impl=impl)
    chosen = torch.stack([cb[lvl][codes[:, lvl]] for lvl in range(3)])  # (L, N, D)
    torch.testing.assert_close(q, chosen.sum(0), rtol=1e-6, atol=1e-6)
    residual = x.clone()
    for lvl in range(3):  # brute force: each level's code is the nearest entry to its residual
        d = torch.cdist(residual.double(), cb[lvl].double())  # (N, K)
        assert torch.equal(codes[:, lvl], d.argmin(1))
        residual = residual - chosen[lvl]
    # more levels never increase the error
    errs = [(x - chosen[: i + 1].sum(0)).pow(2).sum() for i in range(3)]
    assert errs[0] >= errs[1] >= errs[2]


@pytest.mark.parametrize("impl", ["torch", pytest.param("triton", marks=needs_triton)])
def test_ties_go_to_lowest_index(impl):
    g = torch.Generator().manual_seed(3)
    cb = torch.randn(1, 100, 4, generator=g)
    cb[0, 70] = cb[0, 3]  # duplicates in another 64-entry tile and in the same tile
    cb[0, 9] = cb[0, 3]
    x = cb[0, 3][None].repeat(5, 1) + 0.01
    codes, _ = rvq_search(x, cb, impl=impl)
    assert (codes[:, 0] == 3).all()


def test_codebook_stats_and_ema_update():
    g = torch.Generator().manual_seed(4)
    K, D = 7, 3
    x = torch.randn(50, D, generator=g)
    codes = torch.randint(0, K - 1, (50,), generator=g)  # entry K-1 unused
    counts, sums = codebook_stats(codes, x, K)
    onehot = torch.nn.functional.one_hot(codes, K).float()  # (N, K): fine for a test
    torch.testing.assert_close(counts, onehot.sum(0))
    torch.testing.assert_close(sums, onehot.T @ x)
    assert counts[K - 1] == 0
    codebook = torch.randn(K, D, generator=g)
    ema_c, ema_s = torch.zeros(K), torch.zeros(K, D)
    for _ in range(300):  # repeated identical batches: the EMA converges to the per-code means
        ema_update(codebook, ema_c, ema_s, codes, x, decay=0.9)
    used = counts > 0
    torch.testing.assert_close(codebook[used], (sums / counts.clamp_min(1)[:, None])[used], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "x,cb,match",
    [
        (torch.randn(5, 8), torch.randn(2, 10, 6), "codebooks have dimension D=6 but x has D=8"),
        (torch.randn(8), torch.randn(2, 10, 8), "x must have 2 dimensions"),
        (torch.randn(5, 8), torch.randn(10, 8), "codebooks must have 3 dimensions"),
        (torch.ones(5, 8, dtype=torch.int64), torch.randn(2, 10, 8), "x must be a floating-point tensor"),
    ],
)
def test_bad_arguments(x, cb, match):
    with pytest.raises(NeurosigError, match=match):
        rvq_search(x, cb)


def test_codebook_stats_bad_arguments():
    with pytest.raises(NeurosigError, match=r"codes must lie in \[0, K=4\)"):
        codebook_stats(torch.tensor([0, 5]), torch.randn(2, 3), 4)
    with pytest.raises(NeurosigError, match="codes has N=2 entries but x has N=3"):
        codebook_stats(torch.tensor([0, 1]), torch.randn(3, 3), 4)


@pytest.mark.parametrize("impl", ["torch", pytest.param("triton", marks=needs_triton)])
def test_nan_entry_is_never_chosen_and_nan_vector_gets_code_0(impl):
    # A NaN distance counts as +inf in both paths (documented; no per-call finiteness check).
    x, cb = _data(100, 16, 3, 70, seed=5)
    cb[0, 65, 0] = float("nan")  # one broken entry at level 0
    x[3, 2] = float("nan")  # one broken vector
    codes, q = rvq_search(x, cb, impl=impl)
    assert (codes[:, 0] != 65).all()  # argmin with NaN would pick 65 for every vector
    assert (codes[3] == 0).all()
    ok = torch.ones(100, dtype=torch.bool)
    ok[3] = False
    codes_clean, _ = rvq_search(x[ok], torch.cat([cb[:, :65], cb[:, 66:]], 1), impl="torch")
    codes_clean[:, 0] += (codes_clean[:, 0] >= 65).long()  # indices after the removed entry shift by one
    assert torch.equal(codes[ok][:, 0], codes_clean[:, 0])


@needs_triton
def test_nan_inputs_give_the_same_codes_in_kernel_and_reference():
    x, cb = _data(100, 16, 3, 70, seed=6)
    x[3, 2] = float("nan")
    x[50] = float("inf")
    cb[0, 65, 0] = float("nan")
    cb[1, 7, 3] = float("inf")
    codes, q = rvq_search(x, cb, impl="triton")
    codes_r, q_r = rvq_search(x, cb, impl="torch")
    assert torch.equal(codes, codes_r)
    torch.testing.assert_close(q, q_r, equal_nan=True, rtol=0, atol=1e-6)


def test_ema_update_on_an_empty_batch_changes_nothing():
    g = torch.Generator().manual_seed(7)
    K, D = 8, 4
    codebook = torch.randn(K, D, generator=g)
    before = codebook.clone()
    ema_c, ema_s = torch.zeros(K), torch.zeros(K, D)  # fresh EMA statistics
    ema_update(codebook, ema_c, ema_s, torch.zeros(0, dtype=torch.long), torch.zeros(0, D))
    assert torch.equal(codebook, before)  # was 0/0 = NaN everywhere
    assert (ema_c == 0).all() and (ema_s == 0).all()
    ema_c2, ema_s2 = torch.rand(K, generator=g), torch.rand(K, D, generator=g)
    c2, s2 = ema_c2.clone(), ema_s2.clone()
    ema_update(codebook, ema_c2, ema_s2, torch.zeros(0, dtype=torch.long), torch.zeros(0, D))
    assert torch.equal(codebook, before) and torch.equal(ema_c2, c2) and torch.equal(ema_s2, s2)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(codebook=torch.randn(8, 5), ema_sums=torch.zeros(8, 5)), "x has D=4 but codebook has D=5"),
        (dict(ema_counts=torch.zeros(9)), r"ema_counts must have shape \(K,\) = \(8,\)"),
        (dict(ema_sums=torch.zeros(8, 3)), r"ema_sums must have shape \(K, D\) = \(8, 4\)"),
        (dict(codebook=torch.randn(8)), "codebook must have 2 dimensions"),
        (dict(decay="0.9"), r"decay must be a number in \[0, 1\), got '0.9'"),
        (dict(decay=True), r"decay must be a number in \[0, 1\)"),
        (dict(decay=1.0), r"decay must be a number in \[0, 1\)"),
        (dict(eps=0.0), "eps must be a positive number"),
        (dict(ema_counts=torch.zeros(8, dtype=torch.long)), "ema_counts must be a floating-point tensor"),
    ],
)
def test_ema_update_bad_arguments(change, match):
    K, D = 8, 4
    args = dict(codebook=torch.randn(K, D), ema_counts=torch.zeros(K), ema_sums=torch.zeros(K, D),
                codes=torch.zeros(3, dtype=torch.long), x=torch.randn(3, D), decay=0.99)
    args.update(change)
    with pytest.raises(NeurosigError, match=match) as err:
        ema_update(**args)
    assert "\n" not in str(err.value)
