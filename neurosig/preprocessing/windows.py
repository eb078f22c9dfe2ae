"""Window planning: fixed-length (length, stride) or event-locked, in output samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig.preprocessing.config import WindowConfig


@dataclass
class Window:
    start: int  # first output sample
    stop: int  # one past the last output sample
    label: int  # -1 when unlabelled
    label_name: str


def _label_at(t: float, annotations: list, table: dict[str, int]) -> tuple[int, str] | None:
    for onset, dur, desc in annotations:
        if desc in table and onset <= t < onset + max(dur, 0.0):
            return table[desc], desc
    return None


def plan_windows(cfg: WindowConfig, n_times: int, sfreq: float, annotations: list, *, label: int | None = None,
                 label_name: str = "", source: str = "recording", warnings: list[str] | None = None) -> list[Window]:
    """Windows over ``n_times`` output samples at ``sfreq``; a window longer than the data raises."""
    warnings = warnings if warnings is not None else []
    L = int(round(cfg.length_s * sfreq))
    if L < 1:
        raise NeurosigError(f"{source}: window.length_s={cfg.length_s} s is shorter than one sample at {sfreq:g} Hz; make it longer.")
    dur = n_times / sfreq
    if L > n_times:
        raise NeurosigError(
            f"{source}: window.length_s={cfg.length_s:g} s is longer than the recording ({dur:.2f} s); "
            "lower window.length_s or leave this file out."
        )
    base_label = -1 if label is None else int(label)
    base_name = label_name or ("" if label is None else str(label))
    out: list[Window] = []
    if cfg.mode == "fixed":
        S = max(1, int(round(cfg.stride * sfreq)))
        for s in range(0, n_times - L + 1, S):
            lab, name = base_label, base_name
            if cfg.label_from_annotations:
                hit = _label_at((s + L / 2) / sfreq, annotations, cfg.event_labels)
                if hit is None:
                    if cfg.drop_unlabelled:
                        continue
                    lab, name = -1, ""
                else:
                    lab, name = hit
            out.append(Window(s, s + L, lab, name))
        return out
    # events
    events = sorted((a for a in annotations if a[2] in cfg.event_labels), key=lambda a: a[0])
    dropped = 0
    for onset, _dur, desc in events:
        s = int(round((onset + cfg.tmin_s) * sfreq))
        if s < 0 or s + L > n_times:
            dropped += 1
            continue
        out.append(Window(s, s + L, cfg.event_labels[desc], desc))
    if dropped:
        warnings.append(f"{dropped} event window(s) reach outside the recording and were skipped")
    if not events:
        warnings.append(f"no annotation matches window.event_labels ({', '.join(cfg.event_labels)}); no windows")
    return out


def window_starts(n_windows: int) -> np.ndarray:  # pragma: no cover - tiny helper for users
    return np.arange(n_windows)
