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
