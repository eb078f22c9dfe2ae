"""Sleep-EDF Database Expanded (PhysioNet ``sleep-edfx/1.0.0``).

Layout: ``sleep-cassette/SC4ssNE0-PSG.edf`` + ``SC4ssNEx-Hypnogram.edf`` (age study, subject
``ss`` 00–82, night ``N`` 1–2) and ``sleep-telemetry/ST7ssNJ0-PSG.edf`` + ``ST7ssNJx-Hypnogram.edf``
(temazepam study, separate subjects). A PSG file and its hypnogram share the first 7
characters of the name (``SC4001E``); the scorer letter after it differs (``E0`` vs ``EC``).

PSG signals: ``EEG Fpz-Cz`` and ``EEG Pz-Oz`` (100 Hz), ``EOG horizontal`` (100 Hz), plus
respiration/EMG/temperature at 1 Hz (cassette) that are not picked. Hypnograms are EDF+
annotation-only files scored in 30 s epochs by the Rechtschaffen & Kales rules with
descriptions ``Sleep stage W|1|2|3|4|R|?`` and ``Movement time``. Labels follow AASM:
W, N1, N2, N3 (R&K stages 3 and 4 merged), REM; ``?`` and movement time are excluded. Hypnograms
rescored by the AASM rules spell the stages ``Sleep stage N1|N2|N3`` (as the EDF+ scorings of the
PhysioNet HMC sleep-staging database do); those map to the same labels. Any other description is
left out with a warning in the build report naming the hypnogram and the descriptions.
Cassette nights hold many hours of wake; ``trim_wake_min`` keeps only that much wake before
the first and after the last sleep epoch (30 min is the common recipe; ``None`` keeps all).
"""

from __future__ import annotations

import re
from pathlib import Path

from neurosig._utils.errors import NeurosigError
from neurosig.datasets.adapters.base import Adapter, log, make_spec, unknown_labels_warning

STAGES = ("W", "N1", "N2", "N3", "REM")
RK_TO_AASM = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
    # AASM spellings (hypnograms rescored by the AASM rules, e.g. PhysioNet's HMC EDF+ scorings)
    "Sleep stage N1": "N1",
    "Sleep stage N2": "N2",
    "Sleep stage N3": "N3",
}
EXCLUDED = ("Sleep stage ?", "Movement time")  # unscored epochs and movement: left out on purpose, no warning
EPOCH_S = 30.0
PICKS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal")
_NAME = re.compile(r"^(?P<study>SC4|ST7)(?P<subject>\d\d)(?P<night>\d)(?P<rest>\w)\w-PSG$")


def hypnogram_epochs(path: Path, *, trim_wake_min: float | None = 30.0,
                     unknown: dict[str, list[float]] | None = None) -> list[tuple[float, float, str]]:
    """Read a hypnogram EDF+ and return 30 s epochs ``(onset_s, 30.0, stage)`` in AASM labels.

    Descriptions that are neither a stage nor excluded on purpose (:data:`EXCLUDED`) give no
    epoch; when ``unknown`` is a dict, each is recorded there as ``{description: [count, seconds]}``.
    """
    import mne

    try:
        ann = mne.read_annotations(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad hypnogram
        raise NeurosigError(f"{path}: cannot read the hypnogram ({err}); expected an EDF+ annotation file.") from None
    epochs: list[tuple[float, float, str]] = []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description):
        stage = RK_TO_AASM.get(desc.strip())
        if stage is None:  # movement time, unscored (?): on purpose; anything else is said
            if unknown is not None and desc.strip() not in EXCLUDED:
                got = unknown.setdefault(desc.strip(), [0, 0.0])
                got[0] += 1
                got[1] += float(duration)
            continue
        n = int(round(duration / EPOCH_S))
        epochs.extend((float(onset) + i * EPOCH_S, EPOCH_S, stage) for i in range(n))
    if trim_wake_min is not None:
        sleep = [e for e in epochs if e[2] != "W"]
        if sleep:
            lo = sleep[0][0] - trim_wake_min * 60.0
            hi = sleep[-1][0] + EPOCH_S + trim_wake_min * 60.0
            epochs = [e for e in epochs if lo <= e[0] and e[0] + EPOCH_S <= hi]
    return epochs


class SleepEDFAdapter(Adapter):
    """Sleep-EDF Expanded: 30 s epochs labelled W/N1/N2/N3/REM from the hypnograms."""

    name = "sleepedf"
    label_names = STAGES
    label_from = "annotations"
    layout = "sleep-cassette/SC4ssNE0-PSG.edf + SC4ssNEx-Hypnogram.edf (and sleep-telemetry/ST7ssNJ0-PSG.edf ...)"

    def __init__(self, trim_wake_min: float | None = 30.0):
        if trim_wake_min is not None and trim_wake_min < 0:
            raise NeurosigError(f"sleepedf trim_wake_min must be >= 0 minutes or None, got {trim_wake_min!r}.")
        self.trim_wake_min = trim_wake_min

    def default_config(self) -> dict:
        # one window per 30 s scored epoch; keep the EOG; epochs without a stage are skipped
        cfg = self._annotation_window(EPOCH_S, drop_unlabelled=True)
        cfg["ch_types"] = ["eeg", "eog"]
        return cfg

    def files(self, root):
        root = self._root(root)
        psgs = sorted(root.rglob("*-PSG.edf"))
        hyps = {p.name[:7]: p for p in root.rglob("*-Hypnogram.edf")}
        specs = []
        for psg in psgs:
            m = _NAME.match(psg.stem)
            if not m:
                raise NeurosigError(
                    f"sleepedf: {psg.name!r} does not follow SC4ssNE0-PSG.edf / ST7ssNJ0-PSG.edf; "
                    "keep the published file names."
                )
            hyp = hyps.get(psg.name[:7])
            if hyp is None:
                raise NeurosigError(
                    f"sleepedf: no hypnogram '{psg.name[:7]}?-Hypnogram.edf' beside {psg.name}; "
                    "download the PSG/hypnogram pair together."
                )
            unknown: dict[str, list[float]] = {}
            epochs = hypnogram_epochs(hyp, trim_wake_min=self.trim_wake_min, unknown=unknown)
            study = "SC" if m.group("study") == "SC4" else "ST"
            extras = self._extras(
                split="", picks=list(PICKS), ch_types={"EOG horizontal": "eog"},
                window_s=EPOCH_S, hypnogram=str(hyp), study=study,
            )
            if unknown:
                extras["warnings"] = [unknown_labels_warning(
                    hyp, unknown, "Sleep stage W/1/2/3/4/R (R&K) or N1/N2/N3 (AASM); 'Sleep stage ?' and 'Movement time' "
                    "are left out on purpose", "left out (no window)")]
                log.warning("%s", extras["warnings"][0])
            specs.append(
                make_spec(psg, subject=f"{study}{m.group('subject')}", session=f"night{m.group('night')}",
                          run="", label=None, annotations=epochs, extras=extras)
            )
        if not specs:
            raise self._none_found(root, "*-PSG.edf")
        return specs

    def read(self, spec, *, positions: str = "auto", derive: bool = True):
        """Read only the picked 100 Hz channels. The cassette PSGs hold more 1 Hz channels
        (respiration, EMG, temperature, marker) than 100 Hz ones, so a generic reader that keeps
        the majority rate would keep the wrong ones; reading with ``include=`` avoids that."""
        import mne

        from neurosig.io.edf import check_edf
        from neurosig.io.recording import Recording
        from neurosig.datasets.adapters.base import _quiet, apply_channel_fixes, finish_recording

        picks = list((spec.extras or {}).get("picks") or PICKS)
        hdr = check_edf(spec.path)  # truncation / corrupt header → one-line NeurosigError
        present = [c for c in picks if c in hdr.labels]
        if not present:
            raise NeurosigError(
                f"{spec.path}: none of the Sleep-EDF channels {picks} is in the file (it has "
                f"{hdr.labels[:8]}); is this a Sleep-EDF PSG file?"
            )
        with _quiet():
            raw = mne.io.read_raw_edf(spec.path, include=present, preload=False, verbose="error")  # lazy: nights are ~22 h
        rec = Recording(
            sfreq=float(raw.info["sfreq"]), ch_names=list(raw.ch_names), ch_types=["eeg"] * len(raw.ch_names),
            pos=[[float("nan")] * 3] * len(raw.ch_names), subject=spec.subject, source=str(spec.path), raw=raw,
            info={"warnings": [w for w in hdr.warnings if "sampled at another rate" not in w], "line_freq": 50.0},
        )
        rec = apply_channel_fixes(rec, spec.extras or {})
        return finish_recording(rec, spec, positions=positions)
