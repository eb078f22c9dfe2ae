"""BIDS (mne-bids) and folder + CSV adapters."""

from __future__ import annotations

import numpy as np
import pytest

from miniatures import BIDS_CHANNELS, electrode_signal
from neurosig import NeurosigError
from neurosig.datasets.adapters import BIDSAdapter, FolderAdapter


def test_bids_subjects_events_and_labels(bids_root):
    specs = BIDSAdapter().files(bids_root)
    assert [(s.subject, s.session, s.run) for s in specs] == [("01", "01", "1"), ("02", "01", "1")]
    assert specs[0].annotations == [(5.0, 2.0, "left"), (20.0, 2.0, "right"), (35.0, 2.0, "left")]
    assert specs[0].extras["label_names"] == ["left", "right"]
    by_group = BIDSAdapter(label_column="group").files(bids_root)
    assert [s.label for s in by_group] == [0, 1]  # control, patient (sorted vocabulary)
    assert by_group[0].extras["label_names"] == ["control", "patient"]


def test_bids_read_applies_sidecars(bids_root):
    ad = BIDSAdapter()
    rec = ad.read(ad.files(bids_root)[1])
    assert rec.ch_names == list(BIDS_CHANNELS)
    assert rec.ch_types[0] == "eog" and rec.ch_types[1] == "eeg"  # channels.tsv type
    assert rec.info["bads"] == ["Fp2"]  # channels.tsv status
    assert np.isfinite(rec.pos[1:]).all()  # electrodes.tsv positions
    x = rec.raw.get_data()
    np.testing.assert_allclose(x[4] * 1e6, electrode_signal(4, x.shape[1], 256.0, 61), atol=0.1)
    assert rec.subject == "02"


def test_bids_errors(tmp_path, bids_root):
    with pytest.raises(NeurosigError, match="no dataset_description.json"):
        BIDSAdapter().files(tmp_path)
    with pytest.raises(NeurosigError, match="label_column 'diagnosis' is not a participants.tsv column"):
        BIDSAdapter(label_column="diagnosis").files(bids_root)
    with pytest.raises(NeurosigError, match="datatypes"):
        BIDSAdapter(datatypes=("fnirs",))


def test_folder_labels_and_subjects(folder_root):
    specs = FolderAdapter().files(folder_root)
    assert [s.subject for s in specs] == ["s0", "s0", "s1", "s1"]
    assert [s.label for s in specs] == [1, 0, 1, 0]  # vocabulary (abnormal, normal)
    assert specs[0].extras["label_names"] == ["abnormal", "normal"]


def test_folder_errors(tmp_path, folder_root):
    (tmp_path / "labels.csv").write_text("file,y\na.edf,1\n")
    with pytest.raises(NeurosigError, match="needs the columns 'path' and 'label'"):
        FolderAdapter().files(tmp_path)
    (tmp_path / "labels.csv").write_text("path,label\na.edf,1\n")
    with pytest.raises(NeurosigError, match="1 listed files do not exist"):
        FolderAdapter().files(tmp_path)
    with pytest.raises(NeurosigError, match="label file"):
        FolderAdapter(csv="nope.csv").files(folder_root)


def test_bids_ieeg_and_meg(tmp_path):
    import miniatures

    root = miniatures.make_bids_ieeg_meg(tmp_path / "bids")
    ad = BIDSAdapter()
    specs = ad.files(root)
    assert [(s.subject, s.extras["bids_datatype"]) for s in specs] == [("03", "ieeg"), ("04", "meg")]
    ieeg, meg = (ad.read(s) for s in specs)
    assert ieeg.ch_types == ["seeg"] * 5 and ieeg.sfreq == 512.0
    np.testing.assert_allclose(ieeg.pos[1], [0.01, 0.02, 0.03], atol=1e-6)  # electrodes.tsv
    np.testing.assert_allclose(ieeg.raw.get_data()[2] * 1e6, electrode_signal(2, 20 * 512, 512.0, 70), atol=0.1)
    assert meg.ch_types == ["mag"] * 3 and meg.sfreq == 600.0
    np.testing.assert_allclose(meg.pos[1], [0.0, 0.01, 0.12], atol=1e-6)  # device → head (+4 cm in z)
    np.testing.assert_allclose(meg.ori[0], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(meg.raw.get_data()[0] * 1e15, electrode_signal(0, 6000, 600.0, 71), rtol=1e-5, atol=1e-3)
