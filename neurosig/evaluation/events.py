"""Seizure (event) detection: window scores → events → event-level metrics.

Policy (all from :class:`EventConfig`):
1. windows whose score ≥ ``threshold`` are positive; each positive window covers
   ``[start, start + window_s)``;
2. positive intervals at most ``merge_gap_s`` apart (gap <= ``merge_gap_s``; adjacent windows, gap 0, always) are
   merged into one event;
3. events shorter than ``min_duration_s`` are dropped;
4. a true event is *detected* when a predicted event overlaps it, after widening the true event
   by ``tolerance_s`` on both sides; a predicted event that overlaps no (widened) true event is a
   *false alarm*. Sensitivity = detected / true events, precision = predicted events that hit a
   true event / predicted events, false alarms per 24 h = false alarms / recorded hours × 24.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosig._utils.errors import NeurosigError


@dataclass
class EventConfig:
    threshold: float = 0.5  # window score at which a window counts as ictal (probabilities)
    merge_gap_s: float = 10.0  # seizures are rarely < 10 s apart; detections at most this far apart are one event
    min_duration_s: float = 0.0  # 0 keeps single-window detections; raise to suppress blips
    tolerance_s: float = 30.0  # onset annotations are imprecise by tens of seconds in clinical data

    def __post_init__(self):
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise NeurosigError(f"events.threshold must be in [0, 1], got {self.threshold}.")
        for name in ("merge_gap_s", "min_duration_s", "tolerance_s"):
            if float(getattr(self, name)) < 0:
                raise NeurosigError(f"events.{name} must be >= 0, got {getattr(self, name)}.")


def _merge(intervals: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for on, off in sorted(intervals):
        if out and on - out[-1][1] <= gap:
            out[-1][1] = max(out[-1][1], off)
        else:
            out.append([on, off])
    return [(a, b) for a, b in out]


def scores_to_events(
    scores, starts, window_s: float, config: EventConfig | None = None
) -> list[tuple[float, float]]:
    """Turn window scores (n,) with window start times (n,) in seconds into ``[(onset, offset)]``."""
    cfg = config or EventConfig()
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(starts, dtype=np.float64).reshape(-1)
    if s.shape != t.shape:
        raise NeurosigError(f"scores ({s.shape}) and starts ({t.shape}) must have the same length.")
    if window_s <= 0:
        raise NeurosigError(f"window_s must be > 0, got {window_s}.")
    pos = [(float(a), float(a) + window_s) for a, v in zip(t, s) if v >= cfg.threshold]
    events = _merge(pos, cfg.merge_gap_s)
    return [(a, b) for a, b in events if b - a >= cfg.min_duration_s]


def event_metrics(
    true_events, pred_events, duration_s: float, config: EventConfig | None = None
) -> dict[str, float]:
    """Event-level sensitivity, precision and false alarms per 24 h (see module docstring)."""
    cfg = config or EventConfig()
    if duration_s <= 0:
        raise NeurosigError(f"duration_s (recorded time) must be > 0, got {duration_s}.")
    tol = float(cfg.tolerance_s)
    true_events = [(float(a), float(b)) for a, b in true_events]
    pred_events = [(float(a), float(b)) for a, b in pred_events]

    def hit(p, t):
        return p[0] < t[1] + tol and p[1] > t[0] - tol

    detected = sum(any(hit(p, t) for p in pred_events) for t in true_events)
    true_pos_pred = sum(any(hit(p, t) for t in true_events) for p in pred_events)
    false_alarms = len(pred_events) - true_pos_pred
    return {
        "event_sensitivity": detected / len(true_events) if true_events else float("nan"),
        "event_precision": true_pos_pred / len(pred_events) if pred_events else float("nan"),
        "false_alarms": float(false_alarms),
        "false_alarms_per_24h": false_alarms / (duration_s / 3600.0) * 24.0,
        "n_true_events": float(len(true_events)),
        "n_pred_events": float(len(pred_events)),
    }


def labels_to_events(labels, starts, window_s: float) -> list[tuple[float, float]]:
    """True events from per-window 0/1 labels (adjacent positive windows merged, no gap)."""
    return scores_to_events(
        np.asarray(labels, dtype=np.float64), starts, window_s, EventConfig(threshold=0.5, merge_gap_s=0.0, min_duration_s=0.0)
    )
