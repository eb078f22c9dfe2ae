"""``build_store``: input files → preprocessed windows in a shard store, in parallel, resumable.

The per-file worker :func:`process_file` is a top-level, picklable function (process pools and
Ray call the same thing). Its cache key is ``sha256(pipeline hash, source content hash, spec)``:
a file already processed with the same pipeline is skipped; a changed parameter reprocesses.
A part is committed by writing ``parts/<key>.json`` last (after its shards are renamed into
place), so a killed run leaves nothing that looks complete; rerunning finishes the store.
A file whose key changed (edited source, new label or labels.csv row) under the same pipeline
gets a new part that replaces the old one: the old part is removed only after the new one is
committed (:func:`remove_replaced_parts`), so a failed or killed run never loses the old windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Sequence

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig._utils.validation import check_option
from neurosig.datasets.spec import BuildReport, FileSpec, PartResult
from neurosig.datasets.store import ShardWriter, atomic_write_text, clean_temporaries, consolidate, read_part, remove_part
from neurosig.preprocessing.config import PipelineConfig

log = get_logger("datasets.build")
ON_ERROR = ("raise", "warn", "skip")
BACKENDS = ("process", "ray")


def _as_config(config: Any) -> PipelineConfig:
    if config is None:
        return PipelineConfig()
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        from neurosig.config import from_dict

        return from_dict(PipelineConfig, config, where="pipeline config")
    if isinstance(config, (str, os.PathLike)):
        return PipelineConfig.from_yaml(config)
    raise NeurosigError(f"config must be a PipelineConfig, a dict or a YAML path, got {type(config).__name__}.")


def adapter_config(adapter: Any, roots: Sequence[Any]) -> PipelineConfig:
    """The pipeline config a corpus adapter recommends (window length, labels, reference such as the
    TUH double banana); adapters whose vocabulary depends on the data (BIDS trial types) read ``roots``."""
    import inspect

    from neurosig.config import from_dict
    from neurosig.datasets.registry import get_adapter

    ad = get_adapter(adapter)
    defaults = getattr(ad, "default_config", None)
    if defaults is None:
        return PipelineConfig()
    takes_root = "root" in inspect.signature(defaults).parameters
    got = defaults(root=[os.fspath(r) for r in roots]) if takes_root else defaults()
    return from_dict(PipelineConfig, got or {}, where=f"adapter {getattr(ad, 'name', adapter)!r} default config")


def part_key(pipeline_hash: str, source_sha256: str, spec: FileSpec) -> str:
    """Content-addressed: moving a folder does not reprocess it; the file name and the subject
    (derived from it when the spec has none) are part of the identity, so two copies of the
    same bytes under different names stay two parts."""
    from neurosig.io.readers import default_subject

    subject = spec.subject if spec.subject is not None else default_subject(spec.subject_path or spec.path)
    blob = "\x1f".join([pipeline_hash, source_sha256, os.path.basename(spec.path), subject, spec.identity()])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


MIN_WINDOW_SAMPLES = 8  # fewer samples per window than this is warned (recorded in the part)


def source_identity(path: str | os.PathLike) -> str:
    """How a stored part is matched to an input file: its resolved absolute path (symlinks
    followed), the same whether the file was named relative or absolute, from any directory."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def _stored_source(part: dict, inputs: dict[str, Any], sha_of) -> str | None:
    """The input (a key of ``inputs``: :func:`source_identity`) that a stored ``part`` was made
    from, or None. An absolute recorded source is compared by its resolved path. A relative one
    (parts written before sources were stored absolute; the build's working directory was not
    recorded) matches when it resolves, from the current directory, to an input; else when an
    input's resolved path ends with it *and* the input has the same content hash
    (``sha_of(input)``); a legacy part whose path suffix matches but whose content differs is
    logged, since it may be an older version of the same recording."""
    src = str(part.get("source", ""))
    if not src:
        return None
    r = source_identity(src)
    if r in inputs:
        return r
    if os.path.isabs(src):
        return None
    rel = os.path.normpath(src)
    if rel == ".." or rel.startswith(".." + os.sep):
        return None
    for p in inputs:
        if p.endswith(os.sep + rel):
            if sha_of(p) == part.get("source_hash"):
                return p
            log.warning("%s: the store holds a part (%s) recorded by the relative path %r by an older neurosig, with "
                        "other content; if it is an older version of this file, the recording is stored twice: "
                        "rebuild into a new --out", p, part.get("key"), src)
    return None


def cached_source_hash(out: str | os.PathLike, path: str, extra: Sequence[str] = ()) -> str:
    """``source_hash`` remembered per (path, size, mtime) in ``out/hashcache/``: a rerun over a
    large corpus does not read every file again. A file whose size or mtime changed is hashed anew."""
    from neurosig.io.readers import companion_files, source_hash

    sig = []
    for p in [path, *companion_files(path), *extra]:
        st = os.stat(p)
        sig.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
    entry = Path(out) / "hashcache" / (hashlib.sha256(json.dumps(sig).encode()).hexdigest()[:32] + ".txt")
    if entry.exists():
        got = entry.read_text().strip()
        if len(got) == 64:
            return got
    h = source_hash(path, extra)
    atomic_write_text(entry, h)
    return h


def process_file(spec: FileSpec | str, pipeline_config: PipelineConfig | dict | None, out: str | os.PathLike) -> PartResult:
    """Preprocess one file into ``out`` (a store folder); skip it when its part already exists."""
    from neurosig.io.readers import _check_file
    from neurosig.preprocessing.pipeline import Pipeline

    t0 = time.perf_counter()
    spec = spec if isinstance(spec, FileSpec) else FileSpec(os.fspath(spec))
    cfg = _as_config(pipeline_config)
    pipe = Pipeline(cfg)
    out = Path(out)
    path = _check_file(spec.path)
    source = source_identity(path)  # what the manifest shows and what parts are matched by
    extras = spec.extras
    atlas = extras.get("atlas")
    src = cached_source_hash(out, path, [atlas] if atlas else [])
    key = part_key(pipe.hash, src, spec)
    part_path = out / "parts" / f"{key}.json"
    if part_path.exists():
        part = read_part(out, key)
        shards = sorted(set(part["windows"]["shard"]))
        if all((out / s).exists() for s in shards):
            return PartResult(source=source, key=key, n_windows=len(part["windows"]["offset"]), shards=shards, cached=True,
                              warnings=list(part.get("warnings", [])), seconds=time.perf_counter() - t0)
    derived = None  # the subject of a spec without one, from the path as typed (FileSpec.subject_path)
    if spec.subject is None and spec.subject_path:
        from neurosig.io.readers import default_subject

        derived = default_subject(spec.subject_path)
    if extras.get("adapter"):  # corpus adapters: their channel fixes (TCP montage, duplicates, BIDS sidecars)
        from neurosig.datasets.adapters import read_spec

        rec = read_spec(spec, positions=extras.get("positions") or cfg.positions)
        if derived is not None:
            rec.subject = derived
    else:
        rec = pipe.read(path, positions=extras.get("positions"), subject=spec.subject if derived is None else derived,
                        session=spec.session, run=spec.run, atlas=atlas, atlas_labels=extras.get("atlas_labels"))
    if extras.get("line_freq"):
        rec.info["line_freq"] = float(extras["line_freq"])
    if spec.annotations:
        rec.annotations = list(rec.annotations) + [(float(o), float(d), str(s)) for o, d, s in spec.annotations]
    label = None if spec.label is None else int(spec.label)
    plan, wins, gen = pipe.iter_windows(rec, label=label, label_name=str(extras.get("label_name", "")))
    C = len(plan.names)
    T = (wins[0].stop - wins[0].start) if wins else 0
    if any(w.stop - w.start != T for w in wins):
        raise NeurosigError(f"{path}: windows of different lengths; this is a bug in window planning.")
    if wins and T < MIN_WINDOW_SAMPLES:  # e.g. fMRI (TR 2.5 s) with the default 10 s windows: 4 samples
        few = (f"windows hold only {T} samples ({T / plan.sfreq_out:g} s at {plan.sfreq_out:g} Hz), too few for "
               f"tokenizer patches; set window.length_s to at least {MIN_WINDOW_SAMPLES / plan.sfreq_out:g} s "
               f"({MIN_WINDOW_SAMPLES} samples; for fMRI e.g. length_s: 50 at TR 2.5 s)")
        plan.warnings.append(few)
        log.warning("%s: %s", path, few)
    writer = ShardWriter(out, key, len(wins), C, max(T, 1), max_bytes=int(cfg.shard_mb * (1 << 20)))
    try:
        for _w, arr in gen:
            writer.write(arr)
        shards = writer.close() if wins else []
    except BaseException:
        writer.abort()
        raise
    epochs = plan.kind == "epochs"
    split = str(extras.get("split", ""))
    subj = spec.subject if spec.subject is not None else rec.subject
    windows = {
        "shard": [loc[0] for loc in writer.locations],
        "offset": [loc[1] for loc in writer.locations],
        "start_s": [w.start / plan.sfreq_out for w in wins],
        "label": [int(w.label) for w in wins],
        "label_name": [w.label_name for w in wins],
        # epochs: the subject of each epoch from the file's metadata when it has one
        "subject": [str(s) for s in rec.info["epoch_subjects"]] if epochs and (rec.info.get("epoch_meta_subject") or spec.subject is None) else [str(subj)] * len(wins),
        "split": [s or split for s in rec.info["epoch_splits"]] if epochs else [split] * len(wins),
    }
    if epochs:
        windows["start_s"] = [float(k) * (T / plan.sfreq_out) for k in range(len(wins))]
    import numpy as np

    has_pos = bool(len(plan.names)) and bool(np.isfinite(plan.pos).all())
    prov = pipe.provenance(plan, source_sha256=src)
    part = {
        "key": key,
        "source": source,
        "source_hash": src,
        "pipeline_hash": pipe.hash,
        "dataset": str(extras.get("dataset", cfg.dataset) or ""),
        "subject": str(subj),
        "session": spec.session,
        "run": spec.run,
        "split": split,
        "sfreq": plan.sfreq_out,
        "n_times": T,
        "ch_names": plan.names,
        "ch_types": plan.types,
        "units": plan.units,
        "pos": None if not np.isfinite(plan.pos).any() else [[None if not np.isfinite(v) else float(v) for v in row] for row in plan.pos],
        "has_positions": has_pos,
        "bad_channels": sorted(plan.steps.get("bad_channels", {})),
        "warnings": list(plan.warnings),
        "meas_date": rec.info.get("meas_date", ""),
        # the file's annotations [onset_s, duration_s, description] on the windows' time axis (continuous
        # recordings): the truth of event-level scoring (a seizure shorter than a window is kept here)
        "annotations": None if epochs else [[float(o), float(d), str(desc)] for o, d, desc in rec.annotations],
        "provenance": prov,
        "windows": windows,
    }
    atomic_write_text(part_path, json.dumps(part, default=_json_default))
    return PartResult(source=source, key=key, n_windows=len(wins), shards=shards, cached=False, warnings=list(plan.warnings),
                      seconds=time.perf_counter() - t0)


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _one_line(err: BaseException, source: str) -> str:
    if isinstance(err, NeurosigError):
        return str(err)
    msg = " ".join(str(err).split())[:300]
    return f"{source}: {type(err).__name__}: {msg}"


def run_one(spec: FileSpec, config_dict: dict, out: str) -> tuple[str, Any]:
    """Worker wrapper with error isolation: ``("ok", PartResult)`` or ``("error", (source, message))``."""
    try:
        return "ok", process_file(spec, config_dict, out)
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: BLE001 - every per-file failure is reported, never fatal here
        log.debug("%s failed:\n%s", spec.path, traceback.format_exc())
        return "error", (spec.path, _one_line(err, spec.path))


def expand_inputs(inputs: Iterable[Any] | Any, skipped: list[dict] | None = None) -> list[FileSpec]:
    """Files, folders (recursive, supported formats only) and FileSpecs → FileSpecs, in a stable order.

    Inside a folder, NIfTI images that are not BOLD series (3-D masks and atlases, one-volume
    images) are left out; each is logged and, when ``skipped`` is a list, appended to it as
    ``{"source", "warning"}``. A 3-D file named directly is kept (reading it raises).
    """
    from neurosig.io.readers import SUPPORTED, file_extension, is_bold_run, nifti_volume_shape

    if isinstance(inputs, (str, os.PathLike, FileSpec)):
        inputs = [inputs]
    specs: list[FileSpec] = []
    for item in inputs:
        if isinstance(item, FileSpec):
            specs.append(item)
            continue
        p = os.fspath(item)
        if os.path.isdir(p) and file_extension(p) not in (".mff", ".ds"):
            found, n3d = [], 0
            for q in sorted(Path(p).rglob("*")):
                if not q.is_file() or q.name.startswith("."):
                    continue
                ext = file_extension(q.name)
                if ext not in SUPPORTED:
                    continue
                if ext in (".nii", ".nii.gz") and "atlas" in q.name.lower():
                    continue  # atlases travel with their BOLD runs
                if ext in (".nii", ".nii.gz") and not is_bold_run(q):  # masks, anatomy: not runs
                    note = (f"skipped: a NIfTI image of shape {nifti_volume_shape(q)}, not a 4-D BOLD run (mask, atlas "
                            "or anatomy); name the file directly to read it as a run")
                    log.info("%s: %s", q, note)
                    n3d += 1
                    if skipped is not None:
                        skipped.append({"source": os.fspath(q), "warning": note})
                    continue
                if ext == ".eeg" and q.with_suffix(".vhdr").exists():
                    continue  # BrainVision data file, read through its .vhdr
                found.append(FileSpec(os.fspath(q)))
            if not found:
                raise NeurosigError(f"folder {p!r} holds no supported recordings (EDF/BDF/GDF/FIF/BrainVision/EEGLAB/NIfTI)"
                                    + (f"; its {n3d} NIfTI file(s) are 3-D images (masks/atlases), not 4-D BOLD runs" if n3d else "")
                                    + "; check the path.")
            specs.extend(found)
        else:
            specs.append(FileSpec(p))
    return specs


def _crash_message(path: str, exitcode: int | None) -> str:
    """One line for a file whose worker process died (OOM kill, segfault, ``os._exit``)."""
    if exitcode is None:
        how = "died"
    elif exitcode < 0:
        import signal

        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"was killed by {name}" + (" (e.g. the kernel's out-of-memory killer)" if exitcode == -9 else "")
    else:
        how = f"exited with code {exitcode}" + (" (e.g. killed for memory)" if exitcode == 137 else "")
    return (f"{path}: the worker process {how} while processing this file; it is recorded as failed and the other "
            "files went on (rerun to retry it; if it ran out of memory, lower --jobs or chunk_s)")


def _new_pool(n: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"), initializer=_worker_init)


def _pool_processes(ex) -> list:
    """The worker processes of a pool (a private attribute of ProcessPoolExecutor; [] if it changes)."""
    return list((getattr(ex, "_processes", None) or {}).values())


def _kill_pool(ex, procs: Iterable[Any] = ()) -> None:
    """Stop a pool now: cancel what has not started, terminate the workers and wait for them,
    so that no worker is left writing into the store after the build returns."""
    procs = {id(p): p for p in [*procs, *_pool_processes(ex)]}.values()
    try:
        ex.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001 - a broken pool is already shut down
        pass
    for p in procs:
        try:
            if p.is_alive():
                p.terminate()
        except Exception:  # noqa: BLE001
            pass
    for p in procs:
        try:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        except Exception:  # noqa: BLE001
            pass


def _drain(futures: Sequence[Any]):
    """Results of futures already running when a build stops (on_error="raise"), as they finish:
    they commit their parts, so the report and the manifest must count them. A pool that breaks
    meanwhile ends them (nothing of theirs is committed)."""
    from concurrent.futures import CancelledError, as_completed
    from concurrent.futures.process import BrokenProcessPool

    for f in as_completed(futures):
        try:
            yield f.result()
        except (BrokenProcessPool, CancelledError):
            continue


def _run_isolated(suspects: Sequence[tuple], on_error: str):
    """Run the tasks that were in flight when a worker died one at a time, each in a one-worker
    pool, so that a second crash names its file. Yields ``(status, payload)``."""
    from concurrent.futures.process import BrokenProcessPool

    ex = None
    try:
        for t in suspects:
            if ex is None:
                ex = _new_pool(1)
            fut = ex.submit(run_one, *t)
            procs = _pool_processes(ex)
            try:
                res = fut.result()
            except BrokenProcessPool:
                _kill_pool(ex, procs)  # joins the dead worker: its exit code is known after that
                ex = None
                codes = [p.exitcode for p in procs if p.exitcode is not None]
                res = ("error", (t[0].path, _crash_message(t[0].path, codes[0] if codes else None)))
                log.debug("%s: worker died (exit codes %s)", t[0].path, codes)
            yield res
            if res[0] == "error" and on_error == "raise":
                return
    except BaseException:
        if ex is not None:
            _kill_pool(ex)
            ex = None
        raise
    finally:
        if ex is not None:
            ex.shutdown(wait=True)


def set_dataset(specs: Sequence[FileSpec], dataset: str | None, flag: str = "--dataset") -> list[FileSpec]:
    """Name every spec's dataset ``dataset`` in the manifest (``neurosig preprocess --dataset``):
    it replaces the name an adapter wrote into ``extras["dataset"]`` (which used to win over
    ``PipelineConfig.dataset``, so ``--adapter tuab --dataset mytuab`` still wrote ``tuab``). A spec
    without a name keeps none: the config's ``dataset`` names it, as before (its part key is
    unchanged). A name that takes a corpus out of its subject namespace (TUH, CHB-MIT, Sleep-EDF:
    :data:`neurosig.datasets.leakage.SUBJECT_NAMESPACES`) is refused: the leakage guard would no
    longer match its patients with the other corpora's."""
    if not dataset:
        return list(specs)
    from dataclasses import replace

    from neurosig.datasets.leakage import SUBJECT_NAMESPACES, global_subject

    out = []
    for s in specs:
        old = s.extras.get("dataset")
        if old is None or str(old) == dataset:
            out.append(s)
            continue
        ns = SUBJECT_NAMESPACES.get(str(old).lower())
        if ns is not None and global_subject(dataset, "x") != global_subject(str(old), "x"):
            same = sorted(k for k, v in SUBJECT_NAMESPACES.items() if v == ns)
            raise NeurosigError(
                f"{flag} {dataset!r} would rename the {old!r} corpus, but the leakage guard knows its subjects by that "
                f"name ({old!r} → {ns}:<subject>), so a store named {dataset!r} would no longer be matched with the other "
                f"{ns} corpora; leave {flag} out (the manifest says {old!r}) or use one of: {', '.join(same)}."
            )
        out.append(replace(s, extras={**s.extras, "dataset": dataset}))
    return out


def _absolute(spec: FileSpec) -> FileSpec:
    """``spec`` with an absolute ``path`` (not resolving symlinks: the file name stays as given).
    When its subject is derived from the path and the absolute path would give another one (a
    folder above the typed path named ``sub-XX``), the typed path is kept in ``subject_path``, so
    the subject and the part key stay what they were."""
    from dataclasses import replace

    if os.path.isabs(spec.path):
        return spec
    path = os.path.abspath(spec.path)
    keep = spec.subject_path
    if spec.subject is None and keep is None:
        from neurosig.io.readers import default_subject

        if default_subject(spec.path) != default_subject(path):
            keep = spec.path
    return replace(spec, path=path, subject_path=keep)


def _run_process(tasks, jobs, on_error, bar):
    """Yield ``(status, payload)`` from a spawn-safe process pool (or in-process for jobs=1).

    A worker that dies (killed for memory, a crash in a C extension, ``os._exit``) breaks the
    whole pool and fails every task in flight without saying which one killed it. The pool is
    then restarted: the tasks that were in flight are rerun one at a time (a second crash names
    its file, which is reported as failed; the others finish normally) and the remaining tasks go
    on in a fresh pool.
    """
    if jobs <= 1:
        for t in tasks:
            res = run_one(*t)
            yield res
            if res[0] == "error" and on_error == "raise":
                return
        return
    from collections import deque
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(tasks)
    while todo:
        suspects: list[tuple] = []
        ex = _new_pool(jobs)
        orderly = False  # False: the pool is killed on the way out (crash, interruption, generator closed)
        try:
            pending: dict[Any, tuple] = {}  # future -> task, in submission order
            while todo and len(pending) < 2 * jobs:  # keep at most 2 x jobs tasks in flight
                t = todo.popleft()
                pending[ex.submit(run_one, *t)] = t
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                stop = broken = False
                for f in [f for f in pending if f in done]:  # submission order
                    t = pending.pop(f)
                    try:
                        res = f.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append(t)
                        continue
                    yield res
                    if res[0] == "error" and on_error == "raise":
                        stop = True
                if stop:  # on_error="raise": start nothing more; what is running finishes and is reported
                    for f in pending:
                        f.cancel()
                    for res in _drain([f for f in pending if not f.cancelled()]):
                        yield res
                    orderly = True
                    return
                if broken:  # every task still in flight fails the same way: which one died is unknown
                    suspects.extend(pending.values())
                    pending.clear()
                    log.warning("a worker process died (killed for memory?); restarting the pool and rerunning the "
                                "%d file(s) that were in flight one at a time to find the one that killed it",
                                len(suspects))
                    break
                while todo and len(pending) < 2 * jobs:
                    t = todo.popleft()
                    pending[ex.submit(run_one, *t)] = t
            orderly = not suspects
        finally:
            if orderly:
                ex.shutdown(wait=True)
            else:
                _kill_pool(ex)
        if suspects:
            for res in _run_isolated(suspects, on_error):
                yield res
                if res[0] == "error" and on_error == "raise":
                    return


def _run_ray(tasks, num_cpus, on_error: str = "warn"):
    """Yield ``(status, payload)`` from Ray tasks. ``run_one`` turns every error of a file into a
    result, so an exception here is Ray's own: the worker died (killed for memory, a crash in a C
    extension, ``os._exit``; Ray has already retried it once) or the task was lost. That file is
    reported as failed, naming it; the other tasks go on. Under on_error="raise" the first failure
    stops the submission and cancels the tasks in flight; those that finish anyway are yielded, so
    nothing is committed after the manifest is written."""
    from neurosig.datasets.ray_backend import iter_ray

    failed = []
    for i, res in iter_ray(run_one, tasks, num_cpus=num_cpus, progress=False, return_exceptions=True,
                           stop=lambda: bool(failed) and on_error == "raise"):
        if isinstance(res, BaseException):
            path = tasks[i][0].path
            msg = " ".join(str(res).split())[:200]
            log.debug("%s: Ray task failed: %r", path, res)
            res = ("error", (path, f"{path}: the Ray worker died or the task was lost while processing this file "
                                   f"({type(res).__name__}: {msg}); it is recorded as failed and the other files went "
                                   "on (rerun to retry it; if it ran out of memory, give the workers more memory)"))
        if res[0] == "error":
            failed.append(i)
        yield res


LOCK_NAME = ".lock"


@contextlib.contextmanager
def _store_lock(out: Path):
    """Hold an exclusive lock on ``out/.lock`` (``fcntl.flock``, non-blocking) while building: a
    second build into the same store would delete the first one's ``.tmp-*`` shards as leftovers
    of a killed run. The lock goes with the process (also on ``kill -9``); the file stays (never
    read as part of the store). Where ``fcntl`` is missing (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            raise NeurosigError(
                f"store {os.fspath(out)!r} is being built by another process{f' ({holder})' if holder else ''}: two "
                f"builds into one store would delete each other's unfinished files; wait for it to finish (rerun then "
                f"skips what it did) or write to another --out (lock: {path})."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {_hostname()}".encode(), 0)
        except OSError:
            pass
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _hostname() -> str:
    import socket

    try:
        return socket.gethostname()
    except OSError:  # pragma: no cover
        return "?"


@contextlib.contextmanager
def _sigterm_interrupts():
    """While a build runs, SIGTERM (``kill``, a scheduler's time limit, ``systemctl stop``) raises
    KeyboardInterrupt in the driver, as Ctrl-C does, so that the pool is shut down and its workers
    terminated instead of left running and writing into the store. Only in the main thread (the
    only one that may set signal handlers); the previous handler is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")

    try:
        old = signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError):  # e.g. not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def _worker_init() -> None:
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, "1")


def check_same_pipeline(out: str | os.PathLike, pipeline_hash: str, specs: Sequence[FileSpec]) -> None:
    """Refuse to add files that ``out`` already holds under another pipeline config.

    A part's key includes the pipeline hash, so rerunning the same inputs with a changed config
    into the same store would keep the old windows and add a second copy of every file (e.g. the
    same recordings at 100 Hz and at 200 Hz, each counted twice in training and evaluation).
    New files under another pipeline are allowed (one store may hold several window lengths)
    but logged as a warning.
    """
    from neurosig.datasets.store import list_parts

    out = Path(out)
    keys = list_parts(out) if out.is_dir() else []
    if not keys:
        return
    by_input: dict[str, FileSpec] = {}
    for s in specs:
        by_input.setdefault(source_identity(s.path), s)

    def sha_of(p: str) -> str | None:
        s = by_input[p]
        try:
            atlas = s.extras.get("atlas")
            return cached_source_hash(out, s.path, [atlas] if atlas else [])
        except (OSError, NeurosigError):
            return None

    other: dict[str, str] = {}  # pipeline hash of each part of another pipeline
    again: dict[str, str] = {}  # input (resolved path) stored under another pipeline -> that pipeline's hash
    for k in keys:
        try:
            part = read_part(out, k)
        except NeurosigError:
            continue  # an unreadable part is reported when the store is read
        h = str(part.get("pipeline_hash", ""))
        if h != pipeline_hash:
            other[k] = h
            hit = _stored_source(part, by_input, sha_of)
            if hit is not None:
                again.setdefault(hit, h)
    if not other:
        return
    if again:
        first = next(s.path for s in specs if source_identity(s.path) in again)
        old = sorted(set(again.values()))
        raise NeurosigError(
            f"store {os.fspath(out)!r} already holds {len(again)} of these files (first: {first!r}) made with another "
            f"pipeline config (hash {', '.join(old)}; this config: {pipeline_hash}); adding them would store a second copy "
            f"of each. Write to a new --out, or delete {os.fspath(out)!r} to rebuild it with this config. Nothing was written."
        )
    log.warning("store %s already holds files made with another pipeline config (hash %s); the new files (hash %s) "
                "are added beside them", os.fspath(out), ", ".join(sorted(set(other.values()))), pipeline_hash)


def remove_replaced_parts(out: str | os.PathLike, pipeline_hash: str, done: Sequence[PartResult],
                          failed: Iterable[str] = ()) -> int:
    """Remove the parts that ``done`` (this run's committed or cached parts) replace; return how
    many source files had one.

    A part is replaced when its pipeline hash is ``pipeline_hash``, its source (resolved absolute
    path, see :func:`_stored_source` for parts that recorded a relative one) is the source of a part in ``done`` and its key is none of theirs: the same recording stored before
    with an older content hash, label or FileSpec (else it would be in the store twice). Sources
    that also failed in this run (listed in ``failed``) keep every old part. Call it only after
    the new parts are written; the manifest is rewritten afterwards by :func:`consolidate`.
    """
    from neurosig.datasets.store import list_parts

    out = Path(out)
    keep = {r.key for r in done}
    gone = {source_identity(p) for p in failed}
    sources: dict[str, list[str]] = {}  # input (resolved path) -> keys of its parts in this run
    for r in done:
        if source_identity(r.source) not in gone:
            sources.setdefault(source_identity(r.source), []).append(r.key)
    if not sources:
        return 0

    def sha_of(p: str) -> str | None:
        for k in sources[p]:
            try:
                return str(read_part(out, k).get("source_hash"))
            except NeurosigError:
                continue
        return None

    replaced: set[str] = set()
    for k in list_parts(out):
        if k in keep:
            continue
        try:
            part = read_part(out, k)
        except NeurosigError:
            continue  # an unreadable part is reported when the store is read
        if str(part.get("pipeline_hash", "")) != pipeline_hash:
            continue
        src = _stored_source(part, sources, sha_of)
        if src is None:
            continue
        try:
            remove_part(out, k, part)
        except (OSError, NeurosigError) as err:
            log.warning("store %s: could not remove the replaced part %s of %s (%s); the recording is in the store "
                        "twice until it is removed (rerun to retry)", os.fspath(out), k, part.get("source"), err)
            continue
        replaced.add(src)
    return len(replaced)


def build_store(
    inputs: Sequence[Any] | Any,
    out: str | os.PathLike,
    *,
    config: PipelineConfig | dict | str | None = None,
    jobs: int = 1,
    on_error: str = "raise",
    positions: str | os.PathLike | None = None,
    backend: str = "process",
    adapter: Any = None,
    progress: bool = True,
    atlas: str | os.PathLike | None = None,
    dataset: str | None = None,
) -> BuildReport:
    """Preprocess ``inputs`` (files, folders, :class:`FileSpec`) into the shard store ``out``.

    config: PipelineConfig, dict or YAML path (None = the adapter's ``default_config`` when ``adapter`` is
    given, as ``neurosig preprocess --adapter`` does; else the defaults). positions: overrides
    ``config.positions`` ("auto", "none" or a montage file). on_error: "raise" stops at the
    first failing file (the store keeps everything finished), "warn" logs and goes on, "skip"
    goes on quietly; failures are listed in ``out/errors.csv`` either way. jobs: worker
    processes. backend: "process" or "ray" (``neurosig.datasets.ray_backend.run_ray``).
    adapter: a registry name or an object with ``files(root) -> list[FileSpec]``; each input is
    then a corpus root. atlas: NIfTI atlas for fMRI inputs that do not name their own.
    dataset: the dataset name in the manifest for every file, replacing the adapter's (see
    :func:`set_dataset`) and ``config.dataset``.
    """
    from dataclasses import replace

    check_option(on_error, ON_ERROR, "on_error")
    skipped: list[dict] = []  # folder files that are not recordings (3-D NIfTI masks): recorded in the report
    check_option(backend, BACKENDS, "backend")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise NeurosigError(f"jobs must be a positive integer, got {jobs!r}.")
    if config is None and adapter is not None:  # the corpus's own defaults, as `neurosig preprocess --adapter`
        config = adapter_config(adapter, [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs))
    cfg = _as_config(config)
    if positions is not None:
        cfg = replace(cfg, positions=os.fspath(positions))
    if dataset:
        cfg = replace(cfg, dataset=str(dataset))
    if adapter is not None:
        from neurosig.datasets.registry import get_adapter

        ad = get_adapter(adapter)
        roots = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        specs = []
        for r in roots:
            got = ad.files(os.fspath(r))
            if not got:
                raise NeurosigError(f"adapter {adapter!r} found no files under {os.fspath(r)!r}; check the corpus root.")
            specs.extend(s if isinstance(s, FileSpec) else FileSpec(os.fspath(s)) for s in got)
    else:
        specs = expand_inputs(inputs, skipped)
    if atlas is not None:
        specs = [s if "atlas" in s.extras else replace(s, extras={**s.extras, "atlas": os.fspath(atlas)}) for s in specs]
    if not specs:
        raise NeurosigError("build_store: inputs is empty; pass at least one recording file, folder or FileSpec "
                            "(neurosig preprocess INPUT... --out STORE).")
    specs = set_dataset(specs, dataset)
    specs = [_absolute(s) for s in specs]  # workers (Ray on other nodes) have their own working directory
    out = Path(os.path.abspath(os.fspath(out)))
    if out.exists() and not out.is_dir():
        raise NeurosigError(f"--out {os.fspath(out)!r} is a file; pass a folder for the store.")
    if backend == "ray":  # before anything is written
        from neurosig._utils.optional import require

        require("ray", "backend='ray' (--backend ray)")
    check_same_pipeline(out, cfg.hash, specs)  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with _store_lock(out):  # one build per store: another one's .tmp files are not leftovers
        return _build_locked(specs, out, cfg, jobs=jobs, on_error=on_error, backend=backend, progress=progress,
                             skipped=skipped)


def _build_locked(specs, out: Path, cfg: PipelineConfig, *, jobs, on_error, backend, progress, skipped) -> BuildReport:
    """The body of :func:`build_store`, run while ``out/.lock`` is held."""
    (out / "parts").mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    clean_temporaries(out)
    cfg_dict = cfg.to_dict()
    tasks = [(s, cfg_dict, os.fspath(out)) for s in specs]
    report = BuildReport(out=os.fspath(out), n_files=len(specs))
    report.warnings.extend(skipped)
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), unit="file", desc="preprocess", disable=not progress, dynamic_ncols=True)
    first_error: str | None = None
    results = None
    with _sigterm_interrupts():  # SIGTERM stops the build as Ctrl-C does (workers terminated, parts kept)
        try:
            if backend == "ray":
                results = _run_ray(tasks, jobs, on_error)  # --jobs N: a private local instance with N CPUs
            else:
                results = _run_process(tasks, jobs, on_error, bar)
            for status, payload in results:
                bar.update(1)
                if status == "ok":
                    report.parts.append(payload)
                    report.n_windows += payload.n_windows
                    if payload.cached:
                        report.n_cached += 1
                    else:
                        report.n_processed += 1
                        report.n_windows_added += payload.n_windows
                    for w in payload.warnings:
                        report.warnings.append({"source": payload.source, "warning": w})
                    if payload.n_windows == 0:  # stored, but contributes nothing: say why, not only inside the part
                        report.n_empty += 1
                        log.warning("%s: 0 windows (%s)", payload.source,
                                    "; ".join(w for w in payload.warnings if "no windows" in w or "skipped" in w) or "see its part's warnings")
                else:
                    source, msg = payload
                    report.n_failed += 1
                    report.errors.append({"source": source, "error": msg})
                    if on_error == "raise":  # the backend stops; what was running is still counted
                        first_error = first_error or msg
                        continue
                    if on_error == "warn":
                        log.warning("skipped %s", msg)
        except KeyboardInterrupt:
            log.warning("store %s: interrupted; the %d file(s) finished are kept, workers still running were stopped "
                        "(rerun the same command to finish)", os.fspath(out), report.n_processed + report.n_cached)
            raise
        finally:
            if results is not None:  # stop what is still running before the manifest is written
                results.close()
            bar.close()
            try:  # after the new parts are committed: drop the old parts they replace
                report.n_replaced = remove_replaced_parts(out, cfg.hash, report.parts, [e["source"] for e in report.errors])
            except Exception as err:  # noqa: BLE001 - never mask the build's own outcome; the old parts stay
                log.warning("store %s: could not look for replaced parts (%s: %s); rerun to retry", os.fspath(out),
                            type(err).__name__, err)
            if report.n_replaced:
                log.warning("store %s: replaced %d recording(s) stored before with another source content, label or "
                            "labels.csv row; their old windows were removed (each recording is stored once)",
                            os.fspath(out), report.n_replaced)
            import pandas as pd

            atomic_write_text(out / "errors.csv", pd.DataFrame(report.errors, columns=["source", "error"]).to_csv(index=False))
            consolidate(out)
            report.seconds = time.perf_counter() - t0
            atomic_write_text(out / "build_report.json", json.dumps(report.to_dict(), indent=2, default=_json_default))
    if first_error is not None:
        raise NeurosigError(first_error)
    return report
