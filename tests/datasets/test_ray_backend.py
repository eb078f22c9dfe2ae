"""The Ray runner on a local 2-CPU Ray instance: order, per-task errors, and the same store as
the process backend (when the store builder is present)."""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray not installed (pip install 'neurosig[ray]')")

from neurosig import NeurosigError  # noqa: E402
from neurosig.datasets.ray_backend import run_ray  # noqa: E402


from neurosig.datasets.adapters.tuh import read_rec  # noqa: E402  (a library function: importable in workers)


@pytest.fixture()
def rec_files(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"f{i}.rec"
        # file 3 has an out-of-vocabulary label 9 → NeurosigError inside the worker
        p.write_text(f"{i},1.0,2.0,{9 if i == 3 else 1 + i % 6}\n")
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import crashhook  # workers die (os._exit) on files named *crash*, as if killed for memory

    env = crashhook.install(tmp_path_factory.mktemp("hook"))
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", **env}})
    yield ray
    ray.shutdown()


def test_results_in_order_and_errors_isolated(local_ray, rec_files):
    seen = []
    out = run_ray(read_rec, [(p,) for p in rec_files], progress=False, return_exceptions=True,
                  max_in_flight=2, on_result=lambda i, r: seen.append(i))
    assert [o if isinstance(o, Exception) else o[0][0] for o in out[:3]] == [0, 1, 2]
    assert [o[0] for o in out[4]] == [4] and out[5] == [(5, 1.0, 2.0, 6)]
    assert isinstance(out[3], NeurosigError) and "f3.rec:1: label must be 1..6" in str(out[3])
    assert sorted(seen) == list(range(6))
    with pytest.raises(NeurosigError, match="f3.rec:1: label must be 1..6"):
        run_ray(read_rec, [(p,) for p in rec_files], progress=False)
    assert run_ray(read_rec, [{"path": rec_files[0]}], progress=False) == [[(0, 1.0, 2.0, 1)]]
    with pytest.raises(NeurosigError, match="num_cpus must be a positive integer"):
        run_ray(read_rec, [(rec_files[0],)], num_cpus=0)


def test_ray_backend_builds_the_same_store(local_ray, tmp_path):
    import sys
    from pathlib import Path

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import miniatures

    from neurosig.datasets import ShardStore, build_store
    from neurosig.datasets.registry import get_adapter

    root = miniatures.make_tuab(tmp_path / "tuab", n_per_group=1, seconds=60.0)
    cfg = get_adapter("tuab").default_config()
    rp = build_store(root, tmp_path / "proc", adapter="tuab", config=cfg, jobs=2, backend="process", progress=False)
    rr = build_store(root, tmp_path / "ray", adapter="tuab", config=cfg, jobs=2, backend="ray", progress=False)
    assert rp.n_failed == rr.n_failed == 0 and rr.n_processed == 4
    a, b = ShardStore(tmp_path / "proc"), ShardStore(tmp_path / "ray")
    assert len(a) == len(b) == 4 * 6
    assert a.manifest.drop(columns=["window_id"]).sort_values(["source", "start_s"]).reset_index(drop=True).equals(
        b.manifest.drop(columns=["window_id"]).sort_values(["source", "start_s"]).reset_index(drop=True))
    ia = a.manifest.sort_values(["source", "start_s"]).index
    ib = b.manifest.sort_values(["source", "start_s"]).index
    for i, j in zip(ia, ib):
        np.testing.assert_array_equal(a[i]["x"], b[j]["x"])
        np.testing.assert_array_equal(a[i]["pos"], b[j]["pos"])


def test_cli_backend_ray(local_ray, tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import miniatures

    from neurosig.cli.main import main
    from neurosig.datasets import ShardStore

    root = miniatures.make_chbmit(tmp_path / "chb", seconds=30.0)
    assert main(["-q", "preprocess", str(root), "--adapter", "chbmit", "--out", str(tmp_path / "s"),
                 "--backend", "ray", "--jobs", "2"]) == 0
    assert "4 processed" in capsys.readouterr().out
    m = ShardStore(tmp_path / "s").manifest
    assert set(m["subject"]) == {"chb01"} and len(m) == 4 * 3
    assert m[m["source"].str.endswith("chb21_01.edf")].sort_values("start_s")["label"].tolist() == [0, 1, 0]


def test_ray_worker_crash_is_a_failed_file_and_the_rest_finish(local_ray, tmp_path):
    from neurosig.datasets import ShardStore, build_store
    from neurosig.io.synthetic import synthetic_eeg, write_edf

    cfg = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 2.0}, chunk_s=10.0)
    files = [write_edf(tmp_path / n, ["Fp1", "Cz", "O2"], 100.0, 10, synthetic_eeg(3, 1000, 100.0, seed=i))
             for i, n in enumerate(["a.edf", "b_crash.edf", "c.edf"])]
    rep = build_store(files, tmp_path / "st", config=cfg, jobs=1, backend="ray", on_error="warn", progress=False)
    assert (rep.n_processed, rep.n_failed) == (2, 1)
    assert rep.errors[0]["source"].endswith("b_crash.edf") and "the Ray worker died" in rep.errors[0]["error"]
    assert ShardStore(tmp_path / "st").errors().source.str.endswith("b_crash.edf").tolist() == [True]
    assert sorted(Path(s).name for s in set(ShardStore(tmp_path / "st").manifest.source)) == ["a.edf", "c.edf"]


def test_ray_raise_stops_and_reports_what_finished(local_ray, tmp_path):
    import json

    import pandas as pd

    from neurosig import NeurosigError
    from neurosig.datasets import build_store
    from neurosig.io.synthetic import synthetic_eeg, write_edf

    cfg = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 2.0}, chunk_s=10.0)
    (tmp_path / "a_broken.edf").write_bytes(b"not an EDF file" * 20)
    files = [str(tmp_path / "a_broken.edf")] + [
        write_edf(tmp_path / f"f{i}slow.edf", ["Fp1", "Cz", "O2"], 100.0, 10, synthetic_eeg(3, 1000, 100.0, seed=i))
        for i in range(3)]
    out = tmp_path / "st"
    with pytest.raises(NeurosigError, match="a_broken.edf"):
        build_store(files, out, config=cfg, jobs=1, backend="ray", on_error="raise", progress=False)
    on_disk = {p.stem for p in (out / "parts").glob("*.json")}
    rep = json.loads((out / "build_report.json").read_text())
    assert rep["n_failed"] == 1 and rep["n_processed"] == len(on_disk) < 3  # stopped: not every file was run
    assert set(pd.read_csv(out / "manifest.csv", dtype=str)["part"]) == on_disk
