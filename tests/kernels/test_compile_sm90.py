"""Every kernel variant compiles for an H100 (sm_90) with Triton's compiler and bundled ptxas.

No GPU is needed, but it takes minutes on a small CPU: marked slow (run with ``-m slow``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")
def test_all_kernels_compile_for_sm90_within_shared_memory():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # compiled JIT, not the interpreter
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "neurosig.kernels.triton.compile_check", "--quick"],
        capture_output=True, text=True, env=env, timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "0 failed or over the shared-memory limit" in out.stdout
