"""Sensor positions: standard-montage lookup (case-insensitive), custom files, name cleaning.

All positions are metres in the MNE head frame. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import os
import re
import warnings

import numpy as np

from neurosig._utils.errors import NeurosigError

# Montages tried in order for ``positions="auto"`` (newer MNE names first, older as fallback).
STANDARD_MONTAGES = ("colin27_1005", "standard_1005", "colin27_postfixed", "standard_postfixed", "biosemi64", "GSN-HydroCel-129")
# Old/new 10-20 names that denote the same site.
ALIASES = {"t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8", "t7": "t3", "t8": "t4", "p7": "t5", "p8": "t6"}
_PREFIX = re.compile(r"^(eeg|meg|ecg|eog|emg)[\s_:]+", re.IGNORECASE)
_SUFFIX = re.compile(r"[-_:](ref|le|ar|avg|cz|linked|m1m2)$", re.IGNORECASE)


def clean_name(name: str) -> str:
    """Strip the decorations EEG files put around an electrode name (``'EEG FP1-REF'`` → ``'FP1'``)."""
    n = name.strip().rstrip(".").strip()
    n = _PREFIX.sub("", n)
    n = _SUFFIX.sub("", n)
    return n.strip()


def _montage_positions(montage) -> dict[str, np.ndarray]:
    """Head-frame positions of a montage's electrodes (via a throwaway Info)."""
    import mne

    names = montage.ch_names
    info = mne.create_info(names, 100.0, "eeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info.set_montage(montage, on_missing="ignore")
    return {ch["ch_name"]: np.array(ch["loc"][:3], dtype=float) for ch in info["chs"]}


@functools.lru_cache(maxsize=None)
def standard_positions() -> dict[str, np.ndarray]:
    """Lower-cased electrode name → head-frame position (m), merged over :data:`STANDARD_MONTAGES`."""
    import mne

    out: dict[str, np.ndarray] = {}
    available = set(mne.channels.get_builtin_montages())
    for name in STANDARD_MONTAGES:
        if name not in available:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mont = mne.channels.make_standard_montage(name)
        for ch, p in _montage_positions(mont).items():
            if np.all(np.isfinite(p)):
                out.setdefault(ch.lower(), p)
    return out


def lookup(names: list[str], table: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Positions ``(C, 3)`` of ``names`` in ``table`` (lower-cased keys); NaN rows + list of misses."""
    pos = np.full((len(names), 3), np.nan)
    missing = []
    for i, n in enumerate(names):
        # MNE renames duplicated labels NAME-0, NAME-1: they are still electrode NAME
        for cand in (n, clean_name(n), re.sub(r"-\d+$", "", clean_name(n))):
            k = cand.lower()
            p = table.get(k)
            if p is None and k in ALIASES:
                p = table.get(ALIASES[k])
            if p is not None:
                pos[i] = p
                break
        else:
            missing.append(n)
    return pos, missing


def read_positions_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Positions from any file ``mne.channels.read_custom_montage`` reads (lower-cased names, head frame)."""
    import mne

    p = os.fspath(path)
    if not os.path.exists(p):
        raise NeurosigError(f"positions file {p!r} does not exist; pass a montage file (.elc, .sfp, .loc, .bvef, .csd, .txt ...) or --positions auto|none.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mont = mne.channels.read_custom_montage(p)
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one line
        raise NeurosigError(f"positions file {p!r} could not be read ({type(err).__name__}: {err}); use a format mne.channels.read_custom_montage reads.") from None
    table = {k.lower(): v for k, v in _montage_positions(mont).items() if np.all(np.isfinite(v))}
    if not table:
        raise NeurosigError(f"positions file {p!r} holds no usable positions; check the file.")
    return table


def unknown_positions_error(source: str, missing: list[str]) -> NeurosigError:
    shown = ", ".join(missing[:20]) + (f" ... ({len(missing)} in all)" if len(missing) > 20 else "")
    return NeurosigError(
        f"{source}: no known position for channel(s) {shown}; either pass --positions none "
        "(train without positions), pass --positions FILE (a montage file with these names), "
        "or rename the channels to standard 10-05 names."
    )
