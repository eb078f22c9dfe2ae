"""The real-data benchmark's invariants on synthetic sets (no download needed)."""

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.evaluation.benchmark import (
    BenchSet,
    carve_validation,
    check_no_test_leak,
    fit_head,
    patch_features,
    pretraining_pool,
    to_model_rate,
    trial_hash,
    validation_folds,
)


def _set(name, seed, n=20, C=3, T=64, sfreq=128.0):
    rng = np.random.default_rng(seed)
    mk = lambda k: rng.normal(size=(k, C, T)).astype(np.float32)
    return BenchSet(name, mk(n), rng.integers(0, 2, n), mk(n // 2), rng.integers(0, 2, n // 2), sfreq,
                    [f"c{i}" for i in range(C)], np.zeros(C, np.int64), np.full((C, 3), np.nan, np.float32))


def test_pool_never_holds_an_evaluated_test_split():
    a, b, other = _set("A", 0), _set("B", 1), _set("Other", 2)
    pool = pretraining_pool([a, b], [other, b])  # b listed as extra too: still treated as evaluated
    assert ("A", "test") not in pool.source and ("B", "test") not in pool.source
    assert ("Other", "test") in pool.source  # non-evaluated sets are pooled whole
    assert len(pool.windows) == len(a.x_train) + len(b.x_train) + len(other.x_train) + len(other.x_test)
    test_hashes = {trial_hash(t) for s in (a, b) for t in s.x_test}
    assert not test_hashes & set(pool.hashes)


def test_leak_detected_by_provenance_and_by_content():
    a, other = _set("A", 0), _set("Other", 2)
    pool = pretraining_pool([a], [other])
    pool.source.append(("A", "test"))
    with pytest.raises(NeurosigError, match="test-split windows"):
        check_no_test_leak(pool, [a])
    pool = pretraining_pool([a], [other])
    # the same trial smuggled in under another name is caught by its content hash
    other.x_test[0] = a.x_test[3]
    with pytest.raises(NeurosigError, match="identical to test trials of A"):
        pretraining_pool([a], [other])


def test_resample_and_patch_features_shapes():
    x = np.random.default_rng(0).normal(size=(4, 3, 100)).astype(np.float32)
    y = to_model_rate(x, 100.0, 200.0)
    assert y.shape == (4, 3, 200)
    # a 5 Hz sine survives resampling (same frequency, same amplitude)
    t = np.arange(100) / 100.0
    s = np.sin(2 * np.pi * 5 * t)[None, None].astype(np.float32)
    r = to_model_rate(s, 100.0, 200.0)[0, 0]
    assert np.allclose(r[20:180], np.sin(2 * np.pi * 5 * np.arange(200) / 200.0)[20:180], atol=0.05)
    f = patch_features(y, 50)
    assert f.shape[0] == 4 and np.isfinite(f).all()


def test_head_learns_separable_features_and_validation_is_stratified():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    F = rng.normal(size=(80, 5)) + y[:, None] * 2.0
    tr, va = carve_validation(y, 0.25, seed=0)
    assert set(tr).isdisjoint(va) and np.bincount(y[va]).tolist() == [10, 10]
    head = fit_head(F[tr], y[tr], seed=0)
    assert (head.predict(F[va]) == y[va]).mean() > 0.9


@pytest.mark.parametrize("order", ["blocked", "shuffled"])
def test_validation_folds_cover_training_once(order):
    y = np.repeat([0, 1], [12, 9])
    folds = validation_folds(y, 3, seed=1, order=order)
    assert len(folds) == 3
    val = np.concatenate([va for _, va in folds])
    assert sorted(val.tolist()) == list(range(len(y)))  # each training trial validates exactly once
    for tr, va in folds:
        assert set(tr).isdisjoint(va) and len(set(y[va])) == 2
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, validation_folds(y, 3, seed=1, order=order)))


def test_blocked_folds_are_contiguous_runs_per_class_and_seed_free():
    y = np.array([0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1])  # recording order
    folds = validation_folds(y, 3, seed=0)  # default: blocked
    assert [va.tolist() for _, va in folds] == [va.tolist() for _, va in validation_folds(y, 3, seed=7)]
    for k in (0, 1):
        cls = np.flatnonzero(y == k)  # this class's trials in recording order
        runs = [np.flatnonzero(np.isin(cls, va)) for _, va in folds]
        assert all(np.array_equal(r, np.arange(r[0], r[0] + len(r))) for r in runs)  # one contiguous run each
    shuffled = [va.tolist() for _, va in validation_folds(y, 3, seed=0, order="shuffled")]
    assert shuffled != [va.tolist() for _, va in folds]
    with pytest.raises(NeurosigError, match="fold order must be one of blocked, shuffled, got 'random'"):
        validation_folds(y, 3, seed=0, order="random")


def test_blocked_folds_do_not_reward_recording_drift_that_shuffled_folds_leak():
    """Labels in runs (eyes open / shut blocks) and a feature that only drifts with recording time:
    shuffled folds put each trial's neighbours in training and score far above chance; blocked folds
    hold out whole stretches of the recording and stay near chance, as a later-recorded test split would."""
    from neurosig.evaluation.benchmark import validation_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(12) % 2, 10)  # 12 runs of 10 trials
    drift = np.cumsum(rng.normal(size=(120, 32)), 0)  # random walk: neighbours alike, no class information
    feats = {"drift": (drift + 0.3 * rng.normal(size=drift.shape)).astype(np.float32)}
    shuffled = validation_accuracy(feats, y, [["drift"]], 3, 0, order="shuffled")
    blocked = validation_accuracy(feats, y, [["drift"]], 3, 0)
    assert shuffled > 0.8 and blocked < 0.65, (shuffled, blocked)


def test_training_trials_equal_to_own_test_trials_are_left_out_of_the_pool(caplog):
    a, other = _set("A", 0), _set("Other", 2)
    a.x_train[[2, 5]] = a.x_test[[0, 1]]  # the standard split itself overlaps (as in Blink)
    with caplog.at_level("WARNING"):
        pool = pretraining_pool([a], [other])
    assert pool.dropped == {"A": 2}
    assert len(pool.windows) == len(a.x_train) - 2 + len(other.x_train) + len(other.x_test)
    assert not {trial_hash(t) for t in a.x_test} & set(pool.hashes)
    check_no_test_leak(pool, [a])  # the invariant holds
    assert "2 training trials are identical to test trials" in caplog.text


# ------------------------------------------------------------------ the MiniRocket peer beside torch
_PEER_SCRIPT = r"""
import json, sys, warnings
import numpy as np
from neurosig.evaluation.benchmark import BenchSet, run_peer
rng = np.random.default_rng(0)
t = np.arange(128) / 128.0
def trials(n):  # class 0: 5 Hz sine, class 1: 12 Hz sine, random phase, noise
    y = np.arange(n) % 2
    ph = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    x = np.sin(2 * np.pi * np.where(y == 0, 5.0, 12.0)[:, None, None] * t + ph) + 0.3 * rng.normal(size=(n, 1, 128))
    return x.astype(np.float32), y
xtr, ytr = trials(40)
xte, yte = trials(20)
s = BenchSet("toy", xtr, ytr, xte, yte, 128.0, ["c0"], np.zeros(1, np.int64), np.full((1, 3), np.nan, np.float32))
if sys.argv[1] == "omp-first":  # the caller's own numba code launched OpenMP before the peer
    import numba
    numba.config.THREADING_LAYER = "omp"
    @numba.njit(parallel=True)
    def total(a):
        s = 0.0
        for i in numba.prange(len(a)):
            s += a[i]
        return s
    try:
        total(np.ones(8))
    except Exception:  # no OpenMP runtime here
        print(json.dumps({"skip": "numba has no OpenMP layer here"}))
        raise SystemExit(0)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    acc = run_peer(s, 0)
import numba
print(json.dumps({"acc": acc, "layer": numba.threading_layer(),
                  "warned": [str(m.message) for m in w if issubclass(m.category, RuntimeWarning)]}))
"""


def _run_peer_subprocess(mode: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", _PEER_SCRIPT, mode], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peer_learns_and_keeps_numba_off_openmp():
    pytest.importorskip("aeon", reason="the MiniRocket peer needs the `peer` extra (aeon)")
    r = _run_peer_subprocess("fresh")  # a fresh interpreter: numba not launched yet
    assert r["acc"] >= 0.9  # 5 Hz vs 12 Hz sines are easy for MiniRocket
    assert r["layer"] == "workqueue" and r["warned"] == []


def test_peer_warns_when_numba_already_runs_on_openmp():
    pytest.importorskip("aeon", reason="the MiniRocket peer needs the `peer` extra (aeon)")
    r = _run_peer_subprocess("omp-first")
    if "skip" in r:
        pytest.skip(r["skip"])
    assert r["layer"] == "omp" and len(r["warned"]) == 1 and "NUMBA_THREADING_LAYER=workqueue" in r["warned"][0]


def test_user_choice_of_numba_layer_is_respected(monkeypatch):
    numba = pytest.importorskip("numba", reason="numba comes with the `peer` extra (aeon)")
    from neurosig.evaluation.benchmark import numba_threads_beside_torch

    before = numba.config.THREADING_LAYER
    monkeypatch.setenv("NUMBA_THREADING_LAYER", "tbb")
    assert numba_threads_beside_torch() == "tbb"
    assert numba.config.THREADING_LAYER == before


# ------------------------------------------------------------------ how sure is the mean ratio
def _noisy(y, p_correct, seeds, rng):
    k = int(y.max()) + 1
    return np.stack([np.where(rng.random(len(y)) < p_correct, y, (y + 1) % k) for _ in range(seeds)])


def test_stratified_bootstrap_keeps_class_counts():
    from neurosig.evaluation.benchmark import stratified_bootstrap_indices

    y = np.array([0, 1, 1, 2, 2, 2, 0, 1])
    idx = stratified_bootstrap_indices(y, 50, np.random.default_rng(0))
    assert idx.shape == (50, len(y))
    for row in idx:
        assert np.array_equal(np.bincount(y[row], minlength=3), np.bincount(y))
    assert len({tuple(r) for r in idx}) > 1  # resamples differ


def test_bootstrap_mean_ratio_matches_sklearn_and_its_point():
    from sklearn.metrics import balanced_accuracy_score as bas

    from neurosig.evaluation.benchmark import _balanced_accuracies, bootstrap_mean_ratio, stratified_bootstrap_indices

    rng = np.random.default_rng(3)
    ys = [rng.integers(0, 3, 60), rng.integers(0, 2, 40)]
    ours = [_noisy(ys[0], 0.8, 3, rng), _noisy(ys[1], 0.7, 3, rng)]
    peer = [_noisy(ys[0], 0.6, 3, rng), _noisy(ys[1], 0.7, 3, rng)]
    want = np.mean([np.mean([bas(y, p) for p in a]) / np.mean([bas(y, p) for p in b]) for y, a, b in zip(ys, ours, peer)])
    r = bootstrap_mean_ratio(ys, ours, peer, n_boot=500, seed=0)
    assert r["mean_ratio"] == pytest.approx(want, abs=1e-12)
    assert r["ci"][0] < r["mean_ratio"] < r["ci"][1] and 0 < r["p_above_1"] <= 1
    # every resample's balanced accuracy is scikit-learn's on the resampled rows
    idx = stratified_bootstrap_indices(ys[0], 5, np.random.default_rng(1))
    got = _balanced_accuracies(ys[0], ours[0], idx)  # (seeds, draws)
    ref = np.array([[bas(ys[0][i], p[i]) for i in idx] for p in ours[0]])
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_bootstrap_mean_ratio_verdicts():
    from neurosig.evaluation.benchmark import bootstrap_mean_ratio

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    same = _noisy(y, 0.7, 2, rng)
    tie = bootstrap_mean_ratio([y], [same], [same], n_boot=200)
    assert tie["ci"] == [1.0, 1.0] and tie["p_above_1"] == 0.0  # identical predictions: exactly 1 in every draw
    win = bootstrap_mean_ratio([y], [np.stack([y, y])], [_noisy(y, 0.55, 2, rng)], n_boot=200)
    assert win["ci"][0] > 1.2 and win["p_above_1"] == 1.0  # perfect vs near chance: a clear win
    with pytest.raises(NeurosigError, match="predictions of shape"):
        bootstrap_mean_ratio([y], [same[:, :10]], [same], n_boot=10)
    with pytest.raises(NeurosigError, match="one label array"):
        bootstrap_mean_ratio([y], [same], [], n_boot=10)
    with pytest.raises(NeurosigError, match="level"):
        bootstrap_mean_ratio([y], [same], [same], level=1.5)
