"""Real-data benchmark pieces that need no Lightning (the CLI ``neurosig bench real`` wires them).

* :func:`load_bench_set` — one bundled epoched set (``neurosig data fetch NAME``) with its
  standard train/test split, in model units (µV / fT) at the original rate;
* :func:`to_model_rate` — resampling to the tokenizer's rate (200 Hz);
* :func:`pretraining_pool` + :func:`check_no_test_leak` — the unlabeled pool for the tokenizer
  and pretraining: training splits of the evaluated sets plus every split of sets that are not
  evaluated; the invariant "no test trial of an evaluated set is in the pool" is checked by
  provenance *and* by content hash of every trial;
* :func:`run_peer` — MiniRocket (``aeon``, extra ``peer``) on the raw trials at the original rate;
* :func:`embedding_features` / :func:`fit_head` — the fine-tuned head: the pretrained model's
  contextual token embeddings (and the tokenizer front end's patch features) pooled per
  channel, then a cross-validated logistic-regression head.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.channels import MODEL_UNITS, ch_type_code
from neurosig._utils.logging import get_logger

log = get_logger("evaluation.benchmark")

DEFAULT_SETS = ("SelfRegulationSCP1", "FingerMovements", "EyesOpenShut")
# bundled epoched sets pooled (all splits) for pretraining when they are not under evaluation
DEFAULT_EXTRA = ("SelfRegulationSCP2", "HandMovementDirection", "Blink")


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


def pretraining_pool(evaluated: Sequence[BenchSet], extra: Iterable[BenchSet] = ()) -> Pool:
    """Training splits of the evaluated sets + all splits of the other sets; never a test split
    of an evaluated set (checked by :func:`check_no_test_leak`)."""
    pool = Pool([], [], [], [], [], [])
    eval_names = {s.name for s in evaluated}

    def add(s: BenchSet, split: str, x: np.ndarray):
        for trial in x:
            pool.windows.append(trial)
            pool.sfreq.append(s.sfreq)
            pool.ch_types.append(s.ch_types)
            pool.pos.append(s.pos)
            pool.source.append((s.name, split))
            pool.hashes.append(trial_hash(trial))

    for s in evaluated:
        add(s, "train", s.x_train)
    for s in extra:
        if s.name in eval_names:
            continue
        add(s, "train", s.x_train)
        add(s, "test", s.x_test)
    check_no_test_leak(pool, evaluated)
    return pool


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


def run_peer(s: BenchSet, seed: int) -> float:
    """Balanced accuracy of MiniRocket on the raw trials at the original rate."""
    from neurosig._utils.optional import require

    require("aeon", "the MiniRocket peer of `neurosig bench real`")
    from aeon.classification.convolution_based import MiniRocketClassifier
    from sklearn.metrics import balanced_accuracy_score

    clf = MiniRocketClassifier(random_state=seed, n_jobs=1)
    clf.fit(s.x_train.astype(np.float64), s.y_train)
    return float(balanced_accuracy_score(s.y_test, clf.predict(s.x_test.astype(np.float64))))


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


def fit_head(F_train: np.ndarray, y_train: np.ndarray, seed: int = 0):
    """Standardise + logistic regression with C chosen by 5-fold CV on the training features."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_splits = int(max(2, min(5, np.bincount(y_train).min())))
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    clf = LogisticRegressionCV(Cs=np.logspace(-4, 2, 7), cv=cv, max_iter=1000, tol=1e-3, class_weight="balanced")
    return make_pipeline(StandardScaler(), clf).fit(F_train, y_train)


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


def validation_folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, seeded (train, val) folds carved from a training split (each trial validates once)."""
    from sklearn.model_selection import StratifiedKFold

    n = int(max(2, min(n_folds, np.bincount(y).min())))
    return list(StratifiedKFold(n, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
