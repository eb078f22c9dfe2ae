"""CHB-MIT Scalp EEG Database (PhysioNet ``chbmit/1.0.0``).

Layout: ``chbNN/chbNN_MM.edf`` (some ``chbNN_MM+.edf``, ``chb17a_03.edf``) with one
``chbNN/chbNN-summary.txt`` per case listing, per file, ``File Name:``, ``File Start Time:``,
``File End Time:``, ``Number of Seizures in File:`` and the seizures' ``Seizure Start Time: X
seconds`` / ``Seizure End Time: Y seconds`` (later cases number them: ``Seizure 1 Start Time:``).
Signals are 256 Hz, 16-bit, bipolar 10-20 derivations (``FP1-F7`` ...). Known quirks handled
here: ``T8-P8`` appears twice in most files (the copy is dropped); placeholder channels named
``-`` or empty; montage changes between files of one case (``Channels changed:`` in the summary)
— every file is reduced to the standard 22 unique derivations it has, and absent ones are
recorded, never zero-padded. Case ``chb21`` is the same subject as ``chb01`` (recorded 1.5 years
later), so its subject id is ``chb01`` (session ``2``) to keep splits subject-disjoint.
"""

from __future__ import annotations

import re
from pathlib import Path

from neurosig._utils.errors import NeurosigError
from neurosig.datasets.adapters.base import Adapter, edf_duration, fill_background, make_spec

CHBMIT_CHANNELS: tuple[str, ...] = (
    "FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
    "FP2-F4", "F4-C4", "C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
    "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8",
)
SFREQ = 256.0
SAME_SUBJECT = {"chb21": ("chb01", "2")}  # case → (subject, session)

_FILE = re.compile(r"^File Name:\s*(\S+)", re.I)
_NSEIZ = re.compile(r"^Number of Seizures in File:\s*(\d+)", re.I)
_START = re.compile(r"^Seizure(?:\s+\d+)?\s+Start Time:\s*([\d.]+)\s*seconds?", re.I)
_END = re.compile(r"^Seizure(?:\s+\d+)?\s+End Time:\s*([\d.]+)\s*seconds?", re.I)


def parse_summary(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``{file name: [(seizure start s, seizure end s), ...]}`` from a ``chbNN-summary.txt``."""
    out: dict[str, list[tuple[float, float]]] = {}
    expected: dict[str, int] = {}
    current = None
    starts: list[float] = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if m := _FILE.match(line):
            current = m.group(1)
            out[current] = []
            starts = []
        elif current is None:
            continue
        elif m := _NSEIZ.match(line):
            expected[current] = int(m.group(1))
        elif m := _START.match(line):
            starts.append(float(m.group(1)))
        elif m := _END.match(line):
            if not starts:
                raise NeurosigError(f"{path}:{i}: 'Seizure End Time' without a start time; the summary is malformed.")
            out[current].append((starts.pop(0), float(m.group(1))))
    for name, n in expected.items():
        if len(out[name]) != n:
            raise NeurosigError(
                f"{path}: {name} says 'Number of Seizures in File: {n}' but lists {len(out[name])} "
                "start/end pairs; fix the summary file."
            )
    return out


class CHBMITAdapter(Adapter):
    """CHB-MIT: window labels seizure=1 / bckg=0 from the summary files; recording label = any seizure."""

    name = "chbmit"
    label_names = ("bckg", "seizure")
    label_from = "annotations"
    layout = "chbNN/chbNN_MM.edf + chbNN/chbNN-summary.txt"

    def default_config(self) -> dict:
        # 256 Hz bipolar derivations are already made; 10 s windows (common seizure-detection recipe)
        return self._annotation_window(10.0)

    def files(self, root):
        root = self._root(root)
        cases = sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"chb\d\d", p.name))
        specs = []
        for case in cases:
            summary = case / f"{case.name}-summary.txt"
            seizures = parse_summary(summary) if summary.exists() else {}
            subject, session = SAME_SUBJECT.get(case.name, (case.name, "1"))
            for path in sorted(case.glob("*.edf")):
                warnings = []
                if path.name not in seizures:
                    warnings.append(f"{path.name} is not listed in {summary.name}; treated as seizure-free")
                sz = seizures.get(path.name, [])
                # explicit background segments, so every window gets a label
                ann = fill_background([(s, e - s, "seizure") for s, e in sz], edf_duration(path), "bckg")
                extras = self._extras(
                    split="", picks=list(CHBMIT_CHANNELS), case=case.name, warnings=warnings,
                    n_seizures=len(sz), background="bckg",
                )
                specs.append(
                    make_spec(path, subject=subject, session=session, run=path.stem.split("_", 1)[-1],
                              label=int(bool(sz)), annotations=ann, extras=extras)
                )
        if not specs:
            raise self._none_found(root, "chbNN/chbNN_MM.edf")
        return specs
