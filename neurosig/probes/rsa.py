"""Representational similarity analysis, batched for thousands of conditions.

* RDMs (:func:`rdm`): ``correlation`` (1 − Pearson r), ``euclidean`` (squared distance / n_features)
  and cross-validated Mahalanobis (:func:`crossnobis_rdm`: unbiased distances from independent
  partitions, noise precision from the residuals with shrinkage). RDMs are returned as
  condensed upper-triangle vectors (``i < j``, row-major, as ``scipy.spatial.distance.squareform``).
* comparisons (:func:`compare`): ``spearman``, ``kendall_tau_a``, ``cosine`` and
  ``whitened_cosine`` — the cosine after whitening by the covariance of distance estimates
  ``V = 2I + BBᵀ`` (``B`` the pair/condition incidence matrix, the i.i.d.-noise covariance of
  squared Euclidean distances up to scale), applied in ``O(n_cond²)`` through Woodbury instead
  of building the ``n_pairs × n_pairs`` matrix.
* :func:`noise_ceiling` — leave-one-subject-out lower and upper bounds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError

METHODS = ("correlation", "euclidean")
COMPARISONS = ("spearman", "kendall_tau_a", "cosine", "whitened_cosine")


def _triu(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def n_conditions(n_pairs: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs:
        raise NeurosigError(f"an RDM vector of length {n_pairs} is not n(n-1)/2 for any n; pass condensed upper-triangle RDMs")
    return n


def square(v: np.ndarray) -> np.ndarray:
    """Condensed vector(s) ``(..., n_pairs)`` → square RDM(s) ``(..., n, n)``."""
    v = np.asarray(v)
    n = n_conditions(v.shape[-1])
    out = np.zeros(v.shape[:-1] + (n, n), v.dtype)
    i, j = _triu(n)
    out[..., i, j] = v
    out[..., j, i] = v
    return out


def rdm(patterns, method: str = "correlation", *, device: str = "cpu") -> np.ndarray:
    """RDM(s) of ``patterns (..., n_cond, n_features)`` as condensed vectors ``(..., n_pairs)``.

    Runs as batched matrix products in torch (float64; ``device="cuda"`` for large sets).
    """
    import torch

    if method not in METHODS:
        raise NeurosigError(f"method={method!r} is not supported; choose {', '.join(METHODS)} (or crossnobis_rdm)")
    x = torch.as_tensor(np.asarray(patterns), dtype=torch.float64, device=device)
    if x.ndim < 2 or x.shape[-2] < 2:
        raise NeurosigError(f"patterns must be (..., n_conditions >= 2, n_features), got {tuple(x.shape)}")
    p = x.shape[-1]
    if method == "correlation":
        x = x - x.mean(-1, keepdim=True)
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        D = 1 - x @ x.transpose(-1, -2)
    else:
        sq = (x * x).sum(-1)
        D = (sq[..., :, None] + sq[..., None, :] - 2 * x @ x.transpose(-1, -2)).clamp_min(0) / p
    i, j = _triu(x.shape[-2])
    return D[..., i, j].cpu().numpy()


def noise_precision(residuals: np.ndarray, shrinkage: float | None = None) -> np.ndarray:
    """Precision of the noise from residuals ``(n_obs, n_features)`` with shrinkage to the diagonal.

    ``shrinkage=None`` picks the Ledoit–Wolf intensity (sklearn); 0 = sample covariance.
    """
    r = np.asarray(residuals, np.float64)
    if shrinkage is None:
        from sklearn.covariance import ledoit_wolf_shrinkage

        shrinkage = float(ledoit_wolf_shrinkage(r, assume_centered=True))
    S = r.T @ r / len(r)
    S = (1 - shrinkage) * S + shrinkage * np.diag(np.diag(S))
    return np.linalg.pinv(S, hermitian=True)


def crossnobis_rdm(data, conditions: Sequence, partitions: Sequence, *, precision: np.ndarray | str | None = "residual", device: str = "cpu") -> np.ndarray:
    """Cross-validated Mahalanobis (crossnobis) RDM.

    ``data (n_obs, n_features)``, one condition label and one partition (fold/run) label per
    observation. With ``M_a`` the condition means in partition ``a`` and ``W`` the noise precision,
    ``d_ij = mean_{a != b} (m_i^a - m_j^a) W (m_i^b - m_j^b)ᵀ / n_features`` — unbiased: 0 in
    expectation for conditions with equal true patterns. ``precision``: ``"residual"`` (estimated
    from the residuals about the condition × partition means, Ledoit–Wolf shrinkage), ``None``
    (identity: cross-validated Euclidean) or an ``(n_features, n_features)`` array.
    """
    import torch

    X = np.asarray(data, np.float64)
    cond = np.asarray(conditions)
    part = np.asarray(partitions)
    if X.ndim != 2 or len(cond) != len(X) or len(part) != len(X):
        raise NeurosigError(f"data must be (n_obs, n_features) with one condition and partition label per row; got {X.shape}, {len(cond)}, {len(part)}")
    cl = list(dict.fromkeys(cond.tolist()))
    pl = list(dict.fromkeys(part.tolist()))
    if len(pl) < 2:
        raise NeurosigError(f"crossnobis needs at least 2 partitions (folds/runs), got {len(pl)}")
    M = np.zeros((len(pl), len(cl), X.shape[1]))
    for a, pa in enumerate(pl):
        for k, c in enumerate(cl):
            sel = (part == pa) & (cond == c)
            if not sel.any():
                raise NeurosigError(f"condition {c!r} has no observation in partition {pa!r}; every condition needs data in every partition")
            M[a, k] = X[sel].mean(0)
    if isinstance(precision, str):
        if precision != "residual":
            raise NeurosigError(f"precision={precision!r} is not supported; use 'residual', None or an array")
        pi = np.array([pl.index(v) for v in part.tolist()])
        ci = np.array([cl.index(v) for v in cond.tolist()])
        res = X - M[pi, ci]  # (n_obs, F) residuals about the condition x partition means
        W = noise_precision(res)
    elif precision is None:
        W = np.eye(X.shape[1])
    else:
        W = np.asarray(precision, np.float64)
    Mt = torch.as_tensor(M, device=device)
    Wt = torch.as_tensor(W, device=device)
    MW = Mt @ Wt  # (P, K, F)
    n_c = len(cl)
    i, j = _triu(n_c)
    acc = torch.zeros(len(i), dtype=torch.float64, device=device)
    n_pairs = 0
    for a in range(len(pl)):
        for b in range(len(pl)):
            if a == b:
                continue
            G = MW[a] @ Mt[b].T  # (K, K): G_kl = m_k^a W m_l^bᵀ
            d = torch.diagonal(G)
            acc += (d[i] + d[j] - G[i, j] - G[j, i]).to(acc.dtype)
            n_pairs += 1
    return (acc / n_pairs / X.shape[1]).cpu().numpy()


def crossnobis_repeats(data, n_folds: int = 2, *, device: str = "cpu") -> np.ndarray:
    """Crossnobis RDMs of repeated patterns ``(subjects, repeats, conditions, channels)`` → ``(subjects, n_pairs)``.

    Per subject, the repeats are split into ``n_folds`` contiguous partitions (repeat ``r`` goes to
    fold ``r * n_folds // n_repeats``) and :func:`crossnobis_rdm` is computed over them. The noise
    precision comes from the residuals of every repeat about its condition's mean over all
    repeats (Ledoit–Wolf shrinkage, scaled by ``(n - 1) / n`` for the removed mean), so one
    repeat per partition is enough.
    """
    X = np.asarray(data, np.float64)
    if X.ndim != 4:
        raise NeurosigError(f"crossnobis needs repeated patterns (subjects, repeats, conditions, channels), got shape {X.shape}")
    n_sub, n_rep, n_cond, n_ch = X.shape
    if not isinstance(n_folds, int) or n_folds < 2 or n_rep < n_folds:
        raise NeurosigError(f"crossnobis needs n_folds >= 2 partitions and at least n_folds repeats; got n_folds={n_folds!r}, {n_rep} repeats")
    part = np.repeat(np.arange(n_rep) * n_folds // n_rep, n_cond)
    cond = np.tile(np.arange(n_cond), n_rep)
    out = []
    for s in range(n_sub):
        res = (X[s] - X[s].mean(0, keepdims=True)).reshape(-1, n_ch)
        W = noise_precision(res) * (n_rep - 1) / n_rep
        out.append(crossnobis_rdm(X[s].reshape(-1, n_ch), cond, part, precision=W, device=device))
    return np.stack(out)


# ------------------------------------------------------------------------------- comparisons
def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs cosine of rows: (M, P) × (D, P) → (M, D)."""
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    return an @ bn.T


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _cos(a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True))


def whiten_rdm(v: np.ndarray) -> np.ndarray:
    """``V^{-1} v`` for condensed RDM(s) ``(..., n_pairs)`` with ``V = 2I + BBᵀ``, in O(n²).

    Woodbury: ``V^{-1} = (I - B (nI + J)^{-1} Bᵀ) / 2`` and ``(nI + J)^{-1} = (I - J / 2n) / n``;
    ``Bᵀ v`` are the row sums of the square RDM.
    """
    v = np.asarray(v, np.float64)
    n = n_conditions(v.shape[-1])
    i, j = _triu(n)
    S = square(v).sum(-1)  # (..., n) = Bᵀ v
    y = (S - S.sum(-1, keepdims=True) / (2 * n)) / n  # (nI + J)^{-1} Bᵀ v
    return (v - (y[..., i] + y[..., j])) / 2


def compare(models, data, method: str = "spearman") -> np.ndarray:
    """Similarity of every model RDM to every data RDM: ``(M, P) × (D, P) → (M, D)``."""
    if method not in COMPARISONS:
        raise NeurosigError(f"method={method!r} is not supported; choose one of {', '.join(COMPARISONS)}")
    a = np.atleast_2d(np.asarray(models, np.float64))
    b = np.atleast_2d(np.asarray(data, np.float64))
    if a.shape[1] != b.shape[1]:
        raise NeurosigError(f"model RDMs have {a.shape[1]} pairs and data RDMs {b.shape[1]}; compare RDMs over the same conditions")
    if method == "spearman":
        return _corr(_rank(a), _rank(b))
    if method == "cosine":
        return _cos(a, b)
    if method == "whitened_cosine":
        wa, wb = whiten_rdm(a), whiten_rdm(b)
        num = wa @ b.T
        na = np.sqrt(np.maximum((wa * a).sum(1), 1e-300))
        nb = np.sqrt(np.maximum((wb * b).sum(1), 1e-300))
        return num / na[:, None] / nb[None]
    from scipy.stats import kendalltau

    out = np.empty((len(a), len(b)))
    n0 = a.shape[1] * (a.shape[1] - 1) / 2
    for m in range(len(a)):
        for d in range(len(b)):
            tb = kendalltau(a[m], b[d], variant="b").statistic
            # tau_a = (C - D) / n0 and tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))
            n1 = _tie_pairs(a[m])
            n2 = _tie_pairs(b[d])
            out[m, d] = 0.0 if not np.isfinite(tb) else tb * np.sqrt((n0 - n1) * (n0 - n2)) / n0
    return out


def _tie_pairs(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float((counts * (counts - 1) / 2).sum())


def noise_ceiling(subject_rdms, method: str = "spearman") -> tuple[float, float]:
    """Leave-one-subject-out noise ceiling ``(lower, upper)`` of subject RDMs ``(n_subjects, n_pairs)``.

    upper: mean similarity of each subject to the mean of all subjects; lower: to the mean of the others.
    """
    R = np.asarray(subject_rdms, np.float64)
    if R.ndim != 2 or len(R) < 2:
        raise NeurosigError(f"subject_rdms must be (n_subjects >= 2, n_pairs), got {R.shape}")
    mean_all = R.mean(0, keepdims=True)
    upper = float(np.mean([compare(R[s : s + 1], mean_all, method)[0, 0] for s in range(len(R))]))
    lower = float(np.mean([compare(R[s : s + 1], np.delete(R, s, 0).mean(0, keepdims=True), method)[0, 0] for s in range(len(R))]))
    return lower, upper


# ------------------------------------------------------------------------------- CLI
def _load_brain(path, method: str, n_cond: int, n_folds: int, load_array) -> np.ndarray:
    """Load and check ``--brain`` before any model work: shape, >= 2 subjects, finite values."""
    if method == "crossnobis":
        want = f"(subjects, repeats, {n_cond} conditions, channels)"
        if not path:
            raise NeurosigError(f"--rdm crossnobis needs repeated brain measurements: pass --brain with a {want} array "
                                "(the model's features have no repeats), or use --rdm correlation/euclidean")
    else:
        want = f"(subjects, {n_cond} conditions, channels)"
    arr, _ = load_array(path, "--brain")
    arr = np.asarray(arr)
    ndim = 4 if method == "crossnobis" else 3
    if arr.dtype.kind not in "biuf" or arr.ndim != ndim or arr.shape[-2] != n_cond:
        hint = ""
        if method == "crossnobis" and arr.ndim == 3 and arr.shape[1] == n_cond:
            hint = f"; a 3-D array has no repeats: add a repeats axis (>= {n_folds} repeats, rsa.n_folds) or use --rdm correlation/euclidean"
        elif method != "crossnobis" and arr.ndim == 4 and arr.shape[2] == n_cond:
            hint = "; a 4-D (subjects, repeats, conditions, channels) array is for --rdm crossnobis"
        raise NeurosigError(f"--brain {str(path)!r} must be a real {want} array in corpus word order, got {arr.dtype} {arr.shape}{hint}")
    if arr.shape[0] < 2:
        raise NeurosigError(f"--brain {str(path)!r} holds {arr.shape[0]} subject; the noise ceiling needs at least 2 subjects (first axis)")
    if method == "crossnobis" and arr.shape[1] < n_folds:
        raise NeurosigError(f"--brain {str(path)!r} has {arr.shape[1]} repeat(s); crossnobis splits the repeats into rsa.n_folds={n_folds} partitions, so pass at least {n_folds}")
    n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if n_bad:
        raise NeurosigError(f"--brain {str(path)!r} holds {n_bad} non-finite value(s) (NaN/inf) of {arr.size}; drop or interpolate those channels/conditions first")
    return arr


def run_rsa_cli(args, cfg, device, prefix, write_json, load_array) -> int:
    """``neurosig probe rsa``: layer RDMs over the corpus words vs a brain RDM (or a word-position model)."""
    from neurosig.probes.llm import load_model
    from neurosig.probes.tagging import load_corpus

    method = args.rdm or cfg.rdm
    cmp = args.compare or cfg.compare
    sents = load_corpus(args.corpus)
    n_cond = sum(len(s) for s in sents)
    brain = _load_brain(args.brain, method, n_cond, cfg.n_folds, load_array) if args.brain or method == "crossnobis" else None
    probe = load_model(args.model, device=device)
    layers = list(range(0, probe.n_layers, cfg.layers_every))
    feats = probe.extract(sents, layers=layers, kinds=("resid",), batch_size=16, progress=True)
    # conditions: (sentence position, word) tokens -> one pattern per sentence word, averaged over repeats
    X = np.stack([f["resid"] for f in feats], 1)  # (L, n_sent, 4, d)
    L, S, W, Dm = X.shape
    pats = X.reshape(L, S * W, Dm)  # conditions = every word in context
    pos = np.tile(np.arange(W), S)
    # the model's features are deterministic (no repeats): with crossnobis its RDMs are squared
    # Euclidean / features, the noise-free distance crossnobis estimates without bias on the brain side
    model_method = "euclidean" if method == "crossnobis" else method
    rdms = rdm(pats, model_method, device=device)  # (L, P)
    position_model = (pos[:, None] != pos[None]).astype(float)[np.triu_indices(S * W, 1)]
    half = (pos[:, None] // 2 != pos[None] // 2).astype(float)[np.triu_indices(S * W, 1)]
    out = {
        "model": probe.name, "rdm": method, "model_rdm": model_method, "compare": cmp, "n_conditions": S * W, "layers": layers,
        "layer_vs_layer": compare(rdms, rdms, cmp),
        "vs_word_position": compare(rdms, position_model[None], cmp)[:, 0],
        "vs_phrase_membership": compare(rdms, half[None], cmp)[:, 0],
    }
    if brain is not None:
        if method == "crossnobis":
            brdm = crossnobis_repeats(brain, cfg.n_folds, device=device)  # (subjects, P)
            out["brain_rdm"] = {"method": "crossnobis", "n_repeats": brain.shape[1], "n_folds": cfg.n_folds}
        else:
            brdm = rdm(brain, method)  # (subjects, P)
        lo, up = noise_ceiling(brdm, cmp)
        out["vs_brain"] = compare(rdms, brdm.mean(0, keepdims=True), cmp)[:, 0]
        out["noise_ceiling"] = {"lower": lo, "upper": up}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    im = ax[0].imshow(out["layer_vs_layer"], cmap="viridis")
    ax[0].set_title(f"layer × layer RDM {cmp}")
    fig.colorbar(im, ax=ax[0])
    ax[1].plot(layers, out["vs_word_position"], "o-", label="word-position model")
    ax[1].plot(layers, out["vs_phrase_membership"], "s-", label="phrase model")
    if "vs_brain" in out:
        ax[1].plot(layers, out["vs_brain"], "^-", label="brain")
        ax[1].axhspan(out["noise_ceiling"]["lower"], out["noise_ceiling"]["upper"], color="gray", alpha=0.3)
    ax[1].set_xlabel("layer"); ax[1].set_ylabel(cmp); ax[1].legend(fontsize=7)
    fig.tight_layout()
    out["plots"] = [f"{prefix}_rsa.png"]
    fig.savefig(out["plots"][0], dpi=110)
    plt.close(fig)
    write_json(args.json, out)
    best = int(np.argmax(out["vs_word_position"]))
    print(f"rsa: {S * W} conditions, {len(layers)} layers; word-position model peaks at layer {layers[best]} ({cmp} {out['vs_word_position'][best]:.3f}); wrote {args.json}")
    return 0
