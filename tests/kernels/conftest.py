"""Kernel tests run the Triton kernels on CPU through the Triton interpreter.

``TRITON_INTERPRET=1`` must be in the environment before the kernels are decorated by
``triton.jit`` (i.e. before ``neurosig.kernels.triton.*`` is first imported), so it is set here,
at collection time, before any test module imports them.

On a GPU machine, ``NEUROSIG_KERNELS_COMPILED=1 pytest -m gpu tests/kernels`` leaves the
interpreter off so that ``test_gpu.py`` runs the compiled kernels on CUDA.
"""

from __future__ import annotations

import os

if os.environ.get("NEUROSIG_KERNELS_COMPILED", "0") != "1":
    os.environ["TRITON_INTERPRET"] = "1"
