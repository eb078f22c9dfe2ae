import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from neurosig import NeurosigError
from neurosig.probes import rsa


def test_rdm_against_scipy(rng):
    X = rng.standard_normal((3, 12, 7))  # batch of 3 pattern sets
    v = rsa.rdm(X, "correlation")
    for b in range(3):
        np.testing.assert_allclose(v[b], pdist(X[b], "correlation"), atol=1e-12)
    e = rsa.rdm(X[0], "euclidean")
    np.testing.assert_allclose(e, pdist(X[0], "sqeuclidean") / 7, atol=1e-12)
    np.testing.assert_allclose(rsa.square(v[0])[np.triu_indices(12, 1)], v[0])


def test_crossnobis_against_direct_formula(rng):
    K, P, F, reps = 5, 3, 6, 4
    X = rng.standard_normal((K * P * reps, F))
    cond = np.repeat(np.arange(K), P * reps)
    part = np.tile(np.repeat(np.arange(P), reps), K)
    W = np.linalg.inv(np.cov(rng.standard_normal((50, F)).T) + np.eye(F))
    got = rsa.crossnobis_rdm(X, cond, part, precision=W)
    M = np.array([[X[(cond == k) & (part == a)].mean(0) for k in range(K)] for a in range(P)])
    expect = []
    for i in range(K):
        for j in range(i + 1, K):
            vals = [(M[a, i] - M[a, j]) @ W @ (M[b, i] - M[b, j]) for a in range(P) for b in range(P) if a != b]
            expect.append(np.mean(vals) / F)
    np.testing.assert_allclose(got, expect, atol=1e-12)


def test_crossnobis_is_unbiased_euclidean_is_not(rng):
    K, P, F = 6, 4, 20
    true = rng.standard_normal((K, F))
    true[1] = true[0]  # conditions 0 and 1 are identical
    cond = np.repeat(np.arange(K), P * 5)
    part = np.tile(np.repeat(np.arange(P), 5), K)
    d01 = []
    for s in range(30):
        r = np.random.default_rng(s)
        X = true[cond] + 2.0 * r.standard_normal((len(cond), F))
        d01.append(rsa.crossnobis_rdm(X, cond, part)[0])
    assert abs(np.mean(d01)) < 3 * np.std(d01) / np.sqrt(30)  # zero in expectation
    means = np.stack([X[cond == k].mean(0) for k in range(K)])
    assert rsa.rdm(means, "euclidean")[0] > 0.1  # plain distances are biased upwards
    with pytest.raises(NeurosigError, match="at least 2 partitions"):
        rsa.crossnobis_rdm(X, cond, np.zeros(len(cond)))


def test_comparisons_against_scipy(rng):
    a = rng.standard_normal((3, 45))
    b = rng.standard_normal((2, 45))
    s = rsa.compare(a, b, "spearman")
    for m in range(3):
        for d in range(2):
            assert abs(s[m, d] - spearmanr(a[m], b[d]).statistic) < 1e-12
    c = rsa.compare(a, b, "cosine")
    np.testing.assert_allclose(c[0, 0], a[0] @ b[0] / np.linalg.norm(a[0]) / np.linalg.norm(b[0]))


def _tau_a_direct(x, y):
    n = len(x)
    s = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    return s / (n * (n - 1) / 2)


def test_kendall_tau_a_with_ties(rng):
    x = rng.integers(0, 4, 28).astype(float)  # many ties, as in categorical model RDMs
    y = rng.standard_normal(28)
    got = rsa.compare(x[None], y[None], "kendall_tau_a")[0, 0]
    assert abs(got - _tau_a_direct(x, y)) < 1e-12
    z = rng.integers(0, 3, 28).astype(float)
    assert abs(rsa.compare(x[None], z[None], "kendall_tau_a")[0, 0] - _tau_a_direct(x, z)) < 1e-12


def test_whitened_cosine_matches_dense_formula(rng):
    n = 7
    i, j = np.triu_indices(n, 1)
    C = np.zeros((len(i), n))
    C[np.arange(len(i)), i] = 1
    C[np.arange(len(i)), j] = -1
    V = (C @ C.T) ** 2  # covariance of distance estimates under i.i.d. noise (up to scale)
    Vi = np.linalg.inv(V)
    a, b = rng.random((2, len(i)))
    dense = a @ Vi @ b / np.sqrt(a @ Vi @ a * (b @ Vi @ b))
    np.testing.assert_allclose(rsa.whiten_rdm(a), Vi @ a, atol=1e-12)
    assert abs(rsa.compare(a[None], b[None], "whitened_cosine")[0, 0] - dense) < 1e-12


def test_planted_structure_and_noise_ceiling(rng):
    K, F, n_sub = 40, 30, 6
    cats = np.repeat(np.arange(4), 10)
    proto = rng.standard_normal((4, F)) * 1.5
    model = (cats[:, None] != cats[None]).astype(float)[np.triu_indices(K, 1)]
    wrong = rng.permutation(model)
    subj = np.stack([rsa.rdm(proto[cats] + rng.standard_normal((K, F)), "correlation") for _ in range(n_sub)])
    for meth in rsa.COMPARISONS:
        sims = rsa.compare(np.stack([model, wrong]), subj.mean(0, keepdims=True), meth)[:, 0]
        assert sims[0] > sims[1] + 0.1, meth
    lo, up = rsa.noise_ceiling(subj)
    assert 0 < lo < up <= 1
    noisier = np.stack([rsa.rdm(proto[cats] + 3 * rng.standard_normal((K, F)), "correlation") for _ in range(n_sub)])
    lo2, up2 = rsa.noise_ceiling(noisier)
    assert lo2 < lo and up2 < up  # more noise, lower ceiling
    sp = rsa.compare(model[None], subj.mean(0, keepdims=True))[0, 0]
    assert sp > 0.5


def test_batched_thousands_of_conditions(rng):
    X = rng.standard_normal((2000, 16)).astype(np.float32)
    v = rsa.rdm(X, "correlation")
    assert v.shape == (2000 * 1999 // 2,)
    w = rsa.whiten_rdm(v[None])
    assert w.shape == (1, v.size) and np.isfinite(w).all()


def test_errors():
    with pytest.raises(NeurosigError, match="not n\\(n-1\\)/2"):
        rsa.square(np.ones(4))
    with pytest.raises(NeurosigError, match="same conditions"):
        rsa.compare(np.ones((1, 3)), np.ones((1, 6)))
    with pytest.raises(NeurosigError, match="not supported"):
        rsa.compare(np.ones((1, 3)), np.ones((1, 3)), "pearsonish")
    with pytest.raises(NeurosigError, match="n_subjects >= 2"):
        rsa.noise_ceiling(np.ones((1, 3)))


def test_rsa_cli_tiny_model(tmp_path, tiny_llama_dir):
    from neurosig.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("the dog chased cats\na girl sang songs\nmy father reads books\nold men drink tea\n")
    out = tmp_path / "rsa.json"
    rc = main(["probe", "rsa", "--model", str(tiny_llama_dir), "--corpus", str(corpus), "--json", str(out), "--device", "cpu"])
    assert rc == 0
    import json

    d = json.loads(out.read_text())
    assert d["n_conditions"] == 16 and len(d["vs_word_position"]) == 3
    assert (tmp_path / "rsa_rsa.png").exists()
    brain = tmp_path / "b.npy"
    np.save(brain, np.random.default_rng(0).standard_normal((3, 16, 5)))
    assert main(["probe", "rsa", "--model", str(tiny_llama_dir), "--corpus", str(corpus), "--brain", str(brain), "--json", str(out), "--device", "cpu"]) == 0
    assert "noise_ceiling" in json.loads(out.read_text())
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 5, 5)))
    assert main(["probe", "rsa", "--model", str(tiny_llama_dir), "--corpus", str(corpus), "--brain", str(bad), "--json", str(out), "--device", "cpu"]) == 2


def test_crossnobis_repeats_unbiased_and_planted(rng):
    """Per-subject crossnobis over the repeats: ~0 for identical conditions, recovers planted distances."""
    n_sub, n_rep, K, C = 2, 4, 6, 10
    true = rng.standard_normal((K, C))
    true[1] = true[0]  # conditions 0 and 1 have identical true patterns
    X = true[None, None] + rng.standard_normal((n_sub, n_rep, K, C))
    d = rsa.crossnobis_repeats(X, 2)
    assert d.shape == (n_sub, K * (K - 1) // 2)
    big = rsa.crossnobis_repeats(true[None, None] + 0.01 * rng.standard_normal((1, 2, K, C)), 2)
    assert abs(big[0, 0]) < 0.05 * np.median(big[0])  # pair (0, 1) ~ 0, the others large
    with pytest.raises(NeurosigError, match="subjects, repeats"):
        rsa.crossnobis_repeats(X[:, 0], 2)
    with pytest.raises(NeurosigError, match="at least n_folds repeats"):
        rsa.crossnobis_repeats(X[:, :2], 3)


def test_rsa_cli_crossnobis_and_brain_checks(tmp_path, tiny_llama_dir, capsys, monkeypatch):
    """--rdm crossnobis works with (subjects, repeats, conditions, channels); bad --brain fails before the model loads."""
    import json

    from neurosig.cli.main import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("the dog chased cats\na girl sang songs\nmy father reads books\nold men drink tea\n")
    out = tmp_path / "rsa.json"
    rng = np.random.default_rng(1)
    np.save(tmp_path / "rep.npy", rng.standard_normal((3, 4, 16, 5)))
    base = ["probe", "rsa", "--model", str(tiny_llama_dir), "--corpus", str(corpus), "--json", str(out), "--device", "cpu"]
    assert main(base + ["--rdm", "crossnobis", "--brain", str(tmp_path / "rep.npy")]) == 0
    d = json.loads(out.read_text())
    assert d["rdm"] == "crossnobis" and d["model_rdm"] == "euclidean" and d["brain_rdm"]["n_repeats"] == 4
    assert len(d["vs_brain"]) == 3 and "noise_ceiling" in d
    capsys.readouterr()

    import neurosig.probes.llm as llm

    def no_model(*a, **k):
        raise AssertionError("the model must not load before --brain is checked")

    monkeypatch.setattr(llm, "load_model", no_model)
    np.save(tmp_path / "pat.npy", rng.standard_normal((3, 16, 5)))
    nan = rng.standard_normal((3, 16, 5))
    nan[0, 2, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    cases = [
        (["--rdm", "crossnobis"], "needs repeated brain measurements"),
        (["--rdm", "crossnobis", "--brain", str(tmp_path / "pat.npy")], "3-D array has no repeats"),
        (["--rdm", "crossnobis", "--brain", str(tmp_path / "rep.npy"), "--config", str(tmp_path / "f5.yaml")], "rsa.n_folds=5"),
        (["--brain", str(tmp_path / "nan.npy")], "nan.npy' holds 1 non-finite"),
        (["--brain", str(tmp_path / "rep.npy")], "is for --rdm crossnobis"),
    ]
    (tmp_path / "f5.yaml").write_text("rsa:\n  n_folds: 5\n")
    for extra, msg in cases:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err
