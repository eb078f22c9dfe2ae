"""neurosig.kernels: fused Triton ops (STFT patches, RVQ search, attention) with references.

Use the dispatchers in :mod:`neurosig.kernels.ops`; see docs/kernels.md.
"""

from neurosig.kernels.ops import (
    LOG_EPS,
    USE_TRITON_ON_CUDA,
    attention,
    codebook_stats,
    ema_update,
    kernel_impl,
    rvq_search,
    stft_patches,
    triton_available,
)

__all__ = [
    "LOG_EPS",
    "USE_TRITON_ON_CUDA",
    "attention",
    "codebook_stats",
    "ema_update",
    "kernel_impl",
    "rvq_search",
    "stft_patches",
    "triton_available",
]
