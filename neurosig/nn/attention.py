"""Attention for the backbone: one functional entry point and the transformer blocks.

:func:`attention` routes to ``neurosig.kernels.ops.attention`` (the fused-kernel dispatcher)
when it is importable and the call needs nothing it does not support (an arbitrary additive or
boolean ``attn_mask``), else to PyTorch's ``scaled_dot_product_attention`` (SDPA).

Key-padding masks follow the kernels contract: ``(B, S) bool`` with True = padding. A query
whose keys are *all* padding (a padded channel in time attention) would make SDPA produce NaN;
such rows attend to every key instead and the caller zeroes the padded outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from neurosig._utils.errors import NeurosigError

try:  # the fused-kernel dispatcher (kernels engineer); optional
    from neurosig.kernels.ops import attention as _kernel_attention  # type: ignore
except Exception:  # pragma: no cover - depends on the kernels package being present
    _kernel_attention = None

ATTENTION_KINDS = ("full", "factorised")


def _safe_padding(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """Unmask rows that are entirely padding (they would give NaN); (B, S) bool, True = pad."""
    all_pad = key_padding_mask.all(dim=-1, keepdim=True)  # (B, 1)
    return key_padding_mask & ~all_pad


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    attn_mask: torch.Tensor | None = None,
    impl: str = "auto",
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """Multi-head attention on ``q, k, v (B, H, S, Dh)`` -> ``(B, H, S, Dh)``.

    Args:
        key_padding_mask: (B, S) bool, True where the key is padding.
        causal: key j visible to query i only if j <= i.
        attn_mask: (S, S) or (B, 1, S, S) bool, True = may attend (SDPA semantics); forces SDPA.
        impl: "auto" (kernel dispatcher when importable, else SDPA), "sdpa", or any
            implementation name the kernel dispatcher accepts ("torch", "triton").
        dropout_p: attention dropout (training only; forces SDPA).
    """
    if q.ndim != 4:
        raise NeurosigError(f"attention expects q, k, v of shape (B, H, S, Dh), got q {tuple(q.shape)}.")
    if key_padding_mask is not None:
        key_padding_mask = _safe_padding(key_padding_mask.to(torch.bool))
    use_kernel = (
        _kernel_attention is not None and impl != "sdpa" and attn_mask is None and dropout_p == 0.0
    )
    if use_kernel:
        return _kernel_attention(q, k, v, key_padding_mask=key_padding_mask, causal=causal, impl=impl)
    if impl not in ("auto", "sdpa"):
        raise NeurosigError(f"attention impl={impl!r} needs neurosig.kernels.ops, which is not importable; use impl='sdpa'.")
    mask = None
    if key_padding_mask is not None:
        mask = (~key_padding_mask)[:, None, None, :]  # (B, 1, 1, S) True = attend
    if attn_mask is not None:
        am = attn_mask if attn_mask.ndim == 4 else attn_mask[None, None]
        mask = am if mask is None else (mask & am)
    if causal:
        S, Sk = q.shape[-2], k.shape[-2]
        cm = torch.ones(S, Sk, dtype=torch.bool, device=q.device).tril()[None, None]
        mask = cm if mask is None else (mask & cm)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


class MultiHeadAttention(nn.Module):
    """Self-attention over the second-to-last axis of ``x (B, S, D)``."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, impl: str = "auto"):
        super().__init__()
        if d_model % n_heads:
            raise NeurosigError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.impl = impl

    def forward(self, x, key_padding_mask=None, causal=False, attn_mask=None):
        qkv = rearrange(self.qkv(x), "b s (three h d) -> three b h s d", three=3, h=self.n_heads)
        o = attention(
            qkv[0], qkv[1], qkv[2], key_padding_mask=key_padding_mask, causal=causal,
            attn_mask=attn_mask, impl=self.impl, dropout_p=self.dropout if self.training else 0.0,
        )  # (B, H, S, Dh)
        return self.proj(rearrange(o, "b h s d -> b s (h d)"))


class MLP(nn.Module):
    def __init__(self, d_model: int, ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = int(d_model * ratio)
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_model))

    def forward(self, x):
        return self.net(x)


def block_causal_mask(n_channels: int, n_times: int, device=None) -> torch.Tensor:
    """(C*N, C*N) bool for tokens flattened as (c n): query (c, n) sees key (c', n') iff n' <= n."""
    t = torch.arange(n_times, device=device).repeat(n_channels)  # (C*N,) time of each token
    return t[None, :] <= t[:, None]


class TokenGridBlock(nn.Module):
    """Pre-norm transformer block on a (B, C, N, D) grid of (channel, time-patch) tokens.

    ``kind="full"``: one attention over all C*N tokens. ``kind="factorised"``: attention across
    channels within each time step, then across time within each channel, then the MLP. With
    ``causal=True`` a token never sees a later time step (block-causal over time).
    """

    def __init__(self, d_model: int, n_heads: int, kind: str = "factorised", mlp_ratio: float = 4.0, dropout: float = 0.0, impl: str = "auto"):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise NeurosigError(f"attention={kind!r} is not supported; choose one of {', '.join(ATTENTION_KINDS)}.")
        self.kind = kind
        self.norm1 = nn.LayerNorm(d_model)
        self.attn1 = MultiHeadAttention(d_model, n_heads, dropout, impl)
        if kind == "factorised":
            self.norm_t = nn.LayerNorm(d_model)
            self.attn_t = MultiHeadAttention(d_model, n_heads, dropout, impl)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, ch_mask: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """x (B, C, N, D); ch_mask (B, C) bool True = real channel."""
        B, C, N, D = x.shape
        keep = ch_mask[:, :, None, None].to(x.dtype)  # (B, C, 1, 1)
        if self.kind == "full":
            h = rearrange(self.norm1(x), "b c n d -> b (c n) d")
            pad = (~ch_mask)[:, :, None].expand(B, C, N).reshape(B, C * N)  # (B, C*N) True = pad
            am = block_causal_mask(C, N, x.device) if causal else None
            h = self.attn1(h, key_padding_mask=pad, attn_mask=am)
            x = x + self.drop(rearrange(h, "b (c n) d -> b c n d", c=C))
        else:
            h = rearrange(self.norm1(x), "b c n d -> (b n) c d")
            pad = (~ch_mask)[:, None, :].expand(B, N, C).reshape(B * N, C)  # (B*N, C)
            h = self.attn1(h, key_padding_mask=pad)
            x = x + self.drop(rearrange(h, "(b n) c d -> b c n d", b=B))
            h = rearrange(self.norm_t(x), "b c n d -> (b c) n d")
            h = self.attn_t(h, causal=causal)  # padded channels: garbage, zeroed below
            x = x + self.drop(rearrange(h, "(b c) n d -> b c n d", b=B))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x * keep  # padded channels stay exactly zero
