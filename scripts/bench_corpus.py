#!/usr/bin/env python
"""Corpus preprocessing throughput: files/s and samples/s with 1 and N worker processes.

Builds a synthetic folder corpus (``--files`` EDFs of ``--seconds`` s × ``--channels`` at
``--sfreq`` Hz, default 50 × 60 s × 19 ch × 250 Hz) and runs ``neurosig.datasets.build_store``
on it with ``jobs=1`` (the baseline) and ``jobs=N`` (``--jobs``, default 2), each into a fresh
store so nothing is cached. Optionally (``--ray``) the same with the Ray backend: its row
includes starting the private local Ray instance with ``--jobs`` CPUs inside ``build_store``,
as ``neurosig preprocess --backend ray`` pays it (``ray<N>_startup_s`` shows it). While each run goes, a sampler thread records the resident memory (RSS) of the
driver and of every worker process; the peak per worker shows that memory stays bounded
per file instead of growing with the corpus.

Output (``--json PATH``), flat keys:
  n_files, seconds_per_file, n_channels, sfreq, input_samples (channels × samples, all files),
  <mode>_seconds, <mode>_files_per_s, <mode>_samples_per_s, <mode>_windows,
  <mode>_peak_rss_worker_mb (largest worker), <mode>_peak_rss_driver_mb  for mode in
  jobs1, jobs<N> (and ray<N>), <mode>_steady_files_per_s (between the first and the last
  committed file: worker start-up left out), <mode>_startup_s (start → first committed file),
  scaling_ratio = jobs<N>_files_per_s / jobs1_files_per_s and steady_scaling_ratio (baseline:
  jobs=1 in the same run), <mode>_cpu_s (CPU seconds of driver + workers), <mode>_cores_used
  (cpu_s / seconds: the cores the run really got), cpu_count, load_avg_1min (other work on the machine skews the
  ratio), same_windows (every store, the Ray one included, holds the same data as jobs=1).

Usage: python scripts/bench_corpus.py --json bench_corpus.json [--files 50 --jobs 2 --ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "datasets"))


class RSSSampler:
    """Polls the RSS of this process and its descendants every ``interval`` seconds."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self.psutil = psutil
        self.interval = interval
        self.me = psutil.Process()
        self.peak: dict[int, int] = {}
        self.cpu: dict[int, float] = {}  # last seen user+system CPU seconds per process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            procs = [self.me]
            try:
                procs += self.me.children(recursive=True)
            except self.psutil.Error:
                pass
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    t = p.cpu_times()
                except self.psutil.Error:
                    continue
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss)
                self.cpu[p.pid] = t.user + t.system
            self._stop.wait(self.interval)

    def __enter__(self):
        t = self.me.cpu_times()
        self.cpu0 = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def cpu_seconds(self) -> float:
        """CPU seconds used by the driver and its workers during the run (sampled)."""
        return sum(self.cpu.values()) - self.cpu0

    def driver_mb(self) -> float:
        return self.peak.get(self.me.pid, 0) / 2**20

    def worker_mb(self) -> float:
        w = [v for k, v in self.peak.items() if k != self.me.pid]
        return (max(w) if w else self.peak.get(self.me.pid, 0)) / 2**20


def run_once(specs, out: Path, jobs: int, backend: str, config) -> dict:
    from neurosig.datasets import build_store

    if out.exists():
        shutil.rmtree(out)
    with RSSSampler() as rss:
        t0_wall = time.time()
        t0 = time.perf_counter()
        report = build_store(specs, out, config=config, jobs=jobs, backend=backend, on_error="raise")
        dt = time.perf_counter() - t0
    # steady state: files finished between the first and the last part commit (worker start-up
    # — a spawned process importing MNE/SciPy, or Ray starting — is left out)
    stamps = sorted(p.stat().st_mtime for p in (out / "parts").glob("*.json") if not p.name.startswith("."))
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 and stamps[-1] > stamps[0] else float("nan")
    return {"seconds": dt, "windows": int(report.n_windows), "peak_rss_worker_mb": rss.worker_mb(),
            "peak_rss_driver_mb": rss.driver_mb(), "failed": int(report.n_failed), "steady_files_per_s": steady,
            "startup_s": stamps[0] - t0_wall if stamps else float("nan"),
            # cores the run actually got: on a loaded machine this, not --jobs, bounds the speed-up
            "cpu_s": rss.cpu_seconds(), "cores_used": rss.cpu_seconds() / dt}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--channels", type=int, default=19)
    ap.add_argument("--sfreq", type=float, default=250.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also time the Ray backend (local instance)")
    ap.add_argument("--workdir", default=None, help="where the corpus and stores go (default: a temp dir)")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)
    if args.files < 1 or args.jobs < 1:
        ap.error("--files and --jobs must be >= 1")

    import miniatures
    import numpy as np

    from neurosig.datasets import ShardStore
    from neurosig.datasets.registry import get_adapter
    from neurosig.preprocessing import PipelineConfig

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_corpus_"))
    corpus = work / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    miniatures.make_synthetic_corpus(corpus, n_files=args.files, seconds=args.seconds, sfreq=args.sfreq,
                                     n_channels=args.channels)
    specs = get_adapter("folder").files(corpus)
    # positions none: the synthetic channel names are not 10-20 names
    config = PipelineConfig(positions="none", window={"length_s": 10.0})
    input_samples = args.files * args.channels * int(args.seconds * args.sfreq)
    res: dict = {"n_files": args.files, "seconds_per_file": args.seconds, "n_channels": args.channels,
                 "sfreq": args.sfreq, "input_samples": input_samples, "cpu_count": os.cpu_count(),
                 "jobs": args.jobs}
    modes = [("jobs1", 1, "process"), (f"jobs{args.jobs}", args.jobs, "process")]
    if args.ray:
        modes.append((f"ray{args.jobs}", args.jobs, "ray"))
    for mode, jobs, backend in modes:
        # Ray: build_store starts the private instance (jobs CPUs) inside the timed run, as the CLI does
        r = run_once(specs, work / f"store_{mode}", jobs, backend, config)
        if backend == "ray":
            import ray

            ray.shutdown()
        for k, v in r.items():
            res[f"{mode}_{k}"] = v
        res[f"{mode}_files_per_s"] = args.files / r["seconds"]
        res[f"{mode}_samples_per_s"] = input_samples / r["seconds"]
        print(f"{mode:>8}: {r['seconds']:.2f} s  {args.files / r['seconds']:.2f} files/s "
              f"(steady {r['steady_files_per_s']:.2f}, start-up {r['startup_s']:.1f} s)  "
              f"{input_samples / r['seconds'] / 1e6:.2f} M samples/s  peak RSS/worker {r['peak_rss_worker_mb']:.0f} MB  "
              f"CPU {r['cpu_s']:.1f} s ({r['cores_used']:.2f} cores used)",
              flush=True)
    res["scaling_ratio"] = res[f"jobs{args.jobs}_files_per_s"] / res["jobs1_files_per_s"]
    res["steady_scaling_ratio"] = res[f"jobs{args.jobs}_steady_files_per_s"] / res["jobs1_steady_files_per_s"]
    res["load_avg_1min"] = os.getloadavg()[0]
    def same(a, b) -> bool:
        return bool(len(a) == len(b) and all(
            np.array_equal(a[i]["x"], b[j]["x"])
            for i, j in zip(np.argsort(a.manifest["window_id"].to_numpy()), np.argsort(b.manifest["window_id"].to_numpy()))
        ))

    ref = ShardStore(work / "store_jobs1")
    res["same_windows"] = all(same(ref, ShardStore(work / f"store_{mode}")) for mode, _j, _b in modes[1:])
    print(f"scaling ratio (jobs={args.jobs} vs jobs=1): {res['scaling_ratio']:.2f} end to end, "
          f"{res['steady_scaling_ratio']:.2f} steady state; same windows: {res['same_windows']}; "
          f"load average {res['load_avg_1min']:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
