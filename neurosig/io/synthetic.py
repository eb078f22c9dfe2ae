"""Synthetic recordings for tests, examples and benchmarks (no torch).

:func:`write_edf` is a small EDF/EDF+ writer with control over every header field, so tests can
make broken files on purpose (physical min == max, truncated data, mixed rates, duplicate names,
unreadable dates). :func:`write_synthetic_edf` streams a long EEG-like EDF record by record
(a day-long file never sits in memory).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

STANDARD_23 = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4", "T5", "P3", "Pz", "P4",
               "T6", "O1", "O2", "A1", "A2", "Fpz", "Oz"]


def _field(value, width: int) -> bytes:
    s = str(value)
    if isinstance(value, float):
        s = f"{value:.6g}" if len(f"{value:.6g}") <= width else f"{value:.{max(1, width - 6)}e}"
    b = s.encode("latin-1")[:width]
    return b + b" " * (width - len(b))


def _tal_bytes(annotations: Sequence[tuple[float, float, str]], n_bytes: int, onset0: float) -> bytes:
    out = f"+{onset0:g}\x14\x14\x00".encode("latin-1")
    for onset, dur, desc in annotations:
        dur_s = f"\x15{dur:g}" if dur > 0 else ""
        out += f"{onset:+g}{dur_s}\x14{desc}\x14\x00".encode("latin-1")
    if len(out) > n_bytes:
        raise ValueError(f"annotations need {len(out)} bytes, the annotation signal holds {n_bytes}")
    return out + b"\x00" * (n_bytes - len(out))


def write_edf(
    path: str | os.PathLike,
    ch_names: Sequence[str],
    sfreq: float | Sequence[float],
    n_records: int,
    read_record: Callable[[int], list[np.ndarray]] | np.ndarray,
    *,
    record_s: float = 1.0,
    phys_range: Sequence[tuple[float, float]] | tuple[float, float] = (-1000.0, 1000.0),
    phys_dim: str = "uV",
    startdate: str = "01.01.20",
    starttime: str = "00.00.00",
    annotations: Sequence[tuple[float, float, str]] | None = None,
    header_records: int | None = None,
    bdf: bool = False,
) -> str:
    """Write an EDF (EDF+ when ``annotations`` are given) and return its path.

    read_record: ``(C, N)`` physical data (e.g. µV), or a function ``k -> list of per-channel
        arrays`` for record ``k`` (streaming). sfreq may differ per channel (``samples per record
        = sfreq * record_s``). header_records: the count written in the header (defaults to
        ``n_records``; set it larger to fake a truncated file).
    """
    C = len(ch_names)
    rates = [float(sfreq)] * C if np.isscalar(sfreq) else [float(s) for s in sfreq]
    spr = [int(round(r * record_s)) for r in rates]
    ranges = [tuple(phys_range)] * C if np.isscalar(phys_range[0]) else [tuple(r) for r in phys_range]
    dmin, dmax = (-(2 ** 23), 2 ** 23 - 1) if bdf else (-32768, 32767)
    labels = list(ch_names)
    n_sig = C + (1 if annotations is not None else 0)
    annot_spr = 0
    if annotations is not None:
        need = 20 + sum(len(f"{o:+g}\x15{d:g}\x14{s}\x14\x00") for o, d, s in annotations)
        annot_spr = max(30, (need + 1) // 2 + 8)
    if isinstance(read_record, np.ndarray):
        arr = read_record

        def read_record(k, arr=arr):  # noqa: E306
            return [arr[c, k * spr[c] : (k + 1) * spr[c]] for c in range(C)]

    hdr = bytearray()
    hdr += (b"\xffBIOSEMI" if bdf else _field("0", 8))
    hdr += _field("X X X X", 80) + _field("Startdate X X X X", 80)
    hdr += _field(startdate, 8) + _field(starttime, 8)
    hdr += _field(256 * (n_sig + 1), 8)
    hdr += _field("EDF+C" if annotations is not None else ("24BIT" if bdf else ""), 44)
    hdr += _field(header_records if header_records is not None else n_records, 8)
    hdr += _field(record_s if record_s != int(record_s) else int(record_s), 8)
    hdr += _field(n_sig, 4)
    all_labels = labels + (["EDF Annotations"] if annotations is not None else [])
    pmins = [r[0] for r in ranges] + ([-1] if annotations is not None else [])
    pmaxs = [r[1] for r in ranges] + ([1] if annotations is not None else [])
    sprs = spr + ([annot_spr] if annotations is not None else [])
    dims = [phys_dim] * C + ([""] if annotations is not None else [])
    for vals, w in ((all_labels, 16), (["AgAgCl electrode"] * C + ([""] if annotations is not None else []), 80), (dims, 8),
                    (pmins, 8), (pmaxs, 8), ([dmin] * n_sig, 8), ([dmax] * n_sig, 8), ([""] * n_sig, 80), (sprs, 8), ([""] * n_sig, 32)):
        for v in vals:
            hdr += _field(v if not isinstance(v, float) or v != int(v) else int(v), w)
    bps = 3 if bdf else 2
    uniform = annotations is None and not bdf and len(set(spr)) == 1 and all(r[1] != r[0] for r in ranges)
    with open(path, "wb") as fh:
        fh.write(bytes(hdr))
        if uniform:  # fast path: many records per write, (K, C, spr) int16 is the record layout
            lo = np.array([r[0] for r in ranges], dtype=np.float64)[None, :, None]
            hi = np.array([r[1] for r in ranges], dtype=np.float64)[None, :, None]
            for k0 in range(0, n_records, 256):
                recs = np.stack([np.stack([np.asarray(v, dtype=np.float64) for v in read_record(k)]) for k in range(k0, min(n_records, k0 + 256))])
                d = np.clip(np.round((recs - lo) / (hi - lo) * (dmax - dmin) + dmin), dmin, dmax)
                fh.write(d.astype("<i2").tobytes())
            return os.fspath(path)
        for k in range(n_records):
            sig = read_record(k)
            for c in range(C):
                lo, hi = ranges[c]
                x = np.asarray(sig[c], dtype=np.float64)
                if hi != lo:
                    d = np.round((x - lo) / (hi - lo) * (dmax - dmin) + dmin)
                else:
                    d = np.zeros_like(x)
                d = np.clip(d, dmin, dmax).astype(np.int32)
                if bps == 2:
                    fh.write(d.astype("<i2").tobytes())
                else:
                    b = d.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
                    fh.write(b.tobytes())
            if annotations is not None:
                fh.write(_tal_bytes(annotations if k == 0 else [], annot_spr * 2, k * record_s))
    return os.fspath(path)


def synthetic_eeg(n_channels: int, n_times: int, sfreq: float, *, seed: int = 0, t0: int = 0) -> np.ndarray:
    """EEG-like µV signals ``(C, N)``: 10 Hz alpha + 50 Hz mains + slow drift + noise (deterministic in ``t0``)."""
    rng = np.random.default_rng([seed, t0])
    t = (t0 + np.arange(n_times)) / sfreq
    ch = np.arange(n_channels)[:, None]
    x = 20 * np.sin(2 * np.pi * 10.0 * t + ch) + 5 * np.sin(2 * np.pi * 50.0 * t) + 30 * np.sin(2 * np.pi * 0.05 * t + ch)
    return x + rng.normal(0, 10, (n_channels, n_times))


def write_synthetic_edf(path: str | os.PathLike, *, seconds: float, sfreq: float = 256.0, ch_names: Sequence[str] = STANDARD_23,
                        seed: int = 0, record_s: float = 1.0, annotations: Sequence[tuple[float, float, str]] | None = None) -> str:
    """A long EEG-like EDF written record by record (constant memory)."""
    n_rec = int(seconds // record_s)
    spr = int(round(sfreq * record_s))
    C = len(ch_names)
    block = max(1, int(600 // record_s))  # generate 10 minutes at a time
    cache: dict[int, np.ndarray] = {}

    def read_record(k: int):
        b = k // block
        if b not in cache:
            cache.clear()
            n = min(block, n_rec - b * block) * spr
            cache[b] = synthetic_eeg(C, n, sfreq, seed=seed, t0=b * block * spr)
        j = (k - b * block) * spr
        return [cache[b][c, j : j + spr] for c in range(C)]

    return write_edf(path, ch_names, sfreq, n_rec, read_record, record_s=record_s, phys_range=(-1000.0, 1000.0),
                     annotations=annotations)


def write_brainvision(directory: str | os.PathLike, x: np.ndarray, sfreq: float = 250.0, names: Sequence[str] = ("Cz", "Pz"),
                      markers: Sequence[tuple[str, str, int]] = (("Stimulus", "S  1", 501),), stem: str = "rec") -> str:
    """A minimal BrainVision triplet (``.vhdr`` / ``.vmrk`` / ``.eeg``; float32, multiplexed, µV) of ``x`` (C, T) µV in
    ``directory``; ``markers``: (type, description, 1-based sample) after the "New Segment" marker. Returns the
    ``.vhdr`` path."""
    d = os.fspath(directory)
    with open(os.path.join(d, f"{stem}.eeg"), "wb") as fh:
        fh.write(np.ascontiguousarray(np.asarray(x).T, dtype="<f4").tobytes())
    chans = "\n".join(f"Ch{i + 1}={n},,1,µV" for i, n in enumerate(names))
    with open(os.path.join(d, f"{stem}.vhdr"), "w", encoding="utf-8") as fh:
        fh.write("Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
                 f"DataFile={stem}.eeg\nMarkerFile={stem}.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
                 f"NumberOfChannels={len(names)}\nSamplingInterval={1e6 / sfreq:g}\n\n[Binary Infos]\n"
                 f"BinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n{chans}\n")
    mk = "".join(f"Mk{i + 2}={t},{desc},{s},1,0\n" for i, (t, desc, s) in enumerate(markers))
    with open(os.path.join(d, f"{stem}.vmrk"), "w", encoding="utf-8") as fh:
        fh.write("Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
                 f"DataFile={stem}.eeg\n\n[Marker Infos]\nMk1=New Segment,,1,1,0\n" + mk)
    return os.path.join(d, f"{stem}.vhdr")
