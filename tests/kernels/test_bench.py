"""Kernel benchmark: what it times, what it compares, what it records, and its command line."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from neurosig.kernels import bench, ops

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed (pip install 'neurosig[triton]')")



@needs_triton
def test_interpreter_is_never_timed_on_cuda(monkeypatch):
    import neurosig.kernels.triton as kt

    monkeypatch.setattr(kt, "INTERPRETED", True)
    reason = bench._triton_skip_reason(torch.device("cuda"))  # no CUDA tensor is created
    assert reason is not None and "TRITON_INTERPRET=1" in reason
    monkeypatch.setattr(kt, "INTERPRETED", False)
    assert bench._triton_skip_reason(torch.device("cuda")) is None
    assert bench._triton_skip_reason(torch.device("cpu")) is not None


def test_json_records_interpreter_and_fp32_dot_precision(tmp_path, monkeypatch, load_script):
    import neurosig.kernels.triton as kt

    monkeypatch.setattr(kt, "FP32_DOT_PRECISION", "tf32x3")
    out = tmp_path / "bench.json"
    monkeypatch.setattr(bench, "bench_stft", lambda device, **kw: [])  # the keys, not the timings
    assert load_script("bench_kernels").main(["--device", "cpu", "--only", "stft", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["interpreted"] is kt.INTERPRETED
    assert res["fp32_dot_precision"] == "tf32x3"


class _DoubleGrad(torch.autograd.Function):
    """Identity forward, doubled gradient: a kernel whose forward is right and backward wrong."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return 2 * g


def test_fwd_bwd_error_covers_gradients(monkeypatch):
    real = ops.attention

    def fake(q, k, v, key_padding_mask=None, causal=False, impl="auto"):
        o = real(q, k, v, key_padding_mask=key_padding_mask, causal=causal, impl="torch")
        return _DoubleGrad.apply(o) if impl == "triton" else o

    monkeypatch.setattr(ops, "attention", fake)
    monkeypatch.setattr(bench, "_triton_skip_reason", lambda device: None)
    entries = bench.bench_attention(torch.device("cpu"), seqs=(20,), batch=1, heads=1, head_dim=16, warmup=0, iters=1)
    errs = {e["case"]: e["max_abs_err"] for e in entries}
    assert errs["fwd"] == errs["fwd padding"] == errs["fwd causal"] == 0.0
    assert errs["fwd+bwd padding"] > 0.1  # the gradients differ by a factor 2


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--device", "xyz"], "--device: expected cpu, cuda or cuda:N, got 'xyz'"),
        (["--device", "mps"], "--device: expected cpu, cuda or cuda:N, got 'mps'"),
        (["--only", "foo"], "--only: invalid choice: 'foo'"),
        (["--only"], "--only: expected at least one argument"),
    ],
)
def test_bad_command_line_is_a_one_line_error(argv, match, capsys, load_script):
    with pytest.raises(SystemExit) as exc:
        load_script("bench_kernels").main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and err.startswith("bench_kernels: error:")
