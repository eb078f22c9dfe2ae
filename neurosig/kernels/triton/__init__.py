"""Triton kernels (imported lazily by :mod:`neurosig.kernels.ops`; never import at package import).

``INTERPRETED`` records whether ``TRITON_INTERPRET=1`` was set when these kernels were first
imported: ``triton.jit`` decides at decoration time whether a kernel is compiled for the GPU or
run by the interpreter (the only way to run them on CPU tensors).
"""

from __future__ import annotations

import os

INTERPRETED: bool = os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")

# Precision of fp32 ``tl.dot`` in the STFT and RVQ kernels on a GPU: "tf32" (tensor cores, 10-bit
# mantissa: ~1e-3 relative error; needed to approach the bandwidth floor), "tf32x3" (three TF32
# passes, ~fp32 accuracy at 3x the tensor-core work) or "ieee" (CUDA cores). The interpreter
# always computes in fp32. Change it before the first call (it is a compile-time constant).
FP32_DOT_PRECISION: str = "tf32"
