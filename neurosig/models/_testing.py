"""A deterministic toy tokenizer that follows the tokenizer contract (for tests and smoke runs).

It needs no training: each patch of ``patch_len`` samples becomes two codes, the quantised
patch mean (level 0) and the quantised log standard deviation (level 1), over fixed bins.
The real tokenizers live in :mod:`neurosig.tokenizers`; this one only lets the model code be
tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig.nn.pretrained import PretrainedMixin


@dataclass
class ToyTokenizerConfig:
    # samples per token (the real tokenizers use 200 = 1 s at 200 Hz)
    patch_len: int = 20
    # bins per level
    n_bins: int = 16
    # patch means are binned over [-mean_range, mean_range] (model units, e.g. uV / scale)
    mean_range: float = 3.0
    # log-std bins over [log_std_min, log_std_max]
    log_std_min: float = -3.0
    log_std_max: float = 2.0

    def __post_init__(self):
        if self.patch_len < 1 or self.n_bins < 2:
            raise NeurosigError(f"ToyTokenizerConfig needs patch_len >= 1 and n_bins >= 2, got {self.patch_len}, {self.n_bins}.")


class ToyTokenizer(nn.Module, PretrainedMixin):
    """Follows the encode/embed/decode signatures (``sfreq=`` included) but has no configured
    rate (no ``config.sfreq``): it bins patches of samples, so any ``sfreq`` is accepted unchecked."""

    config_class = ToyTokenizerConfig
    model_type = "toy_patch_tokenizer"

    def __init__(self, config: ToyTokenizerConfig | None = None):
        super().__init__()
        self.config = config or ToyTokenizerConfig()
        self.patch_len = self.config.patch_len
        self.n_levels = 2
        self.codebook_sizes = [self.config.n_bins, self.config.n_bins]
        self.embed_dim = 2
        self.register_buffer("_dummy", torch.zeros(1))  # gives the module a device and a state key

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        B, C, T = x.shape
        N = -(-T // self.patch_len)
        x = F.pad(x, (0, N * self.patch_len - T))
        return x.reshape(B, C, N, self.patch_len)  # (B, C, N, P)

    def _features(self, x):
        p = self._patches(x.float())
        return p.mean(-1), p.std(-1, unbiased=False).clamp(min=1e-6).log()  # (B, C, N) each

    def encode(self, x, pos=None, ch_type=None, ch_mask=None, *, sfreq=None):
        c = self.config
        m, s = self._features(x)
        k = c.n_bins
        q0 = ((m + c.mean_range) / (2 * c.mean_range) * k).floor().clamp(0, k - 1)
        q1 = ((s - c.log_std_min) / (c.log_std_max - c.log_std_min) * k).floor().clamp(0, k - 1)
        codes = torch.stack([q0, q1], -1).long()  # (B, C, N, 2)
        if ch_mask is not None:
            codes = codes * ch_mask[:, :, None, None].long()
        return codes

    def embed(self, x, pos=None, ch_type=None, ch_mask=None, *, sfreq=None):
        m, s = self._features(x)
        return torch.stack([m, s], -1)  # (B, C, N, 2)

    def decode(self, codes, pos=None, ch_type=None, ch_mask=None, *, sfreq=None):
        c = self.config
        k = c.n_bins
        m = (codes[..., 0].float() + 0.5) / k * 2 * c.mean_range - c.mean_range  # (B, C, N)
        return m.repeat_interleave(self.patch_len, dim=-1)  # (B, C, N*P)


def synthetic_windows(n: int, n_channels: int = 4, n_times: int = 160, seed: int = 0, sfreq: float = 200.0) -> list[dict]:
    """``n`` window items (the store's item layout, as tensors) of noisy sinusoids.

    Each channel has its own random period (40-120 samples), phase and amplitude, so patch
    statistics are predictable from context; positions are random points on a 9 cm sphere.
    """
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_times, dtype=torch.float32)
    items = []
    for i in range(n):
        period = 40 + 80 * torch.rand(n_channels, 1, generator=g)
        phase = 6.2832 * torch.rand(n_channels, 1, generator=g)
        amp = 0.5 + 2.0 * torch.rand(n_channels, 1, generator=g)
        x = amp * torch.sin(6.2832 * t / period + phase) + 0.1 * torch.randn(n_channels, n_times, generator=g)
        pos = torch.randn(n_channels, 3, generator=g)
        pos = 0.09 * pos / pos.norm(dim=-1, keepdim=True)
        items.append(dict(
            x=x, pos=pos, ch_type=torch.zeros(n_channels, dtype=torch.long), ch_mask=torch.ones(n_channels, dtype=torch.bool),
            sfreq=torch.tensor(sfreq), y=torch.tensor(-1), index=torch.tensor(i),
        ))
    return items


def collate_items(items: list[dict]) -> dict:
    """Stack same-shape items into a batch (the store's collate also pads channels)."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
