#!/usr/bin/env python
"""torch speed after the MiniRocket peer: numba on OpenMP (the old default) vs numba's workqueue layer.

``neurosig bench real`` runs torch (tokenizer, pretraining, token features) and, per seed, aeon's
MiniRocket (numba) in one process. With numba's default OpenMP layer, once ``torch.set_num_threads``
has been called and a numba parallel region has run, every later torch op in the process is many
times slower: the session-6 benchmark pretrained seeds 1 and 2 about 5x slower than seed 0.
``neurosig.evaluation.benchmark.minirocket`` now chooses numba's ``workqueue`` layer unless the user
set ``NUMBA_THREADING_LAYER``.

Each mode runs in a fresh interpreter, on the bundled FingerMovements set (``neurosig data fetch
FingerMovements``): ``torch.set_num_threads(torch.get_num_threads())`` (as the benchmark does), the
benchmark's tokenizer (20 steps), its pretraining for ``--steps`` steps (``before_s``), the peer on
FingerMovements' split, then the same pretraining again (``after_s``). (Smaller torch loops, e.g. the
tokenizer's fit alone, did not show the clash on this machine; the pretraining does.) Modes: ``omp`` (``NUMBA_THREADING_LAYER=omp``: the behaviour before the fix, the
baseline) and ``default`` (the variable unset: the fix chooses workqueue).

Output (``--json PATH``): ``{MODE: {"layer", "before_s", "after_s", "slowdown" (after / before),
"peer_s"}, "speedup_after_peer": omp.after_s / default.after_s, "cpu_count", "load_avg_1min"}``.

Usage: python scripts/bench_peer_threads.py --json runs/bench_peer_threads.json [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(torch.get_num_threads())  # as neurosig bench real does
from neurosig.cli.bench import _fit_tokenizer, _pool_items, _pretrain, bench_config
from neurosig.evaluation.benchmark import load_bench_set, pretraining_pool, run_peer
steps = int(sys.argv[1])
cfg = bench_config()
s = load_bench_set("FingerMovements")
items = _pool_items(pretraining_pool([s], []), cfg["model_rate_hz"], cfg["crop_patches"], cfg["tokenizer"]["config"]["patch_len"])
tok = _fit_tokenizer(items, 20, 0, cfg, False)
def work(tmp, tag):
    t = time.perf_counter()
    _pretrain(items, tok, steps, 0, cfg, Path(tmp) / tag, False)
    return time.perf_counter() - t
with tempfile.TemporaryDirectory() as tmp:  # the pretrained checkpoints are not kept
    before = work(tmp, "before")
    t = time.perf_counter()
    run_peer(s, 0)
    peer = time.perf_counter() - t
    after = work(tmp, "after")
import numba
print(json.dumps({"layer": numba.threading_layer(), "before_s": before, "after_s": after,
                  "slowdown": after / before, "peer_s": peer}))
"""


def run_mode(mode: str, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if mode == "omp":
        env["NUMBA_THREADING_LAYER"] = "omp"
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"bench_peer_threads: mode {mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100, help="pretraining steps per timing (default 100)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    t0 = time.time()
    res = {m: run_mode(m, a.steps) for m in ("omp", "default")}
    res["speedup_after_peer"] = res["omp"]["after_s"] / res["default"]["after_s"]
    res.update(cpu_count=os.cpu_count(), load_avg_1min=os.getloadavg()[0], seconds=time.time() - t0)
    text = json.dumps(res, indent=1)
    print(text)
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
