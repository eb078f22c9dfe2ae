"""Generators of synthetic miniature corpora in the published layouts (for tests and benchmarks).

Every generator writes real file formats (EDF/EDF+ through ``edfio``, BIDS through
``mne-bids``) with the corpus's channel names, sampling rates, file names and annotation
syntax, and a few minutes of signal. Signals are deterministic: electrode ``e`` of a file
carries :func:`electrode_signal` (a sinusoid whose frequency and amplitude depend on the
electrode's index in the file, plus small seeded noise), so tests can recompute what a
bipolar derivation or a unit conversion must give.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------------
# signals and EDF writing
# ----------------------------------------------------------------------------------------------


def electrode_signal(index: int, n: int, sfreq: float, seed: int = 0) -> np.ndarray:
    """µV signal of electrode ``index``: ``(20 + 2*index) * sin(2π (3 + 0.5*index) t)`` + noise (sd 1)."""
    t = np.arange(n) / sfreq
    rng = np.random.default_rng([seed, index])
    return (20.0 + 2 * index) * np.sin(2 * np.pi * (3.0 + 0.5 * index) * t) + rng.normal(0, 1.0, n)


def write_edf(
    path: Path,
    signals: dict[str, np.ndarray] | list[tuple[str, np.ndarray]],
    sfreq: float | dict[str, float],
    *,
    annotations: list[tuple[float, float, str]] | None = None,
    unit: str = "uV",
    physical_range: tuple[float, float] = (-1000.0, 1000.0),
    corrupt_date: bool = False,
    start: dt.datetime = dt.datetime(2010, 3, 4, 10, 30, 0),
) -> Path:
    """Write an EDF (EDF+ when ``annotations`` are given) with per-channel sampling rates."""
    import edfio

    items = list(signals.items()) if isinstance(signals, dict) else list(signals)
    sigs = []
    for name, data in items:
        fs = sfreq[name] if isinstance(sfreq, dict) else sfreq
        sigs.append(
            edfio.EdfSignal(np.asarray(data, dtype=float), fs, label=name, physical_dimension=unit,
                            physical_range=physical_range)
        )
    ann = [edfio.EdfAnnotation(o, d, t) for o, d, t in annotations] if annotations is not None else None
    edf = edfio.Edf(sigs, annotations=ann, starttime=start.time(),
                    recording=edfio.Recording(startdate=start.date()))
    path.parent.mkdir(parents=True, exist_ok=True)
    edf.write(path)
    if corrupt_date:
        # de-identified TUH headers: an impossible start date (dd.mm.yy at byte 168)
        b = bytearray(path.read_bytes())
        b[168:176] = b"00.00.00"
        path.write_bytes(bytes(b))
    return path


def write_annotation_edf(path: Path, annotations: list[tuple[float, float, str]]) -> Path:
    """An EDF+ file with no signals, only an annotation channel (Sleep-EDF hypnograms)."""
    import edfio

    path.parent.mkdir(parents=True, exist_ok=True)
    edfio.Edf([], annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations]).write(path)
    return path


# ----------------------------------------------------------------------------------------------
# TUH: TUAB, TUEV, TUSZ
# ----------------------------------------------------------------------------------------------
TUH_ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
                  "T3", "T4", "T5", "T6", "A1", "A2", "FZ", "CZ", "PZ")
TUH_EXTRA = ("EEG ROC-REF", "EEG LOC-REF", "EEG EKG1-REF", "PHOTIC-REF")


def tuh_signals(ref: str, seconds: float, sfreq: float, seed: int) -> list[tuple[str, np.ndarray]]:
    """Referential TUH channels ``EEG <E>-<ref>`` (+ non-EEG extras), electrode i → electrode_signal(i)."""
    n = int(seconds * sfreq)
    out = [(f"EEG {e}-{ref}", electrode_signal(i, n, sfreq, seed)) for i, e in enumerate(TUH_ELECTRODES)]
    out += [(name, electrode_signal(50 + j, n, sfreq, seed)) for j, name in enumerate(TUH_EXTRA)]
    return out


def make_tuab(root: Path, n_per_group: int = 1, seconds: float = 120.0, sfreq: float = 250.0) -> Path:
    """``edf/{train,eval}/{normal,abnormal}/01_tcp_ar/<patient>_s<ss>_t<tt>.edf``; eval patients
    are distinct from train patients; the first file gets a corrupt header date."""
    k = 0
    for split in ("train", "eval"):
        for cls in ("normal", "abnormal"):
            for i in range(n_per_group):
                patient = f"aaaa{'ab' if split == 'train' else 'ev'}{k:02d}"
                path = root / "edf" / split / cls / "01_tcp_ar" / f"{patient}_s00{i + 1}_t000.edf"
                write_edf(path, tuh_signals("REF", seconds, sfreq, seed=k), sfreq, corrupt_date=(k == 0))
                k += 1
    return root


TUEV_EVENTS = {  # per file: (channel index 0..21, start, stop, label 1..6)
    0: [(0, 10.0, 11.0, 1), (1, 10.0, 11.0, 1), (14, 30.0, 31.0, 4), (3, 50.0, 51.0, 6)],
    1: [(5, 5.0, 6.0, 2), (8, 20.0, 21.0, 3), (21, 40.0, 41.0, 5)],
}


def make_tuev(root: Path, seconds: float = 60.0, sfreq: float = 250.0) -> Path:
    """``edf/{train,eval}/<patient>/<patient>_<nnnnnnnn>.edf`` + ``.rec`` (channel,start,stop,label)."""
    for k, (split, patient) in enumerate((("train", "aaaaaevt"), ("eval", "aaaaaeve"))):
        path = root / "edf" / split / patient / f"{patient}_00000001.edf"
        write_edf(path, tuh_signals("REF", seconds, sfreq, seed=10 + k), sfreq)
        rows = TUEV_EVENTS[k]
        path.with_suffix(".rec").write_text("".join(f"{c},{s:.1f},{e:.1f},{lab}\n" for c, s, e, lab in rows))
    return root


def _tusz_csv(bname: str, duration: float, rows: list[tuple[str, float, float, str]]) -> str:
    head = (
        "# version = csv_v1.0.0\n"
        f"# bname = {bname}\n"
        f"# duration = {duration:.2f} secs\n"
        "# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt\n"
        "#\n"
        "channel,start_time,stop_time,label,confidence\n"
    )
    return head + "".join(f"{c},{s:.4f},{e:.4f},{lab},1.0000\n" for c, s, e, lab in rows)


def make_tusz(root: Path, seconds: float = 120.0, sfreq: float = 250.0) -> Path:
    """TUSZ v2: ``edf/{train,dev,eval}/<patient>/s<ss>_<year>/<montage>/<patient>_s<ss>_t<tt>.edf``
    with ``.csv_bi`` (TERM rows, bckg/seiz covering the file) and ``.csv`` (per channel, types)."""
    files = [
        ("train", "aaaaaszt", "01_tcp_ar", "REF", [(30.0, 70.0, "fnsz")]),
        ("train", "aaaaaszt", "02_tcp_le", "LE", []),
        ("dev", "aaaaaszd", "01_tcp_ar", "REF", [(10.0, 25.0, "gnsz"), (80.0, 95.0, "gnsz")]),
        ("eval", "aaaaasze", "01_tcp_ar", "REF", [(50.0, 60.0, "absz")]),
    ]
    for k, (split, patient, montage, ref, seizures) in enumerate(files):
        stem = f"{patient}_s{k + 1:03d}_t000"
        path = root / "edf" / split / patient / f"s{k + 1:03d}_2015" / montage / f"{stem}.edf"
        write_edf(path, tuh_signals(ref, seconds, sfreq, seed=20 + k), sfreq)
        # term-based: consecutive bckg/seiz segments covering [0, seconds]
        term, t = [], 0.0
        for s, e, _ in seizures:
            if s > t:
                term.append(("TERM", t, s, "bckg"))
            term.append(("TERM", s, e, "seiz"))
            t = e
        if t < seconds:
            term.append(("TERM", t, seconds, "bckg"))
        path.with_suffix(".csv_bi").write_text(_tusz_csv(stem, seconds, term))
        chans = [("FP1-F7", "F7-T3"), ("T3-C3", "C3-CZ")]
        rows = []
        for s, e, typ in seizures:
            rows += [(c, s, e, typ) for c in chans[0]]
        rows += [(c, 0.0, seconds, "bckg") for c in chans[1]]
        path.with_suffix(".csv").write_text(_tusz_csv(stem, seconds, rows))
    return root


# ----------------------------------------------------------------------------------------------
# CHB-MIT
# ----------------------------------------------------------------------------------------------
CHB_CHANNELS = ("FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
                "FP2-F4", "F4-C4", "C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
                "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8", "T8-P8")


def make_chbmit(root: Path, seconds: float = 120.0) -> Path:
    """``chb01/chb01_0{1,3}.edf`` (+ ``chb01-summary.txt``), ``chb21/chb21_01.edf`` (same subject as
    chb01, numbered-seizure summary syntax) and a montage change with a ``-`` placeholder channel."""
    sfreq = 256.0
    n = int(seconds * sfreq)

    def sig(names, seed):
        return [(c, electrode_signal(i, n, sfreq, seed)) for i, c in enumerate(names)]

    case = root / "chb01"
    write_edf(case / "chb01_01.edf", sig(CHB_CHANNELS, 1), sfreq)
    write_edf(case / "chb01_03.edf", sig(CHB_CHANNELS, 3), sfreq)
    # montage change: a placeholder "-" channel, FT9-FT10 missing, an extra ECG
    changed = [c for c in CHB_CHANNELS if c != "FT9-FT10"][:20] + ["-", "ECG", "T8-P8"]
    write_edf(case / "chb01_04.edf", sig(changed, 4), sfreq)
    chan_list = "".join(f"Channel {i + 1}: {c}\n" for i, c in enumerate(CHB_CHANNELS))
    (case / "chb01-summary.txt").write_text(
        "Data Sampling Rate: 256 Hz\n*************************\n\n"
        "Channels in EDF Files:\n**********************\n" + chan_list + "\n"
        "File Name: chb01_01.edf\nFile Start Time: 11:42:54\nFile End Time: 11:44:54\n"
        "Number of Seizures in File: 0\n\n"
        "File Name: chb01_03.edf\nFile Start Time: 13:43:04\nFile End Time: 13:45:04\n"
        "Number of Seizures in File: 1\nSeizure Start Time: 40 seconds\nSeizure End Time: 76 seconds\n\n"
        "Channels changed:\n" + "".join(f"Channel {i + 1}: {c}\n" for i, c in enumerate(changed)) + "\n"
        "File Name: chb01_04.edf\nFile Start Time: 14:43:12\nFile End Time: 14:45:12\n"
        "Number of Seizures in File: 0\n"
    )
    case = root / "chb21"
    write_edf(case / "chb21_01.edf", sig(CHB_CHANNELS, 21), sfreq)
    (case / "chb21-summary.txt").write_text(
        "Data Sampling Rate: 256 Hz\n*************************\n\n"
        "Channels in EDF Files:\n**********************\n" + chan_list + "\n"
        "File Name: chb21_01.edf\nFile Start Time: 10:00:00\nFile End Time: 10:02:00\n"
        "Number of Seizures in File: 2\n"
        "Seizure 1 Start Time: 10 seconds\nSeizure 1 End Time: 20 seconds\n"
        "Seizure 2 Start Time: 90 seconds\nSeizure 2 End Time: 100 seconds\n"
    )
    return root


# ----------------------------------------------------------------------------------------------
# Sleep-EDF Expanded
# ----------------------------------------------------------------------------------------------
# R&K hypnogram of the miniature night (30 s epochs): onset order, (description, n epochs)
SLEEP_HYPNOGRAM = (
    ("Sleep stage W", 4), ("Sleep stage 1", 2), ("Movement time", 1), ("Sleep stage 2", 3),
    ("Sleep stage 3", 2), ("Sleep stage 4", 2), ("Sleep stage R", 3), ("Sleep stage W", 2),
    ("Sleep stage ?", 1),
)
SLEEP_STAGES_EXPECTED = ["W"] * 4 + ["N1"] * 2 + ["N2"] * 3 + ["N3"] * 4 + ["REM"] * 3 + ["W"] * 2


def make_sleepedf(root: Path) -> Path:
    """``sleep-cassette/SC4001E0-PSG.edf`` + ``SC4001EC-Hypnogram.edf`` and
    ``sleep-telemetry/ST7011J0-PSG.edf`` + ``ST7011JP-Hypnogram.edf`` (10 min nights)."""
    n_epochs = sum(k for _, k in SLEEP_HYPNOGRAM)
    seconds = n_epochs * 30.0
    ann, t = [], 0.0
    for desc, k in SLEEP_HYPNOGRAM:
        ann.append((t, 30.0 * k, desc))
        t += 30.0 * k
    for folder, psg, hyp, seed, emg_fs in (
        ("sleep-cassette", "SC4001E0-PSG.edf", "SC4001EC-Hypnogram.edf", 40, 1.0),
        ("sleep-telemetry", "ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf", 41, 100.0),
    ):
        names = {"EEG Fpz-Cz": 100.0, "EEG Pz-Oz": 100.0, "EOG horizontal": 100.0,
                 "Resp oro-nasal": 1.0, "EMG submental": emg_fs, "Temp rectal": 1.0, "Event marker": 1.0}
        sigs = [(c, electrode_signal(i, int(seconds * fs), fs, seed)) for i, (c, fs) in enumerate(names.items())]
        write_edf(root / folder / psg, sigs, names, annotations=[])
        write_annotation_edf(root / folder / hyp, ann)
    return root


# ----------------------------------------------------------------------------------------------
# BIDS (EEG) and a plain folder
# ----------------------------------------------------------------------------------------------
BIDS_CHANNELS = ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "Fz", "Cz")


def make_bids(root: Path, subjects=("01", "02"), seconds: float = 60.0, sfreq: float = 256.0) -> Path:
    """A BIDS EEG dataset written by mne-bids (EDF), with events, electrodes, a bad channel and an
    EOG channel declared in channels.tsv, and a ``group`` column in participants.tsv."""
    import mne
    import mne_bids
    import pandas as pd

    n = int(seconds * sfreq)
    for k, sub in enumerate(subjects):
        data = np.stack([electrode_signal(i, n, sfreq, 60 + k) for i in range(len(BIDS_CHANNELS))]) * 1e-6
        info = mne.create_info(list(BIDS_CHANNELS), sfreq, "eeg")
        raw = mne.io.RawArray(data, info, verbose="error")
        raw.set_montage("standard_1020", verbose="error")
        raw.set_meas_date(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
        raw.info["line_freq"] = 50.0
        raw.set_annotations(mne.Annotations([5.0, 20.0, 35.0], [2.0, 2.0, 2.0], ["left", "right", "left"]))
        bp = mne_bids.BIDSPath(subject=sub, session="01", task="rest", run="1", datatype="eeg", root=root)
        mne_bids.write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
        ch = bp.copy().update(suffix="channels", extension=".tsv")
        df = pd.read_csv(ch.fpath, sep="\t")
        df.loc[df["name"] == "Fp2", "status"] = "bad"
        df.loc[df["name"] == "Fp1", "type"] = "EOG"
        df.to_csv(ch.fpath, sep="\t", index=False)
    parts = root / "participants.tsv"
    df = pd.read_csv(parts, sep="\t")
    df["group"] = ["patient" if i % 2 else "control" for i in range(len(df))]
    df.to_csv(parts, sep="\t", index=False)
    return root


def make_folder(root: Path, n: int = 4, seconds: float = 20.0, sfreq: float = 200.0,
                broken: bool = False) -> Path:
    """``rec_XX.edf`` files + ``labels.csv`` (path,label,subject); ``broken`` adds ``broken.edf``
    (not an EDF) to the CSV."""
    names = ("Fp1", "Fp2", "C3", "C4", "O1", "O2")
    lines = ["path,label,subject"]
    for i in range(n):
        sigs = [(c, electrode_signal(j, int(seconds * sfreq), sfreq, 80 + i)) for j, c in enumerate(names)]
        write_edf(root / f"rec_{i:02d}.edf", sigs, sfreq)
        lines.append(f"rec_{i:02d}.edf,{'abnormal' if i % 2 else 'normal'},s{i // 2}")
    if broken:
        (root / "broken.edf").write_bytes(b"this is not an EDF file" * 20)
        lines.append("broken.edf,normal,s9")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def make_synthetic_corpus(root: Path, n_files: int = 50, seconds: float = 60.0, sfreq: float = 250.0,
                          n_channels: int = 19) -> Path:
    """A folder corpus of ``n_files`` EDFs (benchmarks)."""
    names = [f"EEG{i:02d}" for i in range(n_channels)]
    lines = ["path,label,subject"]
    for i in range(n_files):
        sigs = [(c, electrode_signal(j, int(seconds * sfreq), sfreq, 1000 + i)) for j, c in enumerate(names)]
        write_edf(root / f"f{i:04d}.edf", sigs, sfreq)
        lines.append(f"f{i:04d}.edf,{i % 2},sub{i // 4:03d}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


def make_tueg(root: Path, patients=("aaaaab00", "aaaaev03", "aaaapt01"), seconds: float = 30.0,
              sfreq: float = 250.0) -> Path:
    """TUEG v2: ``edf/<NNN>/<patient>/s001_2012_03_04/01_tcp_ar/<patient>_s001_t000.edf`` (the
    default patients overlap the TUAB miniature's ``aaaaab00`` and ``aaaaev03``)."""
    for k, patient in enumerate(patients):
        path = root / "edf" / f"{k:03d}" / patient / "s001_2012_03_04" / "01_tcp_ar" / f"{patient}_s001_t000.edf"
        write_edf(path, tuh_signals("REF", seconds, sfreq, seed=90 + k), sfreq)
    return root


def make_bids_ieeg_meg(root: Path) -> Path:
    """A BIDS dataset with one sEEG run (EDF, electrodes in ACPC space) and one MEG run (FIF,
    3 magnetometers with a device→head transform that shifts z by 4 cm)."""
    import mne
    import mne_bids

    names = ["LA1", "LA2", "LA3", "RB1", "RB2"]
    sf = 512.0
    data = np.stack([electrode_signal(i, int(20 * sf), sf, 70) for i in range(len(names))]) * 1e-6
    raw = mne.io.RawArray(data, mne.create_info(names, sf, "seeg"), verbose="error")
    mont = mne.channels.make_dig_montage(ch_pos={c: np.array([0.01 * i, 0.02, 0.03]) for i, c in enumerate(names)},
                                         coord_frame="mri")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw.set_montage(mont)
    raw.set_meas_date(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    raw.info["line_freq"] = 60.0
    bp = mne_bids.BIDSPath(subject="03", task="rest", datatype="ieeg", root=root, space="ACPC")
    mne_bids.write_raw_bids(raw, bp, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    info = mne.create_info(["MEG 001", "MEG 002", "MEG 003"], 600.0, "mag")
    for i, ch in enumerate(info["chs"]):
        ch["loc"][:3] = [0.0, 0.01 * i, 0.08]
        ch["loc"][3:12] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    trans = np.eye(4)
    trans[2, 3] = 0.04
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", trans)
    meg = np.stack([electrode_signal(i, 6000, 600.0, 71) for i in range(3)]) * 1e-15  # fT → T
    raw = mne.io.RawArray(meg, info, verbose="error")
    raw.set_meas_date(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    raw.info["line_freq"] = 50.0
    bp = mne_bids.BIDSPath(subject="04", task="rest", datatype="meg", root=root)
    mne_bids.write_raw_bids(raw, bp, format="FIF", allow_preload=True, overwrite=True, verbose="error")
    return root
