"""Sleep-EDF Expanded adapter: PSG/hypnogram pairing, R&K → AASM stages, 30 s epochs, picks."""

from __future__ import annotations

import numpy as np
import pytest

from miniatures import SLEEP_STAGES_EXPECTED, electrode_signal, write_annotation_edf
from neurosig import NeurosigError
from neurosig.datasets.adapters.base import window_labels
from neurosig.datasets.adapters.sleepedf import STAGES, SleepEDFAdapter, hypnogram_epochs


def test_stages_mapping_and_subjects(sleepedf_root):
    specs = SleepEDFAdapter().files(sleepedf_root)
    assert [(s.subject, s.session) for s in specs] == [("SC00", "night1"), ("ST01", "night1")]
    s = specs[0]
    assert [a[2] for a in s.annotations] == SLEEP_STAGES_EXPECTED  # M and ? dropped, 3+4 → N3
    assert all(a[1] == 30.0 for a in s.annotations)
    # movement time (1 epoch after the 2 N1 epochs) leaves a 30 s hole in the onsets
    onsets = [a[0] for a in s.annotations]
    assert onsets[:7] == [0, 30, 60, 90, 120, 150, 210]
    assert STAGES == ("W", "N1", "N2", "N3", "REM")
    y = window_labels(s.annotations, np.arange(0, 570, 30.0), 30.0, STAGES)
    assert y.tolist() == [0, 0, 0, 0, 1, 1, -1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 0, 0]


def test_trim_wake(tmp_path):
    hyp = write_annotation_edf(tmp_path / "SC4991EC-Hypnogram.edf", [
        (0.0, 3600.0, "Sleep stage W"), (3600.0, 60.0, "Sleep stage 2"), (3660.0, 7200.0, "Sleep stage W")])
    ep = hypnogram_epochs(hyp, trim_wake_min=30)
    assert ep[0][0] == 1800.0 and ep[-1][0] + 30.0 == 3660.0 + 1800.0
    assert len(hypnogram_epochs(hyp, trim_wake_min=None)) == (3600 + 60 + 7200) // 30


def test_read_picks_eeg_eog_at_100hz(sleepedf_root):
    ad = SleepEDFAdapter()
    rec = ad.read(ad.files(sleepedf_root)[0])
    assert rec.ch_names == ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"]
    assert rec.ch_types == ["eeg", "eeg", "eog"] and rec.sfreq == 100.0
    x = rec.raw.get_data()
    assert x.shape == (3, 600 * 100)  # 20 scored epochs incl. movement and "?"
    np.testing.assert_allclose(x[1] * 1e6, electrode_signal(1, x.shape[1], 100.0, 40), atol=0.1)


def test_missing_hypnogram_and_bad_names(tmp_path, sleepedf_root):
    import shutil

    shutil.copy(sleepedf_root / "sleep-cassette" / "SC4001E0-PSG.edf", tmp_path / "SC4011E0-PSG.edf")
    with pytest.raises(NeurosigError, match="no hypnogram 'SC4011E"):
        SleepEDFAdapter().files(tmp_path)
    (tmp_path / "SC4011E0-PSG.edf").rename(tmp_path / "night-PSG.edf")
    with pytest.raises(NeurosigError, match="does not follow SC4ssNE0-PSG.edf"):
        SleepEDFAdapter().files(tmp_path)
    with pytest.raises(NeurosigError, match="trim_wake_min"):
        SleepEDFAdapter(trim_wake_min=-1)
