"""``read_recording``: any file MNE reads (raw or ``-epo.fif`` epochs) or NIfTI + atlas → :class:`Recording`.

Signals stay on disk (``preload=False``): the pipeline reads them in chunks. Reader warnings
(MNE's and ours) are collected in ``recording.info["warnings"]`` and end up in the manifest.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig.io.positions import lookup, read_positions_file, standard_positions, unknown_positions_error
from neurosig.io.recording import Recording

RAW_EXTENSIONS = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".vhdr", ".set", ".cnt", ".mff", ".nxe", ".lay", ".eeg", ".data", ".cdt", ".sqd", ".con", ".ds")
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
EPOCHS_SUFFIXES = ("-epo.fif", "_epo.fif", "-epo.fif.gz", "_epo.fif.gz")
SUPPORTED = RAW_EXTENSIONS + NIFTI_EXTENSIONS
# MNE types kept (mapped to neurosig types); everything else (stim, chpi, ref_meg ...) is dropped.
TYPE_MAP = {"eeg": "eeg", "mag": "mag", "grad": "grad", "seeg": "seeg", "ecog": "ecog", "dbs": "seeg",
            "eog": "eog", "ecg": "ecg", "emg": "emg", "misc": "misc", "resp": "misc", "bio": "misc",
            "temperature": "misc", "gsr": "misc"}
_NAME_TYPES = (
    (re.compile(r"EOG|^LOC$|^ROC$|HEOG|VEOG|\bLOC\b|\bROC\b", re.I), "eog"),
    (re.compile(r"ECG|EKG", re.I), "ecg"),
    (re.compile(r"EMG|CHIN|\bLEG\b", re.I), "emg"),
    (re.compile(r"STATUS|TRIGGER|^STI|MARKER|EVENT", re.I), "stim"),
    (re.compile(r"RESP|SPO2|SAO2|PULSE|PHOTIC|\bIBI\b|BURSTS|SUPPR|TEMP|PLETH|THOR|ABDO|POSITION|LIGHT|SNORE|FLOW|\bDC\d*\b|\bHR\b|OXIM", re.I), "misc"),
)


def file_extension(path: str) -> str:
    low = path.lower()
    for ext in sorted(SUPPORTED, key=len, reverse=True):
        if low.endswith(ext):
            return ext
    return os.path.splitext(low)[1]


def is_epochs_file(path: str) -> bool:
    return path.lower().endswith(EPOCHS_SUFFIXES)


def companion_files(path: str) -> list[str]:
    """Files that belong to ``path`` (BrainVision .eeg/.vmrk, EEGLAB .fdt)."""
    p = Path(path)
    out = []
    if p.suffix.lower() == ".vhdr":
        for ext in (".eeg", ".vmrk", ".dat"):
            q = p.with_suffix(ext)
            if q.exists():
                out.append(os.fspath(q))
    elif p.suffix.lower() == ".set":
        q = p.with_suffix(".fdt")
        if q.exists():
            out.append(os.fspath(q))
    return out


def source_hash(path: str, extra: Sequence[str] = ()) -> str:
    """SHA-256 of the file's content (and its companion files), read in 8 MiB blocks."""
    h = hashlib.sha256()
    for p in [path, *companion_files(path), *extra]:
        if os.path.isdir(p):
            for sub in sorted(Path(p).rglob("*")):
                if sub.is_file():
                    h.update(sub.name.encode())
                    with open(sub, "rb") as fh:
                        for block in iter(lambda: fh.read(8 << 20), b""):
                            h.update(block)
            continue
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(8 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _check_file(path: str) -> str:
    if path is None or str(path) == "":
        raise NeurosigError("read_recording: path is empty; pass the path of a recording file.")
    p = os.fspath(path)
    if not os.path.exists(p):
        raise NeurosigError(f"{p}: no such file; check the path (INPUT may be a file or a folder).")
    if os.path.isfile(p) and os.path.getsize(p) == 0:
        raise NeurosigError(f"{p}: the file is empty (0 bytes); copy it again or remove it from the input.")
    ext = file_extension(p)
    if os.path.isdir(p) and ext not in (".mff", ".ds"):
        raise NeurosigError(f"{p}: is a folder; read_recording takes one file (build_store/neurosig preprocess accept folders).")
    if ext not in SUPPORTED:
        raise NeurosigError(
            f"{p}: unknown file type {ext or '(no extension)'!r}; supported: EDF/BDF/GDF, FIF (raw or -epo.fif), "
            "BrainVision .vhdr, EEGLAB .set, NIfTI .nii/.nii.gz with an atlas; convert the file or rename it with the right extension."
        )
    return p


def default_subject(path: str) -> str:
    """``sub-XX`` from a BIDS path, else the file stem."""
    m = re.search(r"sub-([A-Za-z0-9]+)", os.fspath(path))
    if m:
        return m.group(1)
    name = Path(path).name
    ext = file_extension(name)
    return name[: -len(ext)] if ext and name.lower().endswith(ext) else Path(path).stem


def _name_type(name: str) -> str | None:
    for pat, kind in _NAME_TYPES:
        if pat.search(name):
            return kind
    return None


def _channel_types(info, from_name: bool) -> list[str]:
    import mne

    types = []
    for i, ch in enumerate(info["ch_names"]):
        t = mne.channel_type(info, i)
        if from_name and t in ("eeg", "misc"):
            t = _name_type(ch) or t
        types.append(TYPE_MAP.get(t, "drop"))
    return types


def _meg_positions(info, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Head-frame positions and orientations of MEG sensors (device → head with dev_head_t)."""
    pos = np.array([info["chs"][i]["loc"][:3] for i in idx], dtype=float).reshape(-1, 3)
    ori = np.array([info["chs"][i]["loc"][9:12] for i in idx], dtype=float).reshape(-1, 3)
    trans = info.get("dev_head_t")
    if trans is not None:
        T = np.asarray(trans["trans"])
        pos = pos @ T[:3, :3].T + T[:3, 3]
        ori = ori @ T[:3, :3].T
    return pos, ori


def _resolve_positions(source: str, names: list[str], types: list[str], file_pos: np.ndarray,
                       positions: Any) -> tuple[np.ndarray, str]:
    """Fill positions of EEG-like channels; returns (pos (C, 3), how)."""
    pos = np.array(file_pos, dtype=float).reshape(len(names), 3)
    needs = [i for i, t in enumerate(types) if t in ("eeg", "seeg", "ecog")]
    if isinstance(positions, str) and positions == "none":
        out = np.full_like(pos, np.nan)
        meg = [i for i, t in enumerate(types) if t in ("mag", "grad")]
        out[meg] = pos[meg]  # MEG geometry is part of the sensor, not an electrode layout
        return out, "none"
    if isinstance(positions, (str, os.PathLike)) and positions != "auto":
        table = read_positions_file(positions)
        sub, missing = lookup([names[i] for i in needs], table)
        if missing:
            raise NeurosigError(
                f"{source}: positions file {os.fspath(positions)!r} has no entry for channel(s) {', '.join(missing[:20])}; "
                "add them to the file, rename the channels, or pass --positions none."
            )
        pos[needs] = sub
        return pos, "file"
    # auto: keep the file's own (digitised / iEEG) positions, else look names up
    todo = [i for i in needs if not (np.all(np.isfinite(pos[i])) and np.any(pos[i] != 0))]
    eeg_todo = [i for i in todo if types[i] == "eeg"]
    if eeg_todo:
        sub, missing = lookup([names[i] for i in eeg_todo], standard_positions())
        if missing:
            raise unknown_positions_error(source, missing)
        pos[eeg_todo] = sub
    for i in todo:
        if types[i] != "eeg":
            pos[i] = np.nan  # iEEG contacts without coordinates cannot be guessed
    for i, t in enumerate(types):
        if t not in ("eeg", "seeg", "ecog", "mag", "grad"):
            pos[i] = np.nan
    return pos, "file+standard" if eeg_todo else "file"


def _pick(names: list[str], types: list[str], ch_types: Sequence[str] | None, include: Sequence[str] | None,
          exclude: Sequence[str] | None) -> list[int]:
    inc = {n.lower() for n in include} if include else None
    exc = {n.lower() for n in exclude or ()}
    from neurosig.io.positions import clean_name

    keep = []
    for i, (n, t) in enumerate(zip(names, types)):
        if t == "drop":
            continue
        keys = {n.lower(), clean_name(n).lower()}
        if keys & exc:
            continue
        if inc is not None:
            if keys & inc:
                keep.append(i)
            continue
        if ch_types is not None and t not in ch_types:
            continue
        keep.append(i)
    return keep


def _annotations(raw) -> list[tuple[float, float, str]]:
    ann = raw.annotations
    if ann is None or len(ann) == 0:
        return []
    offset = raw.first_time if ann.orig_time is not None else 0.0
    return [(float(o - offset), float(d), str(desc)) for o, d, desc in zip(ann.onset, ann.duration, ann.description)]


def _clip_annotations(ann: list, duration: float, warns: list[str]) -> list:
    keep = [a for a in ann if 0.0 <= a[0] <= duration]
    if len(keep) != len(ann):
        warns.append(f"{len(ann) - len(keep)} annotation(s) lie outside the data (0-{duration:.1f} s) and were dropped")
    return keep


def _mne_warnings(caught) -> list[str]:
    out = []
    for w in caught:
        msg = " ".join(str(w.message).split())
        if msg and msg not in out:
            out.append(msg[:300])
    return out


def read_recording(
    path: str | os.PathLike,
    *,
    positions: str | os.PathLike = "auto",
    subject: str | None = None,
    preload: bool = False,
    ch_types: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    atlas: str | os.PathLike | None = None,
    atlas_labels: str | os.PathLike | None = None,
    session: str = "",
    run: str = "",
) -> Recording:
    """Read one recording.

    positions: ``"auto"`` (the file's own positions, else standard 10-05 names, case-insensitive;
        unknown EEG names raise), ``"none"`` (no positions) or a montage FILE.
    ch_types / include / exclude: channel pick done while reading (types such as ``["eeg"]``;
        names, case-insensitive, with or without ``EEG``/``-REF`` decorations).
    atlas, atlas_labels: NIfTI only: a 3D label image (and optional names file) for parcels.
    """
    p = _check_file(path)
    if positions is None:
        positions = "none"
    if not isinstance(positions, (str, os.PathLike)):
        raise NeurosigError(f"positions must be 'auto', 'none' or a montage file path, got {positions!r}.")
    subject = str(subject) if subject is not None else default_subject(p)
    ext = file_extension(p)
    if ext in NIFTI_EXTENSIONS:
        return _read_nifti(p, atlas=atlas, atlas_labels=atlas_labels, subject=subject, session=session, run=run)
    if is_epochs_file(p):
        return _read_epochs(p, positions=positions, subject=subject, ch_types=ch_types, include=include, exclude=exclude, session=session, run=run)
    return _read_raw(p, positions=positions, subject=subject, preload=preload, ch_types=ch_types, include=include,
                     exclude=exclude, session=session, run=run)


def _read_raw(p, *, positions, subject, preload, ch_types, include, exclude, session, run) -> Recording:
    import mne

    ext = file_extension(p)
    warns: list[str] = []
    kwargs: dict[str, Any] = {}
    edf_like = ext in (".edf", ".bdf", ".gdf")
    if ext in (".edf", ".bdf"):
        from neurosig.io.edf import check_edf

        hdr = check_edf(p)
        warns.extend(hdr.warnings)
        if hdr.exclude:
            kwargs["exclude"] = hdr.exclude
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = mne.io.read_raw(p, preload=False, verbose="warning", **kwargs)
        except NeurosigError:
            raise
        except Exception as err:  # noqa: BLE001 - a reader failure becomes one line naming the file
            if ext == ".fif":
                try:
                    return _read_epochs(p, positions=positions, subject=subject, ch_types=ch_types, include=include,
                                        exclude=exclude, session=session, run=run)
                except NeurosigError:
                    pass
            msg = " ".join(str(err).split())[:200]
            raise NeurosigError(f"{p}: could not be read as {ext} ({type(err).__name__}: {msg}); check that the file is complete and of that format.") from None
    warns.extend(_mne_warnings(caught))
    names = list(raw.ch_names)
    types = _channel_types(raw.info, from_name=edf_like)
    keep = _pick(names, types, ch_types, include, exclude)
    if not keep:
        raise NeurosigError(f"{p}: no channel left after picking (types {list(ch_types) if ch_types else 'all'}, include {list(include or [])}, exclude {list(exclude or [])}); the file has: {', '.join(names[:30])}.")
    if len(keep) != len(names):
        raw.pick([names[i] for i in keep])
    names = [names[i] for i in keep]
    types = [types[i] for i in keep]
    file_pos = np.array([raw.info["chs"][i]["loc"][:3] for i in range(len(names))], dtype=float)
    ori = np.full((len(names), 3), np.nan)
    meg = [i for i, t in enumerate(types) if t in ("mag", "grad")]
    if meg:
        mp, mo = _meg_positions(raw.info, meg)
        file_pos[meg] = mp
        ori[meg] = mo
    pos, how = _resolve_positions(p, names, types, file_pos, positions)
    if preload:
        raw.load_data(verbose="error")
    ann = _clip_annotations(_annotations(raw), raw.n_times / raw.info["sfreq"], warns)
    from neurosig.io.edf import agree_meas_date

    info = {
        "warnings": warns,
        "line_freq": raw.info.get("line_freq"),
        "meas_date": agree_meas_date(raw.info.get("meas_date"), warns),
        "bads": [b for b in raw.info["bads"] if b in names],  # declared bad (FIF info["bads"] ...)
        "positions": how,
        "format": ext,
    }
    return Recording(sfreq=float(raw.info["sfreq"]), ch_names=names, ch_types=types, pos=pos, subject=subject,
                     source=p, raw=raw, ori=ori if meg else None, session=session, run=run, annotations=ann, info=info)


def _read_epochs(p, *, positions, subject, ch_types, include, exclude, session, run) -> Recording:
    import mne

    warns: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            epochs = mne.read_epochs(p, preload=True, verbose="warning")
        except Exception as err:  # noqa: BLE001
            msg = " ".join(str(err).split())[:200]
            raise NeurosigError(f"{p}: could not be read as MNE epochs ({type(err).__name__}: {msg}); check that the file is a complete -epo.fif.") from None
    warns.extend(_mne_warnings(caught))
    if len(epochs) == 0:
        raise NeurosigError(f"{p}: the epochs file holds no epochs (all dropped?); re-export it.")
    names = list(epochs.ch_names)
    types = _channel_types(epochs.info, from_name=False)
    keep = _pick(names, types, ch_types, include, exclude)
    if not keep:
        raise NeurosigError(f"{p}: no channel left after picking; the file has: {', '.join(names[:30])}.")
    data = epochs.get_data(picks=keep)  # (E, C, T) volts/tesla
    names = [names[i] for i in keep]
    types = [types[i] for i in keep]
    info_chs = [epochs.info["chs"][i] for i in keep]
    file_pos = np.array([ch["loc"][:3] for ch in info_chs], dtype=float)
    ori = np.full((len(names), 3), np.nan)
    meg = [i for i, t in enumerate(types) if t in ("mag", "grad")]
    if meg:
        sub_info = mne.pick_info(epochs.info, keep)
        mp, mo = _meg_positions(sub_info, meg)
        file_pos[meg] = mp
        ori[meg] = mo
    pos, how = _resolve_positions(p, names, types, file_pos, positions)
    inv = {v: k for k, v in epochs.event_id.items()}
    codes = epochs.events[:, 2].astype(int)
    E, C, T = data.shape
    md = epochs.metadata
    subjects = [str(s) for s in md["subject"]] if md is not None and "subject" in md.columns else [subject] * E
    splits = [str(s) for s in md["split"]] if md is not None and "split" in md.columns else [""] * E
    from neurosig.io.edf import agree_meas_date

    meas = agree_meas_date(epochs.info.get("meas_date"), warns)
    info = {
        "warnings": warns,
        "bads": [b for b in epochs.info["bads"] if b in names],
        "epochs": epochs,
        "epoch_len": T,
        "n_epochs": E,
        "epoch_tmin": float(epochs.tmin),
        "epoch_labels": codes.tolist(),
        "epoch_label_names": [str(inv.get(c, c)) for c in codes],
        "epoch_subjects": subjects,
        "epoch_splits": splits,
        "epoch_meta_subject": bool(md is not None and "subject" in md.columns),
        "line_freq": epochs.info.get("line_freq"),
        "meas_date": meas,
        "positions": how,
        "format": "-epo.fif",
    }
    flat = np.ascontiguousarray(data.transpose(1, 0, 2)).reshape(C, E * T)  # (C, E*T): epochs end to end
    return Recording(sfreq=float(epochs.info["sfreq"]), ch_names=names, ch_types=types, pos=pos,
                     subject=subjects[0] if len(set(subjects)) == 1 else subject, source=p, data=flat,
                     ori=ori if meg else None, session=session, run=run, info=info)


def nifti_volume_shape(path: str | os.PathLike) -> tuple[int, ...] | None:
    """The image shape from a NIfTI header (no voxel data read); None when it cannot be read."""
    try:
        import nibabel as nib

        return tuple(int(n) for n in nib.load(os.fspath(path)).shape)
    except Exception:  # noqa: BLE001 - the reader reports unreadable files with its own message
        return None


def is_bold_run(path: str | os.PathLike) -> bool:
    """False for a NIfTI that is not a BOLD series (3-D masks, atlases, one-volume images);
    True otherwise, unreadable files included (reading them reports the problem)."""
    shape = nifti_volume_shape(path)
    return shape is None or (len(shape) == 4 and shape[3] >= 2)


def _find_atlas(p: str) -> str | None:
    d = Path(p).parent
    cands = [q for q in d.iterdir() if "atlas" in q.name.lower() and q.name.lower().endswith(NIFTI_EXTENSIONS) and os.fspath(q) != p]
    return os.fspath(cands[0]) if len(cands) == 1 else None


def _read_labels(path: str | None, labels: np.ndarray) -> list[str]:
    if path is None:
        return [f"parcel-{int(v)}" for v in labels]
    lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    table: dict[int, str] = {}
    if all(re.match(r"^\d+[\s,;]+\S", ln) for ln in lines):
        for ln in lines:
            k, name = re.split(r"[\s,;]+", ln, maxsplit=1)
            table[int(k)] = name.strip()
    elif len(lines) == len(labels):
        table = {int(v): lines[i] for i, v in enumerate(labels)}
    elif len(lines) >= int(labels.max()):
        table = {int(v): lines[int(v) - 1] for v in labels}
    names = [table.get(int(v), f"parcel-{int(v)}") for v in labels]
    seen: dict[str, int] = {}
    out = []
    for n in names:  # names must be unique
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n] - 1}")
    return out


def _read_nifti(p, *, atlas, atlas_labels, subject, session, run) -> Recording:
    import nibabel as nib
    import scipy.sparse as sp

    warns: list[str] = []
    try:
        img = nib.load(p)
    except Exception as err:  # noqa: BLE001
        raise NeurosigError(f"{p}: could not be read as NIfTI ({type(err).__name__}: {err}); check the file.") from None
    if len(img.shape) != 4 or img.shape[3] < 2:
        raise NeurosigError(f"{p}: expected a 4D BOLD series (x, y, z, time), got shape {img.shape}; pass the functional run, not an anatomical image.")
    if atlas is None:
        atlas = _find_atlas(p)
        if atlas is None:
            raise NeurosigError(f"{p}: an fMRI run needs a parcel atlas; pass --atlas FILE (a 3D label NIfTI) or FileSpec(extras={{'atlas': FILE}}), or put one file named *atlas*.nii beside it.")
        warns.append(f"atlas taken from beside the file: {Path(atlas).name}")
    atlas = os.fspath(atlas)
    if not os.path.exists(atlas):
        raise NeurosigError(f"atlas {atlas!r} does not exist; pass a 3D label NIfTI.")
    aimg = nib.load(atlas)
    if tuple(aimg.shape[:3]) != tuple(img.shape[:3]) or not np.allclose(aimg.affine, img.affine, atol=1e-3):
        from nibabel.processing import resample_from_to

        aimg = resample_from_to(aimg, (img.shape[:3], img.affine), order=0)
        warns.append("atlas resampled (nearest neighbour) onto the BOLD grid")
    lab = np.asarray(aimg.dataobj).astype(np.int64).reshape(-1)  # (V,)
    labels = np.unique(lab[lab > 0])
    if labels.size == 0:
        raise NeurosigError(f"atlas {atlas!r} has no non-zero labels inside the BOLD field of view; check that atlas and run are in the same space.")
    row = np.searchsorted(labels, lab[lab > 0])
    vox = np.flatnonzero(lab > 0)
    counts = np.bincount(row, minlength=labels.size).astype(float)
    A = sp.csr_matrix((1.0 / counts[row], (row, vox)), shape=(labels.size, lab.size))  # (L, V) averaging
    nt = img.shape[3]
    ts = np.empty((labels.size, nt), dtype=np.float64)  # (L, T)
    step = max(1, int(2e8 // (lab.size * 8)))  # ~200 MB of voxels per chunk
    for t0 in range(0, nt, step):
        vol = np.asarray(img.dataobj[..., t0 : t0 + step], dtype=np.float64).reshape(lab.size, -1)  # (V, t)
        ts[:, t0 : t0 + vol.shape[1]] = A @ vol
    # centroids (mm, scanner/MNI space) → metres
    ijk = np.stack(np.unravel_index(vox, aimg.shape[:3]), axis=1).astype(float)  # (Vp, 3)
    cen = np.zeros((labels.size, 3))
    for d in range(3):
        cen[:, d] = np.bincount(row, weights=ijk[:, d], minlength=labels.size) / counts
    xyz = cen @ aimg.affine[:3, :3].T + aimg.affine[:3, 3]
    zooms = img.header.get_zooms()
    tr = float(zooms[3]) if len(zooms) > 3 else 0.0
    unit = img.header.get_xyzt_units()[1] if hasattr(img.header, "get_xyzt_units") else "sec"
    tr = tr / 1000.0 if unit == "msec" else tr / 1e6 if unit == "usec" else tr
    if not tr > 0:
        raise NeurosigError(f"{p}: the NIfTI header has no repetition time (TR); set pixdim[4] to the TR in seconds.")
    names = _read_labels(os.fspath(atlas_labels) if atlas_labels else None, labels)
    from neurosig.io.edf import agree_meas_date

    info = {"warnings": warns, "tr": tr, "atlas": atlas, "format": "nifti", "positions": "atlas",
            "meas_date": agree_meas_date(None, warns), "line_freq": None}
    return Recording(sfreq=1.0 / tr, ch_names=names, ch_types=["fmri"] * labels.size, pos=xyz / 1000.0,
                     subject=subject, source=p, data=ts, session=session, run=run, info=info)
