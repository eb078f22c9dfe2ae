"""Kernel tests run the Triton kernels on CPU through the Triton interpreter.

``TRITON_INTERPRET=1`` must be in the environment before the kernels are decorated by
``triton.jit`` (i.e. before ``neurosig.kernels.triton.*`` is first imported), so it is set here,
at collection time, before any test module imports them.
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"
