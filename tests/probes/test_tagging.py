import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.probes import tagging as tg


def test_dft_at_matches_fft_bins_and_direct_sum(rng):
    x = rng.standard_normal((3, 240))
    fs = 4.0
    full = np.fft.rfft(x, axis=-1)
    got = tg.dft_at(x, fs, [1.0, 2.0])
    np.testing.assert_allclose(got, full[:, [60, 120]], atol=1e-9)
    f = 1.013  # off the FFT grid: direct formula
    direct = (x * np.exp(-2j * np.pi * f * np.arange(240) / fs)).sum(-1)
    np.testing.assert_allclose(tg.dft_at(x, fs, [f])[:, 0], direct, atol=1e-9)


def test_bh_matches_direct_formula(rng):
    p = np.concatenate([rng.uniform(0, 1e-3, 30), rng.uniform(0, 1, 500)])
    rej, adj = tg.bh_fdr(p, 0.05)
    m = p.size
    srt = np.sort(p)
    ok = np.flatnonzero(srt <= np.arange(1, m + 1) * 0.05 / m)
    thr = srt[ok.max()] if ok.size else -1
    np.testing.assert_array_equal(rej, p <= thr)
    # adjusted p: min over k >= rank of p_(k) m / k
    order = np.argsort(p)
    expect = np.array([min(1.0, min(srt[k:] * m / np.arange(k + 1, m + 1))) for k in range(m)])
    np.testing.assert_allclose(adj[order], expect)


def _planted(rng, T=240, n=400, amp=0.35):
    """Neurons 0-99: 1 Hz; 100-199: 2 Hz; 200-299: both; 300-399: noise (fs = 4 Hz)."""
    t = np.arange(T) / 4.0
    x = rng.standard_normal((T, n))
    ph = rng.uniform(0, 2 * np.pi, n)
    x[:, :100] += amp * 2 * np.cos(2 * np.pi * 1 * t[:, None] + ph[:100])
    x[:, 100:200] += amp * np.cos(np.pi * np.arange(T))[:, None]  # 2 Hz at Nyquist: alternating sign
    x[:, 200:300] += amp * 2 * np.cos(2 * np.pi * t[:, None] + ph[200:300]) + amp * np.cos(np.pi * np.arange(T))[:, None]
    return x


def test_planted_neurons_recovered(rng):
    layers = [tg.tag_series(_planted(rng), 4.0, [1.0, 2.0], n_perm=100, seed=l) for l in range(2)]
    res = tg.classify(layers, alpha=0.05)
    for d in res:
        sig = d["sig"]
        s_only, p_only, both = sig[0] & ~sig[1], sig[1] & ~sig[0], sig[0] & sig[1]
        assert s_only[:100].mean() > 0.8
        assert p_only[100:200].mean() > 0.8
        assert both[200:300].mean() > 0.8
        assert sig[:, 300:].any(0).mean() < 0.05  # noise neurons
        assert d["sentence"] + d["phrase"] + d["both"] == int(sig.any(0).sum())


def test_null_is_calibrated(rng):
    x = rng.standard_normal((240, 2000))
    st = tg.tag_series(x, 4.0, [1.0, 2.0], n_perm=20, seed=1)
    for key in ("p_perm", "p_snr"):
        frac = (st[key] < 0.05).mean()
        assert 0.03 < frac < 0.07, (key, frac)


def test_snr_test_detects_peak_and_uses_f_law(rng):
    from scipy import stats

    x = rng.standard_normal((5000, 240))
    ratio, p = tg.snr_test(x, 4.0, 1.0, n_neighbors=4)
    # under white noise the ratio follows F(2, 16)
    assert stats.kstest(ratio, stats.f(2, 16).cdf).pvalue > 0.01
    y = x[:3] + 0.8 * np.cos(2 * np.pi * np.arange(240) / 4.0)
    assert (tg.snr_test(y, 4.0, 1.0)[1] < 1e-4).all()


def test_streams_conditions():
    sents = tg.load_corpus()
    assert len(sents) >= 60 and all(len(s) == 4 for s in sents)
    st = tg.make_streams(sents, "structured", n_trials=2, n_sentences=20, seed=0)
    ct = tg.make_streams(sents, "control", n_trials=5, n_sentences=20, seed=0)
    rd = tg.make_streams(sents, "random", n_trials=2, n_sentences=20, seed=0)
    assert all(len(s) == 80 for s in st + ct + rd)
    pairs = {(a, b) for s in sents for a, b in zip(s[:-1], s[1:])}
    for c, s in zip(ct, st):
        assert not (set(zip(c[:-1], c[1:])) & pairs)  # no original adjacent pair survives
    # the control is a re-ordering of a structured stream
    st5 = tg.make_streams(sents, "structured", n_trials=5, n_sentences=20, seed=0)
    assert sorted(ct[0]) == sorted(st5[0]) and ct[0] != st5[0]  # same draw of sentences (the shuffle then uses the rng)
    assert len(set(map(tuple, ct))) == 5


def test_control_is_permutation_of_structured():
    sents = tg.load_corpus()
    rng = np.random.default_rng(3)
    words = [w for s in sents[:10] for w in s]
    forbidden = {(a, b) for a, b in zip(words[:-1], words[1:])} | {(w, w) for w in words}
    out = tg._no_pair_shuffle(words, forbidden, rng)
    assert sorted(out) == sorted(words)
    assert not set(zip(out[:-1], out[1:])) & forbidden


def test_corpus_errors(tmp_path):
    bad = tmp_path / "c.txt"
    bad.write_text("the dog chased cats\nthe dog ran\n")
    with pytest.raises(NeurosigError, match="line 2 has 3 words"):
        tg.load_corpus(bad)
    with pytest.raises(NeurosigError, match="not found"):
        tg.load_corpus(tmp_path / "missing.txt")
    with pytest.raises(NeurosigError, match="condition"):
        tg.make_streams([["a", "b", "c", "d"]] * 2, "jumbled", n_trials=1, n_sentences=1)


def test_config_validation():
    with pytest.raises(NeurosigError, match="Nyquist"):
        tg.TaggingConfig(phrase_hz=3.0)
    with pytest.raises(NeurosigError, match="n_perm"):
        tg.TaggingConfig(n_perm=0)


def test_brain_epochs_itpc(rng):
    sfreq, T, n_tr = 100.0, 400, 30
    t = np.arange(T) / sfreq
    x = rng.standard_normal((n_tr, 4, T))
    x[:, 0] += 0.6 * np.sin(2 * np.pi * 1.0 * t)  # phase-locked 1 Hz
    x[:, 1] += 0.6 * np.sin(2 * np.pi * 2.0 * t)  # phase-locked 2 Hz
    x[:, 2] += 0.6 * np.sin(2 * np.pi * 1.0 * t[None] + rng.uniform(0, 2 * np.pi, (n_tr, 1)))  # not phase-locked
    res = tg.tag_epochs(x, sfreq, [1.0, 2.0], n_perm=100)
    assert res["sig"][0, 0] and res["sig"][1, 1]
    assert not res["sig"][2].any() and not res["sig"][3].any()
    assert res["itpc"][0, 0] > 0.8 and res["itpc"][2, 0] < 0.4
    assert res["p_rayleigh"][0, 0] < 1e-6
    # ITPC by its definition
    X = (x[:, :, :] - x.mean(-1, keepdims=True)) @ np.exp(-2j * np.pi * 1.0 * t)
    np.testing.assert_allclose(res["itpc"][:, 0], np.abs((X / np.abs(X)).mean(0)), atol=1e-9)
    with pytest.raises(NeurosigError, match="trials, channels, time"):
        tg.tag_epochs(x[0], sfreq, [1.0])


def test_brain_epochs_reject_non_finite_and_bad_sfreq(rng):
    x = rng.standard_normal((10, 3, 200))
    x[3, 0, 17] = np.nan  # one NaN sample used to give itpc nan but p_perm at its smallest value
    x[4, 1, 5] = np.inf
    with pytest.raises(NeurosigError, match="2 non-finite") as e:
        tg.tag_epochs(x, 100.0, [1.0, 2.0], n_perm=10)
    assert "\n" not in str(e.value)
    for sf in (-5.0, 0.0, float("nan")):
        with pytest.raises(NeurosigError, match="sfreq must be a positive"):
            tg.tag_epochs(rng.standard_normal((4, 2, 100)), sf, [1.0], n_perm=5)


def test_llm_tagging_on_tiny_model(tiny_models, tmp_path):
    from neurosig.probes.llm import LLMProbe

    model, tok = tiny_models["llama"]
    probe = LLMProbe(model, tok, name="tiny")
    sents = [s.split() for s in ["the dog chased cats", "a girl sang songs", "my father reads books", "old men drink tea", "her brother plays chess"]]
    cfg = tg.TaggingConfig(n_sentences=3, n_trials=2, n_perm=10)
    res = tg.run_llm_tagging(probe, sents, cfg, progress=False)
    assert set(res["conditions"]) == {"structured", "control", "random"}
    for c in res["conditions"].values():
        assert [d["layer"] for d in c["layers"]] == [0, 1, 2]
        assert all(d["n_neurons"] == 24 for d in c["layers"])
    paths = tg.plot_tagging(res, tmp_path / "t")
    assert all((tmp_path / p).exists() or __import__("os").path.exists(p) for p in paths)


class _ClassProbe:
    """A fake LLM whose 'neurons' respond to each word's position class in its corpus sentence."""

    name = "fake"

    def __init__(self, sentences, n_layers=2, n_neurons=40, seed=0):
        rng = np.random.default_rng(seed)
        self.cls = {w: i for s in sentences for i, w in enumerate(s)}
        self.W = rng.standard_normal((n_layers, 4, n_neurons))
        self.W[:, :, n_neurons // 2 :] = 0  # half of the neurons carry no signal
        self.rng = rng

    def extract(self, texts, layers=None, kinds=("mlp",), batch_size=1):
        out = []
        for words in texts:
            c = np.array([self.cls[w] for w in words])
            x = self.W[:, c] + 1.0 * self.rng.standard_normal((self.W.shape[0], len(words), self.W.shape[2]))
            out.append({"mlp": x})
        return out


def test_run_llm_tagging_planted_structured_vs_control():
    sents = tg.load_corpus()
    probe = _ClassProbe(sents)
    cfg = tg.TaggingConfig(n_sentences=40, n_trials=6, n_perm=100, seed=1)
    res = tg.run_llm_tagging(probe, sents, cfg, progress=False)
    tot = {c: sum(l["sentence"] + l["phrase"] + l["both"] for l in d["layers"]) for c, d in res["conditions"].items()}
    assert tot["structured"] >= 0.8 * 40  # most of the 2 x 20 signal neurons
    assert tot["structured"] <= 40 + 2  # the 40 no-signal neurons stay (almost) silent
    assert tot["control"] <= 1 and tot["random"] <= 1
