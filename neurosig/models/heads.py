"""Task heads over backbone tokens ``hidden (B, C, N, d)`` with ``token_mask (B, C, N)``.

* :class:`MeanPool` / :class:`AttentionPool` reduce all real tokens of a window to ``(B, d)``
  (masked: padded channels and padded time patches never contribute).
* :class:`ClassificationHead` = pooling + LayerNorm + linear → logits ``(B, K)``.
* :class:`SleepContextHead` classifies each 30 s epoch from its own pooled embedding and those
  of its neighbours: input ``(B, E, d)`` (E = 2 * context + 1 consecutive epochs), a small
  transformer across epochs, logits of the centre epoch ``(B, K)``.
* :class:`PatchEncoder` is a small self-contained encoder (linear patch embedding + position-free
  channel/type embeddings + transformer) with the same ``(hidden, token_mask)`` output as
  ``FoundationModel.embed``; it is the "from scratch" baseline and the encoder of unit tests.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

from neurosig._utils.errors import NeurosigError

POOLINGS = ("attention", "mean")


class MeanPool(nn.Module):
    """Average of the real tokens."""

    def forward(self, hidden: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        m = token_mask.to(hidden.dtype).unsqueeze(-1)  # (B, C, N, 1)
        s = (hidden * m).sum(dim=(1, 2))  # (B, d)
        return s / m.sum(dim=(1, 2)).clamp_min(1.0)


class AttentionPool(nn.Module):
    """A learned query attends over the real tokens (multi-head, masked softmax)."""

    def __init__(self, d_model: int, n_heads: int = 1):
        super().__init__()
        if d_model % n_heads:
            raise NeurosigError(f"AttentionPool: d_model={d_model} must be divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.score = nn.Linear(d_model, n_heads)
        self.value = nn.Linear(d_model, d_model)

    def forward(self, hidden: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        B = hidden.shape[0]
        h = rearrange(hidden, "b c n d -> b (c n) d")
        m = rearrange(token_mask, "b c n -> b (c n)")
        logits = self.score(h).masked_fill(~m.unsqueeze(-1), float("-inf"))  # (B, CN, H)
        w = torch.softmax(logits, dim=1).nan_to_num(0.0)  # all-masked rows → zeros
        v = rearrange(self.value(h), "b t (h e) -> b t h e", h=self.n_heads)
        pooled = torch.einsum("bth,bthe->bhe", w, v)  # (B, H, d/H)
        return pooled.reshape(B, -1)


def make_pool(kind: str, d_model: int) -> nn.Module:
    if kind == "mean":
        return MeanPool()
    if kind == "attention":
        return AttentionPool(d_model, n_heads=4 if d_model % 4 == 0 else 1)
    raise NeurosigError(f"pooling={kind!r} is not supported; choose one of {', '.join(POOLINGS)}.")


class ClassificationHead(nn.Module):
    """Pool tokens, normalise, project to ``n_classes`` logits."""

    def __init__(self, d_model: int, n_classes: int, pooling: str = "attention", dropout: float = 0.1):
        super().__init__()
        if n_classes < 2:
            raise NeurosigError(f"n_classes must be >= 2, got {n_classes}.")
        self.pool = make_pool(pooling, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(d_model, n_classes)

    def pooled(self, hidden: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        return self.norm(self.pool(hidden, token_mask))  # (B, d)

    def forward(self, hidden: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.pooled(hidden, token_mask)))  # (B, K)


class SleepContextHead(nn.Module):
    """Centre-epoch logits from ``(B, E, d)`` pooled embeddings of consecutive epochs."""

    def __init__(self, d_model: int, n_classes: int, context: int = 2, n_layers: int = 1, dropout: float = 0.1):
        super().__init__()
        if context < 0:
            raise NeurosigError(f"context must be >= 0 epochs on each side, got {context}.")
        self.context = context
        self.epoch_pos = nn.Parameter(torch.zeros(2 * context + 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead=4 if d_model % 4 == 0 else 1, dim_feedforward=2 * d_model,
                                           dropout=dropout, batch_first=True)
        self.mix = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, n_classes)

    def forward(self, epochs: torch.Tensor, epoch_mask: torch.Tensor | None = None) -> torch.Tensor:
        E = epochs.shape[1]
        if E != 2 * self.context + 1:
            raise NeurosigError(f"SleepContextHead expects {2 * self.context + 1} epochs (context={self.context}), got {E}.")
        h = epochs + self.epoch_pos  # (B, E, d)
        pad = None if epoch_mask is None else ~epoch_mask  # True = missing neighbour (recording edge)
        h = self.mix(h, src_key_padding_mask=pad)
        return self.out(h[:, self.context])  # (B, K)


class PatchEncoder(nn.Module):
    """Small encoder from raw windows: ``batch -> (hidden (B, C, N, d), token_mask (B, C, N))``.

    Channels are tokenised independently (so any channel count works): each ``patch_len``-sample
    patch is scaled per channel-window, linearly embedded, given a learned time-position and
    channel-type embedding, and the tokens are mixed by a transformer over all real tokens.
    """

    def __init__(self, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, patch_len: int = 50,
                 max_patches: int = 256, n_ch_types: int = 10, dropout: float = 0.0):
        super().__init__()
        self.patch_len = patch_len
        self.d_model = d_model
        self.embed = nn.Linear(patch_len, d_model)
        self.time_pos = nn.Parameter(torch.randn(max_patches, d_model) * 0.02)
        self.type_emb = nn.Embedding(n_ch_types + 1, d_model)  # last row = padded channel
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 2 * d_model, dropout=dropout, batch_first=True, norm_first=True)
        self.layers = nn.ModuleList([nn.TransformerEncoder(layer, 1, enable_nested_tensor=False) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(d_model)

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch["x"].float()  # (B, C, T)
        B, C, T = x.shape
        ch_mask = batch.get("ch_mask")
        ch_mask = torch.ones(B, C, dtype=torch.bool, device=x.device) if ch_mask is None else ch_mask.bool()
        N = max(1, math.ceil(T / self.patch_len))
        if N > self.time_pos.shape[0]:
            raise NeurosigError(f"window has {N} patches but PatchEncoder.max_patches={self.time_pos.shape[0]}; raise max_patches.")
        x = nn.functional.pad(x, (0, N * self.patch_len - T))
        scale = x.std(dim=-1, keepdim=True).clamp_min(1e-6)
        p = rearrange(x / scale, "b c (n p) -> b c n p", p=self.patch_len)  # (B, C, N, P)
        ch_type = batch.get("ch_type")
        ch_type = torch.zeros(B, C, dtype=torch.long, device=x.device) if ch_type is None else ch_type.long()
        ch_type = torch.where(ch_type < 0, torch.full_like(ch_type, self.type_emb.num_embeddings - 1), ch_type)
        h = self.embed(p) + self.time_pos[:N] + self.type_emb(ch_type)[:, :, None, :]  # (B, C, N, d)
        token_mask = ch_mask[:, :, None].expand(B, C, N)  # (B, C, N)
        t = rearrange(h, "b c n d -> b (c n) d")
        pad = ~rearrange(token_mask, "b c n -> b (c n)")
        for layer in self.layers:
            t = layer(t, src_key_padding_mask=pad)
        hidden = rearrange(self.norm(t), "b (c n) d -> b c n d", c=C)
        return hidden, token_mask
