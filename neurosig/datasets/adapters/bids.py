"""BIDS datasets (EEG, MEG, iEEG) through ``mne-bids``.

Layout: ``sub-<label>/[ses-<label>/]{eeg,meg,ieeg}/sub-<label>[_ses-..]_task-<label>[_run-..]_<datatype>.<ext>``
with the sidecars ``*_channels.tsv`` (channel ``type`` and ``status`` good/bad),
``*_events.tsv`` (``onset``, ``duration``, ``trial_type``), ``*_electrodes.tsv`` +
``*_coordsystem.json`` (positions) and the top-level ``participants.tsv`` (one row per
``participant_id``). ``mne_bids.read_raw_bids`` applies the sidecars: channel types and bad
channels from ``channels.tsv``, positions from ``electrodes.tsv``, annotations from
``events.tsv``. Subjects come from ``participants.tsv`` (``participant_id`` without ``sub-``).

Labels: ``label_column`` names a ``participants.tsv`` column (e.g. ``group``) that gives one
label per subject (vocabulary = its sorted distinct values); ``events=True`` (default) keeps
the ``events.tsv`` rows as annotations (``trial_type`` descriptions), which the windowing can
turn into window labels (vocabulary = sorted distinct trial types, ``label_from="annotations"``
when no ``label_column`` is given).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.optional import require
from neurosig.datasets.adapters.base import Adapter, finish_recording, make_spec

DATATYPES = ("eeg", "meg", "ieeg")
EXTENSIONS = (".edf", ".bdf", ".vhdr", ".set", ".fif", ".con", ".sqd", ".ds", ".mff")
# MNE channel type → neurosig channel type (others become misc)
_MNE_TO_NS = {"eeg": "eeg", "mag": "mag", "grad": "grad", "seeg": "seeg", "ecog": "ecog",
              "dbs": "seeg", "eog": "eog", "ecg": "ecg", "emg": "emg"}


def read_participants(root: Path) -> list[dict[str, str]]:
    path = root / "participants.tsv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh, delimiter="\t")]


def read_events_tsv(path: Path) -> list[tuple[float, float, str]]:
    """``(onset, duration, trial_type)`` rows of a BIDS ``events.tsv`` (``n/a`` duration → 0)."""
    out = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            dur = row.get("duration", "0")
            desc = row.get("trial_type") or row.get("value") or "event"
            out.append((float(row["onset"]), 0.0 if dur in ("n/a", "", None) else float(dur), str(desc)))
    return out


class BIDSAdapter(Adapter):
    """Any BIDS EEG/MEG/iEEG dataset, read with ``mne_bids.read_raw_bids``."""

    name = "bids"
    layout = "sub-XX/[ses-YY/]{eeg,meg,ieeg}/sub-XX_..._task-T_<datatype>.<ext> + sidecars, participants.tsv"

    def __init__(self, label_column: str | None = None, events: bool = True,
                 datatypes: tuple[str, ...] = DATATYPES):
        bad = [d for d in datatypes if d not in DATATYPES]
        if bad:
            raise NeurosigError(f"bids datatypes {bad} are not supported; choose from {list(DATATYPES)}.")
        self.label_column = label_column
        self.events = events
        self.datatypes = tuple(datatypes)
        self.label_names: tuple[str, ...] = ()
        self.label_from = "recording" if label_column else ("annotations" if events else "none")
        self.event_length_s: float | None = None  # window length for trial-type labels (set by files())

    def default_config(self, root=None) -> dict:
        """Preprocessing defaults for this dataset. With trial-type labels (``events=True`` and no
        ``label_column``) the vocabulary is the dataset's own ``events.tsv`` trial types, so the
        root is needed (or :meth:`files` called first): one window per event, starting at its
        onset, as long as the median event duration (1 s for zero-duration events), with
        ``window.event_labels`` = trial type → index in :attr:`label_names`."""
        if self.label_from == "annotations" and not self.label_names and root is not None:
            for r in ([root] if isinstance(root, (str, os.PathLike)) else list(root))[:1]:
                self.files(r)
        if self.label_from != "annotations":
            return {"dataset": self.dataset or self.name}
        if not self.label_names:
            import warnings

            warnings.warn(
                "bids: default_config() does not know the dataset's trial types yet, so windows would be "
                "unlabelled; call default_config(root) (or files(root) first) with the BIDS root.",
                stacklevel=2,
            )
            return {"dataset": self.dataset or self.name}
        return self._annotation_window(self.event_length_s or 1.0, mode="events", tmin_s=0.0, label_from_annotations=False)

    def files(self, root):
        mne_bids = require("mne_bids", "the BIDS adapter")
        root = self._root(root)
        if not (root / "dataset_description.json").exists():
            raise NeurosigError(
                f"bids: {str(root)!r} has no dataset_description.json; pass the BIDS root folder "
                "(the one holding participants.tsv and sub-* folders)."
            )
        participants = read_participants(root)
        by_subject = {r["participant_id"].removeprefix("sub-"): r for r in participants if "participant_id" in r}
        if self.label_column:
            if participants and self.label_column not in participants[0]:
                raise NeurosigError(
                    f"bids label_column {self.label_column!r} is not a participants.tsv column "
                    f"(columns: {list(participants[0])}); pick one of them."
                )
            self.label_names = tuple(sorted({r[self.label_column] for r in participants
                                             if r.get(self.label_column) not in (None, "", "n/a")}))
        paths = mne_bids.find_matching_paths(
            root, datatypes=list(self.datatypes), extensions=list(EXTENSIONS),
            suffixes=list(self.datatypes),
        )
        specs, trial_types = [], set()
        for bp in sorted(paths, key=lambda p: str(p.fpath)):
            subject = bp.subject
            if by_subject and subject not in by_subject:
                raise NeurosigError(
                    f"bids: subject sub-{subject} of {bp.fpath.name} is not in participants.tsv; add its row."
                )
            label = None
            if self.label_column:
                value = by_subject.get(subject, {}).get(self.label_column)
                label = self.label_names.index(value) if value in self.label_names else None
            ann = []
            ev = bp.copy().update(suffix="events", extension=".tsv")
            if self.events and ev.fpath.exists():
                ann = read_events_tsv(ev.fpath)
                trial_types.update(a[2] for a in ann)
            extras = self._extras(
                split="", bids_datatype=bp.datatype, task=bp.task or "",
                bids_root=str(root), participant=by_subject.get(subject, {}),
            )
            specs.append(
                make_spec(bp.fpath, subject=subject, session=bp.session or "", run=str(bp.run or ""),
                          label=label, annotations=ann, extras=extras)
            )
        if not self.label_column and self.events:
            self.label_names = tuple(sorted(trial_types))
            durations = sorted(a[1] for s in specs for a in s.annotations or [] if a[1] > 0)
            self.event_length_s = float(durations[len(durations) // 2]) if durations else 1.0
        for s in specs:
            s.extras["label_names"] = list(self.label_names)
            s.extras["label_from"] = self.label_from
        if not specs:
            raise self._none_found(root, "sub-*/**/{eeg,meg,ieeg}/*")
        return specs

    def read(self, spec, *, positions: str = "auto", derive: bool = True):
        """Read with ``read_raw_bids`` so channels.tsv types/bads, electrodes.tsv positions and
        events.tsv annotations apply; non-data channels (stim, misc) are dropped."""
        mne_bids = require("mne_bids", "the BIDS adapter")
        from neurosig.io.recording import Recording

        bp = mne_bids.get_bids_path_from_fname(spec.path)
        bp.update(root=spec.extras.get("bids_root"))
        raw = mne_bids.read_raw_bids(bp, verbose="error")
        keep = [i for i, t in enumerate(raw.get_channel_types()) if t in _MNE_TO_NS]
        raw.pick(keep)
        types = [_MNE_TO_NS[t] for t in raw.get_channel_types()]
        rec = Recording(
            sfreq=float(raw.info["sfreq"]), ch_names=list(raw.ch_names), ch_types=types,
            pos=[[float("nan")] * 3] * len(raw.ch_names), subject=spec.subject or bp.subject,
            source=str(spec.path), raw=raw, session=spec.session, run=spec.run,
            info={"bads": list(raw.info["bads"]), "line_freq": raw.info.get("line_freq")},
        )
        rec = finish_recording(rec, spec, positions=positions)
        rec.ch_types = types  # keep the BIDS types (finish_recording re-derives them from MNE)
        meg = [i for i, t in enumerate(types) if t in ("mag", "grad")]
        if meg:  # MEG sensors: device → head frame, with orientations (same rule as neurosig.io)
            from neurosig.io.readers import _meg_positions

            mp, mo = _meg_positions(raw.info, meg)
            rec.pos[meg] = mp
            rec.ori = np.full((len(types), 3), np.nan)
            rec.ori[meg] = mo
        return rec
