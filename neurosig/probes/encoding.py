"""Ridge encoding models from LLM features to brain responses.

* :func:`ridge_cv` — per-target penalty chosen by inner cross-validation. Each (inner or outer)
  training set is decomposed **once** (thin SVD ``X = U S Vᵀ``); the predictions for every
  penalty and every target then cost one small matrix product each
  (``X_test V diag(s / (s² + α)) Uᵀ Y``).
* folds never shuffle time points: :func:`contiguous_folds` (blocks, with an optional gap that
  removes the samples next to the test block from training) or :func:`run_folds`
  (leave-one-run-out).
* features: :func:`lag_features` (temporal response functions for EEG/MEG),
  :func:`spm_hrf` + :func:`hrf_features` (SPM canonical double-gamma HRF for fMRI).
* :func:`noise_ceiling` — the largest correlation any model can reach with the mean of
  repeated responses (signal-power method).
* backends: ``numpy`` or ``torch`` (GPU when the tensors live there); the same float64 math.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError


# ----------------------------------------------------------------------------------- backends
class _Backend:
    def __init__(self, name: str, device: str = "cpu"):
        if name not in ("numpy", "torch"):
            raise NeurosigError(f"backend={name!r} is not supported; choose 'numpy' or 'torch'")
        self.name, self.device = name, device
        if name == "torch":
            import torch

            self.torch = torch
            try:
                torch.empty(1, device=device)
            except (AssertionError, RuntimeError, ValueError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise NeurosigError(f"device={device!r} is not usable by this torch ({first}); pass device='cpu' or backend='numpy'") from None

    def asarray(self, x):
        if self.name == "numpy":
            return np.asarray(x, np.float64)
        t = self.torch
        return t.as_tensor(np.asarray(x) if not isinstance(x, t.Tensor) else x, dtype=t.float64, device=self.device)

    def numpy(self, x) -> np.ndarray:
        return np.asarray(x) if self.name == "numpy" else x.detach().cpu().numpy()

    def svd(self, x):
        if self.name == "numpy":
            return np.linalg.svd(x, full_matrices=False)
        return self.torch.linalg.svd(x, full_matrices=False)

    def index(self, idx):
        return np.asarray(idx) if self.name == "numpy" else self.torch.as_tensor(np.asarray(idx), device=self.device)


def _pearson_cols(a, b):
    """Column-wise Pearson r of two (n, t) arrays (numpy or torch)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    num = (a * b).sum(0)
    den = ((a * a).sum(0) * (b * b).sum(0)) ** 0.5
    return num / (den + 1e-300)


def _r2_cols(y, pred):
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    return 1 - ss_res / (ss_tot + 1e-300)


# ----------------------------------------------------------------------------------- folds
def contiguous_folds(n: int, n_folds: int, gap: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` contiguous test blocks; training drops ``gap`` samples on each side of the block."""
    if not isinstance(n_folds, int) or n_folds < 2:
        raise NeurosigError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    if n < 2 * n_folds:
        raise NeurosigError(f"{n} samples are too few for {n_folds} contiguous folds; use fewer folds or more data")
    edges = np.linspace(0, n, n_folds + 1).round().astype(int)
    folds = []
    for a, b in zip(edges[:-1], edges[1:]):
        test = np.arange(a, b)
        train = np.concatenate([np.arange(0, max(0, a - gap)), np.arange(min(n, b + gap), n)])
        folds.append((train, test))
    return folds


def run_folds(runs: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-run-out folds from a per-sample run label."""
    runs = np.asarray(runs)
    labels = list(dict.fromkeys(runs.tolist()))
    if len(labels) < 2:
        raise NeurosigError(f"leave-run-out needs at least 2 runs, got {len(labels)}; use fold_kind='contiguous'")
    return [(np.flatnonzero(runs != r), np.flatnonzero(runs == r)) for r in labels]


# ----------------------------------------------------------------------------------- features
def lag_features(x: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """Stack delayed copies: ``(n, p) -> (n, p * len(lags))``; lag ``k`` uses ``x[t - k]`` (zero-padded)."""
    x = np.asarray(x)
    n, p = x.shape
    out = np.zeros((n, p * len(lags)), x.dtype)
    for i, k in enumerate(lags):
        k = int(k)
        if k >= 0:
            out[k:, i * p : (i + 1) * p] = x[: n - k] if k else x
        else:
            out[: n + k, i * p : (i + 1) * p] = x[-k:]
    return out


def spm_hrf(dt: float, length_s: float = 32.0) -> np.ndarray:
    """SPM canonical double-gamma HRF sampled every ``dt`` s, unit sum.

    Gamma shapes 6 and 16 (unit scale), ratio 1/6: the response peaks at 5 s (the mode of a
    gamma of shape 6) and the undershoot is deepest near 15.8 s.
    """
    from scipy import stats

    t = np.arange(0, length_s, dt)
    h = stats.gamma.pdf(t, 6) - stats.gamma.pdf(t, 16) / 6.0
    return h / h.sum()


def hrf_features(onsets_s: np.ndarray, values: np.ndarray, tr: float, n_scans: int, dt: float = 0.1) -> np.ndarray:
    """Event features ``values (n_events, p)`` at ``onsets_s`` → HRF-convolved regressors ``(n_scans, p)``.

    Events are placed on a ``dt`` grid, convolved with :func:`spm_hrf` and read at scan times ``k * tr``.
    """
    values = np.asarray(values, np.float64)
    onsets_s = np.asarray(onsets_s, float)
    if values.ndim != 2 or len(values) != len(onsets_s):
        raise NeurosigError(f"values must be (n_events, p) matching {len(onsets_s)} onsets, got {values.shape}")
    n_fine = int(np.ceil(n_scans * tr / dt)) + 1
    fine = np.zeros((n_fine, values.shape[1]))
    idx = np.round(onsets_s / dt).astype(int)
    keep = (idx >= 0) & (idx < n_fine)
    np.add.at(fine, idx[keep], values[keep])
    h = spm_hrf(dt)
    from scipy.signal import fftconvolve

    conv = fftconvolve(fine, h[:, None], axes=0)[:n_fine]
    scan_idx = np.round(np.arange(n_scans) * tr / dt).astype(int)
    return conv[scan_idx]


# ----------------------------------------------------------------------------------- ridge
def _ridge_path_scores(be, Xtr, Ytr, Xte, Yte, alphas, score: str):
    """Scores (n_alphas, n_targets) on the test set for every penalty, from ONE SVD."""
    mx, my = Xtr.mean(0), Ytr.mean(0)
    U, s, Vt = be.svd(Xtr - mx)
    UtY = U.T @ (Ytr - my)  # (k, t)
    XV = (Xte - mx) @ Vt.T  # (n_te, k)
    out = []
    for a in alphas:
        d = s / (s * s + a)  # (k,)
        pred = XV @ (d[:, None] * UtY) + my
        out.append(_pearson_cols(Yte, pred) if score == "r" else _r2_cols(Yte, pred))
    return out


def _choose_alphas(be, Xb, Yb, train, alphas, inner_folds, score, gap):
    """Index of the best penalty per target by contiguous inner CV on ``train`` (one SVD per fold)."""
    inner = contiguous_folds(len(train), inner_folds, gap=gap)
    acc = None
    for itr, ite in inner:
        a_i, b_i = be.index(train[itr]), be.index(train[ite])
        sc = _ridge_path_scores(be, Xb[a_i], Yb[a_i], Xb[b_i], Yb[b_i], alphas, score)
        sc = np.stack([be.numpy(v) for v in sc])  # (n_alphas, t)
        acc = sc if acc is None else acc + sc
    return np.argmax(np.nan_to_num(acc, nan=-np.inf), axis=0)  # (t,) first best on ties


def select_alphas(X, Y, *, alphas: Sequence[float], inner_folds: int = 4, score: str = "r2", backend: str = "numpy", device: str = "cpu") -> np.ndarray:
    """Per-target penalty chosen by contiguous K-fold CV over all of ``X, Y`` (mean fold ``score``)."""
    be = _Backend(backend, device)
    Y = np.asarray(Y, np.float64).reshape(len(X), -1)
    best = _choose_alphas(be, be.asarray(X), be.asarray(Y), np.arange(len(X)), [float(a) for a in alphas], inner_folds, score, 0)
    return np.asarray(alphas, float)[best]


def ridge_cv(
    X, Y, *, alphas: Sequence[float], folds, inner_folds: int = 4, score: str = "r", backend: str = "numpy", device: str = "cpu", gap: int = 0,
) -> dict:
    """Cross-validated ridge with a per-target penalty.

    ``X (n, p)``, ``Y (n, t)``; ``folds`` is a list of ``(train, test)`` index arrays (outer
    loop, e.g. :func:`contiguous_folds`). Inside each outer training set, ``inner_folds``
    contiguous folds choose each target's penalty (mean inner ``score``: ``"r"`` or ``"r2"``).

    Returns ``r (t,)`` (Pearson r of the concatenated out-of-fold predictions), ``r_folds
    (n_folds, t)``, ``r2 (t,)``, ``alpha (n_folds, t)`` chosen penalties and ``pred (n, t)``.
    """
    if score not in ("r", "r2"):
        raise NeurosigError(f"score={score!r} is not supported; choose 'r' or 'r2'")
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or len(X) != len(Y):
        raise NeurosigError(f"X must be (n, p) and Y (n, targets) with the same n; got X {X.shape}, Y {Y.shape}")
    if not np.isfinite(X).all() or not np.isfinite(Y).all():
        raise NeurosigError("X and Y must be finite; remove or impute NaN/inf samples first")
    be = _Backend(backend, device)
    Xb, Yb = be.asarray(X), be.asarray(Y)
    alphas = [float(a) for a in alphas]
    n_t = Y.shape[1]
    pred = np.full(Y.shape, np.nan)
    r_folds, chosen = [], []
    for train, test in folds:
        train, test = np.asarray(train), np.asarray(test)
        best = _choose_alphas(be, Xb, Yb, train, alphas, inner_folds, score, gap)
        chosen.append(np.asarray(alphas)[best])
        # refit on the whole outer training set: one SVD, penalties grouped per target
        tr_i, te_i = be.index(train), be.index(test)
        Xtr, Ytr = Xb[tr_i], Yb[tr_i]
        mx, my = Xtr.mean(0), Ytr.mean(0)
        U, s, Vt = be.svd(Xtr - mx)
        UtY = U.T @ (Ytr - my)
        XV = (Xb[te_i] - mx) @ Vt.T
        P = np.empty((len(test), n_t))
        for ai in np.unique(best):
            cols = np.flatnonzero(best == ai)
            ci = be.index(cols)
            d = s / (s * s + alphas[ai])
            P[:, cols] = be.numpy(XV @ (d[:, None] * UtY[:, ci]) + my[ci])
        pred[test] = P
        r_folds.append(be.numpy(_pearson_cols(be.asarray(Y[test]), be.asarray(P))))
    done = ~np.isnan(pred[:, 0])
    return {
        "r": be.numpy(_pearson_cols(be.asarray(Y[done]), be.asarray(pred[done]))),
        "r2": be.numpy(_r2_cols(be.asarray(Y[done]), be.asarray(pred[done]))),
        "r_folds": np.stack(r_folds),
        "alpha": np.stack(chosen),
        "pred": pred,
    }


def ridge_fit(X, Y, alpha: float, backend: str = "numpy", device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Ridge with intercept for one penalty: ``(coef (p, t), intercept (t,))``."""
    be = _Backend(backend, device)
    Xb, Yb = be.asarray(X), be.asarray(np.asarray(Y).reshape(len(X), -1))
    mx, my = Xb.mean(0), Yb.mean(0)
    U, s, Vt = be.svd(Xb - mx)
    W = Vt.T @ ((s / (s * s + alpha))[:, None] * (U.T @ (Yb - my)))
    return be.numpy(W), be.numpy(my - mx @ W)


# ----------------------------------------------------------------------------------- ceiling
def noise_ceiling(repeats: np.ndarray) -> np.ndarray:
    """Largest attainable Pearson r with the repeat-averaged response, per target.

    ``repeats (n_rep, n, t)``. Signal power ``SP = (n_rep var(mean) - mean var(rep)) / (n_rep - 1)``;
    the ceiling is ``sqrt(SP / var(mean))`` (clipped to [0, 1]).
    """
    R = np.asarray(repeats, np.float64)
    if R.ndim != 3 or R.shape[0] < 2:
        raise NeurosigError(f"repeats must have shape (n_repeats >= 2, time, targets), got {R.shape}")
    k = R.shape[0]
    var_mean = R.mean(0).var(0)
    mean_var = R.var(1).mean(0)
    sp = (k * var_mean - mean_var) / (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ceil = np.sqrt(np.clip(sp, 0, None) / var_mean)
    return np.clip(np.nan_to_num(ceil), 0, 1)


# ----------------------------------------------------------------------------------- real data
def load_neuropycon_parcels(root) -> tuple[np.ndarray, list[str], float]:
    """Parcel-mean BOLD ``(n_scans, n_parcels)`` (z-scored, linear trend removed) of the neuropycon run.

    ``root`` is the unpacked ``neuropycon_data/data/data_nii`` folder (or a parent of it).
    """
    from pathlib import Path

    import nibabel as nib

    root = Path(root)
    cands = list(root.rglob("sub-test_task-rs_bold.nii"))
    # converted by neurosig.datasets.bundled (0 = background, k+1 = region k) or the raw package (-1 outside, 0..R-1)
    atl = list(root.rglob("atlas.nii")) or list(root.rglob("indexed_mask-Atlas.nii"))
    if not cands or not atl:
        raise NeurosigError(f"{str(root)!r} holds no neuropycon BOLD run/atlas; run: neurosig data fetch NeuropyconRestingFMRI")
    bold_img = nib.load(str(cands[0]))
    bold = np.asarray(bold_img.get_fdata(), np.float32)  # (x, y, z, t)
    atlas = np.asarray(nib.load(str(atl[0])).get_fdata()).round().astype(int)
    if atl[0].name == "indexed_mask-Atlas.nii":
        atlas = atlas + 1  # raw package: shift to 0 = background
    if atlas.shape != bold.shape[:3]:
        raise NeurosigError(f"atlas grid {atlas.shape} does not match the BOLD grid {bold.shape[:3]}")
    labels_file = atl[0].parent / ("atlas_labels.txt" if atl[0].name == "atlas.nii" else "ROI_labels-Atlas.txt")
    ids = [i for i in np.unique(atlas) if i > 0]
    ts = np.stack([bold[atlas == i].mean(0) for i in ids], 1)  # (t, parcels)
    t = np.arange(len(ts))
    A = np.stack([np.ones_like(t), t], 1).astype(float)
    ts = ts - A @ np.linalg.lstsq(A, ts, rcond=None)[0]
    sd = ts.std(0)
    ts = ts / np.where(sd > 0, sd, 1)
    names = []
    if labels_file.is_file():
        rows = [ln.split() for ln in labels_file.read_text().splitlines() if ln.strip()]
        names = [r[-1] if len(r) > 1 else f"roi-{r[0]}" for r in rows]
    names = names if len(names) == len(ids) else [f"parcel{i}" for i in ids]
    tr = float(bold_img.header.get_zooms()[3]) if len(bold_img.header.get_zooms()) > 3 else 2.5
    return ts, names, tr if tr > 0 else 2.5


def _words_of_text(path) -> list[str]:
    from pathlib import Path

    from neurosig.probes.tagging import DEFAULT_CORPUS

    p = Path(path) if path else DEFAULT_CORPUS
    if not p.is_file():
        raise NeurosigError(f"--text {str(p)!r} not found; pass a plain text file")
    words = [w for line in p.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#") for w in line.split()]
    if len(words) < 8:
        raise NeurosigError(f"--text {str(p)!r} holds {len(words)} words; at least 8 are needed")
    return words


def word_features(probe, words: list[str], layers: list[int], chunk: int = 64) -> np.ndarray:
    """Residual features ``(n_layers, n_words, d)`` of a long text, read in chunks of ``chunk`` words."""
    texts = [words[i : i + chunk] for i in range(0, len(words), chunk)]
    feats = probe.extract(texts, layers=layers, kinds=("resid",), batch_size=4, progress=True)
    return np.concatenate([f["resid"] for f in feats], axis=1)


def run_encoding_cli(args, cfg, device, layers, prefix, write_json) -> int:
    """``neurosig probe encoding``: LLM layers → brain targets with CV ridge; JSON + PNG."""
    from neurosig.probes.llm import check_layer_arg, load_model

    # --- brain target
    modality = args.modality
    runs = repeats = None
    note = ("the stimulus text is presented at word_rate_hz from t = 0 and repeated to cover the recording; "
            "make sure the recording was made with this text at this rate")
    if args.brain == "neuropycon-fmri":
        try:
            from neurosig.datasets.bundled import fetch

            root = fetch("NeuropyconRestingFMRI")
        except Exception as err:  # noqa: BLE001 - the fetcher's own message is the useful one
            raise NeurosigError(f"the bundled fMRI run is unavailable ({err}); run: neurosig data fetch NeuropyconRestingFMRI, or pass --brain FILE.npy") from None
        Y, names, tr = load_neuropycon_parcels(root)
        modality = modality or "fmri"
        note = ("the bundled fMRI run is resting state: no stimulus was presented, so these scores demonstrate the "
                "pipeline on real BOLD data (expected near 0); the planted-map tests carry the statistics")
        source = "neuropycon-data (resting-state run, 184-region atlas)"
    else:
        from pathlib import Path

        if Path(args.brain).is_dir():
            Y, names, tr = load_neuropycon_parcels(args.brain)
            modality = modality or "fmri"
        else:
            if not Path(args.brain).is_file():
                raise NeurosigError(f"--brain {args.brain!r} not found; pass 'neuropycon-fmri', a neuropycon folder or a .npy (time, targets) array")
            Y = np.load(args.brain, allow_pickle=False)
            if hasattr(Y, "files"):  # npz: "Y" (time, targets), optional "runs" (time,) and "repeats" (n_rep, time, targets)
                z = Y
                Y = z["Y"] if "Y" in z.files else z[z.files[0]]
                runs = z["runs"] if "runs" in z.files else None
                repeats = z["repeats"] if "repeats" in z.files else None
            if Y.ndim != 2:
                raise NeurosigError(f"--brain array must be (time, targets), got shape {Y.shape}")
            names = [f"target{i}" for i in range(Y.shape[1])]
            if args.tr is None:
                raise NeurosigError("--tr (sampling interval in seconds) is required with a --brain array")
            tr = args.tr
            modality = modality or "fmri"
        source = str(args.brain)
    for what, arr in (("", Y), (" 'repeats'", repeats)):
        if arr is not None:
            arr = np.asarray(arr)
            n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr))) if arr.dtype.kind in "biuf" else arr.size
            if n_bad:
                raise NeurosigError(f"--brain {str(args.brain)!r}{what} holds {n_bad} non-finite or non-numeric value(s) of {arr.size}; "
                                    "drop or interpolate those samples/targets before encoding")
    tr = float(args.tr or tr)
    n = len(Y)
    # --- stimulus words placed at the presentation rate, repeated to cover the recording
    words = _words_of_text(args.text)
    dur = n * tr
    n_words = int(dur * cfg.word_rate_hz)
    reps = int(np.ceil(n_words / len(words)))
    stream = (words * reps)[:n_words]
    probe = load_model(args.model, device=device)
    check_layer_arg(probe, layers, "--layers")
    if layers is None:
        layers = sorted({int(round(v)) for v in np.linspace(0, probe.n_layers - 1, 4)})
    base = word_features(probe, words, layers)  # (L, n_unique_words, d)
    onsets = np.arange(n_words) / cfg.word_rate_hz
    if cfg.fold_kind == "run":
        if runs is None or len(runs) != n:
            raise NeurosigError("encoding.fold_kind='run' needs a per-sample 'runs' array in the --brain .npz (same length as Y)")
        folds = run_folds(runs)
    else:
        folds = contiguous_folds(n, cfg.n_folds, gap=2 if modality == "fmri" else 0)
    rng = np.random.default_rng(args.seed or 0)
    per_layer = []
    for li, layer in enumerate(layers):
        F = np.tile(base[li], (reps, 1))[:n_words]  # (n_words, d)
        F = (F - F.mean(0)) / (F.std(0) + 1e-8)
        U, S, Vt = np.linalg.svd(F, full_matrices=False)
        F = U[:, : cfg.pca_dims] * S[: cfg.pca_dims]
        if modality == "fmri":
            X = hrf_features(onsets, F, tr, n)
        else:
            binned = np.zeros((n, F.shape[1]))
            np.add.at(binned, np.minimum((onsets / tr).astype(int), n - 1), F)
            X = lag_features(binned, [int(round(l / tr)) for l in cfg.lags_s])
        res = ridge_cv(X, Y, alphas=cfg.alphas, folds=folds, inner_folds=cfg.inner_folds, backend=cfg.backend, device=device)
        # control: features circularly shifted in time (keeps their autocorrelation, breaks alignment)
        Xs = np.roll(X, int(rng.integers(n // 4, 3 * n // 4 + 1)), axis=0)
        ctl = ridge_cv(Xs, Y, alphas=cfg.alphas, folds=folds, inner_folds=cfg.inner_folds, backend=cfg.backend, device=device)
        per_layer.append({"layer": layer, "mean_r": float(np.mean(res["r"])), "max_r": float(np.max(res["r"])), "shifted_mean_r": float(np.mean(ctl["r"])), "r": res["r"], "median_alpha": float(np.median(res["alpha"]))})
        print(f"layer {layer:3d}: mean r {np.mean(res['r']):+.3f} (max {np.max(res['r']):+.3f}); circularly shifted features {np.mean(ctl['r']):+.3f}")
    out = {
        "model": probe.name, "brain": source, "modality": modality, "n_samples": n, "tr_s": tr, "n_targets": Y.shape[1], "targets": names,
        "n_words": n_words, "stimulus_note": note,
        "config": cfg, "layers": per_layer, "folds": cfg.fold_kind,
        "noise_ceiling": noise_ceiling(repeats) if repeats is not None else None,
    }
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(layers, [d["mean_r"] for d in per_layer], "o-", label="features")
    ax[0].plot(layers, [d["shifted_mean_r"] for d in per_layer], "s--", label="circularly shifted")
    ax[0].axhline(0, color="k", lw=0.5)
    ax[0].set_xlabel("layer"); ax[0].set_ylabel("mean r over targets"); ax[0].legend()
    best = max(per_layer, key=lambda d: d["mean_r"])
    ax[1].hist(best["r"], bins=30)
    ax[1].set_xlabel(f"r per target (layer {best['layer']})")
    fig.tight_layout()
    out["plots"] = [f"{prefix}_encoding.png"]
    fig.savefig(out["plots"][0], dpi=110)
    plt.close(fig)
    write_json(args.json, out)
    print(f"wrote {args.json}")
    return 0
