"""Test-blind checks of head and signal-block variants for ``neurosig bench real`` (sessions 5 and 6).

Every figure is the benchmark's validation protocol (3 blocked folds carved from each TRAINING split in
recording order; test trials are never read). Blocked folds do not depend on the seed, so one pass gives the
figure every fine-tuning seed would. ``base`` is the token-free part of ``ensemble_c``
(cum | cum12 | slow | slow12 | rspec | ts, block probabilities averaged); each variant changes one thing:

- ``cv`` / ``cv2``: FeatureHead weighting ``cv`` / ``cv2`` (blocks weighted by their CV balanced accuracy above
  chance, or its square); ``+nspec/cv``, ``+nspec/cv2``: the same for base + nspec (session 8);
- ``stack@C``: stacked generalisation — each block's out-of-fold probabilities (inner blocked folds)
  feed a logistic meta-learner (inverse regularisation C), applied to the blocks refitted on all rows;
- ``+dc``: one more block, the per-channel trial mean before demeaning (DC level);
- ``+fb``: one more block, log band power in 6 bands (1-4, 4-8, 8-13, 13-30, 30-60, 60-95 Hz, 4th-order
  Butterworth, zero phase) over 4 segments of the trial (time-resolved band power);
- ``+tspec``: one more block, the STFT log spectrum of each of 4 segments (time-resolved spectrum);
- ``+nspec``: one more block, the log spectrum at the set's NATIVE rate over 0.25 s windows
  (:func:`neurosig.evaluation.benchmark.native_spectrum`: the recorded band exactly; session 6 made it a
  candidate head of the benchmark, ``ensemble_n``);
- ``+quant``: one more block, the 10/25/50/75/90 % quantiles of the signal in 8 segments (robust levels);
- ``+joint``: one more block, all six signal blocks concatenated into one logistic head;
- ``clip3``: the slow/drift blocks computed after clipping each trial at median ± 3 MAD (artifact-robust);
- ``crops``: cropped training — 3 crops per trial (offsets 0, 10, 20 samples at 200 Hz), test probabilities
  averaged over the same crops (small time-shift invariance);
- ``lda``: shrinkage LDA (Ledoit-Wolf, equal priors) per block instead of the CV-logistic head;
- ``ppv`` / ``+ppv`` (session 7): a ROCKET-style block alone / added — 84 fixed zero-sum kernels at 8
  dilations, channel subsets summed, PPV pooling at 5 bias quantiles (:class:`PPVBlock`, fitted on the
  head's training rows);
- ``rawslow`` / ``carslow`` (session 8): the slow/drift blocks (cum, cum12, slow, slow12) computed with the
  trial mean kept / after a common average reference (sets with >= 3 channels; raw otherwise), in place of
  the demeaned ones; ``+rawslow`` / ``+carslow``: those four as one more block (``+nspec+...``: with nspec too);
- ``+cdf`` (session 8): one more block, the amplitude CDF of the raw trials (fraction of samples above each
  channel's 10-90 % training quantiles in 4 segments; the DC level kept, as MiniRocket's padding keeps it);
- ``+tsmb`` (session 8): one more block, tangent space of 8-30 Hz band-passed covariances (ERD/alpha);
- ``peer``: MiniRocket on the same folds (raw trials, native rate): the bar on validation;
- session 9: ``mrlog`` — aeon's MiniRocket *transform* (the peer's own features, fitted on the head's rows)
  into our CV-logistic head instead of the peer's ridge; ``+nspec+mr`` / ``+nspec+mr/cv2`` — those features as
  one more block of base + nspec (an upper bound for any ROCKET-style block of ours); ``+nspec/top2`` — base +
  nspec with each block's probabilities averaged over the two C values of best CV accuracy (a steadier choice of
  C); ``quant-et`` — interval quantiles of the raw trial, its first and second differences and its |FFT| (dyadic
  intervals, QUANT-style) into extremely randomised trees; ``+nspec+hand`` / ``+nspec+hand/cv2`` — base + nspec +
  the ``hand`` head's joint block (slow + spec + ts in one logistic), averaged / ``cv2``-weighted. ``mrlog`` and
  ``+nspec+mr`` need aeon (the peer extra).
- session 10: ``+nspec/ridge`` — base + nspec with the peer's learner per block (:class:`RidgeHead`: ridge
  classification, penalty over 1e-3..1e3 by leave-one-out, decision values averaged); ``+nspec/ridge-wide`` —
  penalty over 1e-2..1e5; ``+nspec/ridge-bcv`` — that range chosen by the blocked inner folds instead of
  leave-one-out.

With ``--models DIR,...`` (pretrained model folders, e.g. ``runs/bench_real/seed0``...), token blocks too:
``ensc@K`` = base | tokv_t | codes of model K (the default head), ``ensc@avg`` = the token blocks' probabilities
averaged over all models (an ensemble of pretrainings, same weight as one model's), ``+zt@0`` = base | the
tokenizer's continuous (pre-quantization) latent in 4 segments, ``+conv@0`` = base | the tokenizer's
first-layer conv kernels applied to the whole trial, GELU means in 4 segments, ``ppvtok@0`` / ``+ppvtok@0`` =
the same 48 pretrained kernels as a :class:`PPVBlock` filter bank at dilations 1-16, alone / added to base.

    python scripts/explore_signal_blocks.py --models runs/bench_real/seed0,runs/bench_real/seed1,runs/bench_real/seed2 \\
        --json runs/explore/signal_blocks.json
    python scripts/explore_signal_blocks.py --variants base,+nspec,+joint --folds 3,4,5,6,8 --no-peer   # robustness to the fold count
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

BANDS = ((1, 4), (4, 8), (8, 13), (13, 30), (30, 60), (60, 95))
SEGMENTS = 4


def _segments(a: np.ndarray, k: int) -> list[tuple[int, int]]:
    from neurosig.evaluation.benchmark import segment_edges

    return segment_edges(a.shape[-1], k)


def band_power(x: np.ndarray, sfreq: float, k: int = SEGMENTS) -> np.ndarray:
    """Log band power per channel, band (:data:`BANDS`, capped below Nyquist) and trial segment; (n, C * bands * k)."""
    from scipy.signal import butter, sosfiltfilt

    out = []
    for lo, hi in BANDS:
        hi = min(hi, 0.95 * sfreq / 2)
        if lo < hi:
            y = sosfiltfilt(butter(4, [lo, hi], btype="band", fs=sfreq, output="sos"), x, axis=-1)
            out.append(np.stack([np.log((y[..., a:b] ** 2).mean(-1) + 1e-8) for a, b in _segments(y, k)], -1))
    return np.stack(out, 2).reshape(len(x), -1).astype(np.float32)


def segment_quantiles(x: np.ndarray, k: int = 8, qs=(10, 25, 50, 75, 90)) -> np.ndarray:
    """Quantiles of each channel in ``k`` trial segments; (n, C * k * len(qs))."""
    return np.stack([np.percentile(x[..., a:b], qs, axis=-1) for a, b in _segments(x, k)], -1).transpose(1, 2, 0, 3).reshape(len(x), -1).astype(np.float32)


def clip_mad(x: np.ndarray, k: float) -> np.ndarray:
    """Each trial and channel clipped at its median ± k · 1.4826 · MAD."""
    med = np.median(x, -1, keepdims=True)
    mad = 1.4826 * np.median(np.abs(x - med), -1, keepdims=True) + 1e-12
    return np.clip(x, med - k * mad, med + k * mad)


class LDAHead:
    """Per block: standardise + shrinkage LDA (Ledoit-Wolf, equal priors); probabilities averaged."""

    def __init__(self, blocks):
        self.blocks = blocks

    def fit(self, feats, y):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from neurosig.evaluation.benchmark import FeatureHead, TangentSpace

        self.fh_ = FeatureHead(self.blocks)  # only its block assembly (ts fitted on these rows)
        self.fh_.ts_ = TangentSpace().fit(feats["cov"]) if any("ts" in b for b in self.blocks) else None
        K = len(np.unique(y))
        self.heads_ = [make_pipeline(StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=np.full(K, 1 / K)))
                       .fit(self.fh_._block(b, feats), y) for b in self.blocks]
        return self

    def predict(self, feats):
        p = np.mean([h.predict_proba(self.fh_._block(b, feats)) for h, b in zip(self.heads_, self.blocks)], 0)
        return self.heads_[0].classes_[p.argmax(1)]


class CroppedHead:
    """FeatureHead trained on several crops of each trial (features of crop j under ``crop{j}/``), test
    probabilities averaged over the crops."""

    def __init__(self, blocks, n_crops: int):
        self.blocks, self.n_crops = blocks, n_crops

    def _crop(self, feats, j):
        return {k.split("/", 1)[1]: v for k, v in feats.items() if k.startswith(f"crop{j}/")}

    def fit(self, feats, y):
        from neurosig.evaluation.benchmark import FeatureHead

        crops = [self._crop(feats, j) for j in range(self.n_crops)]
        stacked = {k: np.stack([c[k] for c in crops], 1).reshape(len(y) * self.n_crops, *crops[0][k].shape[1:]) for k in crops[0]}
        self.head_ = FeatureHead(self.blocks).fit(stacked, np.repeat(y, self.n_crops))  # a trial's crops stay adjacent
        return self

    def predict(self, feats):
        p = np.mean([self.head_.predict_proba(self._crop(feats, j)) for j in range(self.n_crops)], 0)
        return self.head_.classes_[p.argmax(1)]


class StackedHead:
    """Per-block FeatureHeads, combined by a logistic meta-learner fitted on their out-of-fold log-probabilities."""

    def __init__(self, blocks, meta_c: float = 1.0, inner: int = 3):
        self.blocks, self.meta_c, self.inner = blocks, meta_c, inner

    @staticmethod
    def _z(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-4, 1.0)).reshape(len(p), -1)

    def fit(self, feats, y):
        from sklearn.linear_model import LogisticRegression

        from neurosig.evaluation.benchmark import FeatureHead, subset, validation_folds

        oof = np.zeros((len(y), len(self.blocks), len(np.unique(y))))
        for itr, iva in validation_folds(y, self.inner, 0):
            for j, b in enumerate(self.blocks):
                oof[iva, j] = FeatureHead([b]).fit(subset(feats, itr), y[itr]).predict_proba(subset(feats, iva))
        self.heads_ = [FeatureHead([b]).fit(feats, y) for b in self.blocks]
        self.meta_ = LogisticRegression(C=self.meta_c, class_weight="balanced", max_iter=1000).fit(self._z(oof), y)
        return self

    def predict(self, feats):
        return self.meta_.predict(self._z(np.stack([h.predict_proba(feats) for h in self.heads_], 1)))


class WeightedBlocks:
    """One CV-logistic head per block, class probabilities averaged with the given weights."""

    def __init__(self, weights: dict[str, float]):
        self.weights = weights

    def fit(self, feats, y):
        from neurosig.evaluation.benchmark import FeatureHead

        self.heads_ = {b: FeatureHead([[b]]).fit(feats, y) for b in self.weights}
        return self

    def predict(self, feats):
        p = sum(w * self.heads_[b].predict_proba(feats) for b, w in self.weights.items()) / sum(self.weights.values())
        return next(iter(self.heads_.values())).classes_[p.argmax(1)]


ROCKET_KERNELS = np.stack([np.where(np.isin(np.arange(9), c), 2.0, -1.0)
                           for c in itertools.combinations(range(9), 3)]).astype(np.float32)  # (84, 9)


class PPVBlock:
    """Filter bank + PPV pooling (the proportion of positions where a filter's output exceeds a bias; the
    pooling of Dempster et al.'s ROCKET / MiniRocket, written here from the paper's description): each
    kernel at each dilation is applied to every channel and summed over a seeded random channel subset
    (1 to min(C, 9) channels); biases are quantiles (10-90 %) of that output over the fitting rows only.
    ``kernels`` (F, k): ``ROCKET_KERNELS`` (84 fixed length-9 kernels of -1 / 2, zero sum) or the pretrained
    tokenizer's first-layer kernels; input x (n, C, T) at the model rate, demeaned, scaled by its training std."""

    QS = (0.1, 0.3, 0.5, 0.7, 0.9)

    def __init__(self, kernels: np.ndarray, dilations=None, seed: int = 0):
        self.kernels, self.dilations, self.seed = np.asarray(kernels, np.float32), dilations, seed

    def _conv(self, x):
        import torch

        n, C, T = x.shape
        xb, w = torch.from_numpy(np.ascontiguousarray(x, np.float32).reshape(n * C, 1, T)), torch.from_numpy(self.kernels)[:, None]
        k = w.shape[-1]
        with torch.no_grad():
            return [np.einsum("ncft,fc->nft", torch.nn.functional.conv1d(xb, w, dilation=d, padding=(k - 1) * d // 2)
                              .reshape(n, C, len(w), -1).numpy(), self.mix_[d]) for d in self.dil_]

    def fit(self, x):
        n, C, T = x.shape
        k, rng = self.kernels.shape[-1], np.random.default_rng(self.seed)
        top = max(1.0, (T - 1) / (k - 1))  # the widest dilation that still fits the trial
        dil = self.dilations or np.floor(2 ** np.linspace(0, np.log2(top), 8)).astype(int)
        self.dil_ = sorted({int(d) for d in dil if (k - 1) * d < T} or {1})
        self.mix_ = {}
        for d in self.dil_:
            m = np.zeros((len(self.kernels), C), np.float32)
            for f in range(len(m)):
                m[f, rng.choice(C, int(min(C, 2 ** rng.uniform(0, np.log2(min(C, 9) + 1)))), replace=False)] = 1
            self.mix_[d] = m
        self.scale_ = float(x.std()) + 1e-8
        self.bias_ = [np.quantile(o, self.QS, axis=(0, 2)) for o in self._conv(x / self.scale_)]  # (q, F) per dilation
        return self

    def transform(self, x):
        return np.concatenate([(o[:, None] > b[None, :, :, None]).mean(-1).reshape(len(x), -1)
                               for o, b in zip(self._conv(x / self.scale_), self.bias_)], 1).astype(np.float32)


class PPVHead:
    """FeatureHead over ``blocks``, where the block name ``ppv`` is a :class:`PPVBlock` fitted on the head's
    training rows (``_xm``: the demeaned model-rate trials)."""

    def __init__(self, blocks, kernels, dilations=None):
        self.blocks, self.kernels, self.dilations = blocks, kernels, dilations

    def _feats(self, feats):
        return {**feats, "ppv": self.ppv_.transform(feats["_xm"])}

    def fit(self, feats, y):
        from neurosig.evaluation.benchmark import FeatureHead

        self.ppv_ = PPVBlock(self.kernels, self.dilations).fit(feats["_xm"])
        self.head_ = FeatureHead(self.blocks).fit(self._feats(feats), y)
        return self

    def predict(self, feats):
        return self.head_.predict(self._feats(feats))


def _cdf_block(x_fit: np.ndarray, k: int = SEGMENTS, qs=(10, 30, 50, 70, 90)):
    """Amplitude-CDF block of the raw trials (native rate, trial mean KEPT): per channel, the fraction of
    samples of each of ``k`` segments above thresholds at the ``qs`` quantiles of that channel's samples in
    the fitting rows — the identity-kernel case of PPV pooling, where MiniRocket sees the DC level."""
    thr = np.percentile(x_fit.transpose(1, 0, 2).reshape(x_fit.shape[1], -1), qs, axis=1).T  # (C, q)

    def transform(x):
        return np.stack([(x[..., a:b, None] > thr[None, :, None, :]).mean(-2) for a, b in _segments(x, k)],
                        2).reshape(len(x), -1).astype(np.float32)
    return transform


def _band_ts_block(x_fit: np.ndarray, sfreq: float, band=(8.0, 30.0)):
    """Tangent space of shrunk covariances of the demeaned raw trials band-passed to ``band`` (4th-order
    Butterworth, zero phase, capped below Nyquist), reference at the fitting rows' log-Euclidean mean."""
    from scipy.signal import butter, sosfiltfilt

    from neurosig.evaluation.benchmark import TangentSpace, covariances

    sos = butter(4, [band[0], min(band[1], 0.45 * sfreq)], btype="band", fs=sfreq, output="sos")

    def cov(x):
        return covariances(sosfiltfilt(sos, x - x.mean(-1, keepdims=True), axis=-1))
    ts = TangentSpace().fit(cov(x_fit))
    return lambda x: ts.transform(cov(x))


class FittedBlockHead:
    """FeatureHead over ``blocks``, where block ``name`` = ``make(raw training rows)`` applied to the raw
    trials (``_raw``, native rate; ``_sfreq`` passed when ``make`` takes it): fitted on the head's rows only;
    ``weighting`` as :class:`FeatureHead`'s."""

    def __init__(self, blocks, name: str, make, weighting: str = "mean"):
        self.blocks, self.name, self.make, self.weighting = blocks, name, make, weighting

    def _feats(self, feats):
        return {**feats, self.name: self.fn_(feats["_raw"])}

    def fit(self, feats, y):
        from neurosig.evaluation.benchmark import FeatureHead

        self.fn_ = self.make(feats["_raw"], float(feats["_sfreq"][0]))
        self.head_ = FeatureHead(self.blocks, weighting=self.weighting).fit(self._feats(feats), y)
        return self

    def predict(self, feats):
        return self.head_.predict(self._feats(feats))


def _minirocket_block(x_fit: np.ndarray, sfreq: float):
    """aeon's MiniRocket transform (the peer's features, not its ridge classifier) fitted on the raw fitting rows:
    an upper bound for a ROCKET-style block of ours (needs the peer extra)."""
    from aeon.transformations.collection.convolution_based import MiniRocket

    t = MiniRocket(random_state=0).fit(x_fit)
    return lambda x: np.asarray(t.transform(x), np.float32)


class TopCHead:
    """FeatureHead whose every block averages the class probabilities of its logistic fits at the ``k`` values
    of C with the best mean CV accuracy (ties: the smaller C), instead of using the single best C."""

    def __init__(self, blocks, k: int = 2):
        self.blocks, self.k = blocks, k

    def fit(self, feats, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from neurosig.evaluation.benchmark import FeatureHead

        self.head_ = FeatureHead(self.blocks).fit(feats, y)
        self.fits_ = []
        for h, b in zip(self.head_.heads_, self.head_.blocks):
            lr = h[-1]
            m = np.asarray(next(iter(lr.scores_.values())), float).mean(0)
            F = self.head_._block(b, feats)
            self.fits_.append([h if c == lr.C_[0] else make_pipeline(StandardScaler(), LogisticRegression(
                C=c, max_iter=1000, tol=1e-3, class_weight="balanced")).fit(F, y)
                for c in lr.Cs_[np.argsort(-m, kind="stable")[: self.k]]])
        return self

    def predict(self, feats):
        p = np.mean([np.mean([f.predict_proba(self.head_._block(b, feats)) for f in fits], 0)
                     for fits, b in zip(self.fits_, self.head_.blocks)], 0)
        return self.head_.classes_[p.argmax(1)]


class RidgeHead:
    """The peer's learner on our blocks (session 10): per block, standardise + ridge classification with its penalty
    chosen over ``alphas`` by efficient leave-one-out (``cv=None``, as MiniRocket's RidgeClassifierCV) or by the
    benchmark's blocked inner folds (``cv="blocked"``); the blocks' decision values (targets +-1) are averaged."""

    def __init__(self, blocks, alphas=np.logspace(-3, 3, 10), cv=None):
        self.blocks, self.alphas, self.cv = blocks, alphas, cv

    def fit(self, feats, y):
        from sklearn.linear_model import RidgeClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from neurosig.evaluation.benchmark import FeatureHead, TangentSpace, _stratified_folds

        self.head_ = FeatureHead(self.blocks)  # used for its feature assembly (_block) only
        self.head_.ts_ = TangentSpace().fit(feats["cov"])
        cv = None if self.cv is None else _stratified_folds(int(max(2, min(5, np.bincount(y).min()))), 0, self.cv)
        self.fits_ = [make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=self.alphas, cv=cv, class_weight="balanced"))
                      .fit(self.head_._block(b, feats), y) for b in self.head_.blocks]
        self.classes_ = self.fits_[0].classes_
        return self

    def predict(self, feats):
        d = [f.decision_function(self.head_._block(b, feats)) for f, b in zip(self.fits_, self.head_.blocks)]
        d = [np.stack([-z, z], 1) if z.ndim == 1 else z for z in d]
        return self.classes_[np.mean(d, 0).argmax(1)]


def interval_quantiles(x: np.ndarray, depth: int = 6, per: int = 4) -> np.ndarray:
    """QUANT-style features: quantiles (one per ``per`` samples) of each channel over dyadic intervals
    (depth levels, each but the first also shifted by half an interval); x (n, C, T) → (n, F)."""
    n, C, T = x.shape
    out = []
    for d in range(depth):
        edges = np.linspace(0, T, 2 ** d + 1).round().astype(int)
        ivs = list(zip(edges[:-1], edges[1:]))
        if d > 0:
            h = (edges[1] - edges[0]) // 2
            ivs += [(a + h, b + h) for a, b in ivs[:-1]]
        for a, b in ivs:
            if b <= a:  # intervals shorter than a sample (short trials, deep levels)
                continue
            k = max(1, (b - a) // per)
            qs = np.linspace(0, 1, k + 1)[1:-1] if k > 1 else [0.5]
            out.append(np.moveaxis(np.quantile(x[..., a:b], qs, axis=-1), 0, -1).reshape(n, -1))
    return np.concatenate(out, 1)


class QuantET:
    """:func:`interval_quantiles` of the raw trial, its first and second differences and its |FFT| into
    200 extremely randomised trees (10 % of the features per split, entropy)."""

    @staticmethod
    def _f(x):
        return np.concatenate([interval_quantiles(v) for v in (x, np.diff(x, axis=-1), np.diff(x, n=2, axis=-1),
                                                                np.abs(np.fft.rfft(x, axis=-1)))], 1).astype(np.float32)

    def fit(self, feats, y):
        from sklearn.ensemble import ExtraTreesClassifier

        self.clf_ = ExtraTreesClassifier(200, max_features=0.1, criterion="entropy", random_state=0).fit(self._f(feats["_raw"]), y)
        return self

    def predict(self, feats):
        return self.clf_.predict(self._f(feats["_raw"]))


class Peer:
    """MiniRocket (aeon) on the raw trials at the native rate (``_raw`` rows)."""

    def fit(self, feats, y):
        from neurosig.evaluation.benchmark import minirocket

        self.clf_ = minirocket(0).fit(feats["_raw"], y)
        return self

    def predict(self, feats):
        return self.clf_.predict(feats["_raw"])


def tokenizer_kernels(model_dir: Path) -> np.ndarray:
    """The pretrained tokenizer's first-layer conv kernels, zero-padded to one length: (F, k)."""
    from neurosig.models.foundation import FoundationModel

    _, tok = FoundationModel.load(Path(model_dir) / "model")
    ws = [br.net[0].weight.detach().numpy()[:, 0] for br in tok.branches]  # (16, k_b) each
    k = max(w.shape[-1] for w in ws)
    return np.concatenate([np.pad(w, ((0, 0), ((k - w.shape[-1]) // 2, (k - w.shape[-1] + 1) // 2))) for w in ws]).astype(np.float32)


def model_features(model_dir: Path, s, x: np.ndarray, rate: float) -> dict[str, np.ndarray]:
    """Token blocks of one pretrained model (tokv_t, codes), plus the tokenizer's continuous latent (z_t)
    and first-layer conv means (conv) in SEGMENTS segments; x (n, C, T) the raw training trials."""
    import torch

    from neurosig.cli.bench import _demean, _embed
    from neurosig.evaluation.benchmark import segment_means, to_model_rate
    from neurosig.models.foundation import FoundationModel

    model, tok = FoundationModel.load(Path(model_dir) / "model")
    model, tok = model.eval(), tok.eval()
    emb = _embed(model, tok, s, x, rate)
    x = _demean(to_model_rate(x, s.sfreq, rate))
    n, C, T = x.shape
    xb = torch.from_numpy(x.astype(np.float32))
    with torch.no_grad():
        prep = tok._prepare(xb, torch.from_numpy(np.broadcast_to(s.pos, (n, C, 3)).copy()),
                            torch.from_numpy(np.broadcast_to(s.ch_types, (n, C)).copy()).long(), torch.ones(n, C, dtype=torch.bool))
        inp = tok._flatten(tok._token_inputs(prep["xs"][prep["mask"]], prep["n"]))
        z = tok._scatter(prep, tok._encode_tokens(inp, tok._cond_tokens(prep))).numpy()  # (n, C, N, D)
        xs = prep["xs"].reshape(n * C, 1, -1)
        conv = [torch.nn.functional.gelu(br.net[0](xs)).numpy() for br in tok.branches]  # (nC, ch, T') each
    conv_t = np.concatenate([np.stack([c[..., a:b].mean(-1) for a, b in _segments(c, SEGMENTS)], -1) for c in conv], 1)
    return {"tokv_t": emb["tokv_t"], "codes": emb["codes"], "z_t": segment_means(z, SEGMENTS).reshape(n, -1),
            "conv": conv_t.reshape(n, -1).astype(np.float32)}


def main(argv=None) -> int:
    from sklearn.metrics import balanced_accuracy_score

    from neurosig.cli.bench import _demean, bench_config
    from neurosig.evaluation.benchmark import (FeatureHead, hand_features, load_bench_set, signal_features,
                                               spectral_features, subset, to_model_rate, validation_folds)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="SelfRegulationSCP1,FingerMovements,EyesOpenShut")
    ap.add_argument("--models", default="", help="comma-separated pretrained model folders (each holding model/)")
    ap.add_argument("--no-peer", action="store_true", help="skip MiniRocket on the validation folds")
    ap.add_argument("--variants", default="", help="comma-separated variant names to score (default: all)")
    ap.add_argument("--folds", default="", help="comma-separated fold counts (default: the benchmark's val_folds, 3); "
                                                "with several, each row is VARIANT/kN")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    cfg = bench_config()
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    base = cfg["ablation_heads"]["ensemble_c-without-tokens"]  # the signal blocks of the default head
    slow_names = ("cum", "cum12", "slow", "slow12")
    offsets = (0, 10, 20)
    models = [m for m in a.models.split(",") if m]
    variants = {
        "base": lambda: FeatureHead(base),
        "cv": lambda: FeatureHead(base, weighting="cv"),
        "cv2": lambda: FeatureHead(base, weighting="cv2"),
        "+nspec/cv": lambda: FeatureHead(base + [["nspec"]], weighting="cv"),
        "+nspec/cv2": lambda: FeatureHead(base + [["nspec"]], weighting="cv2"),
        **{f"stack@{c:g}": (lambda c=c: StackedHead(base, c)) for c in (1.0, 0.1, 0.01)},
        "+dc": lambda: FeatureHead(base + [["dc"]]),
        "+fb": lambda: FeatureHead(base + [["fb"]]),
        "+tspec": lambda: FeatureHead(base + [["tspec"]]),
        "+nspec": lambda: FeatureHead(base + [["nspec"]]),
        "+quant": lambda: FeatureHead(base + [["quant"]]),
        "+joint": lambda: FeatureHead(base + [[n for b in base for n in b]]),
        "clip3": lambda: FeatureHead([[f"{n}_clip" if n in slow_names else n for n in b] for b in base]),
        "crops": lambda: CroppedHead(base, len(offsets)),
        "lda": lambda: LDAHead(base),
        "ppv": lambda: PPVHead([["ppv"]], ROCKET_KERNELS),
        "rawslow": lambda: FeatureHead([[f"{n}_raw" if n in slow_names else n for n in b] for b in base]),
        "carslow": lambda: FeatureHead([[f"{n}_car" if n in slow_names else n for n in b] for b in base]),
        "+rawslow": lambda: FeatureHead(base + [[f"{n}_raw" for n in slow_names]]),
        "+carslow": lambda: FeatureHead(base + [[f"{n}_car" for n in slow_names]]),
        "+nspec+rawslow": lambda: FeatureHead(base + [["nspec"], [f"{n}_raw" for n in slow_names]]),
        "+nspec+carslow": lambda: FeatureHead(base + [["nspec"], [f"{n}_car" for n in slow_names]]),
        "+ppv": lambda: PPVHead(base + [["ppv"]], ROCKET_KERNELS),
        "+cdf": lambda: FittedBlockHead(base + [["cdf"]], "cdf", lambda x, sf: _cdf_block(x)),
        "+nspec+cdf": lambda: FittedBlockHead(base + [["nspec"], ["cdf"]], "cdf", lambda x, sf: _cdf_block(x)),
        "+tsmb": lambda: FittedBlockHead(base + [["tsmb"]], "tsmb", _band_ts_block),
        "+nspec+tsmb": lambda: FittedBlockHead(base + [["nspec"], ["tsmb"]], "tsmb", _band_ts_block),
        "+nspec/top2": lambda: TopCHead(base + [["nspec"]]),
        "+nspec+hand": lambda: FeatureHead(base + [["nspec"], ["slow", "spec", "ts"]]),
        "+nspec+hand/cv2": lambda: FeatureHead(base + [["nspec"], ["slow", "spec", "ts"]], weighting="cv2"),
        "quant-et": QuantET,
        "+nspec/ridge": lambda: RidgeHead(base + [["nspec"]]),
        "+nspec/ridge-wide": lambda: RidgeHead(base + [["nspec"]], np.logspace(-2, 5, 15)),
        "+nspec/ridge-bcv": lambda: RidgeHead(base + [["nspec"]], np.logspace(-2, 5, 15), "blocked"),
    }
    if not a.no_peer:
        variants.update({"mrlog": lambda: FittedBlockHead([["mr"]], "mr", _minirocket_block),
                         "+nspec+mr": lambda: FittedBlockHead(base + [["nspec"], ["mr"]], "mr", _minirocket_block),
                         "+nspec+mr/cv2": lambda: FittedBlockHead(base + [["nspec"], ["mr"]], "mr", _minirocket_block, "cv2"),
                         "peer": Peer})
    sig = {b[0]: 1.0 for b in base}
    for k in range(len(models)):
        variants[f"ensc@{k}"] = lambda k=k: WeightedBlocks({**sig, f"tokv_t@{k}": 1.0, f"codes@{k}": 1.0})
    if len(models) > 1:
        variants["ensc@avg"] = lambda: WeightedBlocks({**sig, **{f"{t}@{k}": 1 / len(models) for t in ("tokv_t", "codes") for k in range(len(models))}})
    if models:
        variants["+zt@0"] = lambda: FeatureHead(base + [["z_t@0"]])
        variants["+conv@0"] = lambda: FeatureHead(base + [["conv@0"]])
        tok_k = tokenizer_kernels(Path(models[0]))
        variants["ppvtok@0"] = lambda: PPVHead([["ppv"]], tok_k, (1, 2, 4, 8, 16))
        variants["+ppvtok@0"] = lambda: PPVHead(base + [["ppv"]], tok_k, (1, 2, 4, 8, 16))
    names = [n for n in a.datasets.split(",") if n]
    if a.variants:
        unknown = sorted(set(a.variants.split(",")) - set(variants))
        if unknown:
            ap.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(variants)}")
        variants = {v: variants[v] for v in a.variants.split(",")}
    fold_counts = [int(k) for k in a.folds.split(",") if k] or [cfg["val_folds"]]
    rows = {(v, k): v if len(fold_counts) == 1 else f"{v}/k{k}" for v in variants for k in fold_counts}
    table: dict[str, dict[str, float]] = {r: {} for r in rows.values()}
    for name in names:
        s = load_bench_set(name)
        xm = to_model_rate(s.x_train, s.sfreq, rate)  # TRAINING split only
        xr = _demean(xm)
        feats = {**signal_features(s.x_train, s.sfreq, rate, P), "fb": band_power(xr, rate), "quant": segment_quantiles(xr),
                 "dc": xm.mean(-1).astype(np.float32), "_raw": s.x_train.astype(np.float64),
                 "_sfreq": np.full(len(s.x_train), s.sfreq),
                 "_xm": xr}
        n, C, T = xr.shape
        feats["tspec"] = np.concatenate([spectral_features(np.ascontiguousarray(xr[..., i:j]), 50, 25).reshape(n, C, -1)
                                         for i, j in _segments(xr, SEGMENTS)], -1).reshape(n, -1)
        clipped = hand_features(_demean(clip_mad(xr, 3.0)), P)
        feats.update({f"{k}_clip": clipped[k] for k in slow_names})
        raw = hand_features(xm, P)  # trial mean kept (DC level)
        feats.update({f"{k}_raw": raw[k] for k in slow_names})
        car = hand_features(xm - xm.mean(1, keepdims=True), P) if C >= 3 else raw  # common average reference
        feats.update({f"{k}_car": car[k] for k in slow_names})
        L = T - max(offsets)
        for j, o in enumerate(offsets):
            feats.update({f"crop{j}/{k}": v for k, v in hand_features(_demean(xr[..., o:o + L]), P).items()})
        for k, m in enumerate(models):
            feats.update({f"{t}@{k}": v for t, v in model_features(Path(m), s, s.x_train, rate).items()})
        for k in fold_counts:
            scores: dict[str, list[float]] = {v: [] for v in variants}
            for itr, iva in validation_folds(s.y_train, k, 0, cfg["fold_order"]):
                for v, make in variants.items():
                    head = make().fit(subset(feats, itr), s.y_train[itr])
                    scores[v].append(balanced_accuracy_score(s.y_train[iva], head.predict(subset(feats, iva))))
            for v in variants:
                table[rows[v, k]][name] = float(np.mean(scores[v]))
        print(name, {r: round(table[r][name], 3) for r in table}, flush=True)
    for r in table:
        table[r]["val"] = float(np.mean([table[r][n] for n in names]))
        print(f"{r:<12} val {table[r]['val']:.3f}  " + "  ".join(f"{n[:6]} {table[r][n]:.3f}" for n in names))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
