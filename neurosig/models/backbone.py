"""Transformer backbone over a (channel, time-patch) token grid, for any montage.

token = (sum of per-level code embeddings | projection of the continuous tokenizer embedding)
        + 4D Fourier position (sensor x, y, z, time; learned channel embedding where unknown)
        + sensor-type embedding
Padded channels (``ch_mask`` False) are excluded from attention and stay zero in the output.
"""

from __future__ import annotations

import torch
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig.models.config import BackboneConfig
from neurosig.nn.attention import TokenGridBlock
from neurosig.nn.posenc import FourierPositionEncoding4D


class Backbone(nn.Module):
    """``forward(tokens|codes, pos, ch_type, ch_mask) -> hidden (B, C, N, d_model)``."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        if config.input == "codes":
            if not config.codebook_sizes:
                raise NeurosigError("BackboneConfig.codebook_sizes is empty; set it from the tokenizer (tokenizer.codebook_sizes).")
            self.code_embed = nn.ModuleList(nn.Embedding(k, d) for k in config.codebook_sizes)
            for e in self.code_embed:
                nn.init.normal_(e.weight, std=0.02)
        else:
            if config.embed_dim < 1:
                raise NeurosigError("BackboneConfig.embed_dim must be set (tokenizer.embed_dim) when input='embedding'.")
            self.in_proj = nn.Linear(config.embed_dim, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        nn.init.normal_(self.mask_token, std=0.02)
        self.type_embed = nn.Embedding(config.n_ch_types + 1, d)  # last row: padded channel (-1)
        nn.init.normal_(self.type_embed.weight, std=0.02)
        self.posenc = FourierPositionEncoding4D(d, n_freqs=config.pos_n_freqs, max_channels=config.max_channels)
        self.blocks = nn.ModuleList(
            TokenGridBlock(d, config.n_heads, config.attention, config.mlp_ratio, config.dropout, config.attention_impl)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(d)

    @property
    def n_levels(self) -> int:
        return len(self.config.codebook_sizes)

    def embed_tokens(self, inputs: torch.Tensor) -> torch.Tensor:
        """codes (B, C, N, L) int or tokens (B, C, N, D_tok) float -> (B, C, N, d_model)."""
        if inputs.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
            if self.config.input != "codes":
                raise NeurosigError("this backbone takes continuous tokens (input='embedding'); pass tokenizer.embed(...) output, not codes.")
            if inputs.ndim != 4 or inputs.shape[-1] != self.n_levels:
                raise NeurosigError(
                    f"codes must have shape (B, C, N, L={self.n_levels}), got {tuple(inputs.shape)}; the tokenizer does not match this model."
                )
            inputs = inputs.long()
            # checked outside training only (one host sync): a training step's codes come from the model's own
            # tokenizer, and load() already refuses a mismatched tokenizer; an out-of-range code from a Python caller
            # would otherwise be a raw IndexError (a device assert on CUDA)
            if not self.training and bool((inputs >= torch.tensor(self.config.codebook_sizes, device=inputs.device)).any()):
                top = [int(inputs[..., l].max()) for l in range(self.n_levels)]
                raise NeurosigError(
                    f"codes exceed the model's vocabulary: max code per level {top}, codebook_sizes {self.config.codebook_sizes}; "
                    "the tokenizer does not match this model (use the one it was trained with)."
                )
            return sum(emb(inputs[..., l].clamp(min=0)) for l, emb in enumerate(self.code_embed))  # (B, C, N, d)
        if self.config.input != "embedding":
            raise NeurosigError("this backbone takes integer codes (input='codes'); pass tokenizer.encode(...) output, not float embeddings.")
        if inputs.ndim != 4 or inputs.shape[-1] != self.config.embed_dim:
            raise NeurosigError(f"tokens must have shape (B, C, N, {self.config.embed_dim}), got {tuple(inputs.shape)}.")
        return self.in_proj(inputs)

    def forward(
        self,
        inputs: torch.Tensor,
        pos: torch.Tensor | None = None,
        ch_type: torch.Tensor | None = None,
        ch_mask: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        t0: int = 0,
    ) -> torch.Tensor:
        """Run the transformer.

        Args:
            inputs: codes (B, C, N, L) int64 or continuous tokens (B, C, N, D_tok).
            pos: (B, C, 3) sensor positions in metres, NaN where unknown (None = all unknown).
            ch_type: (B, C) int channel-type codes, -1 for padding (None = all EEG).
            ch_mask: (B, C) bool, True for real channels (None = all real).
            mask: (B, C, N) bool, True where the token is replaced by the [MASK] embedding.
            causal: block-causal over time (a token sees only its own and earlier time steps).
            t0: time index of the first patch (for continuing a sequence).
        Returns:
            hidden (B, C, N, d_model), exactly zero on padded channels.
        """
        if inputs.ndim != 4:
            raise NeurosigError(f"inputs must be 4-D (B, C, N, L|D), got shape {tuple(inputs.shape)}.")
        B, C, N = inputs.shape[:3]
        dev = inputs.device
        if ch_mask is None:
            ch_mask = torch.ones(B, C, dtype=torch.bool, device=dev)
        if ch_type is None:
            ch_type = torch.zeros(B, C, dtype=torch.long, device=dev)
        if tuple(ch_mask.shape) != (B, C) or tuple(ch_type.shape) != (B, C):
            raise NeurosigError(f"ch_mask and ch_type must have shape (B, C)=({B}, {C}), got {tuple(ch_mask.shape)} and {tuple(ch_type.shape)}.")
        if pos is not None and tuple(pos.shape) != (B, C, 3):
            raise NeurosigError(f"pos must have shape (B, C, 3)=({B}, {C}, 3), got {tuple(pos.shape)}; NaN marks unknown positions.")
        ch_mask = ch_mask.to(torch.bool)
        x = self.embed_tokens(inputs)  # (B, C, N, d)
        if mask is not None:
            x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x)
        t_idx = ch_type.long().clone()
        t_idx[(t_idx < 0) | (t_idx >= self.config.n_ch_types)] = self.config.n_ch_types  # padding/unknown row
        x = x + self.type_embed(t_idx)[:, :, None, :]  # (B, C, 1, d) broadcast over time
        if pos is None:
            pos = torch.full((B, C, 3), float("nan"), device=dev)
        x = x + self.posenc(pos.float(), N, t0=t0).to(x.dtype)  # (B, C, N, d)
        x = x * ch_mask[:, :, None, None].to(x.dtype)
        for blk in self.blocks:
            x = blk(x, ch_mask, causal=causal)
        return self.norm(x) * ch_mask[:, :, None, None].to(x.dtype)
