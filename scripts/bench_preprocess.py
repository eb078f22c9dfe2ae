#!/usr/bin/env python
"""Benchmark: neurosig's chunked preprocessing vs plain MNE on the same synthetic EDF, same run.

Peak RSS is the child's ``VmHWM`` (``ru_maxrss`` survives ``exec`` on Linux and would report
the parent's peak). Synthesizes a 23-channel 256 Hz EEG-like EDF (``--hours``, default 24) and measures, each in its
own single-threaded subprocess (peak RSS from ``getrusage`` of that process):

* neurosig: ``build_store`` with the default pipeline (0.1-75 Hz FIR, 50 Hz notch, 200 Hz,
  µV, 10 s windows → float32 shards + manifest) — read → filter → resample → window → shard;
* MNE: ``read_raw(preload=True)`` + ``filter(0.1, 75)`` + ``notch_filter(50)`` + ``resample(200)``
  on the whole file (no windowing, no writing).

Throughput is input samples (channels × time points) per second of the process's CPU time
(user + sys, = per core: both run on one thread) and per wall second. Whole-file MNE needs
~8 bytes per sample plus copies, so it runs on a ``--mne-hours`` excerpt (default 2 h) and
neurosig runs on the same excerpt for the ratio; the full ``--hours`` file is run by
neurosig alone for the memory figure. The outputs are compared sample by sample (relative RMS
difference, µV) so the speed ratio is at equal output.

    python scripts/bench_preprocess.py --json bench_preprocess.json [--hours 24] [--mne-hours 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_NEUROSIG = r"""
import json, resource, sys, time, os
t0 = time.perf_counter(); c0 = time.process_time()
from neurosig.datasets import build_store
rep = build_store([sys.argv[1]], sys.argv[2], config={"notch": 50.0}, progress=False)
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
ru = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")] if os.path.exists("/proc/self/status") else []
peak = int(hwm[0].split()[1]) / 1024 if hwm else ru.ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": peak, "n_windows": rep.n_windows}))
"""

CHILD_MNE = r"""
import json, os, resource, sys, time
import numpy as np
t0 = time.perf_counter()
import mne
raw = mne.io.read_raw(sys.argv[1], preload=True, verbose="error")
raw.filter(0.1, 75.0, verbose="error")
raw.notch_filter([50.0], verbose="error")
raw.resample(200.0, verbose="error")
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")] if os.path.exists("/proc/self/status") else []
peak = int(hwm[0].split()[1]) / 1024 if hwm else ru.ru_maxrss / 1024
if len(sys.argv) > 2:
    np.save(sys.argv[2], (raw.get_data() * 1e6).astype(np.float32))
print(json.dumps({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": peak}))
"""


def _run(code: str, *args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare(store_dir: str, mne_npy: str) -> dict:
    import numpy as np

    from neurosig.datasets import ShardStore

    s = ShardStore(store_dir)
    order = np.argsort(s.manifest.start_s.to_numpy())
    ours = np.concatenate([s[int(i)]["x"] for i in order], axis=1)  # (C, n_windows * T)
    ref = np.load(mne_npy)[:, : ours.shape[1]]
    # MNE runs without clipping: compare where neither output is clipped (synthetic data is not)
    d = ours - ref
    inner = d[:, 2000:-2000]  # 10 s from each file edge: MNE's FFT resampling wraps the edges around
    return {
        "rel_rms_diff": float(np.sqrt(np.mean(d**2)) / np.sqrt(np.mean(ref**2))),
        "max_abs_diff_uV": float(np.abs(d).max()),
        "interior_max_abs_diff_uV": float(np.abs(inner).max()),
        "signal_rms_uV": float(np.sqrt(np.mean(ref**2))),
        "compared_samples": int(ours.size),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="PATH", required=True, help="write the results here")
    ap.add_argument("--hours", type=float, default=24.0, help="length of the big file (neurosig only), hours")
    ap.add_argument("--mne-hours", type=float, default=2.0, help="length of the file both run on (ratio), hours")
    ap.add_argument("--workdir", help="where to write the EDFs and stores (default: a temp folder, removed)")
    args = ap.parse_args(argv)

    from neurosig.io.synthetic import write_synthetic_edf

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ns-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"channels": 23, "sfreq": 256.0, "hours": args.hours, "mne_hours": args.mne_hours, "threads": 1,
                 "pipeline": "0.1-75 Hz FIR + 50 Hz notch + resample 200 Hz (+ neurosig: uV, 10 s windows, shards)",
                 "baseline": "mne read_raw(preload) + filter(0.1, 75) + notch_filter(50) + resample(200, fft), whole file",
                 "cpu_count": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0]}
    try:
        small = work / "small.edf"
        t = time.perf_counter()
        write_synthetic_edf(small, seconds=args.mne_hours * 3600)
        n_small = 23 * int(args.mne_hours * 3600 * 256)
        mne_r = _run(CHILD_MNE, str(small), str(work / "mne.npy"))
        ns_r = _run(CHILD_NEUROSIG, str(small), str(work / "store_small"))
        res["equal_output"] = _compare(str(work / "store_small"), str(work / "mne.npy"))
        res.update({
            "mne_wall_s": mne_r["wall_s"], "mne_cpu_s": mne_r["cpu_s"], "mne_peak_rss_mb": mne_r["peak_rss_mb"],
            "mne_samples_per_s_per_core": n_small / mne_r["cpu_s"],
            "neurosig_small_wall_s": ns_r["wall_s"], "neurosig_small_cpu_s": ns_r["cpu_s"], "neurosig_small_peak_rss_mb": ns_r["peak_rss_mb"],
            "neurosig_samples_per_s_per_core": n_small / ns_r["cpu_s"],
            "speed_ratio_cpu": mne_r["cpu_s"] / ns_r["cpu_s"],
            "speed_ratio_wall": mne_r["wall_s"] / ns_r["wall_s"],
            "rss_ratio": mne_r["peak_rss_mb"] / ns_r["peak_rss_mb"],
        })
        print(json.dumps(res, indent=2), flush=True)
        small.unlink()
        shutil.rmtree(work / "store_small", ignore_errors=True)
        (work / "mne.npy").unlink()
        if args.hours > 0:
            big = work / "big.edf"
            t = time.perf_counter()
            expected = 256 * (23 + 1) + int(args.hours * 3600) * 23 * 256 * 2  # header + int16 samples
            reused = big.exists() and big.stat().st_size == expected  # --workdir: reuse the file of a previous run
            if not reused:
                write_synthetic_edf(big, seconds=args.hours * 3600)
            res["big_file_reused"] = bool(reused)
            res["synth_big_s"] = time.perf_counter() - t
            res["big_file_gb"] = big.stat().st_size / 1e9
            n_big = 23 * int(args.hours * 3600 * 256)
            shutil.rmtree(work / "store_big", ignore_errors=True)
            big_r = _run(CHILD_NEUROSIG, str(big), str(work / "store_big"))
            res.update({
                "neurosig_big_wall_s": big_r["wall_s"], "neurosig_big_cpu_s": big_r["cpu_s"],
                "neurosig_big_peak_rss_mb": big_r["peak_rss_mb"], "neurosig_big_windows": big_r["n_windows"],
                "neurosig_big_samples_per_s_per_core": n_big / big_r["cpu_s"],
                "big_rss_under_1_5_gb": big_r["peak_rss_mb"] < 1536,
            })
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    Path(args.json).write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
