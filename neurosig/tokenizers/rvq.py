"""Multi-scale residual-VQ tokenizer (``rvq``) and its single-level VQ baseline (``vq``).

Per token (one channel, one patch of ``patch_len`` samples):

    patch (P,) ──► branch b: conv(k_b) → GELU → strided conv(k_b) → GELU → pool(8) → linear → z_b (Dc)
                   (kernel sizes differ per branch: short kernels see fast rhythms, long ones slow)
    z_b + sensor vector ──► residual VQ of branch b (levels_b × codebook_b, EMA codebooks)
    concat(q_b) + sensor ──► MLP ──► log-amplitude (F), phase as (sin, cos) (2F), time signal (P)

Loss terms (keys = ``loss_weights`` keys): ``tok/amp`` MSE of log-amplitude,
``tok/phase`` mean(1 − cos Δφ) computed from unit (sin, cos) vectors, ``tok/time`` normalised MSE of the
signal (Σ err² / Σ x² over the batch), ``tok/commit`` commitment. ``codes (B, C, N, L)`` stacks the levels of all
branches: L = Σ_b levels_b, branch 0's levels first.

``vq`` (:class:`VQTokenizer`) has the same encoder and decoder but quantizes the concatenated
latent with ONE codebook of ``codebook_size`` codes (L = 1): the plain-VQ baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig.nn.sensors import SensorEncoder
from neurosig.tokenizers.base import Tokenizer, TokenizerConfig
from neurosig.tokenizers.quantizers import DEFAULT_DEAD_FRACTION, DEFAULT_DECAY, DEFAULT_DECAY_WARMUP, ResidualVQ, check_ema_params
from neurosig.tokenizers.spectral import patch_spectrum


@dataclass
class RVQConfig(TokenizerConfig):
    _kind = "rvq"  # name used in error messages (class attribute, not a field)
    kernel_sizes: list[int] = field(default_factory=lambda: [5, 11, 25, 51])  # one branch per kernel: ~40, 18, 8, 4 Hz periods at 200 Hz
    branch_channels: int = 32  # conv channels per branch (small: the RVQ carries the detail)
    code_dim: int = 64  # latent/code size per branch (NeuroRVQ/LaBraM-like 64)
    n_levels: list[int] | int = 8  # RVQ levels per branch (int: same for every branch); NeuroRVQ uses 8
    codebook_size: list[int] | int = 8192  # codes per level, per branch (int: same for all); NeuroRVQ uses 8192
    hidden: int = 256  # decoder MLP width
    decay: float = DEFAULT_DECAY  # EMA decay of the codebooks once warmed up (0.99: averages ~100 updates)
    decay_warmup: int = DEFAULT_DECAY_WARMUP  # early decay (1+t)/(10+t): codebooks keep up with the young encoder (0: constant decay)
    dead_fraction: float = DEFAULT_DEAD_FRACTION  # restart a code whose EMA usage < 0.1 x uniform usage (batch / K): any batch size, K, run length
    dead_threshold: float | None = None  # legacy: absolute EMA count per batch (also disables decay_warmup); null = use dead_fraction
    kmeans_iters: int = 10  # k-means iterations at codebook init (first training batch)
    amp_eps: float = 1e-2  # log(|X| + amp_eps): bounds the log of silent bins in scaled units

    def __post_init__(self):
        super().__post_init__()
        if not self.kernel_sizes or any(not isinstance(k, int) or k <= 0 for k in self.kernel_sizes):
            raise NeurosigError(f"rvq config kernel_sizes must be a non-empty list of positive odd integers, got {self.kernel_sizes!r}.")
        nb = len(self.kernel_sizes)
        for name in ("n_levels", "codebook_size"):
            v = getattr(self, name)
            v = [v] * nb if isinstance(v, int) else list(v)
            if len(v) != nb or any(isinstance(i, bool) or not isinstance(i, int) or i <= 0 for i in v):
                raise NeurosigError(f"rvq config {name} must be a positive integer or one per branch ({nb} values), got {getattr(self, name)!r}.")
            setattr(self, name, v)
        for name in ("branch_channels", "code_dim", "hidden", "kmeans_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise NeurosigError(f"rvq config {name} must be a positive integer, got {v!r}.")
        check_ema_params(f"{self._kind} config", decay=self.decay, dead_fraction=self.dead_fraction, dead_threshold=self.dead_threshold, decay_warmup=self.decay_warmup)


class _Branch(nn.Module):
    def __init__(self, kernel: int, channels: int, out_dim: int, cond_dim: int, patch_len: int):
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(1, channels, kernel, padding=pad),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel, stride=4, padding=pad),
            nn.GELU(),
            nn.AdaptiveAvgPool1d(8),
        )
        self.proj = nn.Linear(channels * 8, out_dim)
        self.cond = nn.Linear(cond_dim, out_dim)
        self.skip = nn.Linear(patch_len, out_dim)  # linear view of the raw patch: keeps the phase that pooling blurs

    def forward(self, p: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.net(p.unsqueeze(1))  # (K, 1, P) -> (K, ch, 8)
        return self.proj(h.flatten(1)) + self.skip(p) + self.cond(cond)  # (K, Dc)


class _BranchRVQ(nn.Module):
    """One residual VQ per branch over its slice of the latent; codes concatenated over branches."""

    def __init__(self, cfg: RVQConfig):
        super().__init__()
        d = cfg.code_dim
        self.dim = d
        self.rvqs = nn.ModuleList(
            [
                ResidualVQ(nl, k, d, seed=cfg.seed + 7 * b, kmeans_iters=cfg.kmeans_iters, **ema_kwargs(cfg))
                for b, (nl, k) in enumerate(zip(cfg.n_levels, cfg.codebook_size))
            ]
        )
        self.levels = list(cfg.n_levels)

    def forward(self, z: torch.Tensor, *, update=None):
        qs, codes, commits, stats = [], [], [], {}
        for b, rvq in enumerate(self.rvqs):
            q, c, commit, st = rvq(z[:, b * self.dim : (b + 1) * self.dim], update=update)
            qs.append(q)
            codes.append(c)
            commits.append(commit)
            stats.update({f"b{b}/{k}": v for k, v in st.items()})
        return torch.cat(qs, -1), torch.cat(codes, -1), torch.stack(commits).mean(), stats

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        out, s = [], 0
        for rvq, nl in zip(self.rvqs, self.levels):
            out.append(rvq.lookup(codes[..., s : s + nl]))
            s += nl
        return torch.cat(out, -1)


class RVQTokenizer(Tokenizer):
    """Multi-scale residual-VQ tokenizer (see module doc)."""

    config_class = RVQConfig
    model_type = "tokenizer-rvq"
    default_loss_weights = {"tok/amp": 1.0, "tok/phase": 0.5, "tok/time": 1.0, "tok/commit": 0.25}

    def __init__(self, config: RVQConfig):
        super().__init__(config)
        c = config
        nb = len(c.kernel_sizes)
        self.sensors = SensorEncoder(_sensor_cfg(c.sensors, c.code_dim))
        self.branches = nn.ModuleList([_Branch(k, c.branch_channels, c.code_dim, c.code_dim, c.patch_len) for k in c.kernel_sizes])
        self.embed_dim = nb * c.code_dim
        self.quantizer = self._build_quantizer()
        n_freq = c.patch_len // 2 + 1
        self.n_freq = n_freq
        self.dec_cond = nn.Linear(c.code_dim, self.embed_dim)
        self.decoder = nn.Sequential(
            nn.Linear(self.embed_dim, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden), nn.GELU()
        )
        self.head_amp = nn.Linear(c.hidden, n_freq)
        self.head_phase = nn.Linear(c.hidden, 2 * n_freq)
        self.head_time = nn.Linear(c.hidden, c.patch_len)

    def _build_quantizer(self) -> nn.Module:
        q = _BranchRVQ(self.config)
        self.n_levels = sum(self.config.n_levels)
        self.codebook_sizes = [k for nl, k in zip(self.config.n_levels, self.config.codebook_size) for _ in range(nl)]
        return q

    def _token_inputs(self, xv, n):
        return {"patch": xv.reshape(xv.shape[0], n, self.patch_len)}  # (M, N*P) -> (M, N, P)

    def _encode_tokens(self, inp, cond, mask=None):
        p = inp["patch"]  # (K, P)
        return torch.cat([br(p, cond) for br in self.branches], dim=-1)  # (K, nb*Dc)

    def _decode_tokens(self, q, cond):
        h = self.decoder(q + self.dec_cond(cond))  # (K, hidden)
        sc = self.head_phase(h).unflatten(-1, (2, self.n_freq))  # (K, 2, F)
        return {"time": self.head_time(h), "log_amp": self.head_amp(h), "sin": sc[:, 0], "cos": sc[:, 1]}

    def _loss_terms(self, preds, inp):
        log_amp, sin, cos = patch_spectrum(inp["patch"], self.config.amp_eps)  # (K, F) each
        norm = torch.sqrt(preds["sin"] ** 2 + preds["cos"] ** 2 + 1e-8)
        cos_sim = (preds["sin"] * sin + preds["cos"] * cos) / norm  # cos of the phase error
        return {
            "tok/amp": F.mse_loss(preds["log_amp"], log_amp),
            "tok/phase": (1.0 - cos_sim).mean(),
            "tok/time": _nmse(preds["time"], inp["patch"]),
        }


@dataclass
class VQConfig(RVQConfig):
    _kind = "vq"
    n_levels: list[int] | int = 1  # a plain VQ: one level (kept for the shared config shape; must be 1)
    codebook_size: list[int] | int = 8192  # size of the single codebook over the concatenated latent

    def __post_init__(self):
        super().__post_init__()
        if any(v != 1 for v in self.n_levels):
            raise NeurosigError(f"vq config n_levels must be 1 (a plain single-level VQ), got {self.n_levels!r}; use kind 'rvq' for residual levels.")
        if len(set(self.codebook_size)) != 1:
            raise NeurosigError(f"vq config codebook_size must be one integer, got {self.codebook_size!r}.")


class VQTokenizer(RVQTokenizer):
    """Plain single-level VQ with the RVQ tokenizer's encoder/decoder: the baseline."""

    config_class = VQConfig
    model_type = "tokenizer-vq"

    def _build_quantizer(self) -> nn.Module:
        c = self.config
        self.n_levels = 1
        self.codebook_sizes = [c.codebook_size[0]]
        return ResidualVQ(1, c.codebook_size[0], self.embed_dim, seed=c.seed, kmeans_iters=c.kmeans_iters, **ema_kwargs(c))


def ema_kwargs(cfg) -> dict:
    """The EMA-codebook arguments of a tokenizer config (tf, rvq, vq) for ``ResidualVQ``."""
    return {"decay": cfg.decay, "decay_warmup": cfg.decay_warmup, "dead_fraction": cfg.dead_fraction, "dead_threshold": cfg.dead_threshold}


def _nmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Normalised MSE over the batch: Σ(pred − target)² / Σ target² (scale-free time loss)."""
    return ((pred - target) ** 2).sum() / (target**2).sum().clamp_min(1e-8)


def _sensor_cfg(sc, dim):
    from dataclasses import replace

    return replace(sc, dim=dim)
