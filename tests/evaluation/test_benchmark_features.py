"""Token and spectral features and the block-ensemble head of ``neurosig bench real`` (synthetic, fast)."""

import numpy as np
import pytest
import torch

from neurosig import NeurosigError
from neurosig.evaluation.benchmark import (
    FeatureHead,
    TangentSpace,
    code_histogram,
    covariances,
    hand_features,
    segment_means,
    slow_features,
    spectral_features,
    subset,
)


def test_code_histogram_counts_codes_per_channel():
    codes = np.array([[[[0], [2], [2], [1]], [[3], [3], [3], [3]]]])  # (1, C=2, N=4, L=1)
    h = code_histogram(codes, [4])
    assert h.shape == (1, 8)
    np.testing.assert_allclose(h[0, :4], [0.25, 0.25, 0.5, 0.0])
    np.testing.assert_allclose(h[0, 4:], [0.0, 0.0, 0.0, 1.0])
    two = code_histogram(np.concatenate([codes, codes[..., :1] % 2], -1), [4, 2])  # two levels
    assert two.shape == (1, 2 * 6)
    np.testing.assert_allclose(two.reshape(2, 6).sum(1), [2.0, 2.0])  # each level of each channel sums to 1
    with pytest.raises(NeurosigError, match="codebook_sizes"):
        code_histogram(codes, [4, 4])


def test_spectral_features_match_numpy_stft_power():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 200)).astype(np.float32)
    f = spectral_features(x, 50, 25)  # (3, 2 * 26)
    win = torch.hann_window(50, periodic=True).numpy()
    frames = np.stack([x[..., s:s + 50] for s in range(0, 151, 25)], -2)  # (3, 2, 7, 50)
    pw = (np.abs(np.fft.rfft(frames * win, axis=-1)) ** 2).mean(-2)
    np.testing.assert_allclose(f, np.log(pw + 1e-6).reshape(3, -1), rtol=1e-4, atol=1e-4)


def test_spectral_features_see_the_dominant_frequency():
    t = np.arange(200) / 200.0
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 40 * t)])[:, None].astype(np.float32)  # (2, 1, 200)
    f = spectral_features(x, 50, 25)  # bins of 4 Hz
    assert f[0].argmax() in (2, 3) and f[1].argmax() == 10


def test_segment_means_cover_every_token_once_and_clip_to_length():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 2, 7, 5)).astype(np.float32)  # (n, C, N=7, d)
    s = segment_means(h, 3)  # segments [0:2], [2:5], [5:7]
    assert s.shape == (3, 2, 3, 5)
    np.testing.assert_allclose(s[:, :, 0], h[:, :, 0:2].mean(2), rtol=1e-6)
    np.testing.assert_allclose(s[:, :, 1], h[:, :, 2:5].mean(2), rtol=1e-6)
    np.testing.assert_allclose(s[:, :, 2], h[:, :, 5:7].mean(2), rtol=1e-6)
    np.testing.assert_allclose(segment_means(h, 1)[:, :, 0], h.mean(2), rtol=1e-6)
    assert segment_means(h[:, :, :2], 4).shape == (3, 2, 2, 5)  # fewer tokens than segments: one per token


def test_slow_features_are_sub_window_means():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 12)
    np.testing.assert_allclose(slow_features(x, 4), [[1.5, 5.5, 9.5, 13.5, 17.5, 21.5]])


def test_tangent_space_reference_is_the_training_mean_and_preserves_distance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3, 100)) * np.array([1.0, 2.0, 0.5])[None, :, None]
    cov = covariances(x, shrinkage=0.0)
    np.testing.assert_allclose(cov[0], np.cov(x[0]), rtol=1e-6)
    ts = TangentSpace().fit(cov)
    v = ts.transform(cov)
    assert v.shape == (40, 6)
    np.testing.assert_allclose(v.mean(0), 0.0, atol=0.2)  # the training mean maps near the origin
    # ‖v‖ equals the affine-invariant distance to the reference (Frobenius norm of the log-map)
    w = np.linalg.eigvalsh(ts.isqrt_ @ cov[0] @ ts.isqrt_)
    np.testing.assert_allclose(np.linalg.norm(v[0]), np.sqrt((np.log(w) ** 2).sum()), rtol=1e-5)


def _toy(n=80, seed=0):
    """Class 1 has a slow offset on channel 0 and more power on channel 1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.standard_normal((n, 2, 100)).astype(np.float32)
    x[:, 0, 50:] += 0.8 * y[:, None]
    x[:, 1] *= (1 + y)[:, None]
    return x, y


def test_feature_head_learns_toy_task_and_fits_tangent_space_on_training_rows_only():
    x, y = _toy()
    feats = hand_features(x, 50)
    assert set(feats) == {"patch", "slow", "slow12", "cum", "cum12", "spec", "rspec", "cov"}
    np.testing.assert_allclose(feats["rspec"].reshape(80, 2, -1).mean(-1), 0.0, atol=1e-4)
    tr, te = np.arange(60), np.arange(60, 80)
    head = FeatureHead([["slow"], ["spec", "ts"]], seed=0).fit(subset(feats, tr), y[tr])
    assert (head.predict(subset(feats, te)) == y[te]).mean() >= 0.9
    ref = TangentSpace().fit(feats["cov"][tr])
    np.testing.assert_allclose(head.ts_.isqrt_, ref.isqrt_)
    p = head.predict_proba(subset(feats, te))
    np.testing.assert_allclose(p.sum(1), 1.0)
    with pytest.raises(NeurosigError, match="unknown feature 'nope'"):
        FeatureHead([["nope"]]).fit(feats, y)
    with pytest.raises(NeurosigError, match="blocks"):
        FeatureHead([])


def test_cv_weighting_drops_blocks_at_chance_and_uses_the_fit_folds_scores():
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(1)
    n = 120
    y = np.repeat([0, 1], n // 2)
    feats = {"good": (y[:, None] * 1.5 + rng.normal(size=(n, 3))).astype(np.float32),
             "noise": rng.normal(size=(n, 20)).astype(np.float32)}
    head = FeatureHead([["good"], ["noise"]], seed=0, weighting="cv").fit(feats, y)
    assert head.weights_.sum() == pytest.approx(1.0)
    assert head.weights_[0] > 0.8 and head.cv_scores_[0] > 0.8
    # the score that weights a block is its CV balanced accuracy at the chosen C (scikit-learn, same folds)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    C = float(head.heads_[0][-1].C_[0])
    ref = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000, class_weight="balanced")),
                          feats["good"], y, cv=StratifiedKFold(5), scoring="balanced_accuracy")  # blocked folds (default order)
    assert head.cv_scores_[0] == pytest.approx(ref.mean(), abs=0.02)
    mean = FeatureHead([["good"], ["noise"]], seed=0).fit(feats, y)
    np.testing.assert_allclose(mean.weights_, [0.5, 0.5])
    p = head.predict_proba(feats)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    assert balanced_accuracy_score(y, head.predict(feats)) >= balanced_accuracy_score(y, mean.predict(feats)) - 0.02
    with pytest.raises(NeurosigError, match="weighting must be one of"):
        FeatureHead([["good"]], weighting="vote")


def test_validation_accuracy_is_the_mean_over_folds_carved_from_training_rows():
    from sklearn.metrics import balanced_accuracy_score

    from neurosig.evaluation.benchmark import validation_accuracy, validation_folds

    x, y = _toy()
    feats = hand_features(x, 50)
    manual = []
    for itr, iva in validation_folds(y, 3, 1):
        h = FeatureHead([["slow"], ["ts"]], 1).fit(subset(feats, itr), y[itr])
        manual.append(balanced_accuracy_score(y[iva], h.predict(subset(feats, iva))))
    assert validation_accuracy(feats, y, [["slow"], ["ts"]], 3, 1) == pytest.approx(np.mean(manual))
    assert validation_accuracy(feats, y, [["slow"]], 3, 1) > 0.8  # the toy task is learnable


def test_shared_block_cache_gives_the_same_heads_and_figures(monkeypatch):
    from neurosig.evaluation.benchmark import validation_accuracies, validation_accuracy

    x, y = _toy()
    feats = hand_features(x, 50)
    heads = {"a": [["slow"], ["ts"]], "b": [["slow"], ["spec"], ["ts"]], "c": [["slow", "spec"]]}
    together = validation_accuracies(feats, y, heads, 3, 2)
    assert together == {k: pytest.approx(validation_accuracy(feats, y, b, 3, 2), abs=0) for k, b in heads.items()}
    # a weighting per head ({head: weighting}; "mean" for the heads it does not name), seen by every fold's head
    import neurosig.evaluation.benchmark as B

    built = []

    class Spy(B.FeatureHead):
        def __init__(self, blocks, seed=0, weighting="mean", order="blocked"):
            built.append((len(blocks), weighting))
            super().__init__(blocks, seed, weighting, order)

    monkeypatch.setattr(B, "FeatureHead", Spy)
    mixed = validation_accuracies(feats, y, heads, 3, 2, {"b": "cv2"})
    assert sorted(set(built)) == [(1, "mean"), (2, "mean"), (3, "cv2")] and len(built) == 9  # 3 heads x 3 folds
    monkeypatch.undo()
    assert mixed["b"] == pytest.approx(validation_accuracy(feats, y, heads["b"], 3, 2, "cv2"), abs=0)
    assert mixed["a"] == together["a"] and mixed["c"] == together["c"]
    cache = {}
    cached = {k: FeatureHead(b, 2).fit(feats, y, cache=cache) for k, b in heads.items()}
    assert len(cache) == 4  # slow, ts, spec, slow+spec: the blocks the heads share are fitted once
    assert cached["a"].heads_[0] is cached["b"].heads_[0]
    for k, b in heads.items():
        fresh = FeatureHead(b, 2).fit(feats, y)
        np.testing.assert_array_equal(cached[k].predict_proba(feats), fresh.predict_proba(feats))


def test_drift_features_are_sub_patch_means_of_the_running_integral():
    from neurosig.evaluation.benchmark import drift_features

    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 103)).astype(np.float32)
    got = drift_features(x, 10)
    assert got.shape == (4, 2 * 10)
    ref = np.empty((4, 2, 10))
    for i in range(4):
        for c in range(2):
            run = np.array([x[i, c, : t + 1].astype(np.float64).sum() for t in range(103)]) / 103
            ref[i, c] = [run[m * 10:(m + 1) * 10].mean() for m in range(10)]
    np.testing.assert_allclose(got, ref.reshape(4, -1), rtol=1e-5, atol=1e-6)
    # a constant offset integrates to a ramp: the drift block sees a level the slow block would flatten
    ramp = drift_features(np.ones((1, 1, 100), np.float32), 25)[0]
    np.testing.assert_allclose(np.diff(ramp), 0.25, rtol=1e-5)


def test_feature_head_rejects_an_unknown_fold_order():
    with pytest.raises(NeurosigError, match="order must be one of blocked, shuffled"):
        FeatureHead([["slow"]], order="random")


def test_native_spectrum_keeps_the_band_that_resampling_to_the_model_rate_drops():
    from neurosig.evaluation.benchmark import native_spectrum, signal_features, to_model_rate

    sf, f0 = 256.0, 112.0  # above the 100 Hz Nyquist of the 200 Hz model rate
    t = np.arange(896) / sf
    rng = np.random.default_rng(0)
    x = (np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal((4, 2, t.size))).astype(np.float32)
    ns = native_spectrum(x, sf, 0.25)  # n_fft 64: 33 bins of 4 Hz, up to 128 Hz
    assert ns.shape == (4, 2 * 33)
    assert int(ns.reshape(4, 2, 33).mean((0, 1)).argmax()) == round(f0 / 4)  # the peak is in the 112 Hz bin
    np.testing.assert_array_equal(ns, spectral_features(x, 64, 32))  # the tokenizer STFT, native window
    feats = signal_features(x, sf, 200.0, 50)
    xm = to_model_rate(x, sf, 200.0)
    ref = hand_features(xm - xm.mean(-1, keepdims=True), 50)
    assert set(feats) == set(ref) | {"nspec"}
    for k in ref:  # the model-rate blocks are hand_features' own
        np.testing.assert_array_equal(feats[k], ref[k])
    assert feats["nspec"].shape == (4, 2 * 33)  # window = one 50-sample patch at 200 Hz = 0.25 s
    spec = feats["spec"].reshape(4, 2, -1).mean((0, 1))  # model-rate spectrum: the 112 Hz sine is gone
    assert spec.max() < ns.reshape(4, 2, 33).mean((0, 1)).max() - 5.0
    with pytest.raises(NeurosigError, match="window_s"):
        native_spectrum(x, sf, 0.0)
