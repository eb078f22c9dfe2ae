"""Spectral helpers: STFT patches (through the kernels package's dispatcher) and per-patch
Fourier amplitude/phase targets.

``stft_patches(x, n_fft, hop, window=None, center=False, output="logmag_phase")`` is
``neurosig.kernels.ops.stft_patches`` (same signature, semantics and errors) with two extras:
``output="mag"`` is accepted as another name for ``"magnitude"``, and ``output="complex"``
returns the complex spectrum ``X`` (computed by :func:`stft_patches_reference`: the kernels
write no complex output). x (..., T) -> (..., n_frames, n_fft//2 + 1) frames of a periodic
Hann window (or ``window``), ``n_frames = 1 + (T' - n_fft) // hop`` with
``T' = T + 2 * (n_fft // 2)`` when ``center`` (reflect padding, which needs ``T > n_fft // 2``)
else ``T``. ``output``: ``"logmag_phase"`` -> (log(|X| + 1e-6), angle in (-pi, pi]),
``"magnitude"``/``"mag"`` -> |X|, ``"complex"`` -> X. Real outputs have the dtype of ``x``
(computed in float32, float64 for float64 input); ``X`` is complex64 (complex128 for float64).

:func:`stft_patches_reference` is an independent pure-torch implementation (``unfold`` +
``rfft``) that takes the same arguments, validates them with the same checks and returns the
same outputs; it is what the kernels are cross-checked against in the tokenizer tests.
"""

from __future__ import annotations

import math

import torch

from neurosig._utils.validation import check_option
from neurosig.kernels.ops import LOG_EPS, _stft_checks
from neurosig.kernels.ops import stft_patches as _kernel_stft_patches

OUTPUTS = ("logmag_phase", "magnitude", "mag", "complex")
_ALIASES = {"mag": "magnitude"}


def _output(output: str) -> str:
    """The kernels' name for ``output`` ("mag" -> "magnitude"); raises on an unknown one."""
    check_option(output, OUTPUTS, "output")
    return _ALIASES.get(output, output)


def stft_patches_reference(x, n_fft: int, hop: int, window=None, center: bool = False, output: str = "logmag_phase"):
    """Pure-torch STFT frames (see module doc): ``unfold`` + ``rfft``, the same checks as the kernels."""
    out = _output(output)
    # the kernels' argument checks (n_fft, hop, window, center, signal length); "complex" is ours
    window = _stft_checks(x, n_fft, hop, window, center, "magnitude" if out == "complex" else out)
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    xc = x.to(compute)
    if center:
        pad = n_fft // 2
        lead = xc.shape[:-1]
        xc = torch.nn.functional.pad(xc.reshape(-1, 1, xc.shape[-1]), (pad, pad), mode="reflect").reshape(*lead, -1)
    frames = xc.unfold(-1, n_fft, hop)  # (..., n_frames, n_fft)
    if frames.numel() == 0:  # empty batch: the FFT backends fail on it
        spec = torch.zeros(frames.shape[:-1] + (n_fft // 2 + 1,), dtype=torch.complex128 if compute == torch.float64 else torch.complex64, device=x.device)
        spec = spec + xc.sum() * 0  # keeps autograd
    else:
        spec = torch.fft.rfft(frames * window.to(compute), dim=-1)  # (..., n_frames, n_fft//2+1)
    if out == "complex":
        return spec
    mag = spec.abs()
    if out == "magnitude":
        return mag.to(x.dtype)
    return torch.log(mag + LOG_EPS).to(x.dtype), torch.angle(spec).to(x.dtype)


def stft_patches(x, n_fft: int, hop: int, window=None, center: bool = False, output: str = "logmag_phase"):
    """STFT frames through the kernels' dispatcher (``impl="auto"``); ``"complex"`` through the reference."""
    out = _output(output)
    if out == "complex":
        return stft_patches_reference(x, n_fft, hop, window=window, center=center, output=out)
    return _kernel_stft_patches(x, n_fft, hop, window=window, center=center, output=out)


def patch_spectrum(p: torch.Tensor, eps: float = 1e-2):
    """Per-patch Fourier targets. p (K, P) -> (log_amp (K, F), sin (K, F), cos (K, F)); F = P//2+1.

    ``eps`` keeps the log of near-silent bins bounded (signals are in scaled units, ~1)."""
    spec = torch.fft.rfft(p.float(), dim=-1)  # (K, F)
    amp = spec.abs()
    # unit phase vector without atan2: X / |X| (a zero bin gets phase 0 -> (sin 0, cos 1))
    mag = amp.clamp_min(1e-12)
    cos = torch.where(amp > 0, spec.real / mag, torch.ones_like(amp))
    sin = torch.where(amp > 0, spec.imag / mag, torch.zeros_like(amp))
    return torch.log(amp + eps), sin, cos


def token_stft_pad(n_fft: int, hop: int) -> tuple[int, int]:
    """(left, right) zero padding of one token's patch so that ``stft_patches`` (center=False)
    gives exactly ``patch_len / hop`` frames that hold only that patch's samples, centred on it:
    ``n_fft - hop`` zeros in all, split in halves (n_fft 200, hop 100: frames over [-50, 150)
    and [50, 250) of a 200-sample patch)."""
    total = n_fft - hop
    return total // 2, total - total // 2


def phase_loss(pred_sin, pred_cos, sin, cos, weight=None) -> torch.Tensor:
    """1 − cos of the phase error between predicted (sin, cos) (any scale: normalised here) and
    unit targets (sin, cos); averaged with ``weight`` (e.g. the target magnitude, so the phase
    of silent bins does not count) or uniformly. In [0, 2]; 0 for a perfect phase."""
    norm = torch.sqrt(pred_sin**2 + pred_cos**2 + 1e-8)
    err = 1.0 - (pred_sin * sin + pred_cos * cos) / norm  # 1 − cos Δφ
    if weight is None:
        return err.mean()
    w = weight.detach()
    return (w * err).sum() / w.sum().clamp_min(1e-12)


def band_edges(sfreq: float) -> dict[str, tuple[float, float]]:
    """Canonical EEG bands clipped to Nyquist (gamma = 30 Hz .. min(75, Nyquist))."""
    nyq = sfreq / 2
    bands = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, min(75.0, nyq))}
    return {k: v for k, v in bands.items() if v[0] < nyq}


def n_patches(n_times: int, patch_len: int) -> int:
    return max(1, math.ceil(n_times / patch_len))
