"""build_store under failure: a worker process that dies, interruption, a second build into
the same store, relative paths sent to workers, file permissions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from neurosig import NeurosigError
from neurosig.datasets import ShardStore, build_store
from neurosig.io.synthetic import synthetic_eeg, write_edf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crashhook  # noqa: E402

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 2.0}, chunk_s=10.0)


def _edf(path: Path, seed: int = 0, seconds: int = 10) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_edf(path, ["Fp1", "Cz", "O2"], 100.0, seconds, synthetic_eeg(3, 100 * seconds, 100.0, seed=seed))


def _corpus(d: Path, names) -> list[str]:
    return [_edf(d / n, seed=i) for i, n in enumerate(names)]


@pytest.fixture()
def crashing_workers(tmp_path, monkeypatch):
    for k, v in crashhook.install(tmp_path / "hook").items():
        monkeypatch.setenv(k, v)


def test_worker_crash_is_a_failed_file_and_the_rest_finish(tmp_path, crashing_workers):
    files = _corpus(tmp_path / "in", ["sub-00.edf", "sub-01.edf", "sub-02_crash.edf", "sub-03.edf", "sub-04.edf"])
    out = tmp_path / "st"
    rep = build_store(files, out, config=CFG, jobs=2, on_error="warn", progress=False)
    assert (rep.n_processed, rep.n_failed) == (4, 1)
    assert [Path(e["source"]).name for e in rep.errors] == ["sub-02_crash.edf"]
    assert "worker process exited with code 137" in rep.errors[0]["error"] and "\n" not in rep.errors[0]["error"]
    errs = ShardStore(out).errors()
    assert len(errs) == 1 and errs.source[0].endswith("sub-02_crash.edf")
    m = ShardStore(out).manifest
    assert sorted(Path(s).name for s in set(m.source)) == ["sub-00.edf", "sub-01.edf", "sub-03.edf", "sub-04.edf"]
    # a rerun is not stuck: the four are cached, the crashing file fails again the same way
    rep = build_store(files, out, config=CFG, jobs=2, on_error="skip", progress=False)
    assert (rep.n_cached, rep.n_failed, rep.n_processed) == (4, 1, 0)


def test_worker_crash_under_raise_names_the_file(tmp_path, crashing_workers):
    files = _corpus(tmp_path / "in", ["sub-00.edf", "sub-01.edf", "sub-02_crash.edf", "sub-03.edf"])
    out = tmp_path / "st"
    with pytest.raises(NeurosigError) as ei:
        build_store(files, out, config=CFG, jobs=2, on_error="raise", progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and "sub-02_crash.edf: the worker process" in msg
    assert ShardStore(out).errors().source.str.endswith("sub-02_crash.edf").tolist() == [True]
    done = {Path(s).name for s in set(ShardStore(out).manifest.source)}
    assert {"sub-00.edf", "sub-01.edf"} <= done and "sub-02_crash.edf" not in done  # finished parts kept


def test_relative_out_and_inputs_are_sent_to_workers_absolute(tmp_path, monkeypatch):
    """A Ray worker on another node runs in its own working directory: what it gets must not
    depend on the driver's. The worker here runs in another directory; the old code wrote the
    parts there (or did not find the inputs) and reported success."""
    import neurosig.datasets.build as b
    from neurosig.datasets import FileSpec, process_file

    cwd = tmp_path / "sub-zz"  # a folder above the typed paths named like a BIDS subject
    _corpus(cwd / "in", ["a.edf", "b.edf"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(cwd)
    seen = []
    orig = b._run_process

    def in_another_cwd(tasks, *args):
        seen.extend(tasks)
        monkeypatch.chdir(elsewhere)
        yield from orig(tasks, *args)

    monkeypatch.setattr(b, "_run_process", in_another_cwd)
    rep = build_store(["in"], "st", config=CFG, progress=False)
    assert rep.n_failed == 0 and rep.n_processed == 2
    assert all(Path(s.path).is_absolute() and Path(o).is_absolute() for s, _c, o in seen)
    assert not (elsewhere / "st").exists()
    m = ShardStore(cwd / "st").manifest
    assert len(m) == 10 and sorted(set(m.subject)) == ["a", "b"]  # from the typed path, as before (not "zz")
    # the same part keys and sources as a worker given the typed relative paths in the driver's directory
    monkeypatch.chdir(cwd)
    ref = sorted((r.key, r.source) for r in (process_file(FileSpec(p), CFG, "ref") for p in ["in/a.edf", "in/b.edf"]))
    assert sorted(set(zip(m.part, m.source))) == ref
    # absolute inputs: unchanged (no subject_path, the file's own path)
    specs = [b._absolute(FileSpec(str(cwd / "in" / "a.edf")))]
    assert specs[0].subject_path is None and specs[0].path == str(cwd / "in" / "a.edf")


def test_sigterm_stops_the_workers_and_keeps_finished_parts(tmp_path, crashing_workers, monkeypatch):
    """SIGTERM to the driver of a jobs=2 build: the old code died at once and left the spawned
    workers running, committing parts into the store after the driver was gone."""
    import os
    import signal
    import subprocess
    import textwrap
    import time

    psutil = pytest.importorskip("psutil")
    files = _corpus(tmp_path / "in", [f"f{i}slow.edf" for i in range(6)])
    out = tmp_path / "st"
    monkeypatch.setenv("NEUROSIG_TEST_SLOW", "3")
    script = textwrap.dedent(f"""
        from neurosig.datasets import build_store
        if __name__ == "__main__":
            build_store({files!r}, {str(out)!r}, config={CFG!r}, jobs=2, progress=False)
    """)
    (tmp_path / "drv.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "drv.py")], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    t0 = time.time()
    while not (list((out / "parts").glob("*.json")) if (out / "parts").exists() else []) and time.time() - t0 < 120:
        time.sleep(0.05)  # until the first file is committed; two more are in flight
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert workers, "the pool should be running"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "interrupted" in err and "KeyboardInterrupt" in err
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers left running after the driver exited: {alive}"
    n = len(list((out / "parts").glob("*.json")))
    assert 1 <= n < 6
    time.sleep(3.5)  # longer than one slow file: nothing is written any more
    assert len(list((out / "parts").glob("*.json"))) == n
    assert len(ShardStore(out)) == 5 * n  # the manifest covers the finished parts
    assert len(__import__("pandas").read_csv(out / "manifest.csv")) == 5 * n


def test_sigterm_handler_only_during_the_build_and_only_in_the_main_thread(tmp_path):
    import signal
    import threading

    files = _corpus(tmp_path / "in", ["a.edf"])
    before = signal.getsignal(signal.SIGTERM)
    seen = []
    import neurosig.datasets.build as b

    orig = b.run_one

    def spy(*a):
        seen.append(signal.getsignal(signal.SIGTERM))
        return orig(*a)

    b.run_one = spy
    try:
        build_store(files, tmp_path / "st", config=CFG, progress=False)
        assert seen and seen[0] is not before and callable(seen[0])
        assert signal.getsignal(signal.SIGTERM) is before
        errs = []
        th = threading.Thread(target=lambda: errs.append(build_store(files, tmp_path / "st2", config=CFG, progress=False)))
        th.start()
        th.join(60)
        assert errs and errs[0].n_processed == 1  # no "signal only works in main thread" error
    finally:
        b.run_one = orig


def test_second_build_into_the_same_store_is_refused(tmp_path):
    """Another build holds out/.lock: the old code went on and deleted its .tmp shards."""
    import fcntl
    import os

    files = _corpus(tmp_path / "in", ["a.edf", "b.edf"])
    out = tmp_path / "st"
    build_store(files[:1], out, config=CFG, progress=False)
    assert (out / ".lock").exists()
    fd = os.open(out / ".lock", os.O_RDWR)  # a build in another process: lock held, a .tmp shard in progress
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    tmp = out / "shards" / ".tmp-abc-00000-1.npy"
    tmp.write_bytes(b"x")
    try:
        with pytest.raises(NeurosigError) as ei:
            build_store(files, out, config=CFG, progress=False)
        msg = str(ei.value)
        assert "\n" not in msg and f"store {str(out)!r} is being built by another process" in msg and "--out" in msg
        assert tmp.exists()  # the other build's unfinished shard is left alone
    finally:
        os.close(fd)
    tmp.unlink()
    rep = build_store(files, out, config=CFG, progress=False)  # released: builds again
    assert (rep.n_cached, rep.n_processed) == (1, 1)
    fd = os.open(out / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the build released it on return
    os.close(fd)
    s = ShardStore(out)  # the lock file is not part of the store
    assert len(s) == 10 and set(s.manifest.part) == {p.stem for p in (out / "parts").glob("*.json")}


def test_store_files_share_the_shards_permissions(tmp_path):
    import os
    import stat

    files = _corpus(tmp_path / "in", ["a.edf"])
    old = os.umask(0o022)
    try:
        build_store(files, tmp_path / "st", config=CFG, progress=False)
    finally:
        os.umask(old)
    st = tmp_path / "st"
    modes = {p.relative_to(st).parts[0]: stat.S_IMODE(p.stat().st_mode)
             for p in [st / "manifest.csv", st / "store.json", st / "errors.csv", st / "build_report.json",
                       *st.glob("parts/*.json"), *st.glob("shards/*.npy")]}
    assert set(modes.values()) == {0o644}, modes


class _FakeRay:
    """Just enough of the ``ray`` module for init_ray: records ray.init's arguments."""

    def __init__(self, initialized=False, cpus=4, fail=None):
        self.calls, self._init, self._cpus, self._fail = [], initialized, cpus, fail

    def is_initialized(self):
        return self._init

    def init(self, **kw):
        self.calls.append(kw)
        if self._fail:
            raise self._fail
        self._init = True

    def cluster_resources(self):
        return {"CPU": float(self._cpus)}


def _logged():
    import logging

    class H(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    h = H()
    logging.getLogger("neurosig").addHandler(h)
    return h


def test_ray_missing_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    files = _corpus(tmp_path / "in", ["a.edf"])
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(NeurosigError) as ei:
        build_store(files, tmp_path / "st", config=CFG, backend="ray", progress=False)
    assert "\n" not in str(ei.value) and "pip install 'neurosig[ray]'" in str(ei.value)
    assert not (tmp_path / "st").exists()  # the old code left an empty store skeleton


def test_ray_init_private_instance_cpus_and_messages(monkeypatch):
    import neurosig.datasets.ray_backend as rb

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    fake = _FakeRay()
    monkeypatch.setattr(rb, "require", lambda *a: fake)
    rb.init_ray(None, 1)  # --jobs 1 is one CPU, in a private instance (not a `ray start` cluster on this machine)
    assert fake.calls[-1]["num_cpus"] == 1 and fake.calls[-1]["address"] == "local"
    h = _logged()
    try:
        fake._cpus = 1
        rb.init_ray(None, 3)  # a second build with another --jobs reuses the running instance: said, not silent
        assert any("already running in this process with 1 CPU(s); num_cpus=3" in m for m in h.messages)
        n = len(h.messages)
        rb.init_ray(None, 1)
        assert len(h.messages) == n  # the same CPU count: nothing to say
    finally:
        __import__("logging").getLogger("neurosig").removeHandler(h)
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    fake = _FakeRay(fail=ConnectionError("no cluster"))
    monkeypatch.setattr(rb, "require", lambda *a: fake)
    with pytest.raises(NeurosigError) as ei:
        rb.init_ray(None, 1)
    msg = str(ei.value)
    assert "head:6379" in msg and "RAY_ADDRESS" in msg and "--ray-address" not in msg
    assert "num_cpus" not in fake.calls[-1]


def test_build_store_gives_ray_jobs_cpus(tmp_path, monkeypatch):
    import types

    import neurosig.datasets.ray_backend as rb

    seen = []

    def fake_iter(fn, tasks, *, num_cpus=None, **kw):
        seen.append(num_cpus)
        for i, t in enumerate(tasks):
            yield i, fn(*t)

    monkeypatch.setitem(sys.modules, "ray", sys.modules.get("ray") or types.ModuleType("ray"))
    monkeypatch.setattr(rb, "iter_ray", fake_iter)
    files = _corpus(tmp_path / "in", ["a.edf"])
    build_store(files, tmp_path / "st", config=CFG, backend="ray", jobs=1, progress=False)
    build_store(files, tmp_path / "st2", config=CFG, backend="ray", jobs=3, progress=False)
    assert seen == [1, 3]  # the old code gave Ray every core for --jobs 1


def _parts_manifest_report(out: Path):
    import json

    import pandas as pd

    on_disk = {p.stem for p in (out / "parts").glob("*.json")}
    in_manifest = set(pd.read_csv(out / "manifest.csv", dtype=str)["part"])
    rep = json.loads((out / "build_report.json").read_text())
    return on_disk, in_manifest, rep


def test_raise_with_jobs_waits_for_running_files_before_the_manifest(tmp_path, crashing_workers, monkeypatch):
    """--on-error raise --jobs 2: the files already running used to commit their parts after the
    manifest and the report were written (the report said 0 processed, the manifest missed them)."""
    import time

    monkeypatch.setenv("NEUROSIG_TEST_SLOW", "2")
    d = tmp_path / "in"
    files = _corpus(d, [f"f{i}slow.edf" for i in range(1, 5)])
    (d / "a_broken.edf").write_bytes(b"not an EDF file" * 20)
    out = tmp_path / "st"
    with pytest.raises(NeurosigError, match="a_broken.edf"):
        build_store([str(d / "a_broken.edf"), *files], out, config=CFG, jobs=2, on_error="raise", progress=False)
    on_disk, in_manifest, rep = _parts_manifest_report(out)
    assert rep["n_failed"] == 1 and rep["n_processed"] == len(on_disk) >= 1
    assert on_disk == in_manifest
    time.sleep(2.5)  # longer than a slow file: no worker is left to commit anything
    assert {p.stem for p in (out / "parts").glob("*.json")} == on_disk


def test_cli_summary_counts_this_runs_windows(tmp_path, capsys):
    from neurosig.cli.main import main

    d = tmp_path / "in"
    _corpus(d, ["a.edf", "b.edf"])
    out = str(tmp_path / "st")
    args = ["-q", "preprocess", str(d), "--out", out, "--positions", "none", "--config", "preprocess/debug.yaml"]
    assert main(args) == 0
    first = capsys.readouterr().out
    n = len(ShardStore(out))
    assert f"2 processed (+{n} windows)" in first and f"the store holds {n} windows" in first
    _edf(d / "c.edf", seed=7, seconds=20)
    assert main(args) == 0
    again = capsys.readouterr().out
    added = len(ShardStore(out)) - n
    assert added > 0 and f"1 processed (+{added} windows), 2 already done" in again
    assert f"the store holds {n + added} windows" in again and "every listed file counted" in again
