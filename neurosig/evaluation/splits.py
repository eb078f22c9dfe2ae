"""Deterministic, subject-disjoint splits saved with each run (``split.json``).

Uses the data-core :func:`neurosig.datasets.subject_split` when it is available (one
definition of the split for the whole package); otherwise the same idea here: each subject goes
to a split by a SHA-256 hash of ``(seed, subject)``, so the result never depends on hardware,
library versions or the order of the input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.rng import stable_hash_int


def _fallback_subject_split(subjects, fractions, seed, names) -> dict[str, np.ndarray]:
    subjects = np.asarray([str(s) for s in subjects])
    uniq = sorted(set(subjects.tolist()), key=lambda s: (stable_hash_int(seed, s), s))
    n = len(uniq)
    counts = [int(round(f * n)) for f in fractions]
    # every non-empty fraction gets at least one subject when there are enough subjects
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0 and n >= len(fractions):
            counts[i] = 1
    counts[0] = n - sum(counts[1:])
    out, k = {}, 0
    for name, c in zip(names, counts):
        chosen = set(uniq[k : k + c])
        k += c
        out[name] = np.flatnonzero(np.isin(subjects, list(chosen)))
    return out


def subject_disjoint_split(
    subjects: Sequence, fractions=(0.8, 0.1, 0.1), seed: int = 0, names=("train", "val", "test")
) -> dict[str, np.ndarray]:
    """Window indices per split; no subject appears in two splits."""
    if len(fractions) != len(names):
        raise NeurosigError(f"fractions ({len(fractions)}) and names ({len(names)}) must have the same length.")
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise NeurosigError(f"fractions must be >= 0 and sum to 1, got {tuple(fractions)}.")
    try:
        from neurosig.datasets import subject_split  # data-core owner's definition
    except ImportError:
        subject_split = None
    if subject_split is not None:
        split = subject_split(list(subjects), fractions=tuple(fractions), seed=seed, names=tuple(names))
        split = {k: np.asarray(v) for k, v in split.items()}
        if len(split) and all(v.dtype.kind in "iu" for v in split.values()):
            return split
    return _fallback_subject_split(subjects, fractions, seed, names)


def check_disjoint_subjects(subjects: Sequence, split: dict[str, np.ndarray]) -> None:
    """Raise if any subject appears in two splits."""
    subjects = np.asarray([str(s) for s in subjects])
    seen: dict[str, str] = {}
    for name, idx in split.items():
        for s in set(subjects[np.asarray(idx, dtype=np.int64)].tolist()):
            if s in seen and seen[s] != name:
                raise NeurosigError(f"subject {s!r} is in both split {seen[s]!r} and {name!r}; splits must be subject-disjoint.")
            seen[s] = name


def save_split(path: str | os.PathLike, split: dict[str, np.ndarray], subjects: Sequence | None = None, **meta) -> Path:
    """Write ``split.json``: indices (and subjects) per split plus metadata (seed, fractions ...)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "indices": {k: np.asarray(v).astype(int).tolist() for k, v in split.items()}}
    if subjects is not None:
        subj = np.asarray([str(s) for s in subjects])
        doc["subjects"] = {k: sorted(set(subj[np.asarray(v, dtype=np.int64)].tolist())) for k, v in split.items()}
    tmp = p.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(p)
    return p


def load_split(path: str | os.PathLike) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise NeurosigError(f"split file {os.fspath(p)!r} not found; it is written by `neurosig finetune fit`.")
    doc = json.loads(p.read_text())
    return {k: np.asarray(v, dtype=np.int64) for k, v in doc["indices"].items()}
