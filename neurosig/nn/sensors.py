"""Sensor encoder: a per-channel vector from the sensor's geometry and type.

No electrode table: a channel is described by its position (x, y, z in metres, head frame;
parcel centroids for fMRI), its orientation (MEG coils; zeros when not given) and its type
(``neurosig._utils.channels.CH_TYPES``). Positions go through random-free Fourier features
(octave frequencies) and an MLP; the type through an embedding. The result is added to each
token of that channel, so one tokenizer serves any montage and EEG + MEG + fMRI together.

Unknown positions (NaN) on a real channel raise :class:`NeurosigError` unless
``name_free=True``, in which case a learned "unknown position" vector is used instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from neurosig._utils.channels import CH_TYPES
from neurosig._utils.errors import NeurosigError


@dataclass
class SensorConfig:
    dim: int = 64  # output size; the tokenizer sets it to its latent size
    n_freqs: int = 5  # octaves of Fourier features per axis: wavelengths 20 cm .. 1.25 cm (EEG/MEG sensor spacing ~2-3 cm)
    length_scale: float = 0.1  # metres mapped to 1.0 (about a head radius)
    hidden: int = 128  # MLP width (small: the encoder only needs a smooth map of the head)
    use_positions: bool = True  # False: only the sensor type is encoded (positions ignored)
    name_free: bool = False  # True: NaN positions get a learned "unknown" vector instead of an error

    def __post_init__(self):
        for name in ("dim", "n_freqs", "hidden"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise NeurosigError(f"sensors.{name} must be a positive integer, got {v!r}.")
        if not self.length_scale > 0:
            raise NeurosigError(f"sensors.length_scale must be > 0 (metres), got {self.length_scale!r}.")


class SensorEncoder(nn.Module):
    """forward(pos (..., 3), ch_type (...,), orient (..., 3) or None, mask (...,) or None) -> (..., dim).

    ``ch_type`` -1 (padding) maps to its own embedding; rows where ``mask`` is False are not
    checked for NaN positions (padded channels)."""

    def __init__(self, config: SensorConfig | None = None):
        super().__init__()
        self.config = config or SensorConfig()
        c = self.config
        self.register_buffer("freqs", (2.0 ** torch.arange(c.n_freqs)) * math.pi, persistent=False)
        n_in = 2 * 3 * c.n_freqs + 3 + 3  # sin/cos per axis and octave, raw xyz, orientation
        self.type_embed = nn.Embedding(len(CH_TYPES) + 1, c.dim)  # last row: padding (-1)
        if c.use_positions:
            self.mlp = nn.Sequential(nn.Linear(n_in, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.dim))
            if c.name_free:
                self.unknown = nn.Parameter(torch.zeros(c.dim))
        nn.init.normal_(self.type_embed.weight, std=0.02)

    def fourier(self, pos: torch.Tensor) -> torch.Tensor:
        """pos (..., 3) in metres -> (..., 6 * n_freqs + 3) features."""
        p = pos / self.config.length_scale  # (..., 3)
        ang = p.unsqueeze(-1) * self.freqs  # (..., 3, n_freqs)
        feats = torch.cat([ang.sin(), ang.cos()], dim=-1).flatten(-2)  # (..., 6 * n_freqs)
        return torch.cat([feats, p], dim=-1)

    def forward(self, pos=None, ch_type=None, orient=None, mask=None) -> torch.Tensor:
        if ch_type is None:
            raise NeurosigError("SensorEncoder: ch_type is required (integer codes from neurosig._utils.channels).")
        t = ch_type.long().clone()
        t[t < 0] = len(CH_TYPES)
        if (t > len(CH_TYPES)).any():
            raise NeurosigError(f"ch_type holds codes above {len(CH_TYPES) - 1}; use neurosig._utils.channels.ch_type_code.")
        out = self.type_embed(t)  # (..., dim)
        c = self.config
        if not c.use_positions:
            return out
        if pos is None:
            pos = torch.full((*t.shape, 3), float("nan"), device=t.device)
        pos = pos.float()
        real = torch.ones_like(t, dtype=torch.bool) if mask is None else mask.bool()
        unknown = torch.isnan(pos).any(-1)  # (...,)
        bad = unknown & real
        if bad.any() and not c.name_free:
            n = int(bad.sum())
            raise NeurosigError(
                f"pos: {n} real channel(s) have unknown (NaN) sensor positions; supply positions "
                "(e.g. a montage at preprocessing) or set name_free: true in the tokenizer's sensors config."
            )
        o = torch.zeros_like(pos) if orient is None else torch.nan_to_num(orient.float())
        feats = torch.cat([self.fourier(torch.nan_to_num(pos)), o], dim=-1)
        emb = self.mlp(feats)  # (..., dim)
        if c.name_free:
            emb = torch.where(unknown.unsqueeze(-1), self.unknown.expand_as(emb), emb)
        else:
            emb = emb * (~unknown).unsqueeze(-1)  # padded channels with NaN positions: no position term
        return out + emb
