"""Pretraining objectives over the tokenizer's codes, and the unigram-code baseline.

- masked-token prediction: block masks over time (per channel), ratio ``mask_ratio``; with
  symmetric masking the complementary mask is trained too, so every patch is a target once.
- next-token prediction: causal over time; the hidden state at patch n predicts every RVQ
  level of patch n + 1 of the same channel.

Losses are cross-entropies in nats, averaged over the RVQ levels, comparable to
:func:`unigram_entropy` (the loss of a model that only knows the code marginals).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiLevelHead(nn.Module):
    """One linear classifier per RVQ level: hidden (..., d) -> list of logits (..., K_l)."""

    def __init__(self, d_model: int, codebook_sizes: list[int]):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.heads = nn.ModuleList(nn.Linear(d_model, k) for k in codebook_sizes)

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        h = self.norm(h)
        return [head(h) for head in self.heads]


def multilevel_ce(logits: list[torch.Tensor], targets: torch.Tensor, select: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over levels of the CE on tokens where ``select`` (B, C, N) is True.

    targets (B, C, N, L). Returns (loss, accuracy of level 0). With no selected token, the loss
    is a zero that still carries gradient (so DDP sees every parameter used).
    """
    n = select.sum()
    if n == 0:
        z = sum(lg.sum() for lg in logits) * 0.0
        return z, torch.zeros((), device=targets.device)
    losses = []
    for l, lg in enumerate(logits):
        losses.append(F.cross_entropy(lg[select].float(), targets[..., l][select]))
    acc = (logits[0][select].argmax(-1) == targets[..., 0][select]).float().mean()
    return torch.stack(losses).mean(), acc


def block_time_mask(
    token_mask: torch.Tensor, ratio: float, block: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random block mask over time, drawn per (sample, channel).

    token_mask (B, C, N) bool marks real tokens. About ``ratio`` of each channel's patches are
    masked, in runs of ``block`` consecutive patches (runs start at random offsets, so they can
    overlap run boundaries). Returns (B, C, N) bool, True = masked (never on padded tokens).
    When N == 1 this is i.i.d. masking of channels with probability ``ratio``.
    """
    B, C, N = token_mask.shape
    dev = token_mask.device
    block = max(1, min(block, N))
    n_blocks = -(-N // block)  # ceil
    shift = int(torch.randint(0, block, (1,), generator=generator).item()) if block > 1 else 0
    u = torch.rand(B, C, n_blocks + 1, generator=generator)  # one draw per block, CPU generator
    blk = (u < ratio).to(dev)  # (B, C, n_blocks+1)
    m = blk.repeat_interleave(block, dim=-1)[..., shift : shift + N]  # (B, C, N)
    return m & token_mask


def unigram_entropy(codes: torch.Tensor, codebook_sizes: list[int], token_mask: torch.Tensor | None = None) -> dict[str, float]:
    """Entropy (nats) of each level's code marginal: the CE of the best context-free predictor.

    codes (B, C, N, L) (or any (..., L)), optional token_mask (B, C, N) selects real tokens.
    Returns ``{"unigram/level{l}": H_l, "unigram/mean": mean_l H_l, "unigram/uniform": mean log K_l}``.
    """
    flat = codes.reshape(-1, codes.shape[-1])
    if token_mask is not None:
        flat = flat[token_mask.reshape(-1)]
    counts = [torch.bincount(flat[:, l].long(), minlength=k).double() for l, k in enumerate(codebook_sizes)]
    return unigram_from_counts(counts)


def unigram_from_counts(counts: list[torch.Tensor]) -> dict[str, float]:
    """As :func:`unigram_entropy`, from accumulated per-level code counts."""
    out = {}
    hs = []
    for l, c in enumerate(counts):
        p = c / c.sum().clamp(min=1)
        h = float(-(p[p > 0] * p[p > 0].log()).sum())
        out[f"unigram/level{l}"] = h
        hs.append(h)
    out["unigram/mean"] = sum(hs) / max(len(hs), 1)
    out["unigram/uniform"] = sum(math.log(len(c)) for c in counts) / max(len(counts), 1)
    return out
