"""4D Fourier positional encoding of (sensor x, y, z, time) tokens.

Every token of the backbone sits at a sensor position (x, y, z in metres, head frame) and a
time-patch index. Each coordinate is expanded into sines and cosines over a geometric bank of
wavelengths (spatial coordinates in units of ``pos_scale`` metres, time in patches) and a small
MLP mixes the four coordinates into one ``d_model`` vector (the idea of REVE's 4D encoding,
written from scratch).

Channels whose position is unknown (any coordinate NaN, as the store writes them) get no
spatial features; instead a learned *position-free channel embedding* indexed by the channel's
row in the batch is added, so models still tell channels apart without a montage.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neurosig._utils.errors import NeurosigError


def fourier_features(x: torch.Tensor, wavelengths: torch.Tensor) -> torch.Tensor:
    """sin/cos features of ``x (...,)`` at ``wavelengths (F,)`` -> ``(..., 2F)``."""
    ang = x[..., None] * (2 * math.pi / wavelengths)  # (..., F)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class FourierPositionEncoding4D(nn.Module):
    """Encode sensor positions and patch times of a (B, C, N) token grid into (B, C, N, d_model).

    Args:
        d_model: output width.
        n_freqs: wavelengths per coordinate (sin + cos each -> 2 * n_freqs features).
        pos_scale: metres per spatial unit (0.1 m ~ head radius, so coordinates are ~[-1, 1]).
        spatial_wavelengths: (min, max) wavelengths in spatial units.
        time_wavelengths: (min, max) wavelengths in patches (2 = Nyquist of the patch grid).
        max_channels: size of the position-free channel-embedding table (channels without
            positions beyond this row index share the last row).
        hidden: MLP hidden width (default ``d_model``).
    """

    def __init__(
        self,
        d_model: int,
        n_freqs: int = 16,
        pos_scale: float = 0.1,
        spatial_wavelengths: tuple[float, float] = (0.05, 8.0),
        time_wavelengths: tuple[float, float] = (2.0, 2000.0),
        max_channels: int = 512,
        hidden: int | None = None,
    ):
        super().__init__()
        if n_freqs < 1:
            raise NeurosigError(f"n_freqs must be >= 1, got {n_freqs}; use e.g. 16.")
        self.pos_scale = float(pos_scale)
        self.max_channels = int(max_channels)
        self.register_buffer(
            "spatial_wl", torch.logspace(math.log10(spatial_wavelengths[0]), math.log10(spatial_wavelengths[1]), n_freqs), persistent=False
        )
        self.register_buffer(
            "time_wl", torch.logspace(math.log10(time_wavelengths[0]), math.log10(time_wavelengths[1]), n_freqs), persistent=False
        )
        n_feat = 4 * 2 * n_freqs + 1  # x, y, z, t banks + "position known" flag
        hidden = hidden or d_model
        self.mlp = nn.Sequential(nn.Linear(n_feat, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.channel_embed = nn.Embedding(self.max_channels, d_model)  # used where pos is NaN
        nn.init.normal_(self.channel_embed.weight, std=0.02)

    def forward(self, pos: torch.Tensor | None, n_times: int, n_channels: int | None = None, t0: int = 0) -> torch.Tensor:
        """pos (B, C, 3) metres (NaN = unknown) or None; times are patches ``t0 .. t0+n_times-1``.

        Returns (B, C, N, d_model).
        """
        if pos is None:
            if n_channels is None:
                raise NeurosigError("FourierPositionEncoding4D needs pos (B, C, 3) or n_channels; pass one.")
            pos = torch.full((1, n_channels, 3), float("nan"), device=self.time_wl.device)
        if pos.ndim != 3 or pos.shape[-1] != 3:
            raise NeurosigError(f"pos must have shape (B, C, 3), got {tuple(pos.shape)}; pass sensor x, y, z per channel (NaN if unknown).")
        B, C, _ = pos.shape
        pos = pos.to(self.time_wl.dtype)
        known = torch.isfinite(pos).all(dim=-1)  # (B, C)
        xyz = torch.where(known[..., None], pos, torch.zeros_like(pos)) / self.pos_scale  # (B, C, 3)
        f_xyz = fourier_features(xyz, self.spatial_wl).flatten(-2)  # (B, C, 3*2F)
        f_xyz = f_xyz * known[..., None]  # no spatial features for unknown positions
        t = torch.arange(t0, t0 + n_times, device=pos.device, dtype=pos.dtype)  # (N,)
        f_t = fourier_features(t, self.time_wl)  # (N, 2F)
        feats = torch.cat(
            [
                f_xyz[:, :, None, :].expand(B, C, n_times, f_xyz.shape[-1]),
                f_t[None, None].expand(B, C, n_times, f_t.shape[-1]),
                known[:, :, None, None].expand(B, C, n_times, 1).to(pos.dtype),
            ],
            dim=-1,
        )  # (B, C, N, 8F+1)
        out = self.mlp(feats)  # (B, C, N, D)
        ch_idx = torch.arange(C, device=pos.device).clamp(max=self.max_channels - 1)
        free = self.channel_embed(ch_idx)[None] * (~known)[..., None]  # (B, C, D)
        return out + free[:, :, None, :]
