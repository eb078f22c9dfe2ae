"""CHB-MIT adapter: summary parsing, duplicate/placeholder channels, montage changes, chb21 = chb01."""

from __future__ import annotations

import numpy as np
import pytest

from miniatures import CHB_CHANNELS, electrode_signal
from neurosig import NeurosigError
from neurosig.datasets.adapters.base import window_labels
from neurosig.datasets.adapters.chbmit import CHBMIT_CHANNELS, CHBMITAdapter, parse_summary


def test_summary_both_syntaxes(chbmit_root):
    s1 = parse_summary(chbmit_root / "chb01" / "chb01-summary.txt")
    assert s1 == {"chb01_01.edf": [], "chb01_03.edf": [(40.0, 76.0)], "chb01_04.edf": []}
    s21 = parse_summary(chbmit_root / "chb21" / "chb21-summary.txt")
    assert s21 == {"chb21_01.edf": [(10.0, 20.0), (90.0, 100.0)]}


def test_files_labels_and_same_subject(chbmit_root):
    specs = {s.path.split("/")[-1]: s for s in CHBMITAdapter().files(chbmit_root)}
    assert specs["chb01_03.edf"].label == 1 and specs["chb01_01.edf"].label == 0
    # seizure from the summary; background fills the rest of the 120 s file (EDF header duration)
    assert specs["chb01_03.edf"].annotations == [(0.0, 40.0, "bckg"), (40.0, 36.0, "seizure"), (76.0, 44.0, "bckg")]
    # chb21 is chb01 recorded 1.5 years later: same subject, another session
    assert specs["chb21_01.edf"].subject == "chb01" and specs["chb21_01.edf"].session == "2"
    y = window_labels(specs["chb01_03.edf"].annotations, np.arange(0, 120, 4.0), 4.0,
                      ("bckg", "seizure"), background="bckg")
    assert y.sum() == 9 and y[10] == 1 and y[9] == 0 and y[19] == 0


def test_read_drops_duplicate_and_placeholders(chbmit_root):
    ad = CHBMITAdapter()
    specs = {s.path.split("/")[-1]: s for s in ad.files(chbmit_root)}
    rec = ad.read(specs["chb01_01.edf"])
    assert rec.ch_names == list(CHBMIT_CHANNELS) and len(rec.ch_names) == 22
    assert rec.sfreq == 256.0
    # the kept T8-P8 is the first copy (index 14 in the file), in volts
    x = rec.raw.get_data(picks=["T8-P8"])[0]
    np.testing.assert_allclose(x * 1e6, electrode_signal(CHB_CHANNELS.index("T8-P8"), x.size, 256.0, 1), atol=0.1)
    # montage change: "-" placeholder and ECG gone, FT9-FT10 recorded as missing, not zero-padded
    rec4 = ad.read(specs["chb01_04.edf"])
    assert "-" not in rec4.ch_names and "ECG" not in rec4.ch_names
    assert "FT9-FT10" not in rec4.ch_names and "FT9-FT10" in rec4.info["missing_channels"]
    assert rec4.ch_names == [c for c in CHBMIT_CHANNELS if c in rec4.ch_names]


def test_malformed_summary_raises(tmp_path):
    p = tmp_path / "chb99-summary.txt"
    p.write_text("File Name: chb99_01.edf\nNumber of Seizures in File: 2\n"
                 "Seizure Start Time: 5 seconds\nSeizure End Time: 9 seconds\n")
    with pytest.raises(NeurosigError, match="Number of Seizures in File: 2.*lists 1"):
        parse_summary(p)
