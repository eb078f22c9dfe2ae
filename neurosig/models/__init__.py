"""neurosig.models: transformer backbone over (channel, time-patch) tokens and pretraining objectives.

Public API::

    from neurosig.models import Backbone, BackboneConfig, FoundationModel, FoundationConfig
    cfg = foundation_config("base", codebook_sizes=tok.codebook_sizes, objectives=["masked"])
    model = FoundationModel(cfg)
    hidden, token_mask = model.embed(batch, tok)         # (B, C, N, d), (B, C, N)
    model.save_pretrained(dir, tokenizer=tok); model, tok = FoundationModel.load(dir)
"""

from neurosig.models.backbone import Backbone
from neurosig.models.config import (
    PRESETS,
    BackboneConfig,
    FoundationConfig,
    backbone_preset,
    foundation_config,
)
from neurosig.models.foundation import FoundationModel, load_any_tokenizer, pretrained_sfreq, tokenize_batch
from neurosig.models.objectives import block_time_mask, unigram_entropy, unigram_from_counts

MODEL_REGISTRY = {"foundation": FoundationModel}

__all__ = [
    "Backbone",
    "BackboneConfig",
    "FoundationConfig",
    "FoundationModel",
    "MODEL_REGISTRY",
    "PRESETS",
    "backbone_preset",
    "block_time_mask",
    "foundation_config",
    "load_any_tokenizer",
    "pretrained_sfreq",
    "tokenize_batch",
    "unigram_entropy",
    "unigram_from_counts",
]
