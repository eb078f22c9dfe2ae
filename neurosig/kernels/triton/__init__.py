"""Triton kernels (imported lazily by :mod:`neurosig.kernels.ops`; never import at package import).

``INTERPRETED`` records whether ``TRITON_INTERPRET=1`` was set when these kernels were first
imported: ``triton.jit`` decides at decoration time whether a kernel is compiled for the GPU or
run by the interpreter (the only way to run them on CPU tensors).
"""

from __future__ import annotations

import os

INTERPRETED: bool = os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")
