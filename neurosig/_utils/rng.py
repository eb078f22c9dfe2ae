"""Local random generators: no global seeding anywhere in the library."""

from __future__ import annotations

import hashlib

import numpy as np


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy Generator from a seed (or pass one through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def stable_hash_int(*parts: object, bits: int = 63) -> int:
    """A platform-independent integer hash of ``parts`` (for deterministic, hardware-free splits)."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") & ((1 << bits) - 1)


def check_seeds(seeds: list[int], text: str, flag: str = "--seeds") -> list[int]:
    """``seeds`` parsed from ``text`` (the user's ``flag`` value): each in numpy's / Lightning's range 0..2**32-1 and
    listed once (each seed is one run); else a one-line error naming the flag."""
    from neurosig._utils.errors import NeurosigError

    bad = [s for s in seeds if not 0 <= s < 2**32]  # -1 was "ValueError: -1 is not in bounds" from numpy
    if bad:
        raise NeurosigError(f"{flag} {text!r}: seeds must be integers from 0 to {2**32 - 1}, got {bad[0]}.")
    if len(set(seeds)) != len(seeds):
        raise NeurosigError(f"{flag} {text!r} lists a seed twice; each seed is one run.")
    return seeds
