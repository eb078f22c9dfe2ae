import math

import numpy as np
import pytest
from sklearn import metrics as skm

from neurosig import NeurosigError
from neurosig.evaluation import aggregate_seeds, bootstrap_metrics, classification_metrics, grouped_metrics


def _probs(rng, n, k):
    p = rng.random((n, k)) + 1e-3
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("k", [2, 4])
def test_metrics_match_sklearn(rng, k):
    y = rng.integers(0, k, 200)
    p = _probs(rng, 200, k)
    p[np.arange(200), y] += 0.3 * rng.random(200)  # informative but imperfect
    p /= p.sum(1, keepdims=True)
    m = classification_metrics(y, p, k)
    pred = p.argmax(1)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-6)
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred), abs=1e-6)
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"), abs=1e-6)
    if k == 2:
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p[:, 1]), abs=1e-6)
        assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p[:, 1]), abs=1e-6)
    else:
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-6)
        onehot = np.eye(k)[y]
        assert m["auprc"] == pytest.approx(skm.average_precision_score(onehot, p, average="macro"), abs=1e-6)


def test_binary_1d_scores_and_hard_labels(rng):
    y = rng.integers(0, 2, 100)
    s = np.clip(y * 0.3 + rng.random(100) * 0.7, 0, 1)
    m = classification_metrics(y, s, 2)
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-6)
    hard = classification_metrics(y, (s > 0.5).astype(np.int64), 2)
    assert hard["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, s > 0.5))
    assert math.isnan(hard["auroc"])


def test_absent_class_matches_sklearn(rng):
    y = rng.integers(0, 2, 50)  # class 2 never occurs in y_true
    p = _probs(rng, 50, 3)
    m = classification_metrics(y, p, 3)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)), abs=1e-6)


def test_grouped_is_mean_of_groups(rng):
    y = rng.integers(0, 2, 90)
    p = _probs(rng, 90, 2)
    g = np.repeat(["a", "b", "c"], 30)
    m = grouped_metrics(y, p, g, 2)
    ref = np.mean([skm.balanced_accuracy_score(y[g == k], p[g == k].argmax(1)) for k in "abc"])
    assert m["balanced_accuracy"] == pytest.approx(ref, abs=1e-6)
    assert m["n_groups"] == 3


def test_aggregate_seeds():
    out = aggregate_seeds([{"balanced_accuracy": 0.5}, {"balanced_accuracy": 0.7}, {"balanced_accuracy": 0.9}])
    assert out["balanced_accuracy"] == pytest.approx(0.7)
    assert out["balanced_accuracy_std"] == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))
    assert aggregate_seeds([{"x": 1.0}])["x_std"] == 0.0


def test_bad_inputs():
    with pytest.raises(NeurosigError, match="y_score must have shape"):
        classification_metrics([0, 1], np.zeros((2, 3)), 2)
    with pytest.raises(NeurosigError, match="outside"):
        classification_metrics([0, -1], np.zeros((2, 2)), 2)
    with pytest.raises(NeurosigError, match="no runs"):
        aggregate_seeds([])


# ------------------------------------------------------------------ bootstrap intervals over test units
def _subject_correlated(rng, n_subjects=12, per=20):
    """Binary windows where whole subjects are read right or wrong (the correlation a window bootstrap misses)."""
    y = rng.integers(0, 2, n_subjects * per)
    groups = np.repeat(np.arange(n_subjects), per)
    good = rng.random(n_subjects) < 0.7
    p1 = np.where(good[groups], np.where(y == 1, 0.8, 0.2), np.where(y == 1, 0.3, 0.7)) + 0.05 * rng.random(len(y))
    return y, np.clip(p1, 0, 1), groups


def test_bootstrap_metrics_matches_a_sklearn_reference(rng):
    from neurosig.evaluation import bootstrap_metrics

    y, p1, g = _subject_correlated(rng)
    got = bootstrap_metrics(y, p1, 2, groups=g, n_boot=60, seed=5)
    ref_rng = np.random.default_rng(5)  # the documented procedure: subjects drawn with replacement, all windows kept
    members = [np.flatnonzero(g == k) for k in np.unique(g)]
    bacc, auc = [], []
    for _ in range(60):
        idx = np.concatenate([members[j] for j in ref_rng.integers(0, len(members), len(members))])
        bacc.append(skm.balanced_accuracy_score(y[idx], (p1[idx] > 0.5).astype(int)))
        if len(np.unique(y[idx])) == 2:
            auc.append(skm.roc_auc_score(y[idx], p1[idx]))
    np.testing.assert_allclose(got["balanced_accuracy"], np.percentile(bacc, [2.5, 97.5]), atol=1e-6)
    np.testing.assert_allclose(got["auroc"], np.percentile(auc, [2.5, 97.5]), atol=1e-6)
    assert (got["unit"], got["n_units"], got["n_boot"]) == ("subjects", 12, 60)


def test_bootstrap_over_subjects_is_wider_than_over_windows(rng):
    from neurosig.evaluation import bootstrap_metrics

    y, p1, g = _subject_correlated(rng)
    subj = bootstrap_metrics(y, p1, 2, groups=g, n_boot=300)
    win = bootstrap_metrics(y, p1, 2, n_boot=300)
    assert win["unit"] == "windows" and win["n_units"] == len(y)
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(subj["balanced_accuracy"]) > 1.5 * width(win["balanced_accuracy"])
    perfect = bootstrap_metrics(y, np.eye(2)[y], 2, groups=g, n_boot=50)
    assert perfect["balanced_accuracy"] == [1.0, 1.0] and perfect["auroc"] == [1.0, 1.0]


def test_bootstrap_metrics_one_subject_and_bad_input(rng):
    from neurosig.evaluation import bootstrap_metrics

    y, p1, _ = _subject_correlated(rng, n_subjects=2)
    with pytest.warns(RuntimeWarning, match="one test subject"):
        r = bootstrap_metrics(y, p1, 2, groups=np.zeros(len(y)), n_boot=20)
    assert r["unit"] == "windows"
    with pytest.raises(NeurosigError, match="y_score has"):
        bootstrap_metrics(y, p1[:-1], 2)
    with pytest.raises(NeurosigError, match="groups has"):
        bootstrap_metrics(y, p1, 2, groups=[0, 1])
    with pytest.raises(NeurosigError, match="n_boot"):
        bootstrap_metrics(y, p1, 2, n_boot=0)


def test_undefined_kappa_is_nan_and_left_out_of_group_means_and_draws():
    """Labels and predictions all one class: kappa is undefined (scikit-learn: NaN), not 0 (no agreement)."""
    import warnings

    y0 = np.zeros(6, dtype=np.int64)
    p0 = np.tile([0.9, 0.1], (6, 1))  # right on every window, but only one class exists in the group
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.cohen_kappa_score(y0, p0.argmax(1))
    assert math.isnan(ref)
    assert math.isnan(classification_metrics(y0, p0, 2)["cohen_kappa"])
    # a defined kappa of one class (predictions vary) stays 0, as scikit-learn
    assert classification_metrics(y0, np.array([0, 1, 0, 0, 0, 0]), 2)["cohen_kappa"] == pytest.approx(0.0)
    # group "a": one class, perfect; group "b": both classes, perfect (kappa 1). The mean skips "a"
    y = np.r_[y0, [0, 1, 0, 1, 0, 1]]
    p = np.eye(2)[y] * 0.8 + 0.1
    g = np.repeat(["a", "b"], 6)
    assert grouped_metrics(y, p, g, 2)["cohen_kappa"] == pytest.approx(1.0)
    # bootstrap: a draw of "a" twice has no kappa; every other draw is perfect, so the interval is [1, 1]
    ci = bootstrap_metrics(y, p, 2, groups=g, n_boot=200, seed=0)
    assert ci["cohen_kappa"] == pytest.approx([1.0, 1.0])


def test_recording_level_metrics_average_window_probabilities_per_recording():
    """TUAB: one label per recording. Per-recording means compare each recording with itself (kappa NaN, AUROC null);
    the protocol averages each recording's window probabilities and scores across recordings."""
    from neurosig.evaluation import recording_level_metrics

    y = np.repeat([0, 0, 0, 1, 1, 1], 4)
    rec = np.repeat([f"r{i}" for i in range(6)], 4)
    p1 = np.where(y == 1, 0.6, 0.4)
    p1[0], p1[12] = 0.55, 0.45  # one wrong window in r0 and r3: the recording means stay right
    prob = np.stack([1 - p1, p1], axis=1)
    per = grouped_metrics(y, prob, rec, 2)
    assert math.isnan(per["auroc"]) and per["cohen_kappa"] == 0.0  # nothing a group can rank or agree on
    got = recording_level_metrics(y, prob, rec, 2)
    ref_p = np.array([p1[rec == f"r{i}"].mean() for i in range(6)])
    ref_y = np.array([0, 0, 0, 1, 1, 1])
    assert got["n_recordings"] == 6
    assert got["auroc"] == pytest.approx(skm.roc_auc_score(ref_y, ref_p), abs=1e-6) and got["auroc"] == pytest.approx(1.0)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(ref_y, ref_p > 0.5))
    assert got["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(ref_y, (ref_p > 0.5).astype(int)))
    with pytest.raises(NeurosigError, match="recording 'r0' holds windows of labels"):
        recording_level_metrics(np.r_[1, y[1:]], prob, rec, 2)
