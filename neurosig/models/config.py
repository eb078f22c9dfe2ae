"""Config dataclasses of the backbone and the foundation model, with size presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from neurosig._utils.channels import CH_TYPES
from neurosig._utils.errors import NeurosigError

OBJECTIVES = ("masked", "next")
# the loss each objective adds to the total (FoundationModel.compute_losses); loss_weights keys must be among these
LOSS_KEYS = {"masked": "mlm/ce", "next": "next/ce"}
INPUT_KINDS = ("codes", "embedding")


@dataclass
class BackboneConfig:
    """Transformer over (channel, time-patch) tokens."""

    # width of every token; 256 gives ~6 M parameters at 6 factorised layers (the `base` preset)
    d_model: int = 256
    # transformer blocks; 6 factorised blocks = 12 attention layers
    n_layers: int = 6
    # attention heads; head dim 32-64 suits SDPA/FlashAttention kernels
    n_heads: int = 8
    # MLP hidden = mlp_ratio * d_model (the usual transformer ratio)
    mlp_ratio: float = 4.0
    # dropout in attention/MLP; 0 by default (pretraining data is not the bottleneck at this size)
    dropout: float = 0.0
    # "factorised" (channel attention per time step, then time attention per channel) scales to
    # long recordings as C*N*(C+N); "full" attends over all C*N tokens ((C*N)^2)
    attention: str = "factorised"
    # attention implementation passed to neurosig.nn.attention ("auto" = fused kernel if present, else SDPA)
    attention_impl: str = "auto"
    # "codes": token = sum of per-level code embeddings; "embedding": projection of the tokenizer's continuous embedding
    input: str = "codes"
    # vocabulary per RVQ level (filled from the tokenizer's codebook_sizes when left empty)
    codebook_sizes: list[int] = field(default_factory=list)
    # the tokenizer's embed_dim (needed for input="embedding"; filled from the tokenizer when 0)
    embed_dim: int = 0
    # channel-type vocabulary size (neurosig._utils.channels.CH_TYPES)
    n_ch_types: int = len(CH_TYPES)
    # Fourier wavelengths per coordinate in the 4D position encoding
    pos_n_freqs: int = 16
    # rows of the position-free channel embedding used when positions are unknown
    max_channels: int = 512

    def __post_init__(self):
        for name in ("d_model", "n_layers", "n_heads", "pos_n_freqs", "max_channels", "n_ch_types"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise NeurosigError(f"BackboneConfig.{name} must be a positive integer, got {v!r}.")
        if self.d_model % self.n_heads:
            raise NeurosigError(f"BackboneConfig.d_model={self.d_model} must be divisible by n_heads={self.n_heads}; change one of them.")
        if self.attention not in ("full", "factorised"):
            raise NeurosigError(f"BackboneConfig.attention={self.attention!r} is not supported; choose 'full' or 'factorised'.")
        if self.input not in INPUT_KINDS:
            raise NeurosigError(f"BackboneConfig.input={self.input!r} is not supported; choose one of {', '.join(INPUT_KINDS)}.")
        if not 0.0 <= self.dropout < 1.0:
            raise NeurosigError(f"BackboneConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        self.codebook_sizes = [int(k) for k in self.codebook_sizes]
        if any(k < 2 for k in self.codebook_sizes):
            raise NeurosigError(f"BackboneConfig.codebook_sizes must all be >= 2, got {self.codebook_sizes}.")


PRESETS: dict[str, dict] = {
    # tests and quick CPU runs (~30 k parameters + embeddings)
    "tiny": dict(d_model=32, n_layers=2, n_heads=2, mlp_ratio=2.0),
    # CPU-sized pretraining runs
    "small": dict(d_model=128, n_layers=4, n_heads=4),
    # ~6 M parameters (factorised) - the "base"
    "base": dict(d_model=256, n_layers=6, n_heads=8),
    # GPU-sized (~50 M parameters)
    "large": dict(d_model=512, n_layers=12, n_heads=8),
}


def backbone_preset(name: str, **overrides) -> BackboneConfig:
    """A :class:`BackboneConfig` from a preset name with keyword overrides."""
    if name not in PRESETS:
        raise NeurosigError(f"model preset {name!r} is unknown; choose one of {', '.join(PRESETS)}.")
    from neurosig.config import from_dict  # unknown or mistyped overrides: a one-line error naming the key

    return from_dict(BackboneConfig, {**PRESETS[name], **overrides}, where="model.backbone")


@dataclass
class FoundationConfig:
    """Backbone plus pretraining objectives over the tokenizer's vocabulary."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    # objectives trained together (each a separate forward pass over the same backbone)
    objectives: list[str] = field(default_factory=lambda: ["masked"])
    # loss weights keyed like the loss dict (mlm/ce, next/ce): the total is one weighted sum
    loss_weights: dict[str, float] = field(default_factory=lambda: {"mlm/ce": 1.0, "next/ce": 1.0})
    # fraction of each channel's patches masked (LaBraM/TFM-Tokenizer use 0.5)
    mask_ratio: float = 0.5
    # masked patches come in runs of this many consecutive time patches (block masking)
    mask_block: int = 2
    # also train on the complementary mask (LaBraM's symmetric masking): every patch is a target once
    symmetric_mask: bool = True
    # duration of one token in seconds (tokenizer patch_len / sfreq); informative, used by generate plots
    patch_seconds: float = 1.0

    def __post_init__(self):
        if isinstance(self.backbone, dict):
            self.backbone = BackboneConfig(**self.backbone)
        self.objectives = list(self.objectives)
        if not self.objectives:
            raise NeurosigError("FoundationConfig.objectives is empty; choose 'masked', 'next' or both.")
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise NeurosigError(f"FoundationConfig.objectives has {o!r}; choose from {', '.join(OBJECTIVES)}.")
        if not 0.0 < self.mask_ratio < 1.0:
            raise NeurosigError(f"FoundationConfig.mask_ratio must be in (0, 1), got {self.mask_ratio!r}; 0.5 is the usual value.")
        if not isinstance(self.mask_block, int) or self.mask_block < 1:
            raise NeurosigError(f"FoundationConfig.mask_block must be an integer >= 1, got {self.mask_block!r}.")
        if not isinstance(self.loss_weights, dict):
            raise NeurosigError(f"FoundationConfig.loss_weights must be a mapping like {{'mlm/ce': 1.0}}, got {self.loss_weights!r}.")
        unknown = sorted(str(k) for k in self.loss_weights if k not in LOSS_KEYS.values())
        if unknown:
            raise NeurosigError(f"model.loss_weights: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(LOSS_KEYS.values())}.")
        try:
            self.loss_weights = {str(k): float(v) for k, v in self.loss_weights.items()}
        except (TypeError, ValueError):
            raise NeurosigError(f"model.loss_weights values must be numbers, got {self.loss_weights!r}.") from None


def foundation_config(preset: str = "tiny", *, codebook_sizes=None, embed_dim: int = 0, backbone: dict | None = None, **kwargs) -> FoundationConfig:
    """Convenience builder: preset + tokenizer vocabulary + objective options."""
    bb = backbone_preset(preset, **(backbone or {}))
    if codebook_sizes is not None:
        bb = dataclasses.replace(bb, codebook_sizes=list(codebook_sizes))
    if embed_dim:
        bb = dataclasses.replace(bb, embed_dim=int(embed_dim))
    return FoundationConfig(backbone=bb, **kwargs)
