"""Brain-grounded axes: from word-locked brain epochs to steering directions of a language model.

1. :func:`plv_atlas` — a word × feature atlas: phase-locking value of every channel pair in each
   frequency band over the epoch (band-pass, Hilbert phase, ``|mean_t exp(i(φ_a − φ_b))|``),
   averaged over the epochs of the same word.
2. :func:`ica_axes` — independent axes of the (standardised) atlas with scikit-learn FastICA.
3. :func:`fit_adapter` — a ridge adapter from an LLM layer's hidden states of the same words to
   the axes; the adapter's weight column of axis ``k`` (unit norm) is that axis's direction in the
   residual stream.
4. :func:`steering_sweep` — generation with ``scale × mean residual norm × direction`` added to the
   layer's residual stream (:meth:`LLMProbe.steer`; median residual norm), against the same sweep along random
   directions; reports the mean Zipf word frequency (``wordfreq``) of the generated words and the
   perplexity of the generated text under the unsteered model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.optional import require

DEFAULT_PROMPTS = Path(__file__).resolve().parent / "stimuli" / "prompts_en.txt"


def plv_atlas(epochs: np.ndarray, sfreq: float, bands: Sequence[Sequence[float]], words: Sequence[str] | None = None, pairs=None) -> tuple[np.ndarray, list[str], list[str]]:
    """PLV atlas of ``epochs (n_epochs, n_channels, n_times)``.

    Returns ``atlas (n_words, n_bands * n_pairs)``, the word of each row (epochs of the same word are
    averaged; without ``words`` every epoch is its own row) and the feature names ``band:chA-chB``.
    """
    from scipy.signal import butter, hilbert, sosfiltfilt

    x = np.asarray(epochs, np.float64)
    if x.ndim != 3:
        raise NeurosigError(f"epochs must be (n_epochs, n_channels, n_times), got shape {x.shape}")
    n_ep, n_ch, T = x.shape
    if n_ch < 2:
        raise NeurosigError(f"a PLV atlas needs at least 2 channels, got {n_ch}")
    if words is not None and len(words) != n_ep:
        raise NeurosigError(f"words has {len(words)} entries for {n_ep} epochs; pass one word per epoch")
    if pairs is None:
        pairs = [(a, b) for a in range(n_ch) for b in range(a + 1, n_ch)]
    ia = np.array([a for a, _ in pairs])
    ib = np.array([b for _, b in pairs])
    feats, names = [], []
    for lo, hi in bands:
        if hi >= sfreq / 2:
            raise NeurosigError(f"band [{lo}, {hi}] Hz reaches Nyquist {sfreq / 2} Hz; lower it or resample")
        sos = butter(4, [lo, hi], btype="band", fs=sfreq, output="sos")
        ph = np.angle(hilbert(sosfiltfilt(sos, x, axis=-1, padlen=min(3 * 13, T - 1)), axis=-1))  # (E, C, T)
        z = np.exp(1j * (ph[:, ia] - ph[:, ib]))  # (E, pairs, T)
        feats.append(np.abs(z.mean(-1)))
        names += [f"{lo:g}-{hi:g}Hz:{a}-{b}" for a, b in pairs]
    atlas = np.concatenate(feats, 1)  # (E, bands*pairs)
    if words is None:
        return atlas, [str(i) for i in range(n_ep)], names
    uniq = list(dict.fromkeys(words))
    w = np.asarray(words)
    return np.stack([atlas[w == u].mean(0) for u in uniq]), uniq, names


def ica_axes(atlas: np.ndarray, n_axes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """FastICA on the standardised atlas: ``(sources (n_words, n_axes), mixing (n_features, n_axes))``.

    Sources have unit variance; sign and order are arbitrary (ICA's ambiguity), so each source is
    flipped to have positive skew for reproducible signs.
    """
    from sklearn.decomposition import FastICA

    A = np.asarray(atlas, np.float64)
    if A.ndim != 2 or n_axes > min(A.shape):
        raise NeurosigError(f"n_axes={n_axes} must be <= min(n_words, n_features) = {min(A.shape) if A.ndim == 2 else '?'}")
    sd = A.std(0)
    Z = (A - A.mean(0)) / np.where(sd > 0, sd, 1)
    ica = FastICA(n_components=n_axes, whiten="unit-variance", random_state=seed, max_iter=2000, tol=1e-5)
    S = ica.fit_transform(Z)
    skew = ((S - S.mean(0)) ** 3).mean(0)
    sign = np.where(skew < 0, -1.0, 1.0)
    return S * sign, ica.mixing_ * sign


def fit_adapter(hidden: np.ndarray, axes: np.ndarray, alpha: float = 10.0, n_folds: int = 5) -> dict:
    """Ridge adapter hidden ``(n_words, d)`` → axes ``(n_words, k)``.

    Returns ``W (d, k)``, ``b (k,)``, unit ``directions (k, d)`` and the cross-validated ``r (k,)``
    (contiguous folds, fixed penalty).
    """
    from neurosig.probes.encoding import contiguous_folds, ridge_cv, ridge_fit

    H = np.asarray(hidden, np.float64)
    Y = np.asarray(axes, np.float64)
    if len(H) != len(Y):
        raise NeurosigError(f"hidden has {len(H)} rows and axes {len(Y)}; pass one row per word for both")
    W, b = ridge_fit(H, Y, alpha)
    r = ridge_cv(H, Y, alphas=[alpha], folds=contiguous_folds(len(H), min(n_folds, len(H) // 2)), inner_folds=2)["r"]
    dirs = (W / np.maximum(np.linalg.norm(W, axis=0), 1e-12)).T
    return {"W": W, "b": b, "directions": dirs, "r": r}


def zipf_frequency(words: Sequence[str]) -> float:
    """Mean Zipf frequency (log10 per billion + 3, ``wordfreq``) of ``words``; NaN if empty."""
    wf = require("wordfreq", "the word-frequency measure of steered text")
    vals = [wf.zipf_frequency(w, "en") for w in words]
    return float(np.mean(vals)) if vals else float("nan")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def generate(probe, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations (deterministic) of each prompt."""
    import torch

    tok = probe.tokenizer
    outs = []
    for p in prompts:
        enc = tok(p, return_tensors="pt").to(probe.device)
        with torch.no_grad():
            ids = probe.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        outs.append(tok.decode(ids[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return outs


def perplexity(probe, prompts: Sequence[str], continuations: Sequence[str]) -> float:
    """Perplexity of the continuations given their prompts under the (unsteered) model."""
    import torch

    tok = probe.tokenizer
    nll, n = 0.0, 0
    for p, c in zip(prompts, continuations):
        a = tok(p, return_tensors="pt")["input_ids"]
        b = tok(c, return_tensors="pt", add_special_tokens=False)["input_ids"]
        if b.shape[1] == 0:
            continue
        ids = torch.cat([a, b], 1).to(probe.device)
        with torch.no_grad():
            logits = probe.model(input_ids=ids).logits[0, a.shape[1] - 1 : -1].float()
        nll += float(torch.nn.functional.cross_entropy(logits, ids[0, a.shape[1] :], reduction="sum"))
        n += b.shape[1]
    return float(np.exp(nll / max(n, 1)))


def steering_sweep(probe, layer: int, directions: np.ndarray, scales: Sequence[float], prompts: Sequence[str], *, max_new_tokens: int = 24, n_random: int = 2, seed: int = 0, norm: float | None = None, progress: bool = True) -> dict:
    """Steer along each direction (and ``n_random`` random unit directions) at each scale.

    The added vector is ``scale * norm * direction`` with ``norm`` the median per-word residual
    norm of the layer over the prompts (so scales are relative). Returns per direction a list of
    ``{"scale", "zipf", "ppl", "text"}`` and the fitted slope of zipf and log-perplexity on scale.
    """
    if not probe.causal:
        raise NeurosigError(f"steering needs a causal language model; {probe.name!r} is an encoder")
    rng = np.random.default_rng(seed)
    if norm is None:
        feats = probe.extract([p.split() for p in prompts], layers=[layer], kinds=("resid",))
        # median, not mean: the first position of many LLMs carries a huge "attention sink" norm
        norm = float(np.median(np.concatenate([np.linalg.norm(f["resid"][0], axis=-1) for f in feats])))
    d = directions.shape[1]
    dirs = {f"axis{k}": directions[k] for k in range(len(directions))}
    for r in range(n_random):
        v = rng.standard_normal(d)
        dirs[f"random{r}"] = v / np.linalg.norm(v)
    from tqdm.auto import tqdm

    out = {"norm": norm, "directions": {}}
    bar = tqdm(total=len(dirs) * len(scales), desc=f"{probe.name}: steering", unit="setting", disable=not progress)
    for name, v in dirs.items():
        rows = []
        for s in scales:
            bar.update(1)
            with probe.steer(layer, v, scale=float(s) * norm):
                texts = generate(probe, prompts, max_new_tokens)
            words = [w for t in texts for w in _words(t)]
            rows.append({"scale": float(s), "zipf": zipf_frequency(words), "ppl": perplexity(probe, prompts, texts), "text": texts[0]})
        sc = np.array([r["scale"] for r in rows])
        z = np.array([r["zipf"] for r in rows])
        lp = np.log([r["ppl"] for r in rows])
        ok = np.isfinite(z)
        out["directions"][name] = {
            "rows": rows,
            "zipf_slope": float(np.polyfit(sc[ok], z[ok], 1)[0]) if ok.sum() > 1 else float("nan"),
            "log_ppl_slope": float(np.polyfit(sc, lp, 1)[0]) if len(sc) > 1 else float("nan"),
        }
    bar.close()
    return out


def load_prompts(path=None) -> list[str]:
    p = Path(path) if path else DEFAULT_PROMPTS
    lines = [l.strip() for l in p.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]
    if not lines:
        raise NeurosigError(f"prompt file {str(p)!r} is empty; pass one prompt per line")
    return lines


def _brain_epochs(spec: str | None, load_array):
    """(epochs, words, sfreq, note) from an .npz or, by default, a bundled EEG set (pipeline demo)."""
    from neurosig.probes.tagging import load_corpus

    if spec and not spec.startswith("bundled:"):
        _, z = load_array(spec, "--epochs")
        if z is None or not {"epochs", "words", "sfreq"} <= set(z.files):
            raise NeurosigError(f"--epochs {spec!r} must be an .npz with arrays 'epochs' (n, channels, time), 'words' (n,) and 'sfreq'")
        return z["epochs"], [str(w) for w in z["words"]], float(z["sfreq"]), "word-locked epochs from " + spec
    name = spec.split(":", 1)[1] if spec else "EyesOpenShut"
    from neurosig.datasets.bundled import load_epochs

    ep = [load_epochs(name, s) for s in ("train", "test")]
    x = np.concatenate([e.get_data() for e in ep])
    vocab = list(dict.fromkeys(w for s in load_corpus() for w in s))
    n = min(len(x), len(vocab))
    note = (f"no word-locked brain recording ships offline: epochs of the real bundled set {name} were paired with "
            f"{n} corpus words in order, so the axes are not linguistically meaningful; this run demonstrates the pipeline "
            "(the planted-axis tests carry the statistics)")
    return x[:n], vocab[:n], float(ep[0].info["sfreq"]), note


def run_axes_cli(args, cfg, device, prefix, write_json, load_array) -> int:
    """``neurosig probe axes``: atlas → ICA axes → adapter → steering sweep with random control."""
    import dataclasses

    from neurosig.probes.llm import check_layer_arg, load_model

    if args.n_axes is not None:
        cfg.n_axes = args.n_axes
    scales = [float(s) for s in args.scales.split(",")] if args.scales else list(cfg.scales)
    probe = load_model(args.model, device=device)
    if not probe.causal:
        raise NeurosigError(f"probe axes steers generation and needs a causal language model; {probe.name!r} is an encoder (use e.g. smollm2-135m)")
    layer = args.layer if args.layer is not None else (cfg.layer if cfg.layer >= 0 else probe.n_layers // 2)
    check_layer_arg(probe, [layer], "--layer" if args.layer is not None else "axes.layer")
    epochs, words, sfreq, note = _brain_epochs(args.epochs, load_array)
    bands = [b for b in cfg.bands if b[1] < sfreq / 2]
    atlas, uwords, fnames = plv_atlas(epochs, sfreq, bands, words)
    S, mixing = ica_axes(atlas, min(cfg.n_axes, len(uwords) - 1), seed=args.seed or cfg.seed)
    H = np.stack([f["resid"][0, 0] for f in probe.extract([[w] for w in uwords], layers=[layer], kinds=("resid",), batch_size=32)])
    ad = fit_adapter(H, S, cfg.adapter_alpha)
    prompts = load_prompts()[: cfg.n_prompts]
    sweep = steering_sweep(probe, layer, ad["directions"], scales, prompts, max_new_tokens=cfg.max_new_tokens, seed=args.seed or cfg.seed)
    out = {
        "model": probe.name, "layer": layer, "note": note, "n_words": len(uwords), "n_features": atlas.shape[1],
        "bands": bands, "adapter_cv_r": ad["r"], "steering": sweep,
        # config as run: the resolved layer (axes.layer -1 = the middle layer), the requested value beside it
        "config": {**dataclasses.asdict(cfg), "layer": layer, "layer_requested": args.layer if args.layer is not None else cfg.layer},
        "top_features": [[fnames[i] for i in np.argsort(-np.abs(mixing[:, k]))[:5]] for k in range(mixing.shape[1])],
    }
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, d in sweep["directions"].items():
        sc = [r["scale"] for r in d["rows"]]
        style = "--" if name.startswith("random") else "-"
        ax[0].plot(sc, [r["zipf"] for r in d["rows"]], style, marker="o", label=name)
        ax[1].plot(sc, [r["ppl"] for r in d["rows"]], style, marker="o", label=name)
    ax[0].set_xlabel("steering scale (× residual norm)"); ax[0].set_ylabel("mean Zipf frequency")
    ax[1].set_xlabel("steering scale (× residual norm)"); ax[1].set_ylabel("perplexity (unsteered model)"); ax[1].set_yscale("log")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    out["plots"] = [f"{prefix}_axes.png"]
    fig.savefig(out["plots"][0], dpi=110)
    plt.close(fig)
    write_json(args.json, out)
    for name, d in sweep["directions"].items():
        print(f"{name:>8}: zipf slope {d['zipf_slope']:+.3f} per unit scale, log-ppl slope {d['log_ppl_slope']:+.3f}")
    print(f"wrote {args.json}")
    return 0
