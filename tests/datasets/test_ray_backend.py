"""The Ray runner on a local 2-CPU Ray instance: order, per-task errors, and the same store as
the process backend (when the store builder is present)."""

from __future__ import annotations

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
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
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
