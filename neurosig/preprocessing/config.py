"""Declarative preprocessing config (YAML ↔ dataclasses) and its hash (the cache key)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from neurosig._utils.channels import CH_TYPES
from neurosig._utils.errors import NeurosigError
from neurosig._utils.validation import check_option

# Bump when the processing code changes what it writes for the same config: old parts are redone.
# 2: the average reference leaves out channels declared bad (FIF/BIDS) and channels found flat/saturated/NaN.
PIPELINE_VERSION = 2
REFERENCES = ("none", "average", "bipolar_tcp")
WINDOW_MODES = ("fixed", "events")
# Fields that change how the work is done but not its result: left out of the hash.
_NOT_HASHED = ("chunk_s", "shard_mb")


@dataclass
class WindowConfig:
    """How the processed signal is cut into windows (``-epo.fif`` epochs are always one window each)."""

    mode: str = "fixed"  # "fixed": length/stride over the whole recording; "events": one window per annotation
    length_s: float = 10.0  # 10 s sits inside the 5-30 s range EEG foundation models train on
    stride_s: float | None = None  # None = length_s (no overlap); smaller values overlap windows
    event_labels: dict[str, int] | None = None  # events mode / annotation labels: description → integer label
    tmin_s: float = 0.0  # events mode: window start relative to the annotation onset
    label_from_annotations: bool = False  # fixed mode: label = the event_labels annotation covering the window centre (sleep stages)
    drop_unlabelled: bool = False  # fixed mode with annotation labels: skip windows no annotation covers

    def __post_init__(self) -> None:
        check_option(self.mode, WINDOW_MODES, "window.mode")
        if not isinstance(self.length_s, (int, float)) or not self.length_s > 0:
            raise NeurosigError(f"window.length_s must be > 0 seconds, got {self.length_s!r}.")
        if self.stride_s is not None and (not isinstance(self.stride_s, (int, float)) or not self.stride_s > 0):
            raise NeurosigError(f"window.stride_s must be > 0 seconds or null, got {self.stride_s!r}.")
        if self.event_labels is not None:
            if not isinstance(self.event_labels, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in self.event_labels.values()):
                raise NeurosigError(f"window.event_labels must map annotation descriptions to integer labels, got {self.event_labels!r}.")
            self.event_labels = {str(k): int(v) for k, v in self.event_labels.items()}
        if (self.mode == "events" or self.label_from_annotations) and not self.event_labels:
            raise NeurosigError("window.event_labels is required for window.mode=events or label_from_annotations; give {description: label}.")

    @property
    def stride(self) -> float:
        return float(self.stride_s if self.stride_s is not None else self.length_s)


def _default_clip() -> dict[str, float]:
    return {"eeg": 500.0, "seeg": 2000.0, "ecog": 2000.0, "mag": 20000.0, "grad": 20000.0, "fmri": 10.0}


@dataclass
class PipelineConfig:
    """Every preprocessing step and its parameters; ``Pipeline(config).hash`` is the cache key."""

    ch_types: list[str] = field(default_factory=lambda: ["eeg", "mag", "grad", "seeg", "ecog", "fmri"])  # neural channels; add eog/ecg/emg to keep them
    include: list[str] | None = None  # channel names to keep (case-insensitive; overrides ch_types); None = by type
    exclude: list[str] = field(default_factory=list)  # channel names to drop
    positions: str = "auto"  # "auto" (file's own, else standard 10-05 names), "none", or a montage file
    reference: str = "none"  # "none" keeps the recording's reference; "average"; "bipolar_tcp" (TUH double banana, 10-20 names)
    notch: float | str | None = "auto"  # mains Hz: "auto" = the file's line_freq, else 50 (recorded); 50; 60; null = off
    notch_harmonics: bool = True  # also notch 2f, 3f ... below the low-pass edge and Nyquist
    l_freq: float | None = 0.1  # high-pass edge (Hz): 0.1 removes drift, keeps slow waves (common EEG recipe)
    h_freq: float | None = 75.0  # low-pass edge (Hz): 75 is the common recipe; clipped to 0.8 x Nyquist when higher
    filter_method: str = "fir"  # "fir" (MNE's zero-phase firwin design, linear phase) or "iir" (Butterworth SOS, forward-backward)
    resample_sfreq: float | None = 200.0  # model rate (Hz); 200 Hz is what the published EEG models use; null keeps the file's rate
    scale_units: bool = True  # volts/tesla → µV / fT / fT/cm (EEG, MEG mag, grad); BOLD is z-scored per parcel
    clip: dict[str, float] = field(default_factory=_default_clip)  # |value| cap per channel type in model units (±500 µV EEG); {} = off
    flat_ptp: float = 0.01  # a channel whose peak-to-peak over the file is below this (model units, 0.01 µV) is marked flat
    saturation_fraction: float = 0.05  # a channel with more than this share of samples at its extreme values is marked saturated
    window: WindowConfig = field(default_factory=WindowConfig)
    dataset: str = ""  # dataset name written in the manifest (files from an adapter/FileSpec may set their own)
    chunk_s: float = 300.0  # seconds read per chunk (memory vs overhead); not part of the hash
    shard_mb: float = 256.0  # largest shard file (MB); not part of the hash

    def __post_init__(self) -> None:
        if isinstance(self.window, dict):
            from neurosig.config import from_dict

            self.window = from_dict(WindowConfig, self.window, where="window")
        if not isinstance(self.ch_types, (list, tuple)) or not self.ch_types:
            raise NeurosigError(f"ch_types must be a non-empty list of channel types, got {self.ch_types!r}.")
        bad = [t for t in self.ch_types if t not in CH_TYPES]
        if bad:
            raise NeurosigError(f"ch_types: unknown type(s) {', '.join(map(str, bad))}; choose from {', '.join(CH_TYPES)}.")
        self.ch_types = list(self.ch_types)
        self.include = list(self.include) if self.include is not None else None
        self.exclude = list(self.exclude or [])
        if self.positions is None:
            self.positions = "none"
        self.positions = os.fspath(self.positions)
        check_option(self.reference, REFERENCES, "reference")
        check_option(self.filter_method, ("fir", "iir"), "filter_method")
        if isinstance(self.notch, str) and self.notch != "auto":
            raise NeurosigError(f"notch must be 'auto', a frequency in Hz (50 or 60) or null, got {self.notch!r}.")
        if isinstance(self.notch, (int, float)) and not isinstance(self.notch, bool) and not self.notch > 0:
            raise NeurosigError(f"notch must be > 0 Hz, got {self.notch!r}.")
        for name in ("l_freq", "h_freq", "resample_sfreq"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0):
                raise NeurosigError(f"{name} must be > 0 Hz or null, got {v!r}.")
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise NeurosigError(f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq}); swap them or set one to null.")
        if not isinstance(self.clip, dict):
            raise NeurosigError(f"clip must map channel types to limits in model units (e.g. {{eeg: 500}}), got {self.clip!r}.")
        for k, v in self.clip.items():
            if k not in CH_TYPES or not isinstance(v, (int, float)) or not v > 0:
                raise NeurosigError(f"clip: entry {k!r}: {v!r} must be a channel type with a limit > 0.")
        if not 0 < self.saturation_fraction <= 1:
            raise NeurosigError(f"saturation_fraction must be in (0, 1], got {self.saturation_fraction!r}.")
        if not self.flat_ptp >= 0:
            raise NeurosigError(f"flat_ptp must be >= 0, got {self.flat_ptp!r}.")
        if not self.chunk_s >= 10:
            raise NeurosigError(f"chunk_s must be >= 10 seconds, got {self.chunk_s!r}.")
        if not self.shard_mb > 0:
            raise NeurosigError(f"shard_mb must be > 0, got {self.shard_mb!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hash_dict(self) -> dict[str, Any]:
        d = self.to_dict()
        for k in _NOT_HASHED:
            d.pop(k, None)
        d["_version"] = PIPELINE_VERSION
        return d

    @property
    def hash(self) -> str:
        blob = json.dumps(self.hash_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_yaml(cls, path: str | os.PathLike | None) -> "PipelineConfig":
        from neurosig.config import from_dict, load_yaml

        if path is None:
            return cls()
        return from_dict(cls, load_yaml(path), where=os.fspath(path))
