"""The :class:`Recording` contract (DESIGN.md §3): what every reader returns.

For M/EEG/iEEG the signal lives in an MNE ``Raw`` (lazily loaded; volts/tesla as MNE reads
them). For fMRI it is a parcel × time array (``data``) with ``sfreq = 1 / TR``.
Positions are metres in the head frame (parcel centroids for fMRI); NaN where unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Recording:
    """One recording: signal + sensor description + identity + annotations.

    Attributes
    ----------
    sfreq: sampling frequency in Hz (1/TR for fMRI).
    ch_names: channel (or parcel) names, unique.
    ch_types: one of ``neurosig._utils.channels.CH_TYPES`` per channel.
    pos: ``(C, 3)`` float array, metres, head frame; NaN rows where unknown.
    ori: ``(C, 3)`` sensor orientation for MEG (NaN elsewhere) or None.
    raw: the MNE Raw holding the signal (M/EEG); None for fMRI.
    data: ``(C, T)`` array for fMRI parcels (or in-memory signals); None when ``raw`` is used.
    subject, session, run: identity (strings; ``subject`` is required for splits).
    source: path of the file this came from (or a dataset name).
    annotations: list of ``(onset_s, duration_s, description)``.
    label: recording-level label (e.g. abnormal=1) or None.
    info: free-form extras (units, line frequency, reader warnings ...).
    """

    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    pos: np.ndarray
    subject: str
    source: str
    raw: Any = None
    data: np.ndarray | None = None
    ori: np.ndarray | None = None
    session: str = ""
    run: str = ""
    annotations: list[tuple[float, float, str]] = field(default_factory=list)
    label: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from neurosig._utils.errors import NeurosigError

        n = len(self.ch_names)
        if len(self.ch_types) != n:
            raise NeurosigError(f"{self.source}: {n} channel names but {len(self.ch_types)} channel types.")
        self.pos = np.asarray(self.pos, dtype=float).reshape(n, 3) if n else np.zeros((0, 3))
        if self.raw is None and self.data is None:
            raise NeurosigError(f"{self.source}: a Recording needs either an MNE Raw or a data array.")

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    @property
    def n_times(self) -> int:
        return int(self.raw.n_times) if self.raw is not None else int(self.data.shape[1])

    @property
    def duration(self) -> float:
        return self.n_times / self.sfreq

    @property
    def has_positions(self) -> bool:
        return bool(self.n_channels) and bool(np.isfinite(self.pos).all())
