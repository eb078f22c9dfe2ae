"""Deterministic, subject-disjoint splits saved with each run (``split.json``).

Uses the data-core :func:`neurosig.datasets.subject_split` when it is available (one
definition of the split for the whole package); otherwise the same idea here: each subject goes
to a split by a SHA-256 hash of ``(seed, subject)``, so the result never depends on hardware,
library versions or the order of the input.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger

log = get_logger("evaluation.splits")


def subject_disjoint_split(
    subjects: Sequence, fractions=(0.8, 0.1, 0.1), seed: int = 0, names=("train", "val", "test")
) -> dict[str, np.ndarray]:
    """Window indices per split; no subject appears in two splits."""
    if len(fractions) != len(names):
        raise NeurosigError(f"fractions ({len(fractions)}) and names ({len(names)}) must have the same length.")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise NeurosigError(f"fractions must be >= 0 and sum to 1, got {tuple(fractions)}.")
    from neurosig.datasets import subject_split

    return {k: np.asarray(v) for k, v in subject_split(list(subjects), fractions=tuple(fractions), seed=seed, names=tuple(names)).items()}


def check_disjoint_subjects(subjects: Sequence, split: dict[str, np.ndarray]) -> None:
    """Raise if any subject appears in two splits."""
    subjects = np.asarray([str(s) for s in subjects])
    seen: dict[str, str] = {}
    for name, idx in split.items():
        for s in set(subjects[np.asarray(idx, dtype=np.int64)].tolist()):
            if s in seen and seen[s] != name:
                raise NeurosigError(f"subject {s!r} is in both split {seen[s]!r} and {name!r}; splits must be subject-disjoint.")
            seen[s] = name


def window_fingerprint(window_ids: Sequence) -> dict:
    """What a split's indices refer to: the number of windows and a SHA-256 of their ids in row order.

    Saved with the split (``save_split(..., windows=...)``) so that re-evaluating it on another store
    (same row numbers, other windows) is caught instead of silently scoring the wrong windows.
    """
    ids = [str(i) for i in window_ids]
    return {"n_windows": len(ids), "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest()}


def save_split(path: str | os.PathLike, split: dict[str, np.ndarray], subjects: Sequence | None = None, *,
               windows: dict | None = None, **meta) -> Path:
    """Write ``split.json``: indices (and subjects) per split plus metadata (seed, fractions ...).

    ``windows``: the :func:`window_fingerprint` of the data the indices refer to (checked by
    :func:`load_split`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "indices": {k: np.asarray(v).astype(int).tolist() for k, v in split.items()}}
    if windows is not None:
        doc["windows"] = dict(windows)
    if subjects is not None:
        subj = np.asarray([str(s) for s in subjects])
        doc["subjects"] = {k: sorted(set(subj[np.asarray(v, dtype=np.int64)].tolist())) for k, v in split.items()}
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(p)
    return p


def load_split(path: str | os.PathLike, *, windows: dict | None = None, subjects: Sequence | None = None,
               data: str | None = None, with_meta: bool = False):
    """Indices per split from ``split.json`` (``(split, meta)`` with ``with_meta``).

    ``windows``: the :func:`window_fingerprint` of the data about to be indexed (``data`` names it in
    errors); a split saved with another fingerprint raises. One saved without one (older runs) is
    checked for indices in range and, given the data's per-row ``subjects``, for the subjects it
    saved per split, with a warning that the store itself cannot be checked.
    """
    p = Path(path)
    where = os.fspath(p)
    if not p.is_file():
        raise NeurosigError(f"split file {where!r} not found; it is written by `neurosig finetune fit`.")
    fix = "re-run `neurosig finetune fit` to write it again"
    try:
        doc = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise NeurosigError(f"split file {where!r} is damaged (not valid JSON: {e}); {fix}.") from None
    try:
        split = {str(k): np.asarray(v, dtype=np.int64).reshape(-1) for k, v in doc["indices"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        raise NeurosigError(f"split file {where!r} has no valid 'indices' (lists of window rows per split); {fix}.") from None
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    if windows is not None:
        on = f"--data {data!r}" if data else "the data given"
        saved = doc.get("windows")
        if isinstance(saved, dict):
            if saved.get("n_windows") != windows.get("n_windows") or saved.get("ids_sha256") != windows.get("ids_sha256"):
                same = ", the same count but other windows" if saved.get("n_windows") == windows.get("n_windows") else ""
                raise NeurosigError(f"split file {where!r} indexes another store ({saved.get('n_windows')} windows) than {on} "
                                    f"({windows.get('n_windows')} windows{same}); pass the --data this run was fit on, "
                                    "or fit a new run on this store.")
        else:
            n = int(windows.get("n_windows", 0))
            top = max((int(v.max()) for v in split.values() if v.size), default=-1)
            if top >= n or any(int(v.min()) < 0 for v in split.values() if v.size):
                raise NeurosigError(f"split file {where!r} indexes window {top} but {on} has {n} windows; pass the --data "
                                    "this run was fit on, or fit a new run on this store.")
            saved_subj = doc.get("subjects")
            if subjects is not None and isinstance(saved_subj, dict):
                subj = np.asarray([str(x) for x in subjects])
                for k, v in split.items():
                    have = sorted(set(subj[v].tolist()))
                    if k in saved_subj and have != sorted(str(x) for x in saved_subj[k]):
                        raise NeurosigError(f"split file {where!r} was made on another store: its {k!r} rows hold subjects "
                                            f"{have[:3]} in {on}, not the saved {sorted(saved_subj[k])[:3]}; pass the --data "
                                            "this run was fit on, or fit a new run on this store.")
            log.warning("split file %s predates store fingerprints: cannot check that %s is the store it was made on",
                        where, on)
    return (split, meta) if with_meta else split
