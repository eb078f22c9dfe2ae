"""Dispatcher: auto/torch/triton choice, the kernel_impl override, logging once, error messages."""

from __future__ import annotations

import importlib.util
import logging

import pytest
import torch

from neurosig import NeurosigError
from neurosig.kernels import ops

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def records(monkeypatch):
    monkeypatch.setattr(ops, "_LOGGED", set())
    h = _Records()
    logger = logging.getLogger("neurosig")
    logger.addHandler(h)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield h.messages
    logger.removeHandler(h)
    logger.setLevel(old)


def test_auto_on_cpu_is_the_reference_and_logged_once(records):
    x = torch.randn(2, 300)
    a = ops.stft_patches(x, 64, 32)
    b = ops.stft_patches(x, 64, 32, impl="torch")
    ops.stft_patches(x, 64, 32)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    msgs = [m for m in records if "stft_patches" in m]
    assert msgs == ["kernels: stft_patches uses the torch implementation (reference on cpu)"]


def test_auto_on_cuda_follows_the_benchmark_flag(monkeypatch):
    import neurosig.kernels.triton as kt

    cuda = torch.device("cuda")  # no tensor is created: _resolve only looks at the device type
    monkeypatch.setattr(ops, "_LOGGED", set())
    monkeypatch.setattr(kt, "INTERPRETED", False)  # as on a GPU machine (compiled kernels)
    for name in ("stft_patches", "rvq_search", "attention"):
        monkeypatch.setitem(ops.USE_TRITON_ON_CUDA, name, False)
        assert ops._resolve(name, "auto", cuda) == "torch"
        if ops.triton_available():
            monkeypatch.setitem(ops.USE_TRITON_ON_CUDA, name, True)
            assert ops._resolve(name, "auto", cuda) == "triton"
        assert ops._resolve(name, "torch", cuda) == "torch"


def test_unmeasured_kernels_stay_off():
    # Until a GPU benchmark shows a win (docs/kernels.md), auto must keep the reference.
    assert ops.USE_TRITON_ON_CUDA == {"stft_patches": False, "rvq_search": False, "attention": False}


@needs_triton
def test_kernel_impl_override(records):
    x = torch.randn(37, 8)
    cb = torch.randn(2, 20, 8)
    with ops.kernel_impl("triton"):
        codes, _ = ops.rvq_search(x, cb)  # auto -> triton inside the block
    assert any("rvq_search uses the triton implementation (kernel_impl override)" in m for m in records)
    codes_r, _ = ops.rvq_search(x, cb)  # auto -> torch again
    assert torch.equal(codes, codes_r)
    assert any("rvq_search uses the torch implementation" in m for m in records)
    with pytest.raises(NeurosigError, match="impl='gpu' is not supported"):
        with ops.kernel_impl("gpu"):
            pass


@needs_triton
def test_triton_on_cpu_without_interpreter_is_a_one_line_error(monkeypatch):
    import neurosig.kernels.triton as kt

    monkeypatch.setattr(kt, "INTERPRETED", False)
    with pytest.raises(NeurosigError, match="set TRITON_INTERPRET=1 before") as err:
        ops.attention(*torch.randn(3, 1, 1, 5, 16), impl="triton")
    assert "\n" not in str(err.value)


def test_triton_missing_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(ops, "triton_available", lambda: False)
    with pytest.raises(NeurosigError, match=r"pip install 'neurosig\[triton\]'"):
        ops.rvq_search(torch.randn(4, 3), torch.randn(1, 5, 3), impl="triton")


@needs_triton
def test_interpreter_is_never_used_on_cuda_tensors(monkeypatch):
    # With TRITON_INTERPRET=1 (as in this test session) a CUDA tensor would go through the CPU
    # interpreter: "auto" keeps the reference, an explicit "triton" is a one-line error (no CUDA
    # tensor is created: _resolve only looks at the device type).
    import neurosig.kernels.triton as kt

    monkeypatch.setattr(kt, "INTERPRETED", True)
    monkeypatch.setattr(ops, "_LOGGED", set())
    cuda = torch.device("cuda")
    for name in ("stft_patches", "rvq_search", "attention"):
        monkeypatch.setitem(ops.USE_TRITON_ON_CUDA, name, True)
        assert ops._resolve(name, "auto", cuda) == "torch"
        with pytest.raises(NeurosigError, match="TRITON_INTERPRET=1 was set") as err:
            ops._resolve(name, "triton", cuda)
        assert "\n" not in str(err.value)
    assert ("attention", "torch") in ops._LOGGED
