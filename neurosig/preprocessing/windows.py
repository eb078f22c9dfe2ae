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


def match_event_labels(descriptions, table: dict[str, int], source: str = "recording") -> dict[str, str]:
    """Annotation description → ``event_labels`` key, for the descriptions of one file.

    A key matches a description exactly, or the part after the description's last ``/``
    (readers prefix the type: BrainVision ``Comment/zero``, ``Stimulus/S  1``). An exact match
    wins: a key that equals some description of the file takes no prefixed ones. A key whose
    prefixed matches are two different descriptions (``Comment/zero`` and ``Stimulus/zero``)
    raises: write the full description as the key."""
    descs = {str(d) for d in descriptions}
    got = {d: d for d in descs if d in table}
    by_key: dict[str, list[str]] = {}
    for d in sorted(descs - set(got)):
        if "/" in d:
            tail = d.rsplit("/", 1)[1]
            if tail in table and tail not in got:
                by_key.setdefault(tail, []).append(d)
    for k, ds in by_key.items():
        if len(ds) > 1:
            raise NeurosigError(
                f"{source}: window.event_labels key {k!r} matches {len(ds)} annotation descriptions "
                f"({', '.join(repr(d) for d in ds)}); use the full description as the key (e.g. {ds[0]!r}).")
        got[ds[0]] = k
    return got


def _held(annotations: list, limit: int = 20) -> str:
    """The distinct annotation descriptions of a file, for a message."""
    ds = sorted({str(a[2]) for a in annotations})
    if not ds:
        return "the file has no annotations"
    more = f" ... ({len(ds)} in all)" if len(ds) > limit else ""
    return "the file's annotation descriptions: " + ", ".join(repr(d) for d in ds[:limit]) + more


def _label_at(t: float, annotations: list, table: dict[str, int], names: dict[str, str] | None = None) -> tuple[int, str] | None:
    names = names if names is not None else {k: k for k in table}
    for onset, dur, desc in annotations:
        if desc in names and onset <= t < onset + max(dur, 0.0):
            return table[names[desc]], names[desc]
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
    names = match_event_labels((a[2] for a in annotations), cfg.event_labels, source) if cfg.event_labels else {}
    if cfg.mode == "fixed":
        S = max(1, int(round(cfg.stride * sfreq)))
        for s in range(0, n_times - L + 1, S):
            lab, name = base_label, base_name
            if cfg.label_from_annotations:
                hit = _label_at((s + L / 2) / sfreq, annotations, cfg.event_labels, names)
                if hit is None:
                    if cfg.drop_unlabelled:
                        continue
                    lab, name = -1, ""
                else:
                    lab, name = hit
            out.append(Window(s, s + L, lab, name))
        if cfg.label_from_annotations and not names:
            warnings.append(f"no annotation matches window.event_labels ({', '.join(cfg.event_labels)}); {_held(annotations)}; "
                            + ("every window unlabelled (-1)" if out else "no windows"))
        return out
    # events
    events = sorted((a for a in annotations if a[2] in names), key=lambda a: a[0])
    dropped = 0
    for onset, _dur, desc in events:
        s = int(round((onset + cfg.tmin_s) * sfreq))
        if s < 0 or s + L > n_times:
            dropped += 1
            continue
        out.append(Window(s, s + L, cfg.event_labels[names[desc]], names[desc]))
    if dropped:
        warnings.append(f"{dropped} event window(s) reach outside the recording and were skipped")
    if not events:
        warnings.append(f"no annotation matches window.event_labels ({', '.join(cfg.event_labels)}); {_held(annotations)}; no windows")
    return out


def window_starts(n_windows: int) -> np.ndarray:  # pragma: no cover - tiny helper for users
    return np.arange(n_windows)
