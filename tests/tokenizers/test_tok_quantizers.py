"""EMA/k-means quantizers: known-centre recovery, dead-code restart, search equivalence."""

from __future__ import annotations

import pytest
import torch

from neurosig.tokenizers.quantizers import EMAQuantizer, ResidualVQ, kmeans, nearest_code, rvq_search_reference


def _mixture(n_centres=8, dim=4, per=200, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_centres, dim, generator=g) * 3.0
    labels = torch.arange(n_centres).repeat_interleave(per)
    x = centres[labels] + spread * torch.randn(len(labels), dim, generator=g)
    return x[torch.randperm(len(x), generator=g)], centres


def _max_nearest_dist(found, centres):
    return torch.cdist(centres, found).min(dim=1).values.max().item()


def test_nearest_code_matches_bruteforce_on_odd_shapes():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1037, 13, generator=g)
    cb = torch.randn(301, 13, generator=g)
    want = torch.cdist(x, cb).argmin(1)
    assert torch.equal(nearest_code(x, cb, chunk=97), want)


def test_rvq_search_reference_is_residual():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(257, 7, generator=g)
    cbs = torch.randn(3, 33, 7, generator=g)
    codes, q = rvq_search_reference(x, cbs, chunk=50)
    r = x.clone()
    for lvl in range(3):
        idx = torch.cdist(r, cbs[lvl]).argmin(1)
        assert torch.equal(codes[:, lvl], idx)
        r = r - cbs[lvl][idx]
    torch.testing.assert_close(q, x - r)


def test_kmeans_recovers_known_centres():
    x, centres = _mixture()
    found = kmeans(x, 8, iters=20, generator=torch.Generator().manual_seed(3))
    # k-means++ seeding: every true centre has a found centre within 5 noise sd
    assert _max_nearest_dist(found, centres) < 0.25


@pytest.mark.parametrize("kmeans_init", [True, False])
def test_ema_quantizer_recovers_mixture(kmeans_init):
    x, centres = _mixture(seed=4)
    # without k-means init the codes start as N(0, 1) noise: EMA + dead-code restart must fix it
    q = EMAQuantizer(12, 4, decay=0.8, kmeans_init=kmeans_init, kmeans_iters=2, dead_threshold=2.0, seed=0)
    q.train()
    total_restarts = 0
    for step in range(80):
        batch = x[(step * 256) % 1400 : (step * 256) % 1400 + 256]
        _, codes, commit, stats = q(batch)
        total_restarts += stats["restarted"]
    # every true centre is represented by a code (EMA means converge to cluster means)
    assert _max_nearest_dist(q.embed, centres) < 0.1
    if not kmeans_init:
        assert total_restarts > 0
    # the final commitment loss is at the noise level (spread 0.05 → mse ≈ 0.0025)
    q.eval()
    _, _, commit, _ = q(x)
    assert commit.item() < 0.01


def test_dead_code_restart_moves_code_onto_data():
    x, _ = _mixture(seed=5)
    q = EMAQuantizer(8, 4, decay=0.5, kmeans_init=False, dead_threshold=0.1, seed=0)
    with torch.no_grad():
        q.embed[3] = 1e4  # a code far from every input: never chosen
        q.embed_avg[3] = 1e4
    q.train()
    for _ in range(6):
        q(x[:256])
    assert q.embed[3].abs().max() < 100  # restarted onto a data point
    d = torch.cdist(q.embed[3:4], x).min()
    assert d < 5.0


def test_cosine_quantizer_codes_are_unit_norm():
    x, _ = _mixture(seed=6)
    q = EMAQuantizer(16, 4, normalize=True, seed=0)
    q.train()
    for _ in range(5):
        q(x[:300])
    torch.testing.assert_close(q.embed.norm(dim=-1), torch.ones(16), atol=1e-5, rtol=0)


def test_residual_vq_levels_reduce_error():
    x, _ = _mixture(n_centres=32, dim=8, per=40, spread=0.3, seed=7)
    errs = []
    for levels in (1, 3):
        rvq = ResidualVQ(levels, 16, 8, decay=0.8, seed=0)
        rvq.train()
        for _ in range(20):
            rvq(x)
        rvq.eval()
        qv, codes, _, _ = rvq(x)
        assert codes.shape == (len(x), levels)
        torch.testing.assert_close(qv, rvq.lookup(codes))
        errs.append(((qv - x) ** 2).mean().item())
    assert errs[1] < 0.5 * errs[0]
