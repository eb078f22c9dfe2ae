"""The real bundled recordings through build_store: channel types, positions, units, labels.

Skips when a set is not fetched (``neurosig data fetch NAME``).
"""

from __future__ import annotations

import numpy as np
import pytest

from neurosig.datasets import ShardStore, build_store

pytestmark = pytest.mark.realdata


def _specs(name):
    from neurosig.datasets import bundled

    if not bundled.is_fetched(name):
        pytest.skip(f"bundled data not fetched: run neurosig data fetch {name}")
    return bundled.dataset_files(name)


def test_eyesopenshut_eeg(tmp_path):
    build_store(_specs("EyesOpenShut"), tmp_path / "st", progress=False)
    s = ShardStore(tmp_path / "st")
    m = s.manifest
    assert len(s) == 56 + 42 and m.split.value_counts().to_dict() == {"train": 56, "test": 42}
    assert set(m.label) == {0, 1} and (m.sfreq == 200.0).all() and (m.n_times == 200).all()
    assert m.ch_types[0] == ",".join(["eeg"] * 14) and m.has_positions.all()
    it = s[0]
    assert np.isfinite(it["pos"]).all() and np.abs(it["pos"]).max() < 0.15  # metres, on a head
    sd = float(np.std(np.stack([s[i]["x"] for i in range(20)])))
    assert 0.5 < sd < 200.0, sd  # µV, not volts


def test_handmovement_meg(tmp_path):
    build_store(_specs("HandMovementDirection"), tmp_path / "st", progress=False)
    s = ShardStore(tmp_path / "st")
    m = s.manifest
    assert set(m.label) == {0, 1, 2, 3} and set(m.ch_types[0].split(",")) == {"mag"}
    assert s[0]["ch_type"].tolist() == [1] * m.n_channels[0]
    sd = float(np.std(s[0]["x"]))
    assert 1.0 < sd < 1e5, sd  # fT


def test_neuropycon_fmri(tmp_path):
    build_store(_specs("NeuropyconRestingFMRI"), tmp_path / "st", config={"window": {"length_s": 50.0}}, progress=False)
    s = ShardStore(tmp_path / "st")
    m = s.manifest
    assert m.sfreq[0] == pytest.approx(0.4) and m.n_channels[0] == 184 and m.has_positions.all()
    x = np.concatenate([s[i]["x"] for i in range(len(s))], axis=1)  # (184, T)
    good = s[0]["ch_mask"]
    np.testing.assert_allclose(x[good].std(axis=1), 1.0, atol=0.25)  # z-scored parcels (windows cover most of the run)
    assert s[0]["ch_type"][0] == 5
