"""Hierarchical frequency tagging (HFTP) for LLM neurons and brain channels.

Paradigm: 4-unit sentences ``[w1 w2][w3 w4]`` (noun phrase + verb phrase) are presented as a
continuous stream at ``rate_hz`` = 4 words/s, so a response that tracks phrases repeats at
2 Hz and one that tracks sentences at 1 Hz. Each LLM neuron's word-averaged activation over
the stream is its "time series", sampled at 4 Hz.

Conditions (:func:`make_streams`): ``structured`` (sentences in random order),
``control`` (the same words re-ordered so that no adjacent pair of the structured stream
survives) and ``random`` (words drawn with replacement from the corpus vocabulary).

Statistics (:func:`tag_series`): the complex spectrum is evaluated *at the tagged frequency
itself* (a DFT at frequency ``f``, not the nearest FFT bin). Two tests must both reject:

1. **time-shuffle permutation null**: the time points of the (trial-averaged) series are
   permuted; the power at ``f`` normalised by ``T * var(x)`` is pooled over the neurons of one
   layer and all permutations (its null law does not depend on the neuron), giving
   ``p = (1 + #null >= obs) / (1 + n_null)``;
2. **neighbouring-bin SNR test**: the power at ``f`` against the mean power of ``K`` neighbour
   frequencies ``f ± (skip + k) / T_s`` (one-sided below Nyquist at 4 Hz's 2 Hz); under a locally
   flat noise spectrum the ratio is ``F(2, 2K)`` (``F(1, 2K)`` at Nyquist, where the DFT is real).

Benjamini–Hochberg FDR runs over all neurons × layers per test and frequency. A neuron is
``sentence`` (1 Hz only), ``phrase`` (2 Hz only) or ``both``. Note that a non-sinusoidal
1 Hz response also has a 2 Hz harmonic, which is why ``both`` is reported separately.

Brain epochs (:func:`tag_epochs`): inter-trial phase coherence at each tagged frequency with a
Rayleigh test, a within-trial time-shuffle permutation null and the SNR test on the evoked spectrum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.rng import make_rng

DEFAULT_CORPUS = Path(__file__).resolve().parent / "stimuli" / "sentences_en.txt"
CONDITIONS = ("structured", "control", "random")


@dataclass
class TaggingConfig:
    """Frequency-tagging settings (HFTP defaults)."""

    rate_hz: float = 4.0  # words per second: the classic 4 Hz syllable/word rate
    sentence_hz: float = 1.0  # 4-word sentences at 4 Hz -> 1 Hz
    phrase_hz: float = 2.0  # 2-word phrases at 4 Hz -> 2 Hz
    n_sentences: int = 60  # sentences per stream: 240 words = 60 s, resolution 1/60 Hz
    n_trials: int = 24  # streams per condition (each a fresh order / shuffle), averaged
    n_perm: int = 200  # time shuffles per layer (pooled over that layer's neurons)
    n_neighbors: int = 4  # neighbour frequencies per side for the SNR test
    neighbor_skip: int = 1  # resolution steps skipped next to the tagged frequency (leakage)
    alpha: float = 0.05  # BH false-discovery rate
    seed: int = 0  # seeds the stimulus order and the permutations
    conditions: tuple = CONDITIONS  # which conditions to run

    def __post_init__(self):
        for name in ("rate_hz", "sentence_hz", "phrase_hz"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise NeurosigError(f"tagging.{name} must be a positive number, got {v!r}")
        for name in ("n_sentences", "n_trials", "n_perm", "n_neighbors"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise NeurosigError(f"tagging.{name} must be a positive integer, got {v!r}")
        if not 0 < self.alpha < 1:
            raise NeurosigError(f"tagging.alpha must be in (0, 1), got {self.alpha!r}")
        if max(self.sentence_hz, self.phrase_hz) > self.rate_hz / 2 + 1e-9:
            raise NeurosigError(f"tagged frequencies must be <= rate_hz/2 = {self.rate_hz / 2} (Nyquist); got {self.sentence_hz}, {self.phrase_hz}")
        self.conditions = tuple(self.conditions)
        for c in self.conditions:
            if c not in CONDITIONS:
                raise NeurosigError(f"tagging.conditions entry {c!r} is not supported; choose from {', '.join(CONDITIONS)}")


# ---------------------------------------------------------------------------------- stimuli
def load_corpus(path: str | os.PathLike | None = None, n_units: int = 4) -> list[list[str]]:
    """Sentences of exactly ``n_units`` words, one per line (``#`` comments, blanks ignored)."""
    p = Path(path) if path is not None else DEFAULT_CORPUS
    if not p.is_file():
        raise NeurosigError(f"corpus {str(p)!r} not found; pass a text file with one {n_units}-word sentence per line")
    sents = []
    for ln, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if len(words) != n_units:
            raise NeurosigError(f"corpus {str(p)!r} line {ln} has {len(words)} words ({line!r}); every sentence must have exactly {n_units} words")
        sents.append(words)
    if len(sents) < 2:
        raise NeurosigError(f"corpus {str(p)!r} holds {len(sents)} sentences; at least 2 are needed")
    return sents


def _no_pair_shuffle(words: list[str], forbidden: set, rng, max_restarts: int = 200) -> list[str]:
    """A permutation of ``words`` in which no adjacent pair is in ``forbidden``."""
    for _ in range(max_restarts):
        pool = list(words)
        rng.shuffle(pool)
        out: list[str] = []
        ok = True
        while pool:
            prev = out[-1] if out else None
            cand = [i for i, w in enumerate(pool) if prev is None or (prev, w) not in forbidden]
            if not cand:
                ok = False
                break
            # prefer candidates that leave the rest solvable: pick at random
            i = cand[int(rng.integers(len(cand)))]
            out.append(pool.pop(i))
        if ok:
            return out
    raise NeurosigError("could not build a word-shuffled control with no surviving adjacent pair; use a larger corpus (more distinct words)")


def make_streams(sentences: Sequence[Sequence[str]], condition: str, *, n_trials: int, n_sentences: int, seed=0) -> list[list[str]]:
    """``n_trials`` word streams of ``n_sentences * 4`` words for one condition."""
    if condition not in CONDITIONS:
        raise NeurosigError(f"condition {condition!r} is not supported; choose from {', '.join(CONDITIONS)}")
    rng = make_rng(seed)
    sentences = [list(s) for s in sentences]
    vocab = sorted({w for s in sentences for w in s})
    # adjacent pairs of the original sentences (within and across sentence boundaries of a stream)
    streams = []
    for _ in range(n_trials):
        idx = rng.choice(len(sentences), size=n_sentences, replace=n_sentences > len(sentences))
        words = [w for i in idx for w in sentences[i]]
        if condition == "structured":
            streams.append(words)
        elif condition == "control":
            forbidden = {(a, b) for s in sentences for a, b in zip(s[:-1], s[1:])}
            forbidden |= set(zip(words[:-1], words[1:]))
            forbidden |= {(w, w) for w in vocab}
            streams.append(_no_pair_shuffle(words, forbidden, rng))
        else:
            streams.append([vocab[i] for i in rng.integers(len(vocab), size=len(words))])
    return streams


# ---------------------------------------------------------------------------------- spectra
def dft_at(x: np.ndarray, fs: float, freqs: Sequence[float], axis: int = -1) -> np.ndarray:
    """Complex DFT of ``x`` evaluated at the exact frequencies ``freqs`` (Hz) along ``axis``.

    ``X(f) = sum_n x[n] exp(-2i pi f n / fs)``; output has ``axis`` replaced by ``len(freqs)``.
    """
    x = np.moveaxis(np.asarray(x), axis, -1)
    n = np.arange(x.shape[-1])
    basis = np.exp(-2j * np.pi * np.outer(n, np.asarray(freqs, float)) / fs)  # (T, F)
    return np.moveaxis(x @ basis, -1, axis)


def bh_fdr(p: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg over all entries of ``p``: (reject mask, adjusted p) with ``p``'s shape."""
    p = np.asarray(p, float)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat)
    ranked = flat[order] * m / np.arange(1, m + 1)
    adj_sorted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    adj = np.empty(m)
    adj[order] = adj_sorted
    return (adj <= alpha).reshape(p.shape), adj.reshape(p.shape)


def _neighbors(f: float, fs: float, T: int, k: int, skip: int) -> np.ndarray:
    df = fs / T
    offs = np.arange(skip + 1, skip + 1 + k) * df
    nyq = fs / 2
    if abs(f - nyq) < 1e-9 * fs:
        offs = np.arange(skip + 1, skip + 1 + 2 * k) * df  # one-sided at Nyquist
        return f - offs
    nb = np.concatenate([f - offs, f + offs])
    return nb[(nb > 0) & (nb < nyq)]


def snr_test(x: np.ndarray, fs: float, f: float, *, n_neighbors: int = 4, skip: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Neighbouring-bin SNR of ``x (..., T)`` at ``f``: (power ratio, p-value from the F law)."""
    from scipy import stats

    x = np.asarray(x, float)
    T = x.shape[-1]
    x = x - x.mean(-1, keepdims=True)
    nb = _neighbors(f, fs, T, n_neighbors, skip)
    P = np.abs(dft_at(x, fs, [f, *nb])) ** 2
    ratio = P[..., 0] / np.maximum(P[..., 1:].mean(-1), 1e-300)
    at_nyq = abs(f - fs / 2) < 1e-9 * fs
    d1 = 1 if at_nyq else 2
    return ratio, stats.f.sf(ratio, d1, 2 * len(nb))


def tag_series(x: np.ndarray, fs: float, freqs: Sequence[float], *, n_perm: int = 200, n_neighbors: int = 4, skip: int = 1, seed=0) -> dict:
    """Tagging statistics for ``x (T, N)`` (N neurons of one layer, trial-averaged series).

    Returns ``amp (F, N)`` (|DFT| / T * 2), ``p_perm (F, N)`` (pooled time-shuffle null),
    ``snr (F, N)`` and ``p_snr (F, N)``.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise NeurosigError(f"x must have shape (time, units), got {x.shape}")
    T, N = x.shape
    rng = make_rng(seed)
    x = x - x.mean(0)
    var = x.var(0) * T
    var = np.where(var > 0, var, np.inf)
    X = dft_at(x, fs, freqs, axis=0)  # (F, N)
    z_obs = np.abs(X) ** 2 / var  # normalised power
    basis = np.exp(-2j * np.pi * np.outer(np.arange(T), np.asarray(freqs, float)) / fs)  # (T, F)
    null = np.empty((len(freqs), n_perm, N))
    for p in range(n_perm):
        perm = rng.permutation(T)
        null[:, p] = np.abs(basis[perm].T @ x) ** 2 / var  # (F, N)
    p_perm = np.empty_like(z_obs)
    for fi in range(len(freqs)):
        pool = np.sort(null[fi].ravel())
        n_ge = pool.size - np.searchsorted(pool, z_obs[fi], side="left")
        p_perm[fi] = (1 + n_ge) / (1 + pool.size)
    snr = np.empty_like(z_obs)
    p_snr = np.empty_like(z_obs)
    for fi, f in enumerate(freqs):
        snr[fi], p_snr[fi] = snr_test(x.T, fs, f, n_neighbors=n_neighbors, skip=skip)
    return {"amp": 2 * np.abs(X) / T, "p_perm": p_perm, "snr": snr, "p_snr": p_snr}


def classify(stats_per_layer: list[dict], alpha: float = 0.05) -> list[dict]:
    """BH over neurons × layers for each test and frequency; classify neurons per layer.

    ``stats_per_layer[l]`` is :func:`tag_series`'s output with freqs ``(sentence, phrase)``.
    Returns per layer ``{"layer", "n_neurons", "sentence", "phrase", "both",
    "median_snr_sentence", "median_snr_phrase", "sig"}`` where ``sig (2, N)`` are the boolean
    significance masks and the SNRs are neighbour-bin power ratios (1 = no peak).
    """
    sizes = [s["p_perm"].shape[1] for s in stats_per_layer]
    cuts = np.cumsum([0] + sizes)
    sig_all = np.ones((2, cuts[-1]), bool)
    for key in ("p_perm", "p_snr"):
        allp = np.concatenate([s[key] for s in stats_per_layer], axis=1)  # (2, sum N)
        for fi in range(2):
            rej, _ = bh_fdr(allp[fi], alpha)
            sig_all[fi] &= rej
    out = []
    for l, n in enumerate(sizes):
        sig = sig_all[:, cuts[l] : cuts[l + 1]]
        s, ph = sig[0], sig[1]
        snr = stats_per_layer[l]["snr"]
        out.append({
            "layer": l, "n_neurons": int(n), "sentence": int((s & ~ph).sum()), "phrase": int((ph & ~s).sum()), "both": int((s & ph).sum()),
            "proportion": float((s | ph).mean()),
            "median_snr_sentence": float(np.median(snr[0])), "median_snr_phrase": float(np.median(snr[1])), "sig": sig,
        })
    return out


# ---------------------------------------------------------------------------------- LLM
def run_llm_tagging(probe, sentences: Sequence[Sequence[str]], cfg: TaggingConfig, *, batch_size: int = 4, layers=None, progress: bool = True) -> dict:
    """The full HFTP analysis of an :class:`~neurosig.probes.llm.LLMProbe`.

    Returns ``{"model", "rate_hz", "config", "conditions": {cond: {"layers": [...],
    "spectrum": (n_layers, n_freqs) mean amplitude spectrum, "freqs": ...}}}``.
    """
    from tqdm.auto import tqdm

    freqs = [cfg.sentence_hz, cfg.phrase_hz]
    result = {"model": probe.name, "rate_hz": cfg.rate_hz, "conditions": {}}
    for ci, cond in enumerate(cfg.conditions):
        streams = make_streams(sentences, cond, n_trials=cfg.n_trials, n_sentences=cfg.n_sentences, seed=[cfg.seed, ci])
        acc = None
        for b0 in tqdm(range(0, len(streams), batch_size), desc=f"{cond}: streams", disable=not progress, unit="batch"):
            feats = probe.extract(streams[b0 : b0 + batch_size], layers=layers, kinds=("mlp",), batch_size=batch_size)
            for f in feats:
                acc = f["mlp"].astype(np.float64) if acc is None else acc + f["mlp"]
        mean = acc / len(streams)  # (L, T, N) trial-averaged series
        per_layer = [
            tag_series(mean[l], cfg.rate_hz, freqs, n_perm=cfg.n_perm, n_neighbors=cfg.n_neighbors, skip=cfg.neighbor_skip, seed=[cfg.seed, ci, l])
            for l in tqdm(range(mean.shape[0]), desc=f"{cond}: statistics", disable=not progress, unit="layer")
        ]
        layers_out = classify(per_layer, cfg.alpha)
        if layers is not None:
            for d, l in zip(layers_out, list(layers)):
                d["layer"] = int(l)
        T = mean.shape[1]
        spec = np.abs(np.fft.rfft(mean - mean.mean(1, keepdims=True), axis=1)).mean(-1) * 2 / T  # (L, F)
        result["conditions"][cond] = {
            "layers": [{k: v for k, v in d.items() if k != "sig"} for d in layers_out],
            "spectrum": spec,
            "freqs": np.fft.rfftfreq(T, 1 / cfg.rate_hz),
        }
    return result


# ---------------------------------------------------------------------------------- brain
def rayleigh_p(R: np.ndarray, n: int) -> np.ndarray:
    """Rayleigh test p-value for mean resultant length ``R`` of ``n`` phases (Zar's approximation)."""
    Rn = R * n
    p = np.exp(np.sqrt(1 + 4 * n + 4 * (n**2 - Rn**2)) - (1 + 2 * n))
    return np.clip(p, 0, 1)


def tag_epochs(epochs: np.ndarray, sfreq: float, freqs: Sequence[float], *, n_perm: int = 500, n_neighbors: int = 4, skip: int = 1, alpha: float = 0.05, seed=0) -> dict:
    """Frequency tagging of brain epochs ``(trials, channels, time)`` sampled at ``sfreq``.

    Per channel and frequency: ``itpc`` (inter-trial phase coherence), ``p_rayleigh``,
    ``p_perm`` (each trial's samples shuffled independently in time), evoked ``snr`` and
    ``p_snr``; ``sig`` is BH(p_perm) ∧ BH(p_snr) over channels × frequencies.
    """
    x = np.asarray(epochs, np.float64)
    if x.ndim != 3:
        raise NeurosigError(f"epochs must have shape (trials, channels, time), got {x.shape}")
    n_tr, n_ch, T = x.shape
    if n_tr < 2:
        raise NeurosigError(f"epochs need at least 2 trials for phase coherence, got {n_tr}")
    if not (np.isfinite(sfreq) and sfreq > 0):
        raise NeurosigError(f"sfreq must be a positive sampling rate in Hz, got {sfreq}")
    n_bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if n_bad:  # one NaN poisons its channel's statistics (itpc nan, yet p_perm at its smallest value)
        raise NeurosigError(f"epochs hold {n_bad} non-finite value(s) (NaN/inf); drop or interpolate those trials/channels first")
    if max(freqs) > sfreq / 2:
        raise NeurosigError(f"tagged frequencies {list(freqs)} exceed Nyquist {sfreq / 2} Hz of sfreq={sfreq}")
    rng = make_rng(seed)
    x = x - x.mean(-1, keepdims=True)

    def itpc(arr):
        X = dft_at(arr, sfreq, freqs)  # (tr, ch, F)
        return np.abs((X / np.maximum(np.abs(X), 1e-300)).mean(0))  # (ch, F)

    obs = itpc(x)
    n_ge = np.zeros_like(obs)
    for _ in range(n_perm):
        idx = np.argsort(rng.random((n_tr, 1, T)), axis=-1)
        n_ge += itpc(np.take_along_axis(x, np.broadcast_to(idx, x.shape), -1)) >= obs
    p_perm = (1 + n_ge) / (1 + n_perm)
    evoked = x.mean(0)  # (ch, T)
    snr = np.empty_like(obs)
    p_snr = np.empty_like(obs)
    for fi, f in enumerate(freqs):
        snr[:, fi], p_snr[:, fi] = snr_test(evoked, sfreq, f, n_neighbors=n_neighbors, skip=skip)
    sig = bh_fdr(p_perm, alpha)[0] & bh_fdr(p_snr, alpha)[0]
    return {"itpc": obs, "p_rayleigh": rayleigh_p(obs, n_tr), "p_perm": p_perm, "snr": snr, "p_snr": p_snr, "sig": sig, "freqs": list(freqs)}


# ---------------------------------------------------------------------------------- plots
def plot_tagging(result: dict, out_prefix: str | os.PathLike) -> list[str]:
    """Spectra with tagged peaks and per-layer stacked bars; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    conds = list(result["conditions"])
    fig, axes = plt.subplots(1, len(conds), figsize=(5 * len(conds), 3.6), sharey=True, squeeze=False)
    for ax, c in zip(axes[0], conds):
        d = result["conditions"][c]
        spec, fr = np.asarray(d["spectrum"]), np.asarray(d["freqs"])
        cmap = plt.get_cmap("viridis")
        for l in range(spec.shape[0]):
            ax.plot(fr[1:], spec[l, 1:], color=cmap(l / max(1, spec.shape[0] - 1)), lw=0.8)
        for f, lab in ((1.0 * result["rate_hz"] / 4, "sentence"), (2.0 * result["rate_hz"] / 4, "phrase")):
            ax.axvline(f, color="r", ls="--", lw=0.8)
            ax.text(f, ax.get_ylim()[1] if ax.get_ylim()[1] > 0 else 1, lab, color="r", fontsize=7, ha="right", va="top", rotation=90)
        ax.set_title(f"{c}: mean |DFT| per layer (light = deep)")
        ax.set_xlabel("Hz")
    axes[0][0].set_ylabel("amplitude")
    fig.tight_layout()
    p = f"{out_prefix}_spectra.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    fig, axes = plt.subplots(1, len(conds), figsize=(5 * len(conds), 3.6), sharey=True, squeeze=False)
    for ax, c in zip(axes[0], conds):
        L = result["conditions"][c]["layers"]
        x = np.array([d["layer"] for d in L])
        n = np.array([d["n_neurons"] for d in L], float)
        bottom = np.zeros(len(L))
        for key, col in (("sentence", "tab:blue"), ("phrase", "tab:orange"), ("both", "tab:green")):
            v = np.array([d[key] for d in L]) / n
            ax.bar(x, v, bottom=bottom, color=col, label=key)
            bottom += v
        ax.set_title(f"{c}: significant neurons (BH)")
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel("proportion of MLP neurons")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    p = f"{out_prefix}_layers.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def plot_tag_epochs(result: dict, epochs: np.ndarray, sfreq: float, out_prefix: str | os.PathLike) -> list[str]:
    """Brain-epoch plots: evoked amplitude spectrum per channel and ITPC per channel; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(epochs, np.float64)
    evoked = (x - x.mean(-1, keepdims=True)).mean(0)  # (ch, T)
    T = evoked.shape[-1]
    spec = np.abs(np.fft.rfft(evoked, axis=-1)) * 2 / T
    fr = np.fft.rfftfreq(T, 1 / sfreq)
    freqs = list(result["freqs"])
    hi = min(fr[-1], 4 * max(freqs))
    keep = (fr > 0) & (fr <= hi)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    cmap = plt.get_cmap("viridis")
    for c in range(spec.shape[0]):
        ax.plot(fr[keep], spec[c, keep], color=cmap(c / max(1, spec.shape[0] - 1)), lw=0.8)
    for f in freqs:
        ax.axvline(f, color="r", ls="--", lw=0.8)
    ax.set_xlabel("Hz"); ax.set_ylabel("evoked amplitude"); ax.set_title("evoked spectrum per channel (tagged frequencies dashed)")
    fig.tight_layout()
    paths = [f"{out_prefix}_spectra.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)

    itpc, sig = np.asarray(result["itpc"]), np.asarray(result["sig"])
    fig, ax = plt.subplots(figsize=(max(5, 0.25 * itpc.shape[0] + 2), 3.6))
    ch = np.arange(itpc.shape[0])
    w = 0.8 / len(freqs)
    for fi, f in enumerate(freqs):
        ax.bar(ch + fi * w, itpc[:, fi], width=w, label=f"{f:g} Hz", alpha=0.9, edgecolor=["k" if s_ else "none" for s_ in sig[:, fi]])
    ax.set_xlabel("channel"); ax.set_ylabel("ITPC"); ax.set_title("inter-trial phase coherence (outlined: significant after BH)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(f"{out_prefix}_itpc.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths
