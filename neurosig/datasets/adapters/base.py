"""What every corpus adapter shares: the :class:`Adapter` interface, FileSpec construction,
corpus-specific channel fixes applied after reading, and annotation → window-label mapping.

An adapter knows one corpus's *published* layout: ``files(root)`` walks it and returns one
``FileSpec`` per recording (subject, session, run, recording-level label, annotations and
``extras``); ``read(spec)`` reads one recording and applies the corpus fixes recorded in
``spec.extras`` (channel renames, duplicate removal, bipolar derivations such as the TUH TCP
montage, picks, channel types). The per-file worker calls :func:`read_spec`, so the same fixes
run in a process pool and on Ray.

Keys of ``FileSpec.extras`` written by the adapters (all JSON-able, so specs pickle and log):

``adapter``       name of the adapter that made the spec (``read_spec`` dispatches on it)
``dataset``       corpus name written to the manifest (``tuab``, ``chbmit`` ...)
``split``         the corpus's standard split (``train``/``val``/``test``) or ``""``
``label_names``   the label vocabulary; ``label`` and annotation labels index into it
``label_from``    ``"recording"`` (one label per file), ``"annotations"`` (window labels from
                  the annotations) or ``"none"``
``label_name``    the name of ``label`` in ``label_names`` (recording labels; the manifest's
                  ``label_name``), filled by :func:`make_spec`
``rename``        ``{old: new}`` channel renames applied first
``bipolar``       ``[[anode, cathode], ...]``: derived channels named ``"ANODE-CATHODE"`` by
                  ``Adapter.read`` (the store builder leaves them to the pipeline's reference)
``picks``         channel names kept (in this order); absent channels are listed in
                  ``missing_channels`` of the recording info, never zero-padded
``ch_types``      ``{name: type}`` for channels whose type the file does not say (EOG ...)
``window_s``      window length the corpus is labelled in (Sleep-EDF: 30 s), when it has one
``warnings``      problems met while listing the file (corrupt header date ...)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger

log = get_logger("datasets.adapters")


def make_spec(path: str | os.PathLike, **kwargs: Any):
    """Build a ``neurosig.datasets.FileSpec`` (path, subject, session, run, label, annotations, extras)."""
    from neurosig.datasets.spec import FileSpec

    extras = kwargs.get("extras")
    label, names = kwargs.get("label"), (extras or {}).get("label_names") or []
    if extras is not None and extras.get("label_from") == "recording" and label is not None and 0 <= int(label) < len(names):
        # the manifest's label_name is the class name (normal/abnormal), not the index
        kwargs["extras"] = {**extras, "label_name": str(names[int(label)])}
    return FileSpec(path=str(path), **kwargs)


class Adapter:
    """Base class of a corpus adapter (one subclass per source, registered by name).

    Subclasses set ``name``, ``label_names`` and ``label_from`` and implement :meth:`files`.
    Options (e.g. TUSZ ``labels="types"``) are constructor keyword arguments, so an adapter
    instance is cheap, picklable and configured once.
    """

    name: str = ""
    # dataset name written to the manifest (default: the adapter name)
    dataset: str = ""
    # label vocabulary: the integer label of a window/file is its index here
    label_names: tuple[str, ...] = ()
    # where labels come from: "recording", "annotations" or "none"
    label_from: str = "none"
    # the corpus's published layout, one line (shown by `neurosig preprocess --help` and docs)
    layout: str = ""

    def files(self, root: str | os.PathLike) -> list:
        raise NotImplementedError

    def default_config(self) -> dict:
        """Preprocessing overrides that fit this corpus (merged under the user's config):
        window length and, for annotation-labelled corpora, ``window.event_labels`` mapping each
        label name to its index in :attr:`label_names`."""
        return {"dataset": self.dataset or self.name}

    def _annotation_window(self, length_s: float, **kw: Any) -> dict:
        cfg: dict[str, Any] = {"dataset": self.dataset or self.name}
        cfg["window"] = {
            "mode": "fixed", "length_s": length_s, "label_from_annotations": True,
            "event_labels": {name: i for i, name in enumerate(self.label_names)}, **kw,
        }
        return cfg

    # -- reading ------------------------------------------------------------------------------
    def read(self, spec, *, positions: str = "auto", derive: bool = True):
        """Read one recording of this corpus and apply the fixes named in ``spec.extras``.

        ``derive=True`` also computes ``extras["bipolar"]`` derivations here (loads the file).
        The store builder reads with ``derive=False`` and leaves the TCP montage to the
        pipeline's ``reference: bipolar_tcp`` (the TUH adapters' default config), which is
        applied chunk by chunk, so an hours-long TUEG file never sits in memory whole.
        """
        from neurosig.io import read_recording

        extras = dict(spec.extras or {})
        if not derive:
            extras.pop("bipolar", None)
        # read with positions="none": renamed/derived channels get positions after the fixes;
        # only an eager bipolar derivation needs the samples in memory
        rec = read_recording(spec.path, positions="none", subject=spec.subject, preload=bool(extras.get("bipolar")))
        rec = apply_channel_fixes(rec, extras)
        return finish_recording(rec, spec, positions=positions)

    # -- helpers for subclasses ---------------------------------------------------------------
    def _root(self, root: str | os.PathLike, must_contain: str | None = None) -> Path:
        p = Path(root)
        if not p.is_dir():
            raise NeurosigError(
                f"{self.name} root {str(p)!r} is not a folder; pass the folder you downloaded "
                f"the corpus into (layout: {self.layout})."
            )
        return p

    def _extras(self, **kw: Any) -> dict:
        base = {
            "adapter": self.name,
            "dataset": self.dataset or self.name,
            "label_names": list(self.label_names),
            "label_from": self.label_from,
        }
        base.update(kw)
        return base

    def _none_found(self, root: Path, pattern: str) -> NeurosigError:
        return NeurosigError(
            f"{self.name}: no files matching {pattern!r} under {str(root)!r}; expected the "
            f"published layout {self.layout} (check --adapter and the corpus root)."
        )


def edf_duration(path: str | os.PathLike) -> float:
    """Duration in seconds from an EDF/BDF header (number of records × record duration)."""
    with open(path, "rb") as fh:
        head = fh.read(256)
    try:
        return float(head[236:244].decode("ascii").strip()) * float(head[244:252].decode("ascii").strip())
    except ValueError:
        raise NeurosigError(f"{path}: EDF header has no readable record count/duration; the file is corrupt.") from None


def fill_background(annotations: list, duration: float, background: str) -> list:
    """Add ``background`` annotations over the parts of ``[0, duration]`` no annotation covers."""
    out, t = [], 0.0
    for onset, dur, desc in sorted(annotations):
        if onset > t:
            out.append((t, onset - t, background))
        out.append((onset, dur, desc))
        t = max(t, onset + dur)
    if t < duration:
        out.append((t, duration - t, background))
    return out


def unknown_labels_warning(path, unknown: dict[str, list[float]], known: str, fate: str) -> str:
    """One line for annotation labels an adapter does not know (``{label: [count, seconds]}``),
    naming the file, each label with how often and how long it occurs, what is known and what
    became of them; recorded in the spec's ``extras["warnings"]`` (the build report)."""
    shown = ", ".join(f"{k!r} ({int(n)}x, {sec:g} s)" for k, (n, sec) in sorted(unknown.items())[:8])
    more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
    return (f"{path}: annotation label(s) not in the vocabulary: {shown}{more}; known: {known}. Those segments are "
            f"{fate}; fix the annotation file or map the labels if they are a spelling of known ones")


def label_index(name: str, names: Sequence[str], where: str) -> int:
    """Index of ``name`` in the vocabulary ``names`` (one-line error naming ``where``)."""
    try:
        return list(names).index(name)
    except ValueError:
        raise NeurosigError(
            f"{where}: label {name!r} is not in the vocabulary {list(names)}; the file does not "
            "follow the corpus's published label set."
        ) from None


# ----------------------------------------------------------------------------------------------
# Channel fixes applied after reading (run inside the per-file worker)
# ----------------------------------------------------------------------------------------------
def apply_channel_fixes(rec, extras: dict):
    """Apply ``rename`` → duplicate removal → ``bipolar`` → ``picks`` → ``ch_types`` to a Recording.

    Works on ``rec.raw`` (an MNE Raw). Duplicate channel names (MNE reads ``T8-P8`` twice as
    ``T8-P8-0``/``T8-P8-1``) keep the first copy under the plain name; channels with empty or
    ``-`` names (CHB-MIT placeholders) are dropped. Missing picks are recorded in
    ``rec.info["missing_channels"]`` and never padded with zeros.
    """
    raw = rec.raw
    if raw is None:
        return rec
    info_notes: list[str] = list(rec.info.get("adapter_notes", []))

    # 1. placeholder channels ("-", "", "--0" ...) carry no signal
    placeholders = [c for c in raw.ch_names if re.fullmatch(r"[-\s.]*(-\d+)?", c)]
    if placeholders and len(placeholders) < len(raw.ch_names):
        raw.drop_channels(placeholders)
        info_notes.append(f"dropped {len(placeholders)} placeholder channels")

    # 2. duplicates: MNE appends running numbers "-0", "-1" to repeated names
    dup_groups: dict[str, list[str]] = {}
    names = set(raw.ch_names)
    for c in raw.ch_names:
        m = re.fullmatch(r"(.+)-(\d+)", c)
        if m and m.group(1) not in names and f"{m.group(1)}-0" in names:
            dup_groups.setdefault(m.group(1), []).append(c)
    if dup_groups:
        drop = [c for group in dup_groups.values() for c in group[1:]]
        raw.drop_channels(drop)
        raw.rename_channels({group[0]: base for base, group in dup_groups.items()})
        info_notes.append(f"kept the first of duplicated channels {sorted(dup_groups)}")

    # 3. renames
    rename = {k: v for k, v in (extras.get("rename") or {}).items() if k in raw.ch_names}
    if rename:
        raw.rename_channels(rename)

    # 4. bipolar derivations (e.g. TUH TCP double banana)
    bipolar = extras.get("bipolar") or []
    if bipolar:
        have = set(raw.ch_names)
        pairs = [(a, c) for a, c in bipolar if a in have and c in have]
        absent = [f"{a}-{c}" for a, c in bipolar if a not in have or c not in have]
        if not pairs:
            raise NeurosigError(
                f"{rec.source}: none of the {len(bipolar)} bipolar pairs can be derived (electrodes "
                f"{sorted(have)[:6]}...); the file does not use this corpus's referential channel names."
            )
        data = raw.get_data(picks=sorted({x for p in pairs for x in p}))
        index = {n: i for i, n in enumerate(sorted({x for p in pairs for x in p}))}
        derived = np.stack([data[index[a]] - data[index[c]] for a, c in pairs])  # (C_bip, T) volts
        import mne

        info = mne.create_info([f"{a}-{c}" for a, c in pairs], raw.info["sfreq"], "eeg")
        new = mne.io.RawArray(derived, info, first_samp=raw.first_samp, verbose="error")
        # a derivation from a channel the file declares bad is bad too
        declared = set(raw.info["bads"])
        new.info["bads"] = [f"{a}-{c}" for a, c in pairs if a in declared or c in declared]
        with _quiet():
            new.set_meas_date(raw.info["meas_date"])
            new.set_annotations(raw.annotations)
        rec.raw = raw = new
        if absent:
            rec.info["missing_channels"] = sorted(set(rec.info.get("missing_channels", [])) | set(absent))

    # 5. picks (ordered); absent ones are recorded, not padded
    picks = extras.get("picks")
    if picks:
        present = [c for c in picks if c in raw.ch_names]
        missing = [c for c in picks if c not in raw.ch_names]
        if not present:
            raise NeurosigError(
                f"{rec.source}: none of the expected channels {list(picks)[:6]}... is in the file "
                f"(it has {raw.ch_names[:6]}...); check that the file belongs to this corpus."
            )
        raw.pick(present)
        raw.reorder_channels(present)
        if missing:
            rec.info["missing_channels"] = sorted(set(rec.info.get("missing_channels", [])) | set(missing))

    # 6. channel types the file does not carry
    types = {k: v for k, v in (extras.get("ch_types") or {}).items() if k in raw.ch_names}
    if types:
        with _quiet():
            raw.set_channel_types(types)

    rec.info["adapter_notes"] = info_notes
    return rec


def finish_recording(rec, spec, *, positions: str = "auto"):
    """Rebuild the Recording's channel description from its (fixed) Raw and copy the spec's identity."""
    from neurosig._utils.channels import CH_TYPES

    raw = rec.raw
    if raw is not None:
        types = []
        for t in raw.get_channel_types():
            types.append(t if t in CH_TYPES else "misc")
        rec.ch_names = list(raw.ch_names)
        rec.ch_types = types
        rec.pos = channel_positions(raw, positions)
        # declared bad channels (BIDS channels.tsv status=bad, FIF info["bads"]) under their
        # current names (MNE renames them with the channels); the pipeline masks them
        rec.info["bads"] = [b for b in raw.info["bads"] if b in rec.ch_names]
        if "meas_date" not in rec.info:  # readers that build the Recording themselves (BIDS, Sleep-EDF)
            from neurosig.io.edf import agree_meas_date

            rec.info["meas_date"] = agree_meas_date(raw.info.get("meas_date"), rec.info.setdefault("warnings", []))
    extras = spec.extras or {}
    rec.subject = str(spec.subject) if spec.subject is not None else rec.subject
    rec.session = spec.session or rec.session
    rec.run = spec.run or rec.run
    if spec.label is not None:
        rec.label = spec.label
    # spec.annotations are added by the store builder (process_file), not here: no duplicates
    warns = rec.info.setdefault("warnings", [])
    for w in extras.get("warnings", []):  # the listing's warnings; one the reader already recorded is not repeated
        said = w in warns or (w.startswith("start date/time") and any(x.startswith("start date/time") for x in warns))
        if not said:
            warns.append(w)
    rec.info["dataset"] = extras.get("dataset", rec.info.get("dataset", ""))
    rec.info["split"] = extras.get("split", "")
    rec.info["label_names"] = list(extras.get("label_names", []))
    return rec


_BIPOLAR = re.compile(r"^(?:EEG\s+)?([A-Za-z0-9]+)-([A-Za-z0-9]+)$")


def channel_positions(raw, positions: str = "auto") -> np.ndarray:
    """``(C, 3)`` positions in metres: the Raw's own, else standard 10-05 (bipolar channels get the
    midpoint of their two electrodes); NaN rows where unknown or ``positions="none"``."""
    n = len(raw.ch_names)
    pos = np.full((n, 3), np.nan)
    if positions == "none":
        return pos
    if positions not in (None, "auto"):  # a montage file: its positions only
        from neurosig.io.positions import lookup, read_positions_file

        table = {k.lower(): v for k, v in read_positions_file(positions).items()}
        return lookup(list(raw.ch_names), table)[0]
    for i, ch in enumerate(raw.info["chs"]):
        loc = np.asarray(ch["loc"][:3], dtype=float)
        if np.isfinite(loc).all() and np.any(loc != 0):
            pos[i] = loc
    if np.isfinite(pos).all():
        return pos
    table = _standard_positions()
    for i, name in enumerate(raw.ch_names):
        if np.isfinite(pos[i]).all():
            continue
        key = _electrode_key(name)
        if key in table:
            pos[i] = table[key]
            continue
        m = _BIPOLAR.match(name.strip())
        if m:
            a, c = _electrode_key(m.group(1)), _electrode_key(m.group(2))
            if a in table and c in table:
                pos[i] = (table[a] + table[c]) / 2
    return pos


_OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}  # old 10-20 names → 10-10 names


def _electrode_key(name: str) -> str:
    n = name.strip().upper()
    n = re.sub(r"^(EEG|EOG|ECG|EMG)\s+", "", n)
    n = re.sub(r"-(REF|LE|AR|AVG)$", "", n)
    return _OLD_NAMES.get(n, n)


_STD_CACHE: dict[str, np.ndarray] = {}


def _standard_positions() -> dict[str, np.ndarray]:
    """Upper-cased electrode name → head-frame position (m), from neurosig.io's standard table."""
    if not _STD_CACHE:
        from neurosig.io.positions import standard_positions

        for k, v in standard_positions().items():
            _STD_CACHE[k.upper()] = np.asarray(v, dtype=float)
    return _STD_CACHE


class _quiet:
    """Silence MNE's RuntimeWarnings for the duration of a block."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# ----------------------------------------------------------------------------------------------
# Annotations → window labels
# ----------------------------------------------------------------------------------------------
def window_labels(
    annotations: Iterable[tuple[float, float, str]],
    starts_s: np.ndarray,
    window_s: float,
    label_names: Sequence[str],
    *,
    background: str | None = None,
    min_overlap: float = 0.5,
) -> np.ndarray:
    """Label each window ``[start, start + window_s)`` by the annotation covering most of it.

    ``annotations`` are ``(onset_s, duration_s, description)`` with descriptions from
    ``label_names``; others are ignored. A window whose best label covers less than
    ``min_overlap`` of it gets ``background`` (when given) or -1 (unlabelled).
    Returns ``(n_windows,)`` int64.
    """
    starts = np.asarray(starts_s, dtype=float)  # (W,)
    names = list(label_names)
    cover = np.zeros((len(starts), len(names)))  # (W, K) seconds covered per label
    for onset, duration, desc in annotations:
        if desc not in names:
            continue
        k = names.index(desc)
        lo = np.maximum(starts, onset)
        hi = np.minimum(starts + window_s, onset + duration)
        cover[:, k] += np.clip(hi - lo, 0, None)
    best = cover.argmax(axis=1) if len(names) else np.zeros(len(starts), int)
    frac = cover.max(axis=1) / window_s if len(names) else np.zeros(len(starts))
    out = np.where(frac >= min_overlap, best, -1).astype(np.int64)
    if background is not None and background in names:
        out[out == -1] = names.index(background)
    return out
