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


# ---------------------------------------------------------------- codebook health (defaults)
def _drifting_clusters(n, seed=1):
    """32 clusters in 8-D that start as one tight blob (a young encoder's output) and spread
    to their final places over 10 steps; returns (centres (32, 8), batch(step) -> (n, 8))."""
    centres = torch.randn(32, 8, generator=torch.Generator().manual_seed(0)) * 2.0
    gb = torch.Generator().manual_seed(seed)

    def batch(step):
        lab = torch.randint(0, 32, (n,), generator=gb)
        return centres[lab] * min(1.0, step / 10) + 0.05 * torch.randn(n, 8, generator=gb)

    return centres, batch


def _train_drifting(n, steps=60, **kw):
    centres, batch = _drifting_clusters(n)
    q = EMAQuantizer(32, 8, seed=0, **kw)
    q.train()
    for step in range(steps):
        q(batch(step))
    q.eval()
    _, codes, commit, _ = q(batch(1000))
    covered = int((torch.cdist(centres, q.embed).min(1).values < 0.2).sum())  # clusters with a code within 4 sd
    return codes.unique().numel(), commit.item(), covered


@pytest.mark.parametrize("batch", [64, 2048])
def test_default_rule_keeps_codes_alive_where_the_old_absolute_threshold_collapses(batch):
    # k-means init sees the blob, so every code starts inside it; the clusters then spread out.
    # New defaults: idle codes are restarted within a few updates onto the data.
    codes, mse, covered = _train_drifting(batch)
    assert codes >= 24 and covered >= 24 and mse < 0.3
    # Old defaults (decay 0.99, absolute threshold 1e-3): an idle code needs ~690 updates to
    # be restarted, so after 60 the codes left in the blob stay unused.
    codes_old, mse_old, covered_old = _train_drifting(batch, decay=0.99, dead_threshold=1e-3)
    assert covered_old <= 2 and mse_old > 0.5 and codes_old <= 20
    assert mse < 0.5 * mse_old


def test_relative_dead_rule_is_invariant_to_batch_units():
    q = EMAQuantizer(8, 2, seed=0)
    sizes = torch.tensor([5.0, 0.3, 2.0, 0.05, 1.0, 0.0, 3.0, 4.0])  # mean 1.91875
    for scale in (1.0, 37.0, 1e-3):  # the EMA counts scale with the batch size
        q.cluster_size.copy_(sizes * scale)
        assert q.dead_mask().tolist() == (sizes < 0.1 * sizes.mean()).tolist()
    assert q.dead_mask().sum() == 2  # codes 3 and 5
    legacy = EMAQuantizer(8, 2, seed=0, dead_threshold=1.0)
    legacy.cluster_size.copy_(sizes * 37.0)
    assert legacy.dead_mask().sum() == 1  # absolute: only the empty code


def test_decay_warmup_schedule_and_legacy_constant_decay():
    q = EMAQuantizer(4, 2, seed=0)
    want = {0: 0.1, 10: 11 / 20, 90: 91 / 100, 890: 0.99, 5000: 0.99}
    for t, d in want.items():
        q.n_updates = t
        assert q.current_decay() == pytest.approx(d)
    assert EMAQuantizer(4, 2, decay_warmup=0).current_decay() == 0.99
    legacy = EMAQuantizer(4, 2, decay=0.9, dead_threshold=1e-3)
    assert legacy.current_decay() == 0.9  # legacy rule: constant decay, as before


def test_ema_counts_start_at_kmeans_cluster_sizes_and_restart_at_uniform_usage():
    x, _ = _mixture(n_centres=4, dim=3, per=50, seed=8)
    q = EMAQuantizer(4, 3, seed=0, kmeans_iters=5)
    q.train()
    q._init(x)
    assert q.cluster_size.sum().item() == pytest.approx(len(x))  # counts of the init batch
    torch.testing.assert_close(q.embed_avg / q.cluster_size[:, None], q.embed)
    with torch.no_grad():  # code 2 far from all data: never chosen
        q.embed[2] = 1e3
        q.embed_avg[2] = 1e3 * q.cluster_size[2]
    restarted_at = None
    for step in range(30):
        _, _, _, st = q(x)
        if st["restarted"]:
            restarted_at = step
            break
    # idle code: cluster size × Π (1+t)/(10+t) falls below 0.1 × 50 within two updates
    assert restarted_at is not None and restarted_at <= 2
    assert q.embed[2].abs().max() < 100  # now a data point
    assert q.cluster_size[2].item() == pytest.approx(q.cluster_size.sum().item() / 4, rel=0.5)


def test_state_dict_keys_unchanged_so_old_checkpoints_load():
    q = EMAQuantizer(4, 2)
    assert set(q.state_dict()) == {"embed", "embed_avg", "cluster_size", "initted"}


def test_loading_a_trained_codebook_skips_the_warmup():
    x, _ = _mixture(seed=9)
    q = EMAQuantizer(8, 4, seed=0)
    q.train()
    q(x[:256])
    fresh = EMAQuantizer(8, 4, seed=1)
    assert fresh.current_decay() == pytest.approx(0.1)
    fresh.load_state_dict(q.state_dict())
    assert fresh.n_updates == q.warmed_up_updates() == 890  # (1 + 890) / (10 + 890) = 0.99
    assert fresh.current_decay() == 0.99
    untrained = EMAQuantizer(8, 4, seed=1)
    untrained.load_state_dict(EMAQuantizer(8, 4, seed=2).state_dict())  # not initialised: warm-up kept
    assert untrained.current_decay() == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"decay": 1.0}, "decay must be a number in \\(0, 1\\)"),
        ({"decay": 0.0}, "decay must be a number in \\(0, 1\\)"),
        ({"decay": True}, "decay must be a number"),
        ({"dead_fraction": 1.0}, "dead_fraction must be a number in \\[0, 1\\)"),
        ({"dead_fraction": -0.1}, "dead_fraction"),
        ({"dead_fraction": "0.1"}, "dead_fraction"),
        ({"dead_threshold": -1.0}, "dead_threshold must be null"),
        ({"dead_threshold": "1e-3"}, "dead_threshold"),
        ({"decay_warmup": -1}, "decay_warmup must be an integer >= 0"),
        ({"decay_warmup": 2.5}, "decay_warmup"),
    ],
)
def test_ema_parameters_are_validated(kw, match):
    from neurosig import NeurosigError
    from neurosig.tokenizers import build_tokenizer

    with pytest.raises(NeurosigError, match="EMAQuantizer " + match):
        EMAQuantizer(4, 2, **kw)
    for kind in ("tf", "rvq", "vq"):
        # the dataclass's own check ("tf config decay ...") or, for a wrong type, the config loader's
        with pytest.raises(NeurosigError, match=f"(?:{kind} config|tokenizer \\({kind}\\):) " + match):
            build_tokenizer(kind, {"codebook_size": 8, **kw})


def test_tokenizer_configs_default_to_the_relative_rule_and_accept_the_legacy_one():
    from neurosig.tokenizers import build_tokenizer

    for kind in ("tf", "rvq", "vq"):
        tok = build_tokenizer(kind, {"codebook_size": 8, "n_levels": 1} if kind == "rvq" else {"codebook_size": 8})
        levels = [lv for m in tok.quantizer.modules() if isinstance(m, ResidualVQ) for lv in m.levels]
        assert levels and all(lv.dead_threshold is None and lv.dead_fraction == 0.1 and lv.decay_warmup == 10 for lv in levels)
        tok = build_tokenizer(kind, {"codebook_size": 8, "decay": 0.8, "dead_threshold": 1.0})
        levels = [lv for m in tok.quantizer.modules() if isinstance(m, ResidualVQ) for lv in m.levels]
        assert all(lv.legacy and lv.dead_threshold == 1.0 and lv.current_decay() == 0.8 for lv in levels)


def test_legacy_absolute_threshold_reproduces_the_previous_algorithm():
    # reference: the update of earlier versions (constant decay, absolute threshold, restarted
    # codes get count 1), written out here; the legacy rule must match it exactly
    d, thr, k = 0.8, 1.0, 16
    q = EMAQuantizer(k, 3, decay=d, dead_threshold=thr, kmeans_init=False, seed=5)
    q.train()
    embed, embed_avg, size = q.embed.clone(), q.embed_avg.clone(), q.cluster_size.clone()
    g = torch.Generator()
    g.set_state(q._gen.get_state())
    data = torch.Generator().manual_seed(0)
    total = 0
    for step in range(40):
        x = torch.randn(100, 3, generator=data) * (1 + step / 10) + step / 5  # drifting inputs
        _, codes, _, st = q(x)
        want = torch.cdist(x, embed).argmin(1)
        assert torch.equal(codes, want)
        counts = torch.bincount(want, minlength=k).float()
        size = d * size + (1 - d) * counts
        embed_avg = d * embed_avg + (1 - d) * torch.zeros(k, 3).index_add_(0, want, x)
        n = size.sum()
        embed = embed_avg / ((size + 1e-5) / (n + k * 1e-5) * n)[:, None]
        dead = size < thr
        if dead.any():
            new = x[torch.randint(0, 100, (int(dead.sum()),), generator=g)]
            embed[dead], embed_avg[dead], size[dead] = new, new, 1.0
        assert st["restarted"] == int(dead.sum())
        total += int(dead.sum())
    assert total > 0  # the restart path was exercised
    torch.testing.assert_close(q.embed, embed)
    torch.testing.assert_close(q.cluster_size, size)
