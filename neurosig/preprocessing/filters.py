"""Filter design and chunk-wise application (FIR via FFT overlap-add, IIR via SOS), no torch.

The FIR taps come from MNE's own designer (``mne.filter.create_filter``), so a chunked run with
enough overlap gives the output ``raw.filter`` gives on the whole file. Notch and band-pass taps
are convolved into one filter: one FFT pass per chunk instead of two.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal as ss


def notch_freqs(line: float, sfreq: float, upper: float | None, harmonics: bool) -> list[float]:
    """Mains frequency and harmonics strictly below ``upper`` (low-pass edge) and Nyquist - 1 Hz."""
    nyq = sfreq / 2.0
    top = min(nyq - 1.0, upper if upper is not None else np.inf)
    out = []
    k = 1
    while line * k < top:
        out.append(line * k)
        if not harmonics:
            break
        k += 1
    return out


def fir_taps(sfreq: float, l_freq: float | None, h_freq: float | None, notch: list[float]) -> np.ndarray | None:
    """Combined zero-phase FIR (odd length) for band-pass and notches, MNE's firwin design."""
    import mne

    taps = None
    if l_freq is not None or h_freq is not None:
        taps = mne.filter.create_filter(None, sfreq, l_freq, h_freq, verbose="error")
    if notch:
        f = np.asarray(notch, dtype=float)
        w = f / 200.0  # MNE's default notch width
        lows, highs = f - w / 2 - 0.5, f + w / 2 + 0.5
        hn = mne.filter.create_filter(None, sfreq, highs, lows, l_trans_bandwidth=0.5, h_trans_bandwidth=0.5, verbose="error")
        taps = hn if taps is None else np.convolve(taps, hn)
    return None if taps is None else np.asarray(taps, dtype=np.float64)


def iir_sos(sfreq: float, l_freq: float | None, h_freq: float | None, notch: list[float], order: int = 4) -> np.ndarray | None:
    """Butterworth band-pass (order per edge) plus 2nd-order notches, as one SOS cascade."""
    nyq = sfreq / 2.0
    parts = []
    if l_freq is not None and h_freq is not None:
        parts.append(ss.butter(order, [l_freq / nyq, h_freq / nyq], btype="bandpass", output="sos"))
    elif l_freq is not None:
        parts.append(ss.butter(order, l_freq / nyq, btype="highpass", output="sos"))
    elif h_freq is not None:
        parts.append(ss.butter(order, h_freq / nyq, btype="lowpass", output="sos"))
    for f in notch:
        b, a = ss.iirnotch(f, Q=30.0, fs=sfreq)
        parts.append(ss.tf2sos(b, a))
    return np.concatenate(parts, axis=0) if parts else None


def iir_settle(sfreq: float, l_freq: float | None, h_freq: float | None) -> int:
    """Samples an IIR cascade needs to settle (the chunk overlap for IIR filtering)."""
    lo = l_freq if l_freq is not None else (h_freq if h_freq is not None else sfreq / 4)
    return int(np.ceil(sfreq * 6.0 / max(lo, 1e-3)))


def resample_factors(sfreq: float, target: float | None) -> tuple[int, int]:
    """Integer ``(up, down)`` with ``sfreq * up / down ≈ target`` (exact for usual rates)."""
    if target is None or abs(target - sfreq) < 1e-9:
        return 1, 1
    fr = Fraction(target / sfreq).limit_denominator(1000)
    return fr.numerator, fr.denominator


def resample_half(up: int, down: int) -> int:
    """Half length of ``scipy.signal.resample_poly``'s default filter, in input samples."""
    if up == down == 1:
        return 0
    g = np.gcd(up, down)
    up, down = up // g, down // g
    return int(np.ceil(10 * max(up, down) / up)) + 1


def apply_fir_valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``x (..., N)`` → ``(..., N - len(taps) + 1)`` zero-phase (centred) FIR, float32 FFT."""
    h = taps.astype(x.dtype)
    shape = (1,) * (x.ndim - 1) + (h.size,)
    return ss.oaconvolve(x, h.reshape(shape), mode="valid", axes=-1)


def odd_pad(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Odd reflection about the end samples (MNE's ``reflect_limited``), zeros beyond the data."""
    n = x.shape[-1]
    parts = []
    if left:
        k = min(left, n - 1)
        ref = 2 * x[..., :1] - x[..., k:0:-1]
        parts.append(np.concatenate([np.zeros(x.shape[:-1] + (left - k,), x.dtype), ref], axis=-1) if left > k else ref)
    parts.append(x)
    if right:
        k = min(right, n - 1)
        ref = 2 * x[..., -1:] - x[..., -2 : -2 - k : -1]
        parts.append(np.concatenate([ref, np.zeros(x.shape[:-1] + (right - k,), x.dtype)], axis=-1) if right > k else ref)
    return np.concatenate(parts, axis=-1)
