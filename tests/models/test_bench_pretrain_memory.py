"""scripts/bench_pretrain.py measures CPU peak memory from the tensors a step allocates (the
profiler's memory timeline), not from resident-set sizes, so the figure is exact and repeatable."""

from __future__ import annotations


import torch



def test_cpu_peak_is_the_most_tensor_memory_live_at_once(load_script):
    bench = load_script("bench_pretrain")
    before = torch.ones(4 << 20)  # 16 MiB live before the step: not counted

    def step():
        a = torch.ones(1 << 20)  # 4 MiB
        b = torch.ones(2 << 20)  # 8 MiB: 12 MiB live together
        del a
        c = torch.ones(1 << 20)  # 8 + 4 = 12 MiB again, never more
        del b, c

    assert bench.cpu_peak_bytes(step) == 12 << 20
    assert bench.cpu_peak_bytes(step) == 12 << 20  # deterministic
    assert before.numel() == 4 << 20
