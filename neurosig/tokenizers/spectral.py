"""Spectral helpers: STFT patches (dispatching to the kernels package when present) and
per-patch Fourier amplitude/phase targets.

``stft_patches(x, n_fft, hop, window=None, center=False, output="logmag_phase")`` has the same
signature and semantics as ``neurosig.kernels.ops.stft_patches``: x (..., T) ->
(..., n_frames, n_fft//2 + 1) frames of a periodic Hann window (or ``window``), with
``n_frames = 1 + (T - n_fft) // hop`` (``center=False``). ``output`` selects
``"logmag_phase"`` -> (log(|X| + 1e-6), angle) , ``"mag"`` -> |X|, ``"complex"`` -> X.
"""

from __future__ import annotations

import math

import torch

from neurosig._utils.errors import NeurosigError

LOG_EPS = 1e-6

try:  # the kernels engineer's dispatcher (fused Triton on CUDA, reference elsewhere)
    from neurosig.kernels.ops import stft_patches as _kernel_stft_patches  # type: ignore
except Exception:  # pragma: no cover - depends on the kernels package
    _kernel_stft_patches = None


def stft_patches_reference(x, n_fft: int, hop: int, window=None, center: bool = False, output: str = "logmag_phase"):
    """Pure-torch STFT frames (see module doc)."""
    if output not in ("logmag_phase", "mag", "complex"):
        raise NeurosigError(f"output={output!r} is not supported; choose 'logmag_phase', 'mag' or 'complex'.")
    if center:
        pad = n_fft // 2
        x = torch.nn.functional.pad(x, (pad, pad), mode="reflect" if x.shape[-1] > pad else "constant")
    if x.shape[-1] < n_fft:
        raise NeurosigError(f"stft_patches: signal length {x.shape[-1]} is shorter than n_fft={n_fft}; pad the input.")
    if window is None:
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32, device=x.device)
    frames = x.float().unfold(-1, n_fft, hop)  # (..., n_frames, n_fft)
    spec = torch.fft.rfft(frames * window.to(frames), dim=-1)  # (..., n_frames, n_fft//2+1)
    if output == "complex":
        return spec
    if output == "mag":
        return spec.abs()
    return torch.log(spec.abs() + LOG_EPS), torch.angle(spec)


def stft_patches(x, n_fft: int, hop: int, window=None, center: bool = False, output: str = "logmag_phase"):
    """STFT frames through the kernels package when it is installed, else the reference."""
    if _kernel_stft_patches is not None:
        return _kernel_stft_patches(x, n_fft, hop, window=window, center=center, output=output)
    return stft_patches_reference(x, n_fft, hop, window=window, center=center, output=output)


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
