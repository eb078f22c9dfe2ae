"""Typed configs of the probe commands (``configs/probe/*.yaml`` sections).

A probe YAML has one mapping per command: ``tagging``, ``encoding``, ``rsa``, ``axes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neurosig._utils.errors import NeurosigError
from neurosig.probes.tagging import TaggingConfig

SECTIONS = {"tagging": "TaggingConfig", "encoding": "EncodingConfig", "rsa": "RSAConfig", "axes": "AxesConfig"}


def _logspace() -> list:
    return [10.0**k for k in range(-2, 7)]


@dataclass
class EncodingConfig:
    """Ridge encoding model settings."""

    alphas: list = field(default_factory=_logspace)  # penalties 1e-2..1e6: spans under- to over-regularised for z-scored features
    n_folds: int = 5  # contiguous outer folds; 5 keeps >= 80% of the data for fitting
    inner_folds: int = 4  # contiguous inner folds choosing each target's penalty
    fold_kind: str = "contiguous"  # "contiguous" blocks or "run" (leave-one-run-out)
    lags_s: list = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4])  # TRF lags for EEG/MEG: 0-400 ms covers N400-range responses
    word_rate_hz: float = 4.0  # word presentation rate used to place word features in time (tagging rate)
    backend: str = "torch"  # "torch" (GPU when available) or "numpy"; results are equal
    pca_dims: int = 64  # layer features reduced by PCA before lagging (keeps the fMRI run p << n)

    def __post_init__(self):
        if not self.alphas or any((not isinstance(a, (int, float))) or a <= 0 for a in self.alphas):
            raise NeurosigError(f"encoding.alphas must be a non-empty list of positive numbers, got {self.alphas!r}")
        for name in ("n_folds", "inner_folds", "pca_dims"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 2:
                raise NeurosigError(f"encoding.{name} must be an integer >= 2, got {v!r}")
        if self.fold_kind not in ("contiguous", "run"):
            raise NeurosigError(f"encoding.fold_kind={self.fold_kind!r} is not supported; choose 'contiguous' or 'run'")
        if self.backend not in ("torch", "numpy"):
            raise NeurosigError(f"encoding.backend={self.backend!r} is not supported; choose 'torch' or 'numpy'")
        if any(l < 0 for l in self.lags_s):
            raise NeurosigError(f"encoding.lags_s must be >= 0 (causal lags), got {self.lags_s!r}")


@dataclass
class RSAConfig:
    """RSA settings."""

    rdm: str = "correlation"  # 1 - Pearson r: the usual RDM for LLM and fMRI patterns
    compare: str = "spearman"  # rank correlation: robust to monotone distortions between RDMs
    n_folds: int = 2  # crossnobis folds (split of the repeats)
    layers_every: int = 1  # analyse every k-th layer

    def __post_init__(self):
        if self.rdm not in ("correlation", "euclidean", "crossnobis"):
            raise NeurosigError(f"rsa.rdm={self.rdm!r} is not supported; choose correlation, euclidean or crossnobis")
        if self.compare not in ("spearman", "kendall_tau_a", "cosine", "whitened_cosine"):
            raise NeurosigError(f"rsa.compare={self.compare!r} is not supported; choose spearman, kendall_tau_a, cosine or whitened_cosine")
        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise NeurosigError(f"rsa.n_folds must be an integer >= 2 (crossnobis partitions of the repeats), got {self.n_folds!r}")
        if not isinstance(self.layers_every, int) or self.layers_every < 1:
            raise NeurosigError(f"rsa.layers_every must be a positive integer, got {self.layers_every!r}")


@dataclass
class AxesConfig:
    """Brain-grounded axes settings."""

    n_axes: int = 4  # ICA components: few, interpretable axes
    bands: list = field(default_factory=lambda: [[4.0, 8.0], [8.0, 13.0], [13.0, 30.0]])  # theta, alpha, beta PLV bands
    layer: int = -1  # residual layer read and steered; -1 = middle layer (mid layers steer best)
    adapter_alpha: float = 10.0  # ridge penalty of the hidden-state -> axis adapter
    scales: list = field(default_factory=lambda: [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0])  # steering strength in units of the layer's median residual norm; |1| already breaks fluency
    n_prompts: int = 8  # prompts per scale
    max_new_tokens: int = 24  # generated tokens per prompt
    seed: int = 0  # ICA, random-direction control and sampling

    def __post_init__(self):
        if not isinstance(self.n_axes, int) or self.n_axes < 1:
            raise NeurosigError(f"axes.n_axes must be a positive integer, got {self.n_axes!r}")
        for b in self.bands:
            if len(b) != 2 or not 0 < b[0] < b[1]:
                raise NeurosigError(f"axes.bands entries must be [low, high] with 0 < low < high, got {b!r}")
        if self.adapter_alpha <= 0:
            raise NeurosigError(f"axes.adapter_alpha must be > 0, got {self.adapter_alpha!r}")
