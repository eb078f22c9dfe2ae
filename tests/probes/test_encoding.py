import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.probes import encoding as enc

ALPHAS = [10.0**k for k in range(-2, 6)]


def _planted(rng, n=2000, p=20, snrs=(0.25, 1.0, 4.0)):
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, len(snrs)))
    S = X @ W
    S = S / S.std(0) * np.sqrt(snrs)
    Y = S + rng.standard_normal(S.shape)
    return X, Y, np.sqrt(np.asarray(snrs) / (1 + np.asarray(snrs)))


def test_planted_map_recovers_theoretical_r(rng):
    X, Y, expect = _planted(rng)
    res = enc.ridge_cv(X, Y, alphas=ALPHAS, folds=enc.contiguous_folds(len(X), 5))
    np.testing.assert_allclose(res["r"], expect, atol=0.03)
    Xs = X[rng.permutation(len(X))]  # shuffled features: no relation left
    ctl = enc.ridge_cv(Xs, Y, alphas=ALPHAS, folds=enc.contiguous_folds(len(X), 5))
    assert np.abs(ctl["r"]).max() < 0.08


def test_numpy_and_torch_backends_equal(rng):
    X, Y, _ = _planted(rng, n=300, p=12)
    folds = enc.contiguous_folds(300, 3, gap=5)
    a = enc.ridge_cv(X, Y, alphas=ALPHAS, folds=folds, inner_folds=3, backend="numpy")
    b = enc.ridge_cv(X, Y, alphas=ALPHAS, folds=folds, inner_folds=3, backend="torch")
    np.testing.assert_allclose(a["pred"], b["pred"], rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(a["alpha"], b["alpha"])


def test_against_sklearn_ridgecv(rng):
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import KFold

    for seed in range(3):
        r = np.random.default_rng(seed)
        X = r.standard_normal((80, 30))
        y = X[:, :3].sum(1) + 2.0 * r.standard_normal(80)
        ours = enc.select_alphas(X, y, alphas=ALPHAS, inner_folds=4, score="r2")[0]
        sk = RidgeCV(alphas=ALPHAS, cv=KFold(4), scoring="r2").fit(X, y)
        assert ours == sk.alpha_
        W, b = enc.ridge_fit(X, y, ours)
        ref = Ridge(alpha=ours).fit(X, y)
        np.testing.assert_allclose(W[:, 0], ref.coef_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b[0], ref.intercept_, rtol=1e-8)


def test_per_target_penalties_differ(rng):
    X = rng.standard_normal((400, 40))
    W = np.zeros((40, 2))
    W[:, 0] = rng.standard_normal(40)  # dense strong map: small penalty
    y = X @ W
    y[:, 0] += 0.1 * rng.standard_normal(400)
    y[:, 1] = rng.standard_normal(400)  # pure noise: largest penalty
    al = enc.select_alphas(X, y, alphas=ALPHAS, score="r2")
    assert al[0] < al[1]


def test_folds():
    folds = enc.contiguous_folds(103, 4, gap=3)
    tests = np.concatenate([t for _, t in folds])
    np.testing.assert_array_equal(tests, np.arange(103))
    for tr, te in folds:
        assert np.all(np.diff(te) == 1)  # contiguous
        d = np.abs(tr[:, None] - te[None]).min()
        assert d >= 4  # gap of 3 samples on each side
    rf = enc.run_folds([0, 0, 1, 1, 2, 2])
    assert [t.tolist() for _, t in rf] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(NeurosigError, match="at least 2 runs"):
        enc.run_folds([1, 1, 1])
    with pytest.raises(NeurosigError, match="too few"):
        enc.contiguous_folds(5, 4)


def test_lag_features():
    x = np.arange(10.0).reshape(5, 2)
    L = enc.lag_features(x, [0, 2])
    np.testing.assert_array_equal(L[:, :2], x)
    np.testing.assert_array_equal(L[2:, 2:], x[:3])
    np.testing.assert_array_equal(L[:2, 2:], 0)


def test_trf_recovers_lagged_response(rng):
    n = 3000
    s = rng.standard_normal((n, 1))
    y = 0.8 * np.roll(s[:, 0], 3) + 0.5 * rng.standard_normal(n)
    y[:3] = 0
    X = enc.lag_features(s, range(6))
    W, _ = enc.ridge_fit(X, y, 1.0)
    assert np.argmax(np.abs(W[:, 0])) == 3 and abs(W[3, 0] - 0.8) < 0.05


def test_spm_hrf_shape_and_convolution():
    h = enc.spm_hrf(0.1)
    assert abs(h.sum() - 1) < 1e-12
    assert 4.5 < np.argmax(h) * 0.1 < 5.5  # canonical peak near 5 s
    assert h[160:].min() < 0  # undershoot
    x = enc.hrf_features(np.array([0.0]), np.array([[1.0]]), tr=0.1, n_scans=300)
    np.testing.assert_allclose(x[:, 0], h[:300], atol=1e-12)
    with pytest.raises(NeurosigError, match="matching"):
        enc.hrf_features(np.array([0.0, 1.0]), np.ones((3, 1)), 2.0, 10)


def test_docs_state_the_hrf_peak_spm_hrf_has():
    """docs/probes.md and the docstring give the peak time spm_hrf actually has (5 s, not the shape parameter 6)."""
    import re
    from pathlib import Path

    peak = np.argmax(enc.spm_hrf(0.01)) * 0.01
    docs = (Path(__file__).resolve().parents[2] / "docs" / "probes.md").read_text()
    for text in (docs, enc.spm_hrf.__doc__):
        stated = [float(v) for v in re.findall(r"peaks? (?:at )?(\d+(?:\.\d+)?) s", text)]
        assert stated and all(abs(v - peak) < 0.05 for v in stated), (stated, peak)


def test_noise_ceiling_matches_theory(rng):
    n, t, k, sigma = 5000, 4, 4, 1.5
    sig = rng.standard_normal((n, t))
    reps = sig[None] + sigma * rng.standard_normal((k, n, t))
    ceil = enc.noise_ceiling(reps)
    np.testing.assert_allclose(ceil, np.sqrt(1 / (1 + sigma**2 / k)), atol=0.02)
    # the true signal indeed reaches the ceiling
    r = [np.corrcoef(sig[:, j], reps.mean(0)[:, j])[0, 1] for j in range(t)]
    np.testing.assert_allclose(r, ceil, atol=0.02)
    with pytest.raises(NeurosigError, match="n_repeats >= 2"):
        enc.noise_ceiling(reps[:1])


def test_bad_inputs(rng):
    with pytest.raises(NeurosigError, match="same n"):
        enc.ridge_cv(np.ones((10, 2)), np.ones((9, 1)), alphas=[1.0], folds=[])
    X = rng.standard_normal((20, 2))
    X[0, 0] = np.nan
    with pytest.raises(NeurosigError, match="finite"):
        enc.ridge_cv(X, np.ones((20, 1)), alphas=[1.0], folds=[])
    with pytest.raises(NeurosigError, match="backend"):
        enc.ridge_cv(np.ones((20, 2)), np.ones((20, 1)), alphas=[1.0], folds=[], backend="jax")


def test_unusable_torch_device_is_one_line_error(rng):
    """A device torch cannot use (CUDA on a CPU-only build, a missing ordinal) is a NeurosigError, not an AssertionError."""
    import torch

    X, Y, _ = _planted(rng, n=40, p=3)
    devices = ["cuda:99", "nosuchdevice"] + ([] if torch.cuda.is_available() else ["cuda"])
    for dev in devices:
        with pytest.raises(NeurosigError, match=f"device='{dev}' is not usable") as ei:
            enc.ridge_cv(X, Y, alphas=[1.0], folds=enc.contiguous_folds(40, 2), backend="torch", device=dev)
        assert "\n" not in str(ei.value) and "device='cpu'" in str(ei.value)


@pytest.mark.gpu
def test_torch_cuda_backend_matches_numpy(rng):
    X, Y, _ = _planted(rng, n=400, p=16)
    folds = enc.contiguous_folds(400, 4)
    a = enc.ridge_cv(X, Y, alphas=ALPHAS, folds=folds, backend="numpy")
    b = enc.ridge_cv(X, Y, alphas=ALPHAS, folds=folds, backend="torch", device="cuda")
    np.testing.assert_allclose(a["pred"], b["pred"], rtol=1e-7, atol=1e-9)
