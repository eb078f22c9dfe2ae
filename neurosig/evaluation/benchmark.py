"""Real-data benchmark pieces that need no Lightning (the CLI ``neurosig bench real`` wires them).

* :func:`load_bench_set` — one bundled epoched set (``neurosig data fetch NAME``) with its
  standard train/test split, in model units (µV / fT) at the original rate;
* :func:`to_model_rate` — resampling to the tokenizer's rate (200 Hz);
* :func:`pretraining_pool` + :func:`check_no_test_leak` — the unlabeled pool for the tokenizer
  and pretraining: training splits of the evaluated sets plus every split of sets that are not
  evaluated; the invariant "no test trial of an evaluated set is in the pool" is checked by
  provenance *and* by content hash of every trial;
* :func:`run_peer` / :func:`peer_predictions` — MiniRocket (``aeon``, extra ``peer``; :func:`minirocket`,
  numba kept off OpenMP beside torch) on the raw trials at the original rate;
* :func:`bootstrap_mean_ratio` — paired bootstrap over test trials: a confidence interval of the mean ratio;
* features: :func:`code_histogram` (bag of tokenizer codes per channel; the pretrained contextual
  embeddings and quantized token vectors are computed in ``neurosig.cli.bench``),
  :func:`signal_features` = :func:`hand_features` (:func:`patch_features`, :func:`slow_features`,
  :func:`spectral_features` through the tokenizer's STFT, :func:`covariances` for :class:`TangentSpace`)
  at the model rate + :func:`native_spectrum` at the set's own rate;
* :class:`FeatureHead` / :func:`fit_head` — the fine-tuned head: one standardised CV-logistic head
  per feature block, class probabilities averaged.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.channels import MODEL_UNITS, ch_type_code
from neurosig._utils.logging import get_logger

log = get_logger("evaluation.benchmark")

DEFAULT_SETS = ("SelfRegulationSCP1", "FingerMovements", "EyesOpenShut")
# bundled epoched sets pooled (all splits) for pretraining when they are not under evaluation
DEFAULT_EXTRA = ("SelfRegulationSCP2", "HandMovementDirection", "Blink", "KDD_Example")


@dataclass
class BenchSet:
    """One labelled set with its standard split; ``x_*`` (n, C, T) float32 in model units."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    sfreq: float
    ch_names: list[str]
    ch_types: np.ndarray  # (C,) int codes
    pos: np.ndarray  # (C, 3) metres, NaN where unknown
    classes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _epochs_arrays(epochs) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    types = epochs.get_channel_types()
    factors = np.array([MODEL_UNITS.get(t, ("", 1.0))[1] for t in types])
    x = (epochs.get_data(copy=True) * factors[None, :, None]).astype(np.float32)  # (n, C, T) model units
    y = epochs.events[:, 2].astype(np.int64)
    pos = np.array([ch["loc"][:3] for ch in epochs.info["chs"]], dtype=np.float32)
    pos[~np.isfinite(pos).all(1) | (np.abs(pos).sum(1) == 0)] = np.nan
    return x, y, list(epochs.ch_names), np.array([ch_type_code(t) for t in types]), pos


def load_bench_set(name: str) -> BenchSet:
    """Load a fetched bundled set (raises the fetch hint when it is not cached)."""
    from neurosig.datasets import bundled

    info = bundled.get_info(name)
    if info.kind != "epochs" or set(info.files) != {"train", "test"}:
        raise NeurosigError(f"{name!r} is not an epoched set with a train/test split; choose one of "
                            f"{', '.join(i.name for i in bundled.list_datasets() if i.kind == 'epochs')}.")
    tr, te = bundled.load_epochs(name, "train"), bundled.load_epochs(name, "test")
    xtr, ytr, names, types, pos = _epochs_arrays(tr)
    xte, yte, _, _, _ = _epochs_arrays(te)
    # event ids → 0..K-1 in the order of the training classes
    ids = sorted(set(ytr.tolist()) | set(yte.tolist()))
    remap = {v: i for i, v in enumerate(ids)}
    inv = {v: k for k, v in tr.event_id.items()}
    return BenchSet(name, xtr, np.array([remap[v] for v in ytr]), xte, np.array([remap[v] for v in yte]),
                    float(tr.info["sfreq"]), names, types, pos, [str(inv.get(v, v)) for v in ids])


def to_model_rate(x: np.ndarray, sfreq: float, target: float = 200.0) -> np.ndarray:
    """Polyphase resampling (n, C, T) from ``sfreq`` to ``target`` Hz (anti-aliased)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if abs(sfreq - target) < 1e-6:
        return x.astype(np.float32)
    fr = Fraction(target / sfreq).limit_denominator(1000)
    return resample_poly(x, fr.numerator, fr.denominator, axis=-1).astype(np.float32)


def trial_hash(x: np.ndarray) -> str:
    """Content hash of one trial (C, T) at its original rate."""
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


@dataclass
class Pool:
    """Unlabeled pretraining windows with their provenance (dataset, split, hash per trial)."""

    windows: list[np.ndarray]  # each (C, T) at the original rate
    sfreq: list[float]
    ch_types: list[np.ndarray]
    pos: list[np.ndarray]
    source: list[tuple[str, str]]  # (dataset, split) per window
    hashes: list[str]
    # evaluated set → number of its TRAINING trials left out because they equal one of its test trials
    # (the standard split itself overlaps, e.g. Blink: 50 of 500); they stay in fine-tuning as the split defines
    dropped: dict[str, int] = field(default_factory=dict)


def pretraining_pool(evaluated: Sequence[BenchSet], extra: Iterable[BenchSet] = ()) -> Pool:
    """Training splits of the evaluated sets + all splits of the other sets; never a test split
    of an evaluated set (checked by :func:`check_no_test_leak`)."""
    pool = Pool([], [], [], [], [], [])
    eval_names = {s.name for s in evaluated}
    test_hashes = {trial_hash(t) for s in evaluated for t in s.x_test}

    def add(s: BenchSet, split: str, x: np.ndarray, skip_test_copies: bool = False):
        for trial in x:
            h = trial_hash(trial)
            if skip_test_copies and h in test_hashes:
                pool.dropped[s.name] = pool.dropped.get(s.name, 0) + 1
                continue
            pool.windows.append(trial)
            pool.sfreq.append(s.sfreq)
            pool.ch_types.append(s.ch_types)
            pool.pos.append(s.pos)
            pool.source.append((s.name, split))
            pool.hashes.append(h)

    for s in evaluated:
        add(s, "train", s.x_train, skip_test_copies=True)
        if pool.dropped.get(s.name):
            log.warning("%s: %d training trials are identical to test trials (the standard split overlaps); "
                        "they are left out of the pretraining pool (fine-tuning keeps the standard split, so every "
                        "method's score on this set, the peer's included, is optimistic)", s.name, pool.dropped[s.name])
    for s in extra:
        if s.name in eval_names:
            continue
        add(s, "train", s.x_train)
        add(s, "test", s.x_test)
    check_no_test_leak(pool, evaluated)
    return pool


def crop_items(x: np.ndarray, pos: np.ndarray, ch_type: np.ndarray, sfreq: float, length: int) -> list[dict]:
    """Unlabeled window items (``collate_windows`` format) of one trial ``x (C, T)``: consecutive
    crops of ``length`` samples (a trial no longer than ``length`` is kept whole, a shorter tail dropped)."""
    T = x.shape[-1]
    starts = [0] if T <= length else range(0, T - length + 1, length)
    return [dict(x=x[:, s0:s0 + length].astype(np.float32), pos=pos, ch_type=ch_type, ch_mask=np.ones(len(ch_type), bool),
                 sfreq=sfreq, y=-1, subject="pool") for s0 in starts]


def bucket_batches(items: Sequence[dict], batch_size: int, seed, shuffle: bool) -> list[list[int]]:
    """Batches of items of equal ``x`` shape (C, T), as index lists; ``seed`` an int or a
    ``np.random.Generator`` (used as is, so successive calls continue its stream)."""
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for i, it in enumerate(items):
        groups.setdefault(it["x"].shape, []).append(i)
    out = []
    for idx in groups.values():
        idx = list(rng.permutation(idx)) if shuffle else idx
        out += [idx[k:k + batch_size] for k in range(0, len(idx), batch_size)]
    if shuffle:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def check_no_test_leak(pool: Pool, evaluated: Sequence[BenchSet]) -> None:
    """Raise if any window of ``pool`` is (by provenance or by content) a test trial of an evaluated set."""
    names = {s.name for s in evaluated}
    bad = [f"{d}/{sp}" for d, sp in pool.source if d in names and sp == "test"]
    if bad:
        raise NeurosigError(f"pretraining pool holds {len(bad)} test-split windows of evaluated sets ({bad[0]} ...); "
                            "the tokenizer and pretraining may only see training splits of evaluated sets.")
    test_hashes = {trial_hash(t): s.name for s in evaluated for t in s.x_test}
    hits = [h for h in pool.hashes if h in test_hashes]
    if hits:
        raise NeurosigError(f"pretraining pool holds {len(hits)} trials identical to test trials of {test_hashes[hits[0]]}; "
                            "remove them from the pool (a test trial must never be seen before evaluation).")


def numba_threads_beside_torch() -> str | None:
    """Keep numba (MiniRocket's engine) off OpenMP in a process that runs torch.

    numba's default threading layer on Linux is OpenMP. After ``torch.set_num_threads`` and one
    numba parallel region on OpenMP, every later torch op in the process runs many times slower
    (measured on 2 cores: pretraining 14-21x, token features 5x; ``scripts/bench_peer_threads.py``), so a
    multi-seed ``bench real`` spent most of seeds 2+ waiting. numba's own ``workqueue`` layer has no
    such clash and the peer's results are identical (it runs with one thread, ``n_jobs=1``).

    Chooses ``workqueue`` before numba's first parallel launch unless the user chose a layer
    (``NUMBA_THREADING_LAYER``). If numba already launched OpenMP in this process it is too late:
    a warning says so and how to avoid it. Returns the layer in force (None: not launched yet)."""
    import os
    import warnings

    import numba

    if os.environ.get("NUMBA_THREADING_LAYER"):
        return os.environ["NUMBA_THREADING_LAYER"]
    try:
        layer = numba.threading_layer()
    except ValueError:  # not launched yet: the layer is read at the first parallel launch
        numba.config.THREADING_LAYER = "workqueue"
        return None
    if layer == "omp":
        warnings.warn("numba already runs on OpenMP in this process, which slows torch down after MiniRocket; "
                      "set NUMBA_THREADING_LAYER=workqueue before starting Python.", RuntimeWarning, stacklevel=2)
    return layer


def minirocket(seed: int):
    """The peer: aeon's MiniRocket classifier (one job, seeded), with numba kept off OpenMP
    (:func:`numba_threads_beside_torch`)."""
    from neurosig._utils.optional import require

    require("aeon", "the MiniRocket peer of `neurosig bench real`")
    numba_threads_beside_torch()
    from aeon.classification.convolution_based import MiniRocketClassifier

    return MiniRocketClassifier(random_state=seed, n_jobs=1)


def peer_predictions(s: BenchSet, seed: int) -> np.ndarray:
    """MiniRocket's test-split predictions (fitted on the training split, raw trials at the original rate)."""
    clf = minirocket(seed).fit(s.x_train.astype(np.float64), s.y_train)
    return np.asarray(clf.predict(s.x_test.astype(np.float64)))


def run_peer(s: BenchSet, seed: int) -> float:
    """Balanced accuracy of MiniRocket on the raw trials at the original rate."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(s.y_test, peer_predictions(s, seed)))


# ------------------------------------------------------------ how sure is a mean ratio (test trials)
def stratified_bootstrap_indices(y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap resamples of the rows of ``y``, each drawn with replacement WITHIN every class
    (class counts kept, so balanced accuracy stays defined); (n_boot, len(y)) row indices, class by class."""
    y = np.asarray(y)
    return np.concatenate([rng.choice(np.flatnonzero(y == k), size=(int(n_boot), int((y == k).sum())))
                           for k in np.unique(y)], 1)


def _balanced_accuracies(y: np.ndarray, pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Balanced accuracy of every seed's predictions ``pred`` (S, n) on every resample ``idx`` (B, n)
    drawn by :func:`stratified_bootstrap_indices` (class counts as in ``y``): mean per-class recall; (S, B)."""
    hit = (np.asarray(pred) == np.asarray(y)[None]).astype(np.float64)  # (S, n)
    yi = np.asarray(y)[idx[0]]  # the class of each column: the same in every resample
    return np.stack([hit[:, idx[:, yi == k]].mean(-1) for k in np.unique(y)], 0).mean(0)  # (S, B)


def bootstrap_mean_ratio(y_tests: Sequence[np.ndarray], ours: Sequence[np.ndarray], peer: Sequence[np.ndarray],
                         n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Paired bootstrap of the benchmark's mean ratio over TEST TRIALS.

    Per set ``i``: ``y_tests[i]`` (n,) labels and ``ours[i]`` / ``peer[i]`` (S, n) test predictions of S seeds.
    Each resample draws every set's test trials with replacement within class (the same trials for ours and
    the peer: paired), recomputes each seed's balanced accuracy, and the ratio of the seed means per set; the
    mean over sets is one draw of the mean ratio. It answers "would the verdict hold on other test trials
    like these?"; the spread over seeds (pretraining, peer) is reported separately as the ``_std`` figures.

    Returns ``{"mean_ratio", "ci": [lo, hi], "p_above_1", "per_set": [{"ratio", "ci"}], "n_boot", "level"}``;
    ``mean_ratio`` is the point estimate on the actual test split (equal to the benchmark's ``mean_ratio``)."""
    if not (len(y_tests) == len(ours) == len(peer)) or not y_tests:
        raise NeurosigError(f"bootstrap_mean_ratio needs one label array and one (seeds, n) prediction array of ours and "
                            f"of the peer per set, got {len(y_tests)}, {len(ours)}, {len(peer)}.")
    from neurosig.evaluation.metrics import check_bootstrap_args, percentile_interval

    check_bootstrap_args(n_boot, level, "bootstrap_mean_ratio")
    rng = np.random.default_rng(seed)
    point, draws, per_set = [], [], []
    for i, (y, a, b) in enumerate(zip(y_tests, ours, peer)):
        y = np.asarray(y)
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        if a.shape[1] != len(y) or b.shape[1] != len(y):
            raise NeurosigError(f"bootstrap_mean_ratio: set {i} has {len(y)} test labels but predictions of shape "
                                f"{a.shape} (ours) and {b.shape} (peer); pass (seeds, n_test) arrays.")
        full = np.argsort(y, kind="stable")[None]  # the actual test split, class-sorted as the resamples are
        pa, pb = _balanced_accuracies(y, a, full).mean(), _balanced_accuracies(y, b, full).mean()
        idx = stratified_bootstrap_indices(y, n_boot, rng)
        ra = _balanced_accuracies(y, a, idx).mean(0) / np.maximum(_balanced_accuracies(y, b, idx).mean(0), 1e-12)  # (B,)
        point.append(pa / max(pb, 1e-12))
        draws.append(ra)
        per_set.append({"ratio": float(point[-1]), "ci": percentile_interval(ra, level)})
    m = np.mean(draws, 0)
    return {"mean_ratio": float(np.mean(point)), "ci": percentile_interval(m, level),
            "p_above_1": float((m > 1).mean()), "per_set": per_set, "n_boot": int(n_boot), "level": float(level)}


# ------------------------------------------------------------------------------- the fine-tuned head
FEATURE_SETS = ("embedding", "embedding+patch", "patch")


def patch_features(x: np.ndarray, patch_len: int) -> np.ndarray:
    """The tokenizer front end's per-patch view of each channel: patch mean (slow potential) and
    log power in 5 bands of the patch spectrum, averaged over patches; (n, C * 6) ... plus the
    patch-mean trajectory (n, C * N). ``x`` (n, C, T) at the model rate."""
    n, C, T = x.shape
    N = max(1, math.ceil(T / patch_len))
    xp = np.pad(x, ((0, 0), (0, 0), (0, N * patch_len - T)))
    p = xp.reshape(n, C, N, patch_len)  # (n, C, N, P)
    dc = p.mean(-1)  # (n, C, N)
    spec = np.abs(np.fft.rfft(p - dc[..., None], axis=-1)) ** 2  # (n, C, N, P//2+1)
    nb = spec.shape[-1]
    edges = np.unique(np.clip(np.round(np.geomspace(1, nb, 6)).astype(int), 1, nb))
    bands = [np.log(spec[..., a:b].mean(-1) + 1e-6) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    bp = np.stack(bands, -1).mean(2)  # (n, C, n_bands)
    return np.concatenate([dc.reshape(n, -1), bp.reshape(n, -1)], 1).astype(np.float32)


FOLD_ORDERS = ("blocked", "shuffled")


def _check_fold_order(order: str, what: str = "fold order") -> str:
    if order not in FOLD_ORDERS:
        raise NeurosigError(f"{what} must be one of {', '.join(FOLD_ORDERS)}, got {order!r}.")
    return order


def _stratified_folds(n_splits: int, seed: int, order: str):
    """Stratified K folds: ``blocked`` (default) keeps the rows' order — each class's trials are cut into
    contiguous runs, so trials recorded next to each other validate together — ``shuffled`` permutes
    them first (seeded). Trials of one session are correlated in time (slow drifts, electrode contact):
    shuffled folds put a trial's neighbours in the training fold and score optimistically."""
    from sklearn.model_selection import StratifiedKFold

    if _check_fold_order(order) == "shuffled":
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits, shuffle=False)


def fit_head(F_train: np.ndarray, y_train: np.ndarray, seed: int = 0, scoring: str | None = None, order: str = "blocked"):
    """Standardise + logistic regression with C chosen by 5-fold CV on the training features
    (``scoring`` as scikit-learn's: None = accuracy, or e.g. ``"balanced_accuracy"``; ``order`` of the
    CV folds as in :func:`validation_folds`: ``blocked`` keeps the rows' recording order)."""
    import warnings

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = _stratified_folds(int(max(2, min(5, np.bincount(y_train).min()))), seed, order)
    clf = LogisticRegressionCV(Cs=np.logspace(-4, 2, 7), cv=cv, max_iter=1000, tol=1e-3, class_weight="balanced",
                               scoring=scoring)
    with warnings.catch_warnings():  # scikit-learn 1.8+ announces default changes on every fit
        warnings.simplefilter("ignore", FutureWarning)
        return make_pipeline(StandardScaler(), clf).fit(F_train, y_train)


def cv_score(head) -> float:
    """Best mean cross-validated score (over C) of a :func:`fit_head` pipeline: free, it was computed to choose C."""
    scores = head[-1].scores_
    s = np.asarray(next(iter(scores.values())), dtype=float)  # (folds, Cs); the same for every class key
    return float(s.mean(0).max())


def carve_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded (train, val) indices carved from a training split."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_val = max(1, int(round(fraction * len(idx))))
        va.append(idx[:n_val])
        tr.append(idx[n_val:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


def validation_folds(y: np.ndarray, n_folds: int, seed: int, order: str = "blocked") -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (train, val) folds carved from a training split (each trial validates once).

    ``order="blocked"`` (default): each class's trials are cut, in the split's order, into contiguous
    runs (``seed`` unused) — the bundled sets keep recording order, and neighbouring trials of one
    session are correlated, so a held-out run measures generalisation across time as a test split
    recorded later does. ``"shuffled"``: seeded random folds (optimistic on such data)."""
    n = int(max(2, min(n_folds, np.bincount(y).min())))
    return list(_stratified_folds(n, seed, order).split(np.zeros(len(y)), y))


# ------------------------------------------------------------------ token and spectral features (v2)
def code_histogram(codes: np.ndarray, codebook_sizes: Sequence[int]) -> np.ndarray:
    """Bag of tokenizer codes per channel: codes (n, C, N, L) int → (n, C * sum(K)) code frequencies.

    Each channel's histogram over its N patches (per quantizer level) sums to 1, so trials of any
    length are comparable."""
    codes = np.asarray(codes)
    if codes.ndim != 4 or codes.shape[-1] != len(codebook_sizes):
        raise NeurosigError(f"codes must be (n, C, N, L) with L = len(codebook_sizes) = {len(codebook_sizes)}, got {codes.shape}.")
    n, C, N, L = codes.shape
    out = []
    for lv, K in enumerate(codebook_sizes):
        c = codes[..., lv].reshape(n * C, N)  # (n*C, N)
        h = np.zeros((n * C, int(K)), np.float32)
        np.add.at(h, (np.repeat(np.arange(n * C), N), c.reshape(-1)), 1.0)
        out.append((h / N).reshape(n, C, int(K)))
    return np.concatenate(out, -1).reshape(n, -1)


def spectral_features(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Log power per STFT bin and channel, averaged over frames, through the tokenizer's STFT
    (:func:`neurosig.kernels.ops.stft_patches`); x (n, C, T) → (n, C * (n_fft // 2 + 1))."""
    import torch

    from neurosig.kernels.ops import stft_patches

    n, C, T = x.shape
    n_fft = int(min(n_fft, T))
    hop = int(max(1, min(hop, n_fft)))
    with torch.no_grad():
        mag = stft_patches(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), n_fft, hop, output="magnitude")  # (n, C, F, B)
    pw = (mag.double() ** 2).mean(-2)  # (n, C, B) mean power over frames
    return torch.log(pw + 1e-6).reshape(n, -1).numpy().astype(np.float32)


def segment_edges(n: int, k: int) -> list[tuple[int, int]]:
    """``k`` consecutive, near-equal (start, stop) segments of ``range(n)`` (edges rounded); k ≤ n."""
    edges = np.linspace(0, n, int(k) + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def segment_means(h: np.ndarray, k: int) -> np.ndarray:
    """Means of token features over ``k`` consecutive, near-equal segments of the token axis
    (:func:`segment_edges`): h (n, C, N, d) → (n, C, min(k, N), d) (a trial's trajectory at a fixed
    number of steps, whatever its length)."""
    n, C, N, d = h.shape
    k = int(max(1, min(k, N)))
    return np.stack([h[:, :, a:b].mean(2) for a, b in segment_edges(N, k)], 2).astype(np.float32)


def slow_features(x: np.ndarray, sub_len: int) -> np.ndarray:
    """Slow-potential trajectory: means over consecutive sub-patches of ``sub_len`` samples; (n, C * M)."""
    n, C, T = x.shape
    M = max(1, T // sub_len)
    return x[..., : M * sub_len].reshape(n, C, M, sub_len).mean(-1).reshape(n, -1).astype(np.float32)


def drift_features(x: np.ndarray, sub_len: int) -> np.ndarray:
    """Drift trajectory: the running integral (cumulative sum) of each channel, averaged over
    consecutive sub-patches of ``sub_len`` samples; (n, C * M). A linear map of the slow trajectory
    whose standardised L2-logistic weights correspond to *smooth* weights over time (the penalty acts
    on their changes): the prior that slow-potential decoders use."""
    return slow_features(np.cumsum(x, -1, dtype=np.float64) / max(1, x.shape[-1]), sub_len)


def _spd_fn(m: np.ndarray, fn, floor: float | None = 1e-10) -> np.ndarray:
    """fn applied to the eigenvalues of symmetric m (..., C, C); eigenvalues are floored at ``floor``
    (SPD input) unless ``floor`` is None (e.g. exp of a symmetric log-matrix, whose eigenvalues may be < 0)."""
    w, v = np.linalg.eigh(m)
    if floor is not None:
        w = np.clip(w, floor, None)
    return (v * fn(w)[..., None, :]) @ np.swapaxes(v, -1, -2)


def covariances(x: np.ndarray, shrinkage: float = 0.1) -> np.ndarray:
    """Per-trial channel covariance (n, C, C), shrunk toward its scaled identity (well conditioned)."""
    xc = x - x.mean(-1, keepdims=True)
    cov = np.einsum("nct,ndt->ncd", xc, xc) / max(1, x.shape[-1] - 1)  # (n, C, C)
    C = x.shape[1]
    mu = np.trace(cov, axis1=1, axis2=2)[:, None, None] / C
    return (1 - shrinkage) * cov + shrinkage * mu * np.eye(C)[None]


class TangentSpace:
    """Riemannian tangent-space map of covariances at the log-Euclidean mean of the TRAINING trials;
    ``fit`` on training covariances only, ``transform`` → (n, C (C + 1) / 2) upper-triangle vectors."""

    def fit(self, cov: np.ndarray) -> "TangentSpace":
        ref = _spd_fn(_spd_fn(cov, np.log).mean(0), np.exp, floor=None)  # (C, C)
        self.isqrt_ = _spd_fn(ref, lambda w: 1.0 / np.sqrt(w))
        return self

    def transform(self, cov: np.ndarray) -> np.ndarray:
        C = cov.shape[-1]
        t = _spd_fn(self.isqrt_ @ cov @ self.isqrt_, np.log)  # (n, C, C)
        iu = np.triu_indices(C)
        coef = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
        return (t[:, iu[0], iu[1]] * coef).astype(np.float32)



HAND_BLOCKS = ("patch", "slow", "slow12", "cum", "cum12", "spec", "ts")  # computed from the signal (the tokenizer's patches / STFT)
TOKEN_BLOCKS = ("emb", "tokv", "codes")  # computed by the pretrained tokenizer + backbone


def hand_features(x: np.ndarray, patch_len: int, n_fft: int = 50) -> dict[str, np.ndarray]:
    """Signal features on the tokenizer's grid, x (n, C, T) at the model rate: ``patch`` (patch mean +
    band power), ``slow`` / ``slow12`` (means over half- / quarter-patches: slow potentials),
    ``cum`` / ``cum12`` (:func:`drift_features` on the same grids),
    ``spec`` (log power per bin of the tokenizer STFT), ``rspec`` (the same minus its per-channel mean
    over bins: spectral shape), ``cov`` (channel covariances, for ``ts``)."""
    n, C, _ = x.shape
    spec = spectral_features(x, n_fft, n_fft // 2)  # (n, C * B)
    sp = spec.reshape(n, C, -1)
    rspec = (sp - sp.mean(-1, keepdims=True)).reshape(n, -1)  # relative spectrum: per-channel gain removed
    return {"patch": patch_features(x, patch_len), "slow": slow_features(x, max(1, patch_len // 2)),
            "slow12": slow_features(x, max(1, patch_len // 4)), "cum": drift_features(x, max(1, patch_len // 2)),
            "cum12": drift_features(x, max(1, patch_len // 4)), "spec": spec, "rspec": rspec,
            "cov": covariances(x)}


def native_spectrum(x: np.ndarray, sfreq: float, window_s: float) -> np.ndarray:
    """:func:`spectral_features` at the trials' OWN rate: windows of ``window_s`` seconds
    (``n_fft = round(sfreq * window_s)``, half overlap), so the bins span exactly the recorded band
    (0 to sfreq / 2) — after resampling to the model rate, a 128 Hz set has an empty band above 64 Hz
    and a 256 Hz set loses everything above 100 Hz. x (n, C, T) → (n, C * (n_fft // 2 + 1))."""
    if not (sfreq > 0 and window_s > 0):
        raise NeurosigError(f"native_spectrum needs sfreq > 0 and window_s > 0, got sfreq={sfreq!r}, window_s={window_s!r}.")
    n_fft = max(2, int(round(sfreq * window_s)))
    return spectral_features(np.ascontiguousarray(x, dtype=np.float32), n_fft, n_fft // 2)


def signal_features(x: np.ndarray, sfreq: float, rate: float, patch_len: int) -> dict[str, np.ndarray]:
    """Every signal block of the benchmark for trials x (n, C, T) at their own rate ``sfreq``:
    :func:`hand_features` of the trials resampled to the model ``rate`` and demeaned, plus ``nspec``
    (:func:`native_spectrum` of the demeaned trials over windows of one tokenizer patch, patch_len / rate s)."""
    xm = to_model_rate(x, sfreq, rate)
    return {**hand_features(xm - xm.mean(-1, keepdims=True), patch_len),
            "nspec": native_spectrum(x - x.mean(-1, keepdims=True), sfreq, patch_len / rate)}


def subset(feats: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``idx`` of every feature array."""
    return {k: v[idx] for k, v in feats.items()}


class FeatureHead:
    """The fine-tuned head: one standardised CV-logistic head per feature block (a block concatenates
    the named features), class probabilities averaged over blocks.

    ``blocks`` e.g. ``[["slow", "spec", "ts"], ["codes"]]``; names are keys of the feature dict, plus
    ``ts`` = :class:`TangentSpace` of ``cov`` with its reference fitted on the training rows only.

    ``weighting``: ``"mean"`` averages the blocks' probabilities equally; ``"cv"`` weights each block
    by its cross-validated balanced accuracy above chance (``max(0, bacc - 1/K)``, from the folds that
    chose its C on the training rows: no extra fits), so blocks at chance on a set drop out and strong
    ones dominate; ``"cv2"`` squares that excess (sharper). All zero → equal weights.

    ``order``: the order of the folds that choose each block's C (:func:`validation_folds`; ``blocked``
    keeps the rows' recording order)."""

    WEIGHTINGS = ("mean", "cv", "cv2")

    def __init__(self, blocks: Sequence[Sequence[str]], seed: int = 0, weighting: str = "mean", order: str = "blocked"):
        if not blocks or any(not b for b in blocks):
            raise NeurosigError(f"FeatureHead blocks must be a non-empty list of non-empty name lists, got {blocks!r}.")
        if weighting not in self.WEIGHTINGS:
            raise NeurosigError(f"FeatureHead weighting must be one of {', '.join(self.WEIGHTINGS)}, got {weighting!r}.")
        self.order = _check_fold_order(order, "FeatureHead order")
        self.blocks, self.seed, self.weighting = [list(b) for b in blocks], int(seed), weighting

    def _block(self, b: list[str], feats: dict[str, np.ndarray]) -> np.ndarray:
        parts = []
        for name in b:
            if name == "ts":
                parts.append(self.ts_.transform(feats["cov"]))
            elif name in feats:
                parts.append(feats[name])
            else:
                raise NeurosigError(f"FeatureHead: unknown feature {name!r}; available: {', '.join(sorted(feats))}, ts.")
        return np.concatenate(parts, 1)

    def fit(self, feats: dict[str, np.ndarray], y: np.ndarray, cache: dict | None = None) -> "FeatureHead":
        """Fit every block's head on ``feats`` / ``y``. ``cache``: a dict shared by heads fitted on the
        SAME rows (same ``feats`` and ``y``), so a block that several heads contain is fitted once
        (the fit is deterministic given rows, block, seed and scoring: the result is identical)."""
        self.ts_ = TangentSpace().fit(feats["cov"]) if any("ts" in b for b in self.blocks) else None
        scoring = None if self.weighting == "mean" else "balanced_accuracy"
        self.heads_ = []
        for b in self.blocks:
            key = (tuple(b), self.seed, scoring, self.order)
            h = cache.get(key) if cache is not None else None
            if h is None:
                h = fit_head(self._block(b, feats), y, self.seed, scoring, self.order)
                if cache is not None:
                    cache[key] = h
            self.heads_.append(h)
        self.classes_ = self.heads_[0].classes_
        w = np.ones(len(self.heads_))
        if self.weighting != "mean":
            self.cv_scores_ = np.array([cv_score(h) for h in self.heads_])
            w = np.clip(self.cv_scores_ - 1.0 / len(self.classes_), 0.0, None) ** (2 if self.weighting == "cv2" else 1)
            if w.sum() <= 0:
                w = np.ones(len(self.heads_))
        self.weights_ = w / w.sum()
        return self

    def predict_proba(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        probs = np.stack([h.predict_proba(self._block(b, feats)) for h, b in zip(self.heads_, self.blocks)])  # (blocks, n, K)
        return np.tensordot(self.weights_, probs, axes=1)

    def predict(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        return self.classes_[self.predict_proba(feats).argmax(1)]


def validation_accuracy(feats: dict[str, np.ndarray], y: np.ndarray, blocks: Sequence[Sequence[str]], n_folds: int,
                        seed: int, weighting: str = "mean", order: str = "blocked") -> float:
    """The benchmark's validation figure of one head on one set: mean balanced accuracy over
    :func:`validation_folds` carved from the training rows ``feats`` / ``y`` (never test data)."""
    return validation_accuracies(feats, y, {"head": blocks}, n_folds, seed, weighting, order)["head"]


def head_weighting(weighting: str | Mapping[str, str], name: str) -> str:
    """The :class:`FeatureHead` weighting of head ``name``: ``weighting`` itself, or its entry for ``name``
    in a ``{head: weighting}`` mapping (``"mean"`` for heads it does not name)."""
    return weighting.get(name, "mean") if isinstance(weighting, Mapping) else weighting


def validation_accuracies(feats: dict[str, np.ndarray], y: np.ndarray, heads: dict[str, Sequence[Sequence[str]]],
                          n_folds: int, seed: int, weighting: str | Mapping[str, str] = "mean",
                          order: str = "blocked") -> dict[str, float]:
    """:func:`validation_accuracy` of several heads at once (``{name: blocks}`` → ``{name: accuracy}``),
    each block shared by several heads fitted once per fold: the same figures, fewer fits. ``weighting``:
    one for every head, or ``{head: weighting}`` (:func:`head_weighting`)."""
    from sklearn.metrics import balanced_accuracy_score

    accs: dict[str, list[float]] = {k: [] for k in heads}
    for itr, iva in validation_folds(y, n_folds, seed, order):
        ftr, fva, cache = subset(feats, itr), subset(feats, iva), {}
        for name, blocks in heads.items():
            head = FeatureHead(blocks, seed, head_weighting(weighting, name), order).fit(ftr, y[itr], cache=cache)
            accs[name].append(balanced_accuracy_score(y[iva], head.predict(fva)))
    return {k: float(np.mean(v)) for k, v in accs.items()}
