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


def _folder(tmp_path, csv_text: str | bytes, n: int = 3):
    from neurosig.io.synthetic import synthetic_eeg, write_edf

    tmp_path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_edf(tmp_path / f"r{i}.edf", ["Fp1", "Cz"], 100.0, 4, synthetic_eeg(2, 400, 100.0, seed=i))
    p = tmp_path / "labels.csv"
    p.write_bytes(csv_text if isinstance(csv_text, bytes) else csv_text.encode())
    return tmp_path


class _Logged:
    """Warnings of the package logger (it does not propagate to pytest's caplog)."""

    def __enter__(self):
        import logging

        class _H(logging.Handler):
            def emit(h, record):
                self.messages.append(record.getMessage())

        self.messages: list[str] = []
        self._h = _H(logging.WARNING)
        logging.getLogger("neurosig").addHandler(self._h)
        return self

    def __exit__(self, *exc):
        import logging

        logging.getLogger("neurosig").removeHandler(self._h)


def test_folder_warns_about_recordings_the_csv_leaves_out(tmp_path):
    root = _folder(tmp_path / "f", "path,label\nr0.edf,1\n", n=4)
    with _Logged() as got:
        specs = FolderAdapter().files(root)
    assert [s.path.rsplit("/", 1)[-1] for s in specs] == ["r0.edf"]
    assert len(got.messages) == 1 and "3 recording(s)" in got.messages[0] and "'r1.edf'" in got.messages[0]
    assert "labels.csv" in got.messages[0] and "not listed" in got.messages[0]
    with _Logged() as got:  # all listed: quiet
        FolderAdapter().files(_folder(tmp_path / "g", "path,label\nr0.edf,1\nr1.edf,0\n", n=2))
    assert got.messages == []


def test_folder_short_row_names_the_line(tmp_path):
    root = _folder(tmp_path, "path,label\nr0.edf,1\nr1.edf\nr2.edf,0\n")
    with pytest.raises(NeurosigError, match=r"labels\.csv, line 3: 1 cell\(s\) but the header has 2 \(path,label\); give every cell, e\.g\. 'r1\.edf,LABEL' \('r1\.edf,' for an unlabelled recording\)") as e:
        FolderAdapter().files(root)
    assert "\n" not in str(e.value)
    (root / "labels.csv").write_text("path,label\nr0.edf,1\nr1.edf,\nr2.edf,0\n")  # an empty label is unlabelled
    assert [s.label for s in FolderAdapter().files(root)] == [1, None, 0]
    (root / "labels.csv").write_text("path,label\nr0.edf,1,2\n")
    with pytest.raises(NeurosigError, match=r"line 2: 3 cell\(s\) .*quote cells that hold a comma"):
        FolderAdapter().files(root)


def test_folder_path_listed_twice(tmp_path):
    root = _folder(tmp_path, "path,label\nr0.edf,1\nr1.edf,0\n./r0.edf,0\n")
    with pytest.raises(NeurosigError, match=r"'\./r0\.edf' is listed twice with different values \(lines 2 and 4: label '1' vs '0'\)") as e:
        FolderAdapter().files(root)
    assert "\n" not in str(e.value)
    (root / "labels.csv").write_text("path,label\nr0.edf,1\nr1.edf,0\nr0.edf,1\nr2.edf,1\n")
    with _Logged() as got:
        specs = FolderAdapter().files(root)
    assert [s.path.rsplit("/", 1)[-1] for s in specs] == ["r0.edf", "r1.edf", "r2.edf"]
    assert [s.extras["csv_line"] for s in specs] == [2, 3, 5]  # the cache key of each row is unchanged
    assert len(got.messages) == 1 and "listed more than once" in got.messages[0] and "'r0.edf'" in got.messages[0]


def test_folder_csv_encodings(tmp_path):
    root = _folder(tmp_path, "\ufeffpath,label\nr0.edf,1\nr1.edf,0\nr2.edf,1\n".encode("utf-8"))  # Excel's CSV UTF-8
    assert [s.label for s in FolderAdapter().files(root)] == [1, 0, 1]
    (root / "labels.csv").write_bytes("path,label\nr0.edf,états\nr1.edf,x\nr2.edf,x\n".encode("latin-1"))
    with pytest.raises(NeurosigError, match=r"labels\.csv: not UTF-8 text .*save the CSV as UTF-8"):
        FolderAdapter().files(root)
    (root / "labels.csv").write_text("path;label\nr0.edf;1\n")
    with pytest.raises(NeurosigError, match=r"found \['path;label'\]; separate the cells with commas"):
        FolderAdapter().files(root)
