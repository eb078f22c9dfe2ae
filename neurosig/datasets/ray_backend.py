"""Run the per-file worker on a Ray cluster (optional extra: ``pip install 'neurosig[ray]'``).

The same picklable function the process pool calls (``neurosig.datasets.build.process_file``)
runs as a Ray task, one CPU each, with a bounded number of tasks in flight (so a corpus of
100k files does not queue 100k argument copies). Workers write their shard parts straight to
the output folder, which must be shared storage (NFS, Lustre, a mounted bucket) visible under
the same path on every node; the driver merges the per-file manifest parts afterwards.

Local use: ``run_ray(fn, tasks)`` starts a private Ray instance. Cluster use: start a head
(``ray start --head``) and workers (``ray start --address HEAD:6379``), then pass
``address="auto"`` (or ``HEAD:6379``), or set ``RAY_ADDRESS`` for the CLI — see docs/corpora.md.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig._utils.optional import require

log = get_logger("datasets.ray")


def init_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to (``address``, else ``RAY_ADDRESS``) or start a private local Ray instance with
    ``num_cpus`` CPUs; returns the ``ray`` module.

    Without an address the instance is always a new private one (``address="local"``), never a
    cluster that ``ray start`` left running on this machine. Reuses a connection this process
    already has, with a warning when its CPU count is not ``num_cpus`` (Ray cannot be resized:
    call ``ray.shutdown()`` first). Worker processes get ``OMP_NUM_THREADS=1`` so that N tasks on
    N cores do not oversubscribe the CPU with BLAS threads.
    """
    ray = require("ray", "the Ray backend (--backend ray)")
    if ray.is_initialized():
        if num_cpus is not None:
            have = int(ray.cluster_resources().get("CPU", 0))
            if have != int(num_cpus):
                log.warning("Ray is already running in this process with %d CPU(s); num_cpus=%d (--jobs) is ignored. "
                            "Call ray.shutdown() first to start an instance with %d", have, int(num_cpus), int(num_cpus))
        return ray
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "runtime_env": {"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}},
    }
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        kwargs["address"] = address
        if num_cpus is not None and int(num_cpus) > 1:
            log.warning("num_cpus=%d (--jobs) is ignored when connecting to an existing cluster (address=%s): "
                        "the cluster's own CPUs are used", int(num_cpus), address)
    else:
        kwargs["address"] = "local"  # a private instance, not whatever `ray start` left on this machine
        if num_cpus is not None:
            kwargs["num_cpus"] = int(num_cpus)
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise NeurosigError(
            f"cannot connect to the Ray cluster at address={address!r} ({' '.join(str(err).split())[:200]}); start it "
            "with `ray start --head`, or unset the RAY_ADDRESS environment variable for a private local instance."
        ) from None
    return ray


def _unwrap(ray, err: BaseException) -> BaseException:
    """The user's exception inside a RayTaskError (so NeurosigError messages stay one line)."""
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException):
            return cause
    return err


def iter_ray(
    fn: Callable[..., Any],
    tasks: Sequence[Any],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = False,
    return_exceptions: bool = False,
    max_in_flight: int | None = None,
    desc: str = "files",
    stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(task index, result)`` as Ray tasks finish (completion order).

    ``fn(*task)`` for tuple tasks, ``fn(**task)`` for dicts, ``fn(task)`` otherwise. At most
    ``max_in_flight`` tasks (default 2 × cluster CPUs) are submitted at a time. A failed task
    yields its exception (the original, not Ray's wrapper) with ``return_exceptions=True``,
    else it is raised after the remaining tasks are cancelled. Closing the generator early
    (e.g. ``break``) cancels what is still running. ``stop()``, asked after each result, ends
    the run in order: nothing more is submitted, the tasks in flight are cancelled and waited
    for, and those that finished anyway are still yielded (cancelled ones are not).
    """
    if num_cpus is not None and (isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1):
        raise NeurosigError(f"num_cpus must be a positive integer or None, got {num_cpus!r}.")
    tasks = list(tasks)
    if not tasks:
        return
    ray = init_ray(address, num_cpus)
    remote = ray.remote(num_cpus=1, max_retries=1)(fn)
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    limit = max_in_flight or max(2, 2 * cpus)

    def submit(i: int):
        task = tasks[i]
        if isinstance(task, dict):
            return remote.remote(**task)
        if isinstance(task, tuple):
            return remote.remote(*task)
        return remote.remote(task)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="file", disable=not progress, dynamic_ncols=True)
    pending: dict[Any, int] = {}
    nxt = 0
    stopping = False
    try:
        while nxt < len(tasks) or pending:
            while not stopping and nxt < len(tasks) and len(pending) < limit:
                pending[submit(nxt)] = nxt
                nxt += 1
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - per-file isolation
                    if stopping and isinstance(err, ray.exceptions.TaskCancelledError):
                        continue  # cancelled by stop(): not a result
                    err = _unwrap(ray, err)
                    if not return_exceptions:
                        raise err from None
                    result = err
                bar.update(1)
                yield i, result
                if not stopping and stop is not None and stop():
                    stopping = True
                    for r in pending:
                        try:
                            ray.cancel(r)
                        except Exception:  # noqa: BLE001 - already finished
                            pass
    finally:
        for ref in pending:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - already finished
                pass
        bar.close()


def run_ray(
    fn: Callable[..., Any],
    tasks: Sequence[Any],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
    return_exceptions: bool = False,
    max_in_flight: int | None = None,
    desc: str = "files",
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Call ``fn`` on every task on Ray (see :func:`iter_ray`); return the results in task order.

    ``on_result(i, result)`` is called on the driver as each task finishes. The progress bar
    shows files/s and the ETA.
    """
    tasks = list(tasks)
    results: list[Any] = [None] * len(tasks)
    for i, res in iter_ray(fn, tasks, address=address, num_cpus=num_cpus, progress=progress,
                           return_exceptions=return_exceptions, max_in_flight=max_in_flight, desc=desc):
        results[i] = res
        if on_result is not None:
            on_result(i, res)
    return results
