import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.probes import axes as ax


def _match(S_true, S_est):
    """|corr| matrix between true and estimated sources (axes up to sign/permutation)."""
    k = S_true.shape[1]
    return np.abs(np.corrcoef(S_true.T, S_est.T)[:k, k:])


def test_ica_recovers_planted_axes(rng):
    n_words, n_feat, k = 400, 30, 3
    S = np.stack([rng.laplace(size=n_words), rng.uniform(-1, 1, n_words), rng.exponential(size=n_words)], 1)
    A = rng.standard_normal((k, n_feat))
    atlas = S @ A + 0.05 * rng.standard_normal((n_words, n_feat)) + 0.5
    S_est, mixing = ax.ica_axes(atlas, k, seed=0)
    C = _match(S, S_est)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-C)
    assert C[rows, cols].min() > 0.95  # each planted axis found once
    assert mixing.shape == (n_feat, k)
    # positive-skew sign convention
    assert (((S_est - S_est.mean(0)) ** 3).mean(0) >= 0).all()
    with pytest.raises(NeurosigError, match="n_axes"):
        ax.ica_axes(atlas[:2], 3)


def test_plv_atlas_planted_coupling(rng):
    sfreq, T, n = 200.0, 400, 12
    t = np.arange(T) / sfreq
    x = 0.3 * rng.standard_normal((n, 3, T))
    ph = rng.uniform(0, 2 * np.pi, n)[:, None]
    x[:, 0] += np.sin(2 * np.pi * 6 * t + ph)
    x[:, 1] += np.sin(2 * np.pi * 6 * t + ph + 0.7)  # locked to channel 0 with a lag
    x[:, 2] += np.sin(2 * np.pi * 6 * t + np.cumsum(rng.standard_normal((n, T)) * 0.3, 1))  # drifting phase
    words = ["a", "b", "c"] * 4
    atlas, uw, names = ax.plv_atlas(x, sfreq, [[4, 8]], words)
    assert uw == ["a", "b", "c"] and atlas.shape == (3, 3)
    assert names[0] == "4-8Hz:0-1"
    assert atlas[:, 0].min() > 0.9  # locked pair
    assert atlas[:, 1].max() < atlas[:, 0].min()
    full, _, _ = ax.plv_atlas(x, sfreq, [[4, 8]])
    np.testing.assert_allclose(atlas[0], full[0::3].mean(0))  # word rows average their epochs
    with pytest.raises(NeurosigError, match="Nyquist"):
        ax.plv_atlas(x, sfreq, [[90, 120]])
    with pytest.raises(NeurosigError, match="one word per epoch"):
        ax.plv_atlas(x, sfreq, [[4, 8]], words[:3])


def test_adapter_recovers_axes(rng):
    n, d, k = 300, 20, 2
    S = rng.standard_normal((n, k))
    M = rng.standard_normal((k, d))
    H = S @ M + 0.1 * rng.standard_normal((n, d))
    res = ax.fit_adapter(H, S, alpha=1.0)
    assert (res["r"] > 0.95).all()
    np.testing.assert_allclose(np.linalg.norm(res["directions"], axis=1), 1.0)
    with pytest.raises(NeurosigError, match="one row per word"):
        ax.fit_adapter(H[:10], S)


def test_zipf_frequency_orders_words():
    pytest.importorskip("wordfreq")
    assert ax.zipf_frequency(["the", "and", "of"]) > ax.zipf_frequency(["serendipity", "quixotic"]) + 3


def test_steering_sweep_tiny_model(tiny_models):
    pytest.importorskip("wordfreq")
    from neurosig.probes.llm import LLMProbe

    model, tok = tiny_models["llama"]
    probe = LLMProbe(model, tok, name="tiny")
    dirs = np.eye(16)[:1]
    out = ax.steering_sweep(probe, 1, dirs, [-20.0, 0.0, 20.0], ["the dog", "a girl"], max_new_tokens=5, n_random=1)
    assert set(out["directions"]) == {"axis0", "random0"}
    rows = out["directions"]["axis0"]["rows"]
    assert [r["scale"] for r in rows] == [-20.0, 0.0, 20.0]
    assert all(r["ppl"] > 1 for r in rows)
    assert rows[0]["text"] != rows[1]["text"] or rows[2]["text"] != rows[1]["text"]  # steering changes generation
    # scale 0 = the unsteered model
    assert rows[1]["text"] == ax.generate(probe, ["the dog"], 5)[0]


def test_steering_rejects_encoder(tiny_models):
    from neurosig.probes.llm import LLMProbe

    model, tok = tiny_models["bert"]
    with pytest.raises(NeurosigError, match="causal"):
        ax.steering_sweep(LLMProbe(model, tok), 0, np.eye(16)[:1], [0.0], ["x"])
