"""Subject-disjoint, deterministic, hardware-independent splits.

Subjects are ordered by a SHA-256 hash of ``(seed, subject)`` (no RNG state, no platform
dependence) and cut into consecutive groups sized by ``fractions``; every window of a subject
lands in the same split. :func:`check_disjoint` raises when two splits share a subject.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.rng import stable_hash_int


def subject_split(
    subjects: Sequence[str] | np.ndarray,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    names: Sequence[str] = ("train", "val", "test"),
) -> dict[str, np.ndarray]:
    """Indices into ``subjects`` (one entry per window) per split name, disjoint by subject.

    Each split with a non-zero fraction gets at least one subject when there are enough
    subjects. The result depends only on the subject ids, ``fractions`` and ``seed``.
    """
    subj = np.asarray([str(s) for s in subjects])
    fr = [float(f) for f in fractions]
    if len(fr) != len(names):
        raise NeurosigError(f"subject_split: {len(fr)} fractions but {len(names)} names; give one fraction per split name.")
    if any(f < 0 for f in fr) or not np.isclose(sum(fr), 1.0, atol=1e-6):
        raise NeurosigError(f"subject_split: fractions {tuple(fr)} must be >= 0 and sum to 1.")
    if len(set(names)) != len(names):
        raise NeurosigError(f"subject_split: split names {tuple(names)} must be unique.")
    uniq = sorted(set(subj.tolist()), key=lambda s: (stable_hash_int("split", seed, s), s))
    n = len(uniq)
    # subjects per split: largest-remainder rounding, then make sure non-zero fractions get one
    raw = np.array(fr) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i, f in enumerate(fr):
        if f > 0 and counts[i] == 0 and n >= int(np.count_nonzero(fr)):
            donor = int(np.argmax(counts))
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[i] += 1
    bounds = np.concatenate([[0], np.cumsum(counts)])
    assign = {}
    for k, name in enumerate(names):
        for s in uniq[bounds[k] : bounds[k + 1]]:
            assign[s] = name
    out = {name: np.flatnonzero(np.array([assign.get(s) == name for s in subj], dtype=bool)) for name in names}
    empty = [name for name, f, c in zip(names, fr, counts) if f > 0 and c == 0]
    if empty:
        import warnings

        warnings.warn(f"subject_split: {n} subject(s) for {int(np.count_nonzero(fr))} splits with a non-zero fraction, so "
                      f"{', '.join(repr(e) for e in empty)} get no windows; splits are disjoint by subject — use more "
                      "subjects, or split windows within a subject (e.g. the store's standard train/test split).",
                      stacklevel=2)
    return out


def check_disjoint(**splits: Iterable[str]) -> None:
    """Raise a one-line error naming the splits and the subjects they share, if any."""
    sets = {name: set(map(str, v)) for name, v in splits.items()}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = sets[a] & sets[b]
            if common:
                shown = ", ".join(sorted(common)[:10]) + (" ..." if len(common) > 10 else "")
                raise NeurosigError(
                    f"splits {a!r} and {b!r} share {len(common)} subject(s): {shown}; "
                    "use neurosig.datasets.subject_split so every subject is in one split only."
                )
