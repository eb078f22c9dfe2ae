"""Temple University Hospital EEG corpora: TUAB (abnormal), TUEV (events), TUSZ (seizures).

All three are subsets of TUH EEG (TUEG): their patient ids are TUH EEG patient ids, so a model
pretrained on TUEG must exclude the evaluation patients (``neurosig.datasets.leakage``).

Published layouts (v3.0.x TUAB, v2.0.x TUEV, v2.0.x TUSZ)::

    TUAB  edf/{train,eval}/{normal,abnormal}/01_tcp_ar/<patient>_s<session>_t<token>.edf
    TUEV  edf/{train,eval}/<patient>/<patient>_<index>.edf  + <same stem>.rec
    TUSZ  edf/{train,dev,eval}/<patient>/s<session>_<year>/<montage>/<patient>_s<session>_t<token>.edf
          + <same stem>.csv_bi (term-based seiz/bckg) and .csv (channel-based seizure types)

Signals are referential (``EEG FP1-REF`` for the ``*_tcp_ar`` montages, ``EEG FP1-LE`` for
``*_tcp_le``), mostly 250 Hz (some 256/400/512 Hz). The standard model input is the 22-channel
TCP bipolar "double banana" montage, derived here. Header dates are unreliable in the older
releases (de-identification shifted or zeroed them); an unreadable date is recorded as a
warning and never fails the file.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from neurosig._utils.errors import NeurosigError
from neurosig._utils.validation import check_option
from neurosig.datasets.adapters.base import Adapter, fill_background, label_index, log, make_spec, unknown_labels_warning

# The TCP (temporal central parasagittal) montage: 22 bipolar pairs in the published order;
# TUEV .rec channel indices 0..21 refer to this order.
TCP_PAIRS: tuple[tuple[str, str], ...] = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("A1", "T3"), ("T3", "C3"), ("C3", "CZ"), ("CZ", "C4"), ("C4", "T4"), ("T4", "A2"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)
TCP_CHANNELS: tuple[str, ...] = tuple(f"{a}-{c}" for a, c in TCP_PAIRS)
TCP_ELECTRODES: tuple[str, ...] = tuple(sorted({e for p in TCP_PAIRS for e in p}))

# referential electrodes TUH records besides the TCP ones (renamed too when a pipeline keeps them)
TUH_OTHER_ELECTRODES: tuple[str, ...] = ("FZ", "PZ", "FPZ", "OZ", "T1", "T2")

# v3 file names: aaaaaaav_s004_t000.edf (8-letter patient, session, token)
_TOKEN_NAME = re.compile(r"^(?P<patient>[a-z0-9]{8})_s(?P<session>\d{3})_t(?P<token>\d{3})$")
_SPLITS = {"train": "train", "dev": "val", "eval": "test"}


def tcp_extras(edf_path: Path, reference: str | None = None) -> dict:
    """Rename ``EEG FP1-REF``/``EEG FP1-LE`` → ``FP1`` and derive the 22 TCP channels."""
    ref = reference or ("LE" if "_le" in str(edf_path.parent.name) else "REF")
    rename = {f"EEG {e}-{ref}": e for e in TCP_ELECTRODES + TUH_OTHER_ELECTRODES}
    return {"rename": rename, "bipolar": [list(p) for p in TCP_PAIRS], "montage": "tcp", "reference": ref,
            "ch_types": tuh_nonneural_types(ref)}


# TUH EEG headers type every signal as EEG; these are not (names as the corpus writes them). Typed here,
# a pipeline that keeps the referential channels (reference: none / average) leaves them out by default
# (PipelineConfig.ch_types) instead of feeding the ECG, the eye channels and the photic trace to the model
# and to the average reference.
_TUH_NONNEURAL = {"EKG": "ecg", "EKG1": "ecg", "ECG": "ecg", "ROC": "eog", "LOC": "eog", "EOG": "eog", "EMG": "emg",
                  "PHOTIC": "misc", "RESP1": "misc", "RESP2": "misc"}


def tuh_nonneural_types(ref: str) -> dict[str, str]:
    """``{channel name: type}`` for the non-EEG channels of a TUH file with reference ``ref`` (REF / LE)."""
    out: dict[str, str] = {}
    for k, t in _TUH_NONNEURAL.items():
        for name in (f"EEG {k}-{ref}", f"{k}-{ref}", f"EEG {k}", k):
            out[name] = t
    out.update({"IBI": "misc", "BURSTS": "misc", "SUPPR": "misc", "PHOTIC PH": "misc"})
    return out


def header_date_warning(path: Path) -> list[str]:
    """The EDF header's start-date warning at listing time, in the reader's own words
    (:func:`neurosig.io.edf.check_edf`), so the read does not record the same problem twice."""
    from neurosig.io.edf import check_edf

    try:
        hdr = check_edf(os.fspath(path))
    except NeurosigError as err:
        return [str(err)]
    except OSError as err:
        return [f"unreadable header: {err}"]
    return [w for w in hdr.warnings if w.startswith("start date/time")]


def _parse_name(path: Path, corpus: str) -> tuple[str, str, str]:
    m = _TOKEN_NAME.match(path.stem)
    if not m:
        raise NeurosigError(
            f"{corpus}: file name {path.name!r} does not follow <patient>_s<session>_t<token>.edf "
            f"(e.g. aaaaaaav_s004_t000.edf); rename it or use the 'folder' adapter."
        )
    return m.group("patient"), f"s{m.group('session')}", f"t{m.group('token')}"


class TUABAdapter(Adapter):
    """TUH Abnormal EEG Corpus: one label per recording, normal=0 / abnormal=1."""

    name = "tuab"
    label_names = ("normal", "abnormal")
    label_from = "recording"
    layout = "edf/{train,eval}/{normal,abnormal}/01_tcp_ar/<patient>_s<session>_t<token>.edf"

    def default_config(self) -> dict:
        # TCP montage as the pipeline's chunked bipolar reference; 10 s windows (published TUAB recipes)
        return {"dataset": "tuab", "reference": "bipolar_tcp", "window": {"mode": "fixed", "length_s": 10.0}}

    def files(self, root):
        root = self._root(root)
        edf = root / "edf" if (root / "edf").is_dir() else root
        specs = []
        for split_dir in ("train", "eval"):
            for cls in self.label_names:
                folder = edf / split_dir / cls
                if not folder.is_dir():
                    continue
                for path in sorted(folder.rglob("*.edf")):
                    patient, session, token = _parse_name(path, self.name)
                    extras = self._extras(split=_SPLITS[split_dir], **tcp_extras(path))
                    extras["warnings"] = header_date_warning(path)
                    specs.append(
                        make_spec(
                            path, subject=patient, session=session, run=token,
                            label=label_index(cls, self.label_names, str(path)),
                            annotations=[], extras=extras,
                        )
                    )
        if not specs:
            raise self._none_found(root, "edf/{train,eval}/{normal,abnormal}/**/*.edf")
        return specs


# TUEV .rec labels 1..6
TUEV_LABELS = ("spsw", "gped", "pled", "eyem", "artf", "bckg")


def read_rec(path: Path) -> list[tuple[int, float, float, int]]:
    """Parse a TUEV ``.rec`` file: rows ``channel,start,stop,label`` (channel 0..21 in TCP order,
    label 1..6). Returns ``[(channel, start_s, stop_s, label_1_to_6), ...]``."""
    rows = []
    with open(path, newline="") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",")]
            try:
                ch, start, stop, lab = int(float(parts[0])), float(parts[1]), float(parts[2]), int(float(parts[3]))
            except (ValueError, IndexError):
                raise NeurosigError(
                    f"{path}:{i}: expected 'channel,start,stop,label' (e.g. 0,12.0,13.0,6), got {line!r}."
                ) from None
            if not 1 <= lab <= 6 or not 0 <= ch < len(TCP_PAIRS) or stop <= start:
                raise NeurosigError(
                    f"{path}:{i}: label must be 1..6, channel 0..21 and stop > start; got {line!r}."
                )
            rows.append((ch, start, stop, lab))
    return rows


class TUEVAdapter(Adapter):
    """TUH EEG Events Corpus: 1 s channel-level events from ``.rec`` files, six classes.

    Annotations are ``(start, stop - start, "spsw" | ... | "bckg")``; the channel of each event
    is in ``extras["event_channels"]`` (TCP channel names, same order as the annotations).
    """

    name = "tuev"
    label_names = TUEV_LABELS
    label_from = "annotations"
    layout = "edf/{train,eval}/<patient>/<patient>_<index>.edf + .rec"

    def default_config(self) -> dict:
        # one 5 s window centred on each 1 s event (the usual TUEV recipe: 2 s either side)
        cfg = self._annotation_window(5.0, mode="events", tmin_s=-2.0, label_from_annotations=False)
        return {**cfg, "reference": "bipolar_tcp"}

    def files(self, root):
        root = self._root(root)
        edf = root / "edf" if (root / "edf").is_dir() else root
        specs = []
        for split_dir in ("train", "eval"):
            folder = edf / split_dir
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*.edf")):
                rec_path = path.with_suffix(".rec")
                rows = read_rec(rec_path) if rec_path.exists() else []
                patient = path.stem.split("_")[0] if "_" in path.stem else path.parent.name
                ann = [(s, e - s, TUEV_LABELS[lab - 1]) for _, s, e, lab in rows]
                extras = self._extras(split=_SPLITS[split_dir], **tcp_extras(path))
                extras["event_channels"] = [TCP_CHANNELS[ch] for ch, *_ in rows]
                extras["warnings"] = header_date_warning(path) + (
                    [] if rec_path.exists() else [f"no .rec label file beside {path.name}"]
                )
                specs.append(
                    make_spec(path, subject=patient, session="", run=path.stem.split("_")[-1],
                              label=None, annotations=ann, extras=extras)
                )
        if not specs:
            raise self._none_found(root, "edf/{train,eval}/**/*.edf")
        return specs


# TUSZ v2 seizure types (.csv) and the term-based binary labels (.csv_bi)
TUSZ_TYPES = ("bckg", "fnsz", "gnsz", "spsz", "cpsz", "absz", "tnsz", "cnsz", "tcsz", "atsz", "mysz")
TUSZ_BINARY = ("bckg", "seiz")


def read_tusz_csv(path: Path) -> list[tuple[str, float, float, str, float]]:
    """Parse a TUSZ v2 ``.csv``/``.csv_bi`` file: ``#`` header comments, then the header row
    ``channel,start_time,stop_time,label,confidence`` and one row per event."""
    with open(path, newline="") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    need = {"channel", "start_time", "stop_time", "label"}
    if reader.fieldnames is None or not need <= {f.strip() for f in reader.fieldnames}:
        raise NeurosigError(
            f"{path}: expected the header 'channel,start_time,stop_time,label,confidence' after the "
            f"'#' comments, got {reader.fieldnames}; is this a TUSZ v2 annotation file?"
        )
    out = []
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items()}
        out.append((row["channel"], float(row["start_time"]), float(row["stop_time"]),
                    row["label"].lower(), float(row.get("confidence") or 1.0)))
    return out


def tusz_duration(path: Path) -> float:
    """The ``# duration = 301.00 secs`` header comment of a TUSZ annotation file (0 if absent)."""
    with open(path) as fh:
        for line in fh:
            m = re.match(r"#\s*duration\s*=\s*([\d.]+)", line)
            if m:
                return float(m.group(1))
            if not line.startswith("#"):
                break
    return 0.0


class TUSZAdapter(Adapter):
    """TUH EEG Seizure Corpus v2.

    ``labels="binary"`` (default) reads the term-based ``.csv_bi`` (bckg=0, seiz=1);
    ``labels="types"`` reads the channel-based ``.csv`` and merges its rows into term-level
    seizure-type segments (vocabulary :data:`TUSZ_TYPES`).
    """

    name = "tusz"
    label_from = "annotations"
    layout = "edf/{train,dev,eval}/<patient>/s<session>_<year>/<montage>/<patient>_s<session>_t<token>.edf + .csv_bi/.csv"

    def __init__(self, labels: str = "binary"):
        self.labels = check_option(labels, ("binary", "types"), "tusz labels")
        self.label_names = TUSZ_BINARY if labels == "binary" else TUSZ_TYPES

    def default_config(self) -> dict:
        return {**self._annotation_window(10.0), "reference": "bipolar_tcp"}

    def annotations(self, edf_path: Path, unknown: dict[str, list[float]] | None = None) -> list[tuple[float, float, str]]:
        """The term-level ``(onset, duration, label)`` segments of a file. Rows whose label is
        not in the vocabulary give no segment (their windows stay unlabelled, -1; in ``types``
        mode they are not filled with background either: an unknown label may be a seizure);
        when ``unknown`` is a dict, each such label is recorded there as ``[rows, seconds]``."""
        vocab = TUSZ_BINARY if self.labels == "binary" else TUSZ_TYPES
        ann_path = edf_path.with_suffix(".csv_bi" if self.labels == "binary" else ".csv")
        rows = read_tusz_csv(ann_path) if ann_path.exists() else []
        if unknown is not None:
            for _, s, e, lab, _ in rows:
                if lab not in vocab:
                    got = unknown.setdefault(lab, [0, 0.0])
                    got[0] += 1
                    got[1] += e - s
        if self.labels == "binary":
            return [(s, e - s, lab) for _, s, e, lab, _ in rows if lab in TUSZ_BINARY]
        # channel-based rows → one term segment per (start, stop, seizure type); background is
        # what no seizure covers (extras["background"]), since bckg rows span whole channels
        segs = sorted({(s, e, lab) for _, s, e, lab, _ in rows if lab != "bckg"})
        duration = tusz_duration(ann_path) if ann_path.exists() else 0.0
        filled = fill_background([(s, e - s, lab) for s, e, lab in segs], duration, "bckg")
        return [a for a in filled if a[2] in TUSZ_TYPES]

    def files(self, root):
        root = self._root(root)
        edf = root / "edf" if (root / "edf").is_dir() else root
        specs = []
        for split_dir in ("train", "dev", "eval"):
            folder = edf / split_dir
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*.edf")):
                patient, session, token = _parse_name(path, self.name)
                unknown: dict[str, list[float]] = {}
                ann = self.annotations(path, unknown)
                extras = self._extras(split=_SPLITS[split_dir], **tcp_extras(path))
                extras["label_names"] = list(self.label_names)
                extras["tusz_montage"] = path.parent.name
                extras["background"] = "bckg"
                extras["warnings"] = header_date_warning(path)
                if unknown:
                    ann_file = path.with_suffix(".csv_bi" if self.labels == "binary" else ".csv")
                    fate = ("unlabelled (-1)" if self.labels == "binary" else
                            "unlabelled (-1), not background: they may be seizures")
                    extras["warnings"] = extras["warnings"] + [unknown_labels_warning(
                        ann_file, unknown, " ".join(self.label_names) + f" (tusz labels={self.labels!r})", fate)]
                    log.warning("%s", extras["warnings"][-1])
                has_seiz = any(lab != "bckg" for *_, lab in ann)
                specs.append(
                    make_spec(path, subject=patient, session=session, run=token,
                              label=None, annotations=ann,
                              extras={**extras, "has_seizure": has_seiz})
                )
        if not specs:
            raise self._none_found(root, "edf/{train,dev,eval}/**/*.edf")
        return specs


class TUEGAdapter(Adapter):
    """TUH EEG Corpus (TUEG) v2, the unlabelled pretraining corpus; TUAB/TUEV/TUSZ patients are
    among its patients (exclude them with ``neurosig.datasets.leakage.exclude_subjects``)."""

    name = "tueg"
    label_from = "none"
    layout = "edf/<NNN>/<patient>/s<session>_<year>_<mm>_<dd>/<montage>/<patient>_s<session>_t<token>.edf"

    def default_config(self) -> dict:
        return {"dataset": "tueg", "reference": "bipolar_tcp", "window": {"mode": "fixed", "length_s": 10.0}}

    def files(self, root):
        root = self._root(root)
        edf = root / "edf" if (root / "edf").is_dir() else root
        specs = []
        for path in sorted(edf.rglob("*.edf")):
            patient, session, token = _parse_name(path, self.name)
            extras = self._extras(split="", **tcp_extras(path))
            extras["warnings"] = header_date_warning(path)
            specs.append(make_spec(path, subject=patient, session=session, run=token, label=None,
                                   annotations=[], extras=extras))
        if not specs:
            raise self._none_found(root, "edf/**/<patient>_s<session>_t<token>.edf")
        return specs


def patient_of(path: str | os.PathLike) -> str:
    """TUH EEG patient id of a TUH file path (``aaaaaaav`` from ``.../aaaaaaav_s004_t000.edf``)."""
    stem = Path(path).stem
    m = _TOKEN_NAME.match(stem)
    return m.group("patient") if m else stem.split("_")[0]
