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


def test_aasm_spellings_kept_and_unknown_descriptions_warned(tmp_path, sleepedf_root):
    """'Sleep stage N2'-style (AASM) hypnograms lost most epochs without a word; any description
    the adapter does not know is now named in the build report."""
    import shutil

    from neurosig.datasets import build_store

    root = tmp_path / "sc"
    (root / "sleep-cassette").mkdir(parents=True)
    shutil.copy(sleepedf_root / "sleep-cassette" / "SC4001E0-PSG.edf", root / "sleep-cassette")
    write_annotation_edf(root / "sleep-cassette" / "SC4001EC-Hypnogram.edf", [
        (0.0, 120.0, "Sleep stage W"), (120.0, 60.0, "Sleep stage N1"), (180.0, 90.0, "Sleep stage N2"),
        (270.0, 120.0, "Sleep stage N3"), (390.0, 90.0, "Sleep stage R"), (480.0, 60.0, "Sleep stage X"),
        (540.0, 30.0, "Sleep stage ?"), (570.0, 30.0, "Movement time")])
    spec = SleepEDFAdapter().files(root)[0]
    assert [a[2] for a in spec.annotations] == ["W"] * 4 + ["N1"] * 2 + ["N2"] * 3 + ["N3"] * 4 + ["REM"] * 3
    warns = spec.extras["warnings"]
    assert len(warns) == 1 and "SC4001EC-Hypnogram.edf" in warns[0] and "'Sleep stage X' (1x, 60 s)" in warns[0]
    unknown = warns[0].split("; known:")[0]
    assert "Movement time" not in unknown and "Sleep stage ?" not in unknown  # left out on purpose: not warned
    rep = build_store(root, tmp_path / "st", adapter="sleepedf", progress=False)
    assert any("'Sleep stage X'" in w["warning"] for w in rep.warnings)
    # the published R&K spellings alone: no warning
    assert "warnings" not in SleepEDFAdapter().files(sleepedf_root)[0].extras
