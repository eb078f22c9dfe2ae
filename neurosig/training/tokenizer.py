"""Tokenizer training, encoding and the reconstruction report.

- :class:`TokenizerModule`: a thin LightningModule around any ``neurosig.tokenizers`` model
  (AdamW, linear warm-up + cosine, gradient clipping from the Trainer); logs ``train/tok/*``,
  ``train/loss``, codebook ``perplexity``/``usage`` and ``val/loss``.
- :func:`fit_tokenizer`: config + data → trained tokenizer exported with ``save_pretrained``
  into ``out_dir`` (checkpoints and CSV logs beside it, ``fit_summary.json`` with ``steps`` =
  optimizer steps, ``micro_batches`` = training batches (``steps`` × ``optim.accumulate``) and
  the loss curve, one entry per micro-batch).
- :func:`encode_store`: codes of every window of a store (``codes.npy`` + manifest copy).
- :func:`reconstruction_report`: ``pcc``, ``nmse``, per-band error, codebook usage, perplexity,
  dead codes on held-out windows, and the same for the per-channel-mean baseline.

Config file (``configs/tokenizer/*.yaml``)::

    kind: rvq            # tf | rvq | vq
    tokenizer: {...}     # the tokenizer's config dataclass (TFConfig / RVQConfig / VQConfig)
    optim: {...}         # neurosig.training.pretrain.OptimSpec (lr, warmup_steps, max_steps, grad_clip ...)
    data: {...}          # neurosig.training.pretrain.DataSpec (batch_size, val_fraction ...)
    trainer: {...}       # neurosig.training.pretrain.TrainerSpec (precision, devices, loggers ...)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import lightning as L
import numpy as np
import torch

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig.training.pretrain import DataSpec, OptimSpec, TrainerSpec, lr_lambda, make_trainer

log = get_logger("training.tokenizer")

BANDS = ("delta", "theta", "alpha", "beta", "gamma")


@dataclass
class TokenizerFitConfig:
    kind: str = "rvq"  # which tokenizer: tf, rvq or vq
    tokenizer: dict = field(default_factory=dict)  # its config (fields of TFConfig/RVQConfig/VQConfig)
    optim: OptimSpec = field(default_factory=lambda: OptimSpec(lr=1e-3, weight_decay=0.01, warmup_steps=100, max_steps=5000))  # tokenizers like a higher LR than backbones
    data: DataSpec = field(default_factory=DataSpec)  # batches from the store
    trainer: TrainerSpec = field(default_factory=TrainerSpec)  # Lightning trainer options

    def __post_init__(self):
        from neurosig.tokenizers import TOKENIZERS

        if self.kind not in TOKENIZERS:
            raise NeurosigError(f"kind={self.kind!r} is not a tokenizer; choose one of {', '.join(TOKENIZERS)}.")
        from neurosig.config import from_dict

        from_dict(TOKENIZERS[self.kind].config_class, self.tokenizer, where="tokenizer")  # validate early


def load_fit_config(path) -> TokenizerFitConfig:
    from neurosig.config import from_dict, load_yaml

    return from_dict(TokenizerFitConfig, load_yaml(path), where=os.fspath(path))


class TokenizerModule(L.LightningModule):
    """Trains a tokenizer on window batches; the loss is ``TokenizerOutput.loss``."""

    def __init__(self, tokenizer, optim: OptimSpec | None = None):
        super().__init__()
        self.tokenizer = tokenizer
        self.optim = optim or OptimSpec()
        self.history: list[float] = []
        self.last_tokens = 0  # real channel-patch tokens of the last training batch (TokensPerSecond reads it)

    def forward(self, batch):
        return self.tokenizer(batch)

    def _log_out(self, out, stage: str, batch_size: int):
        vals = {f"{stage}/{k}": v.detach() for k, v in out.losses.items()}
        vals[f"{stage}/loss"] = out.loss.detach()
        for k, v in out.metrics.items():
            if k == "nmse" or k.endswith("perplexity") or k.endswith("usage"):
                vals[f"{stage}/{k}"] = torch.as_tensor(v, dtype=torch.float32).detach()
        on_step = stage == "train"
        self.log_dict(vals, on_step=on_step, on_epoch=not on_step, batch_size=batch_size, sync_dist=not on_step)

    def training_step(self, batch, batch_idx):
        out = self.tokenizer(batch)
        tm = out.token_mask
        self.last_tokens = int(tm.sum()) if tm is not None else int(batch["x"].shape[0] * batch["x"].shape[1] * out.codes.shape[2])
        self._log_out(out, "train", batch["x"].shape[0])
        self.log("loss", out.loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False, batch_size=batch["x"].shape[0])
        self.history.append(float(out.loss.detach()))
        return out.loss

    def validation_step(self, batch, batch_idx):
        out = self.tokenizer(batch)
        self._log_out(out, "val", batch["x"].shape[0])

    def configure_optimizers(self):
        o = self.optim
        decay, no_decay = [], []
        for n, p in self.tokenizer.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 and "embed" not in n else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=o.lr, betas=o.betas
        )
        total = self.trainer.max_steps if self.trainer and self.trainer.max_steps and self.trainer.max_steps > 0 else o.max_steps
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, o.warmup_steps, total, o.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}


def _data_module(data, spec: DataSpec, seed: int):
    """A LightningDataModule from a DataModule, a ShardStore or a store path."""
    if isinstance(data, L.LightningDataModule):
        return data
    from neurosig.training.data import StoreDataModule

    return StoreDataModule(
        data, spec.batch_size, exclude_splits=tuple(spec.exclude_splits), datasets=spec.datasets,
        val_fraction=spec.val_fraction, seed=seed, num_workers=spec.num_workers,
    )


def fit_tokenizer(
    kind: str = "rvq",
    config: dict | None = None,
    data: Any = None,
    out_dir: str | os.PathLike = "runs/tokenizer",
    *,
    optim: OptimSpec | dict | None = None,
    data_spec: DataSpec | dict | None = None,
    trainer: TrainerSpec | dict | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    **optim_overrides,
):
    """Train a tokenizer and export it (``save_pretrained``) into ``out_dir``; returns it (eval mode).

    ``optim_overrides`` (``lr``, ``warmup_steps``, ``batch_size`` ...) update the optim/data specs,
    so ``PretrainConfig.tokenizer.fit`` dicts can be passed through.
    """
    from neurosig.config import from_dict
    from neurosig.tokenizers import build_tokenizer

    optim = optim if isinstance(optim, OptimSpec) else from_dict(OptimSpec, {**asdict(TokenizerFitConfig().optim), **(optim or {})}, where="optim")
    data_spec = data_spec if isinstance(data_spec, DataSpec) else from_dict(DataSpec, data_spec or {}, where="data")
    trainer = trainer if isinstance(trainer, TrainerSpec) else from_dict(TrainerSpec, trainer or {}, where="trainer")
    for k, v in optim_overrides.items():
        if k == "batch_size":
            data_spec.batch_size = int(v)
        elif k == "max_steps":
            max_steps = int(v)
        elif hasattr(optim, k):
            setattr(optim, k, v)
        elif hasattr(trainer, k):
            setattr(trainer, k, v)
        else:
            raise NeurosigError(f"fit_tokenizer: unknown option {k!r}; use fields of OptimSpec, DataSpec.batch_size or TrainerSpec.")
    if data is None:
        raise NeurosigError("fit_tokenizer: data is required (a shard store path, ShardStore or LightningDataModule).")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # seeded parameter init without touching the caller's RNG
        torch.manual_seed(trainer.seed)
        tok = build_tokenizer(kind, config or {})
    steps = int(max_steps or optim.max_steps)
    if steps != optim.max_steps:  # record the steps that run (the exported config.json's extra.fit.optim), not the recipe's
        optim = replace(optim, max_steps=steps)
    module = TokenizerModule(tok, optim)
    dm = _data_module(data, data_spec, trainer.seed)
    overrides = {}
    idx = getattr(dm, "indices", None)
    if isinstance(idx, dict) and len(idx.get("val", ())) == 0:  # no validation rows: train only
        log.info("no validation windows (val_fraction 0 or a tiny store): validation is off")
        overrides["limit_val_batches"] = 0
        trainer.save_top_k = 0
    tr = make_trainer(trainer, optim, out, max_steps=steps, enable_progress_bar=progress, **overrides)
    tr.fit(module, datamodule=dm)
    tok.eval()
    h = module.history
    k = max(1, min(20, len(h) // 5))
    n_steps = int(tr.global_step)  # optimizer steps (len(h) counts micro-batches: optim.accumulate per step)
    summary = {
        "kind": kind,
        "steps": n_steps,
        "micro_batches": len(h),
        "loss_first": float(np.mean(h[:k])) if h else math.nan,
        "loss_last": float(np.mean(h[-k:])) if h else math.nan,
        "loss_curve": h,
    }
    tok.save_pretrained(out, extra={"fit": {"optim": asdict(optim), "data": asdict(data_spec), "steps": n_steps, "micro_batches": len(h),
                                            "split": split_record(data, data_spec, trainer.seed)}})
    (out / "fit_summary.json").write_text(json.dumps(summary, indent=2))
    # debug: `neurosig tokenizer fit` prints this result itself; pretrain fit logs where its tokenizer went
    log.debug("tokenizer %s: %d steps, loss %.4f -> %.4f; exported to %s", kind, n_steps, summary["loss_first"], summary["loss_last"], out)
    return tok


# ----------------------------------------------------------------------------- evaluation
def split_record(data, spec: DataSpec, seed: int) -> dict:
    """What ``neurosig tokenizer report`` needs to rebuild the fit's held-out rows (written to
    ``config.json`` as ``extra.fit.split``): the settings :func:`split_eligible_rows` ran with, or
    ``{"source": "datamodule"}`` when the caller's own DataModule chose the rows."""
    if isinstance(data, L.LightningDataModule):
        return {"source": "datamodule"}
    return {"source": "store", "val_fraction": float(spec.val_fraction), "seed": int(seed),
            "exclude_splits": list(spec.exclude_splits), "datasets": list(spec.datasets) if spec.datasets else None,
            "n_windows": len(data) if not isinstance(data, (str, os.PathLike)) else _store_len(data)}


def _store_len(path) -> int | None:
    try:
        from neurosig.datasets.store import ShardStore

        return len(ShardStore(path))
    except Exception:  # the record is informative only
        return None


def fit_split_settings(tokenizer_dir) -> tuple[dict, str | None]:
    """The split settings a tokenizer in ``tokenizer_dir`` was fitted with, and ``None``; or the
    best guess (``extra.fit.data``'s fields, seed 0) and why the held-out rows cannot be
    reconstructed exactly (older folders, a DataModule fit, a folder not written by ``fit_tokenizer``)."""
    from neurosig.tokenizers import Tokenizer

    meta = Tokenizer.read_config(tokenizer_dir)
    fit = (meta.get("extra") or {}).get("fit") or {}
    rec = fit.get("split")
    if isinstance(rec, dict) and rec.get("source") == "store":
        return {k: rec.get(k, d) for k, d in (("val_fraction", 0.1), ("seed", 0), ("exclude_splits", ["test"]),
                                              ("datasets", None), ("n_windows", None))}, None
    data = fit.get("data") or {}
    guess = {"val_fraction": float(data.get("val_fraction", 0.1)), "seed": 0,
             "exclude_splits": list(data.get("exclude_splits", ["test"])), "datasets": data.get("datasets"), "n_windows": None}
    cfg = os.path.join(os.fspath(tokenizer_dir), "config.json")
    if isinstance(rec, dict):
        why = f"{cfg} says the fit's rows came from the caller's own DataModule"
    elif fit:
        why = f"{cfg} has no extra.fit.split record (fitted by neurosig {meta.get('neurosig_version', '?')}, before the split was recorded)"
    else:
        why = f"{cfg} has no extra.fit record (not written by fit_tokenizer)"
    return guess, why


def held_out_rows(store, seed: int = 0, val_fraction: float = 0.1, exclude_splits=("test",),
                  datasets=None) -> tuple[np.ndarray, str]:
    """Rows never trained on: the store's ``test`` split if it has one and the fit excluded it, else
    the validation rows that :class:`StoreDataModule` carved out with the fit's settings (pass the
    ones :func:`fit_split_settings` reads from the tokenizer folder)."""
    man = store.manifest
    if "test" in exclude_splits and "split" in man.columns and (man["split"] == "test").any():
        return np.flatnonzero((man["split"] == "test").to_numpy()), "test"
    return val_rows(store, seed=seed, val_fraction=val_fraction, exclude_splits=exclude_splits, datasets=datasets), "val"


def val_rows(store, *, seed: int, val_fraction: float, exclude_splits=("test",), datasets=None) -> np.ndarray:
    """The fit's validation rows (:func:`split_eligible_rows` with the fit's settings)."""
    from neurosig.training.data import split_eligible_rows

    rows = split_eligible_rows(store.manifest, exclude_splits=tuple(exclude_splits), datasets=datasets,
                               val_fraction=val_fraction, seed=seed)
    return np.asarray(rows["val"])


def store_batches(store, rows: np.ndarray, batch_size: int = 32) -> Iterable[dict]:
    """Batches (equal ``n_times``, padded channels) of the given store rows, in row order."""
    try:
        from neurosig.datasets import BucketBatchSampler, WindowDataset, collate_windows
    except ImportError:  # the package root may not re-export them
        from neurosig.datasets.torch_data import BucketBatchSampler, WindowDataset, collate_windows

    ds = WindowDataset(store, indices=rows)
    sampler = BucketBatchSampler(ds.lengths, batch_size, shuffle=False, seed=0, drop_last=False)
    for idx in sampler:
        batch = collate_windows([ds[i] for i in idx])
        batch["_rows"] = np.asarray(rows)[np.asarray(idx)]
        yield batch


def band_errors(x: np.ndarray, y: np.ndarray, sfreq: float) -> dict[str, tuple[float, float]]:
    """Per-band (Σ|X_b − Y_b|², Σ|X_b|²) over the rFFT of x, y (..., T)."""
    from neurosig.tokenizers.spectral import band_edges

    n = x.shape[-1]
    fx, fy = np.fft.rfft(x, axis=-1), np.fft.rfft(y, axis=-1)
    freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
    out = {}
    for name, (lo, hi) in band_edges(sfreq).items():
        sel = (freqs >= lo) & (freqs < hi)
        out[name] = (float((np.abs(fx[..., sel] - fy[..., sel]) ** 2).sum()), float((np.abs(fx[..., sel]) ** 2).sum()))
    return out


SPEC_FLOOR = 0.1  # log(|X| + SPEC_FLOOR): bounds the log of near-silent STFT bins (model units × samples)


def stft_logmag(x: np.ndarray, sfreq: float) -> np.ndarray:
    """Log-magnitude STFT patches of x (K, T) for ``spec_nmse``: 1 s periodic-Hann frames, hop
    0.5 s (n_fft 200, hop 100 at 200 Hz, as the ``tf`` tokenizer), no centring; a window
    shorter than 1 s is zero-padded to one frame. Only bins in the EEG bands
    (0.5 Hz .. min(75 Hz, Nyquist)) are kept. -> (K, n_frames, F_band)."""
    from neurosig.tokenizers.spectral import band_edges

    n_fft = max(2, int(round(sfreq)))
    hop = max(1, n_fft // 2)
    if x.shape[-1] < n_fft:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n_fft - x.shape[-1])])
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]  # (n_frames, n_fft)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    spec = np.abs(np.fft.rfft(x[..., idx] * win, axis=-1))  # (K, n_frames, n_fft//2+1)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    edges = band_edges(sfreq)
    lo, hi = min(v[0] for v in edges.values()), max(v[1] for v in edges.values())
    return np.log(spec[..., (freqs >= lo) & (freqs < hi)] + SPEC_FLOOR)


class _MeanSpecErr:
    """Σ (S − Ŝ)² / Σ (S − S̄)² of spectra S (frames, F) against predictions Ŝ, S̄ = the per-bin
    mean of every S seen (the mean-spectrum baseline), accumulated over batches."""

    def __init__(self):
        self.err = 0.0
        self.sum: np.ndarray | float = 0.0
        self.sq: np.ndarray | float = 0.0
        self.n = 0

    def add(self, s: np.ndarray, s_hat: np.ndarray):  # (K, F) each
        s = s.astype(np.float64)
        self.err += float(((s - s_hat) ** 2).sum())
        self.sum = self.sum + s.sum(0)
        self.sq = self.sq + (s**2).sum(0)
        self.n += s.shape[0]

    def baseline_err(self) -> float:
        return float(np.sum(self.sq - self.sum**2 / self.n)) if self.n else math.nan

    def result(self) -> float:
        return self.err / max(self.baseline_err(), 1e-12) if self.n else math.nan


class _Acc:
    """Running sums for pcc / nmse / band errors / spec_nmse of (x, reconstruction) pairs of
    single channels."""

    def __init__(self):
        self.spec = _MeanSpecErr()  # log-magnitude STFT patches of the signal (spec_nmse)
        self.err = 0.0
        self.pow = 0.0
        self.r: list[float] = []
        self.spec_r: list[float] = []
        self.band: dict[str, list[float]] = {}

    def add(self, x: np.ndarray, y: np.ndarray, sfreq: float):  # x, y (K, T)
        self.err += float(((x - y) ** 2).sum())
        xc = x - x.mean(-1, keepdims=True)
        yc = y - y.mean(-1, keepdims=True)
        den = np.sqrt((xc**2).sum(-1) * (yc**2).sum(-1))
        self.r.extend(np.where(den > 0, (xc * yc).sum(-1) / np.where(den > 0, den, 1), 0.0).tolist())
        self.pow += float((xc**2).sum())
        lx = np.log(np.abs(np.fft.rfft(xc, axis=-1))[..., 1:] ** 2 + 1e-12)  # log power, DC dropped
        ly = np.log(np.abs(np.fft.rfft(yc, axis=-1))[..., 1:] ** 2 + 1e-12)
        lxc, lyc = lx - lx.mean(-1, keepdims=True), ly - ly.mean(-1, keepdims=True)
        sden = np.sqrt((lxc**2).sum(-1) * (lyc**2).sum(-1))
        ok = (den > 0) & (sden > 0)
        self.spec_r.extend(np.where(ok, (lxc * lyc).sum(-1) / np.where(ok, sden, 1), 0.0).tolist())
        sx, sy = stft_logmag(x, sfreq), stft_logmag(y, sfreq)  # (K, frames, F)
        self.spec.add(sx.reshape(-1, sx.shape[-1]), sy.reshape(-1, sy.shape[-1]))
        for k, (e, p) in band_errors(x, y, sfreq).items():
            a = self.band.setdefault(k, [0.0, 0.0])
            a[0] += e
            a[1] += p

    def result(self, prefix: str = "") -> dict[str, float]:
        out = {f"{prefix}pcc": float(np.mean(self.r)) if self.r else math.nan, f"{prefix}nmse": self.err / max(self.pow, 1e-12),
               f"{prefix}spec_pcc": float(np.mean(self.spec_r)) if self.spec_r else math.nan,
               f"{prefix}spec_nmse": self.spec.result()}
        for k in BANDS:
            if k in self.band:
                e, p = self.band[k]
                out[f"{prefix}band_nmse/{k}"] = e / max(p, 1e-12)
        return out


@torch.no_grad()
def reconstruction_report(tokenizer, batches: Iterable[dict], *, max_windows: int = 2000, figures: str | os.PathLike | None = None,
                          n_windows: int | None = None) -> dict[str, Any]:
    """Reconstruction quality of ``tokenizer`` on ``batches`` (held-out windows).

    At most ``max_windows`` windows are evaluated (the batch that crosses it is cut).
    ``n_windows``: how many windows ``batches`` holds, when known (a list of batches is counted);
    the progress bar's total is then the number of windows evaluated, min(n_windows, max_windows).

    Keys: ``pcc`` (mean Pearson r per channel-window), ``nmse`` (Σ err² / Σ (x − mean)²),
    ``spec_pcc`` (mean Pearson r of the log power spectra: phase-insensitive; 0 for a constant),
    ``spec_nmse`` (Σ (S − Ŝ)² / Σ (S − S̄)² over log-magnitude STFT patches S of 1 s frames,
    hop 0.5 s, 0.5–75 Hz bins (:func:`stft_logmag`), against S̄ = the mean spectrum of all
    held-out frames per bin: below 1 means the spectrogram is reconstructed better than by the
    average spectrum; ``baseline/spec_nmse`` is that baseline, 1 by construction),
    ``pred_spec_nmse`` (only for tokenizers whose decoder predicts a spectrum, ``tf``: the same
    ratio for its own log-magnitude prediction ``predictions["spec"]`` against its targets
    ``spec_targets``, over the real tokens),
    ``band_nmse/<band>`` (the same on the band's rFFT bins), ``codebook_usage`` (fraction of
    codes used, mean over levels), ``perplexity`` (mean over levels), ``dead_codes`` (unused
    codes, summed over levels), ``n_windows``, ``n_tokens``; ``baseline/*``: the same error
    metrics for the per-channel-mean reconstruction (each channel replaced by its window mean).
    """
    from tqdm import tqdm

    tokenizer.eval()
    acc, base = _Acc(), _Acc()
    counts = [torch.zeros(k, dtype=torch.long) for k in tokenizer.codebook_sizes]
    n_win = n_tok = 0
    example = None
    spectra: dict[int, tuple] = {}
    sfreq = float(tokenizer.config.sfreq)
    own = _MeanSpecErr() if hasattr(tokenizer, "spec_targets") else None  # decoder's own spectrum (tf)
    if n_windows is None and isinstance(batches, (list, tuple)):
        n_windows = sum(int(b["x"].shape[0]) for b in batches)
    bar = tqdm(total=None if n_windows is None else min(int(n_windows), max_windows), desc="report", unit="win", leave=False)
    for batch in batches:
        if n_win >= max_windows:
            break
        if n_win + batch["x"].shape[0] > max_windows:
            batch = _first_windows(batch, max_windows - n_win)
        out = tokenizer(batch)
        x = batch["x"].float()
        b, c, t = x.shape
        rec = out.reconstruction[..., :t]
        m = batch.get("ch_mask", torch.ones(b, c, dtype=torch.bool)).bool()
        xs, ys = x[m].numpy(), rec[m].numpy()  # (K, T)
        acc.add(xs, ys, sfreq)
        base.add(xs, np.repeat(xs.mean(-1, keepdims=True), t, axis=-1), sfreq)
        tm = out.token_mask
        if own is not None and "spec" in out.predictions:
            tgt = tokenizer.spec_targets(x, batch.get("pos"), batch.get("ch_type"), batch.get("ch_mask"), batch.get("orient"), sfreq=batch.get("sfreq"))  # (B, C, N, fpt, F)
            own.add(tgt[tm].flatten(0, 1).numpy(), out.predictions["spec"][tm].flatten(0, 1).numpy())  # (K*fpt, F)
        for lvl, cnt in enumerate(tokenizer.codebook_usage_counts(out.codes, tm)):
            counts[lvl] += cnt
        n_tok += int(tm.sum())
        n_win += b
        bar.update(b)
        px = (np.abs(np.fft.rfft(xs, axis=-1)) ** 2).mean(0)
        py = (np.abs(np.fft.rfft(ys, axis=-1)) ** 2).mean(0)
        sx, sy, sn = spectra.get(t, (0.0, 0.0, 0))
        spectra[t] = (sx + px * len(xs), sy + py * len(xs), sn + len(xs))  # per window length
        if example is None:
            example = (xs[: min(4, len(xs))], ys[: min(4, len(ys))])
    bar.close()
    if n_win == 0:
        raise NeurosigError("reconstruction_report: no windows to evaluate; the held-out split is empty.")
    res: dict[str, Any] = {"n_windows": n_win, "n_tokens": n_tok}
    res.update(acc.result())
    res.update(base.result("baseline/"))
    res["baseline/spec_nmse"] = 1.0  # the mean-spectrum baseline (spec_nmse's denominator), by construction
    if own is not None and own.n:
        res["pred_spec_nmse"] = own.result()
    usage, ppl, dead = [], [], 0
    for cnt in counts:
        p = cnt.double() / max(1, int(cnt.sum()))
        usage.append(float((cnt > 0).double().mean()))
        ppl.append(float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())))
        dead += int((cnt == 0).sum())
    res.update({"codebook_usage": float(np.mean(usage)), "perplexity": float(np.mean(ppl)), "dead_codes": dead, "n_levels": len(counts)})
    res["usage_per_level"] = usage
    res["perplexity_per_level"] = ppl
    if figures is not None:
        sx, sy, sn = max(spectra.values(), key=lambda v: v[2])  # the most common window length
        _figures(Path(figures), example, (sx / sn, sy / sn), counts, sfreq)
        res["figures"] = str(figures)
    return res


def _first_windows(batch: dict, k: int) -> dict:
    """The first ``k`` windows of a batch (values with one entry per window are cut)."""
    b = batch["x"].shape[0]
    return {key: v[:k] if isinstance(v, (torch.Tensor, np.ndarray, list, tuple)) and getattr(v, "ndim", 1) >= 1 and len(v) == b else v
            for key, v in batch.items()}


def _figures(d: Path, example, spectra, counts, sfreq):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d.mkdir(parents=True, exist_ok=True)
    xs, ys = example
    t = np.arange(xs.shape[-1]) / sfreq
    fig, axes = plt.subplots(len(xs), 1, figsize=(9, 1.8 * len(xs)), sharex=True, squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(t, xs[i], lw=0.8, label="original")
        ax.plot(t, ys[i], lw=0.8, label="reconstruction")
        ax.set_ylabel(f"ch {i}")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(d / "traces.png", dpi=110)
    plt.close(fig)
    px, py = spectra
    f = np.fft.rfftfreq(2 * (len(px) - 1), 1.0 / sfreq)[: len(px)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(f, px, label="original")
    ax.semilogy(f, py, label="reconstruction")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("mean power")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "spectra.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    for lvl, cnt in enumerate(counts[:4]):
        ax.plot(np.sort(cnt.numpy())[::-1], label=f"level {lvl}")
    ax.set_yscale("symlog")
    ax.set_xlabel("code rank")
    ax.set_ylabel("uses")
    ax.legend()
    fig.tight_layout()
    fig.savefig(d / "code_usage.png", dpi=110)
    plt.close(fig)


@torch.no_grad()
def encode_store(tokenizer, store, out_dir: str | os.PathLike, *, batch_size: int = 32) -> Path:
    """Codes of every window of ``store`` into ``out_dir``:

    - ``codes.npy`` int32 (n_rows_total, L): for window i, rows ``code_offset[i]`` ..
      ``+ n_channels[i] * n_tokens[i]`` reshaped to (n_channels, n_tokens, L);
    - ``manifest.csv``: the store manifest plus ``code_offset`` and ``n_tokens``;
    - ``tokenizer.json``: model type, config, patch_len, codebook sizes.
    """
    import pandas as pd
    from tqdm import tqdm

    from neurosig.tokenizers import check_sfreq

    tokenizer.eval()
    man = store.manifest.copy()
    if "sfreq" in man:  # before writing anything: codes of data at another rate are meaningless
        check_sfreq(tokenizer, man["sfreq"].to_numpy(), source=f"store {getattr(store, 'root', '')!s}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_rows = len(man)
    per_window: list[np.ndarray | None] = [None] * n_rows
    with tqdm(total=n_rows, desc="encode", unit="win") as bar:
        for batch in store_batches(store, np.arange(n_rows), batch_size):
            codes = tokenizer.encode(batch["x"], batch.get("pos"), batch.get("ch_type"), batch.get("ch_mask"), sfreq=batch.get("sfreq")).numpy()
            m = batch["ch_mask"].numpy()
            for j, row in enumerate(batch["_rows"]):
                per_window[int(row)] = codes[j][m[j]].astype(np.int32)  # (C_i, N, L)
            bar.update(len(batch["_rows"]))
    offsets, n_tokens, flat = [], [], []
    off = 0
    for c in per_window:
        offsets.append(off)
        n_tokens.append(c.shape[1])
        flat.append(c.reshape(-1, c.shape[-1]))
        off += flat[-1].shape[0]
    man["code_offset"] = offsets
    man["n_tokens"] = n_tokens
    np.save(out / "codes.npy", np.concatenate(flat, 0) if flat else np.zeros((0, tokenizer.n_levels), np.int32))
    man_out = man.copy()
    for col in man_out.columns:  # lists (ch_names ...) as JSON text in the CSV
        if man_out[col].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            man_out[col] = man_out[col].map(lambda v: json.dumps(list(v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    man_out.to_csv(out / "manifest.csv", index=False)
    info = {
        "model_type": tokenizer.model_type,
        "config": asdict(tokenizer.config),
        "patch_len": tokenizer.patch_len,
        "codebook_sizes": list(tokenizer.codebook_sizes),
        "n_levels": tokenizer.n_levels,
        "n_windows": n_rows,
    }
    (out / "tokenizer.json").write_text(json.dumps(info, indent=2))
    _ = pd  # pandas is the manifest's type
    return out


def read_codes(directory: str | os.PathLike, i: int) -> np.ndarray:
    """Codes (C, N, L) of window ``i`` from an :func:`encode_store` directory."""
    import pandas as pd

    d = Path(directory)
    if not (d / "codes.npy").is_file():
        raise NeurosigError(f"{os.fspath(d)!r} holds no codes.npy; write it with `neurosig tokenizer encode`.")
    man = pd.read_csv(d / "manifest.csv")
    codes = np.load(d / "codes.npy", mmap_mode="r")
    row = man.iloc[int(i)]
    n_ch, n_tok = int(row["n_channels"]), int(row["n_tokens"])
    off = int(row["code_offset"])
    return np.asarray(codes[off : off + n_ch * n_tok]).reshape(n_ch, n_tok, -1)
