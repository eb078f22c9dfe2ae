"""read_recording: formats, channel types, positions (auto / none / file), epochs, NIfTI + atlas."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.io import read_recording, standard_positions
from neurosig.io.synthetic import synthetic_eeg, write_edf


def _edf(path, names, seconds=10, sfreq=256, **kw):
    x = synthetic_eeg(len(names), int(seconds * sfreq), sfreq)
    return write_edf(path, names, sfreq, seconds, x, **kw)


def test_edf_types_from_names_and_standard_positions(tmp_path):
    p = _edf(tmp_path / "a.edf", ["EEG FP1-REF", "EEG CZ-REF", "EEG O2-REF", "EOG L", "EKG", "EMG chin", "PHOTIC"])
    rec = read_recording(p, ch_types=None)
    assert rec.ch_types == ["eeg", "eeg", "eeg", "eog", "ecg", "emg", "misc"]
    table = standard_positions()
    # case-insensitive lookup after stripping the 'EEG ' / '-REF' decorations
    np.testing.assert_allclose(rec.pos[1], table["cz"])
    np.testing.assert_allclose(rec.pos[0], table["fp1"])
    assert rec.pos[0, 0] < 0 < rec.pos[0, 1]  # Fp1: left (x < 0), front (y > 0), head frame
    assert np.isnan(rec.pos[3:]).all()  # no positions for EOG/ECG/EMG/misc
    assert rec.sfreq == 256 and rec.n_times == 2560 and rec.subject == "a"


def test_pick_by_type_at_read_time(tmp_path):
    p = _edf(tmp_path / "a.edf", ["Cz", "Pz", "EOG L"])
    rec = read_recording(p, ch_types=["eeg"])
    assert rec.ch_names == ["Cz", "Pz"]


def test_unknown_names_raise_with_three_ways_out(tmp_path):
    p = _edf(tmp_path / "a.edf", ["Cz", "XYZ1", "Q7"])
    with pytest.raises(NeurosigError, match=r"a\.edf: no known position for channel\(s\) XYZ1, Q7; .*--positions none.*--positions FILE.*rename") as ei:
        read_recording(p)
    assert "\n" not in str(ei.value)
    rec = read_recording(p, positions="none")
    assert np.isnan(rec.pos).all() and not rec.has_positions


def test_positions_from_file(tmp_path):
    p = _edf(tmp_path / "a.edf", ["E1", "E2"])
    mont = tmp_path / "pos.sfp"
    mont.write_text("E1 0.01 0.02 0.08\nE2 -0.03 0.0 0.07\n")
    rec = read_recording(p, positions=mont)
    assert rec.has_positions
    assert np.linalg.norm(rec.pos[0] - rec.pos[1]) > 0.01
    bad = tmp_path / "pos2.sfp"
    bad.write_text("E1 0.01 0.02 0.08\nE9 0.0 0.0 0.09\n")
    with pytest.raises(NeurosigError, match="no entry for channel.*E2"):
        read_recording(p, positions=bad)


def test_fif_keeps_digitised_positions(tmp_path):
    import mne

    info = mne.create_info(["Cz", "Pz"], 100.0, "eeg")
    raw = mne.io.RawArray(np.random.default_rng(0).normal(0, 1e-5, (2, 500)), info, verbose="error")
    mont = mne.channels.make_dig_montage({"Cz": [0.0, 0.01, 0.09], "Pz": [0.0, -0.05, 0.08]}, coord_frame="head")
    raw.set_montage(mont)
    raw.info["line_freq"] = 60.0
    f = tmp_path / "x_raw.fif"
    raw.save(f, verbose="error")
    rec = read_recording(f)
    np.testing.assert_allclose(rec.pos[0], [0.0, 0.01, 0.09], atol=1e-6)  # the file's, not the template's
    assert rec.info["line_freq"] == 60.0


def test_meg_positions_in_head_frame(tmp_path):
    import mne

    info = mne.create_info(["MEG0111", "MEG0112"], 200.0, ["mag", "grad"])
    for i, ch in enumerate(info["chs"]):
        ch["loc"][:3] = [0.01 * (i + 1), 0.0, 0.05]
        ch["loc"][9:12] = [0.0, 0.0, 1.0]
    t = np.eye(4)
    t[:3, 3] = [0.0, 0.0, 0.04]  # device origin 4 cm above head origin
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", t)
    raw = mne.io.RawArray(np.zeros((2, 400)) + 1e-13, info, verbose="error")
    f = tmp_path / "meg_raw.fif"
    raw.save(f, verbose="error")
    rec = read_recording(f)
    assert rec.ch_types == ["mag", "grad"]
    np.testing.assert_allclose(rec.pos[:, 2], [0.09, 0.09], atol=1e-6)
    np.testing.assert_allclose(rec.ori[:, 2], [1.0, 1.0])


def _epochs_file(path, n=6, with_meta=True):
    import mne
    import pandas as pd

    info = mne.create_info(["Fp1", "Cz", "O2"], 128.0, "eeg")
    data = np.random.default_rng(1).normal(0, 1e-5, (n, 3, 128))
    y = np.arange(n) % 2
    events = np.column_stack([np.arange(n) * 200, np.zeros(n, int), y])
    md = pd.DataFrame({"subject": [f"s{i // 3}" for i in range(n)], "split": ["train"] * (n - 2) + ["test"] * 2}) if with_meta else None
    ep = mne.EpochsArray(data, info, events=events, event_id={"rest": 0, "task": 1}, metadata=md, verbose="error")
    ep.save(path, overwrite=True, verbose="error")
    return data, y


def test_epochs_fif(tmp_path):
    f = tmp_path / "set_train-epo.fif"
    data, y = _epochs_file(f)
    rec = read_recording(f)
    assert rec.info["n_epochs"] == 6 and rec.info["epoch_len"] == 128
    assert rec.info["epoch_labels"] == y.tolist()
    assert rec.info["epoch_label_names"][:2] == ["rest", "task"]
    assert rec.info["epoch_subjects"] == ["s0"] * 3 + ["s1"] * 3
    assert rec.info["epoch_splits"][-1] == "test"
    # epochs end to end: epoch k is data[:, k*T:(k+1)*T]
    np.testing.assert_allclose(rec.data[:, 128:256], data[1])
    assert rec.has_positions


def _nifti(tmp_path, tr=2.0):
    import nibabel as nib

    rng = np.random.default_rng(0)
    bold = rng.normal(100, 5, (4, 5, 3, 20)).astype(np.float32)
    atlas = np.zeros((4, 5, 3), np.int16)
    atlas[:2, :, :] = 1
    atlas[2:, :3, :] = 2
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    aff[:3, 3] = [-6, -6, -3]
    img = nib.Nifti1Image(bold, aff)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = tr
    nib.save(img, tmp_path / "sub-01_bold.nii.gz")
    nib.save(nib.Nifti1Image(atlas, aff), tmp_path / "atlas.nii.gz")
    (tmp_path / "labels.txt").write_text("1 left\n2 right\n")
    return bold, atlas, aff


def test_nifti_parcels(tmp_path):
    bold, atlas, aff = _nifti(tmp_path)
    rec = read_recording(tmp_path / "sub-01_bold.nii.gz", atlas=tmp_path / "atlas.nii.gz", atlas_labels=tmp_path / "labels.txt")
    assert rec.ch_names == ["left", "right"] and rec.ch_types == ["fmri", "fmri"]
    assert rec.sfreq == pytest.approx(0.5) and rec.subject == "01"
    np.testing.assert_allclose(rec.data[0], bold[atlas == 1].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(rec.data[1], bold[atlas == 2].mean(axis=0), rtol=1e-5)
    ijk = np.argwhere(atlas == 2).mean(axis=0)
    np.testing.assert_allclose(rec.pos[1], (aff[:3, :3] @ ijk + aff[:3, 3]) / 1000.0)
    # the atlas beside the file is found when none is given (recorded as a warning)
    rec2 = read_recording(tmp_path / "sub-01_bold.nii.gz")
    assert any("atlas taken from beside" in w for w in rec2.info["warnings"])


def test_nifti_without_atlas_raises(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 5), np.float32), np.eye(4)), tmp_path / "run.nii")
    with pytest.raises(NeurosigError, match=r"run\.nii: an fMRI run needs a parcel atlas; pass --atlas"):
        read_recording(tmp_path / "run.nii")


def _brainvision(d, x):
    from pathlib import Path

    from neurosig.io.synthetic import write_brainvision

    return Path(write_brainvision(d, x))  # one Stimulus marker "S  1" at sample 501 (2.0 s at 250 Hz)


def test_brainvision_and_companion_hash(tmp_path):
    from neurosig.io import source_hash

    x = np.random.default_rng(0).normal(0, 10, (2, 1000))  # µV
    f = _brainvision(tmp_path, x)
    rec = read_recording(f)
    assert rec.ch_names == ["Cz", "Pz"] and rec.sfreq == 250.0 and rec.n_times == 1000
    np.testing.assert_allclose(rec.raw.get_data() * 1e6, x, rtol=1e-5, atol=1e-4)  # µV → V on reading
    assert any(a[2] == "Stimulus/S  1" and a[0] == pytest.approx(2.0) for a in rec.annotations)
    h = source_hash(str(f))
    (tmp_path / "rec.eeg").write_bytes(np.ascontiguousarray((x + 1).T, dtype="<f4").tobytes())
    assert source_hash(str(f)) != h  # the data file is part of the content hash


def test_bdf_24bit(tmp_path):
    x = np.random.default_rng(0).normal(0, 50, (2, 2560))
    f = write_edf(tmp_path / "r.bdf", ["Cz", "Pz"], 256.0, 10, x, bdf=True, phys_range=(-1000.0, 1000.0))
    rec = read_recording(f)
    np.testing.assert_allclose(rec.raw.get_data() * 1e6, x, atol=2000 / 2**24 + 1e-6)  # 24-bit quantisation


def test_folder_expansion_reads_brainvision_once(tmp_path):
    from neurosig.datasets import expand_inputs

    f = _brainvision(tmp_path, np.zeros((2, 100)))
    (tmp_path / "notes.txt").write_text("x")
    assert [s.path for s in expand_inputs([tmp_path])] == [str(f)]  # not the .eeg/.vmrk beside it


def test_fif_declared_bads_reach_the_store_mask(tmp_path):
    """A FIF's info['bads'] is kept by the reader and masked in the store (ch_mask False,
    manifest bad_channels); a file without a start date stores meas_date '' with a warning."""
    import json

    import mne

    from neurosig.datasets import ShardStore, build_store

    names = ["Fp1", "Fp2", "C3", "C4"]
    raw = mne.io.RawArray(synthetic_eeg(4, 256 * 20, 256.0) * 1e-6, mne.create_info(names, 256.0, "eeg"), verbose="error")
    raw.info["bads"] = ["C3"]
    raw.set_meas_date(None)
    p = tmp_path / "a_raw.fif"
    raw.save(p, verbose="error")
    rec = read_recording(p)
    assert rec.info["bads"] == ["C3"]
    assert rec.info["meas_date"] == "" and any("meas_date" in w for w in rec.info["warnings"])
    build_store([str(p)], tmp_path / "s", progress=False)
    st = ShardStore(tmp_path / "s")
    assert st[0]["ch_mask"].tolist() == [True, True, False, True]
    assert set(st.manifest["bad_channels"]) == {"C3"}
    part = json.loads(next((tmp_path / "s" / "parts").glob("*.json")).read_text())
    assert part["provenance"]["bad_channels"] == {"C3": "declared"}
    assert part["meas_date"] == "" and any("meas_date" in w for w in part["warnings"])
