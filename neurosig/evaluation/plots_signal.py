"""Signal figures for reports: power spectra and raw traces (matplotlib, no display needed).

Figures are built with :class:`matplotlib.figure.Figure` (Agg canvas), never through
``pyplot``'s global state, so they work on headless machines and in worker processes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError


def _check_windows(x: np.ndarray, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]  # (1, C, T)
    if x.ndim != 3 or x.shape[-1] < 2 or x.shape[0] < 1:
        raise NeurosigError(f"{name} must have shape (n_windows, n_channels, n_times) or (n_channels, n_times), got {x.shape}.")
    return x


def mean_psd(x: np.ndarray, sfreq: float, *, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD per channel averaged over windows.

    x: ``(N, C, T)`` (or ``(C, T)``), any unit U. Returns ``freqs (F,)`` in Hz and
    ``psd (C, F)`` in U²/Hz (one-sided, mean-detrended per segment).
    """
    from scipy.signal import welch

    x = _check_windows(x)
    if not sfreq > 0:
        raise NeurosigError(f"sfreq must be > 0, got {sfreq!r}.")
    t = x.shape[-1]
    nper = int(min(t, nperseg or max(16, min(t, int(round(2 * sfreq))))))  # 2 s segments by default
    freqs, p = welch(x, fs=sfreq, nperseg=nper, axis=-1)  # p: (N, C, F)
    p = np.nanmean(p, axis=0)  # (C, F)
    return freqs, p


def _panel(entry: tuple, unit: str) -> tuple:
    """``(title, x, sfreq, ch_names[, unit])`` → 5-tuple with the default unit filled in."""
    if len(entry) not in (4, 5):
        raise NeurosigError(f"a panel is (title, x, sfreq, ch_names[, unit]), got {len(entry)} items.")
    return tuple(entry) if len(entry) == 5 else (*entry, unit)


def plot_psd(
    panels: Sequence[tuple],
    path: str | os.PathLike,
    *,
    unit: str = "µV",
    fmax: float | None = None,
    title: str = "Power spectral density (Welch, mean over windows)",
) -> Path:
    """One PSD panel per entry ``(title, x (N, C, T), sfreq, ch_names[, unit])``; writes a PNG.

    Each channel is a thin line, the median over channels a thick one; log power axis.
    ``unit`` is the default signal unit of panels that do not name their own.
    """
    from matplotlib.figure import Figure

    if not panels:
        raise NeurosigError("plot_psd needs at least one (title, x, sfreq, ch_names) panel.")
    n = len(panels)
    fig = Figure(figsize=(5.0 * n, 3.6), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, x, sfreq, ch_names, u) in zip(axes, (_panel(e, unit) for e in panels)):
        freqs, p = mean_psd(x, sfreq)  # (F,), (C, F)
        keep = freqs > 0
        if fmax is not None:
            keep &= freqs <= fmax
        for c in range(p.shape[0]):
            ax.semilogy(freqs[keep], p[c, keep], lw=0.6, alpha=0.5)
        ax.semilogy(freqs[keep], np.median(p[:, keep], axis=0), lw=2.0, color="k", label="median over channels")
        ax.set_title(f"{name} ({p.shape[0]} ch, {sfreq:g} Hz)", fontsize=10)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel(f"power ({u}²/Hz)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_traces(
    panels: Sequence[tuple],
    path: str | os.PathLike,
    *,
    unit: str = "µV",
    max_channels: int = 16,
    title: str = "Raw traces (one window per data set)",
) -> Path:
    """Stacked traces of one window per entry ``(title, x (C, T), sfreq, ch_names[, unit])``; writes a PNG.

    Channels are offset by a common spacing (4 × the median channel s.d.) so amplitudes are
    comparable within a panel; the scale bar states the spacing in ``unit``.
    """
    from matplotlib.figure import Figure

    if not panels:
        raise NeurosigError("plot_traces needs at least one (title, x, sfreq, ch_names) panel.")
    n = len(panels)
    fig = Figure(figsize=(5.0 * n, 5.0), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, x, sfreq, ch_names, u) in zip(axes, (_panel(e, unit) for e in panels)):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise NeurosigError(f"plot_traces: panel {name!r} needs x of shape (n_channels, n_times), got {x.shape}.")
        x = x[:max_channels]
        names = list(ch_names)[: x.shape[0]]
        x = x - x.mean(axis=1, keepdims=True)
        spacing = 4.0 * float(np.median(x.std(axis=1))) or 1.0
        t = np.arange(x.shape[1]) / sfreq
        for c in range(x.shape[0]):
            ax.plot(t, x[c] - c * spacing, lw=0.7)
        ax.set_yticks([-c * spacing for c in range(x.shape[0])], names, fontsize=7)
        ax.set_xlabel("time (s)")
        ax.set_title(f"{name} (spacing {spacing:.3g} {u})", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
