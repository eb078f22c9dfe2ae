"""What the adapters know reaches the store: declared bad channels (ch_mask), BIDS trial types
as default labels, class names in label_name, start dates that agree with their warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import miniatures
from neurosig.datasets import ShardStore, build_store
from neurosig.datasets.registry import get_adapter


def _parts(out):
    return {Path(d["source"]).name: d for d in (json.loads(p.read_text()) for p in Path(out, "parts").glob("*.json"))}


def test_bids_bad_channel_masked_trial_types_labelled_dates_kept(bids_root, tmp_path):
    ad = get_adapter("bids")
    cfg = ad.default_config(bids_root)
    assert cfg["window"]["event_labels"] == {"left": 0, "right": 1} and cfg["window"]["mode"] == "events"
    build_store(bids_root, tmp_path / "s", adapter="bids", config=cfg, progress=False)
    st = ShardStore(tmp_path / "s")
    m = st.manifest
    # 3 events per file (left, right, left), one window each
    assert sorted(zip(m["label"], m["label_name"])) == [(0, "left")] * 4 + [(1, "right")] * 2
    assert set(m["bad_channels"]) == {"Fp2"}
    for i in range(len(st)):
        names = m["ch_names"].iloc[i].split(",")
        assert [n for n, ok in zip(names, st[i]["ch_mask"]) if not ok] == ["Fp2"]
    for part in _parts(tmp_path / "s").values():
        assert part["provenance"]["bad_channels"] == {"Fp2": "declared"}
        assert part["meas_date"] == "2020-01-01T00:00:00+00:00"


def test_bids_default_config_without_root_warns():
    with pytest.warns(UserWarning, match="trial types"):
        assert "window" not in get_adapter("bids").default_config()
    assert get_adapter("bids").__class__(label_column="group").default_config() == {"dataset": "bids"}


def test_bids_cli_default_labels(bids_root, tmp_path):
    from neurosig.cli.main import main

    assert main(["preprocess", str(bids_root), "--adapter", "bids", "--out", str(tmp_path / "s"), "--jobs", "1"]) == 0
    m = ShardStore(tmp_path / "s").manifest
    assert (m["label"] >= 0).all() and set(m["label_name"]) == {"left", "right"}


def test_tuab_and_folder_store_label_names(tmp_path):
    root = miniatures.make_tuab(tmp_path / "tuab", seconds=20.0)
    build_store(root, tmp_path / "s", adapter="tuab", config=get_adapter("tuab").default_config(), progress=False)
    m = ShardStore(tmp_path / "s").manifest
    assert set(zip(m["label"], m["label_name"])) == {(0, "normal"), (1, "abnormal")}
    # the corrupt 00.00.00 header date: MNE takes the EDF+ recording field's date, and the warnings say so
    parts = _parts(tmp_path / "s")
    bad = parts["aaaaab00_s001_t000.edf"]
    assert bad["meas_date"] == "2010-03-04T10:30:00+00:00"
    date_warnings = [w for w in bad["warnings"] if "date" in w]
    assert date_warnings and not any("unknown" in w for w in date_warnings)
    assert all("2010-03-04" in w for w in date_warnings)
    folder = miniatures.make_folder(tmp_path / "folder", n=2)
    build_store(folder, tmp_path / "f", adapter="folder", progress=False)
    m = ShardStore(tmp_path / "f").manifest
    assert set(zip(m["label"], m["label_name"])) == {(0, "abnormal"), (1, "normal")}


def test_sleepedf_stores_the_start_date(sleepedf_root, tmp_path):
    build_store(sleepedf_root, tmp_path / "s", adapter="sleepedf", config=get_adapter("sleepedf").default_config(),
                progress=False)
    for part in _parts(tmp_path / "s").values():
        assert part["meas_date"] == "2010-03-04T10:30:00+00:00"


def test_corrupt_date_without_edfplus_field_is_unknown(tmp_path):
    """A plain EDF (no EDF+ Startdate) with an impossible header date: '' and a warning saying so."""
    from neurosig.io import read_recording

    f = miniatures.write_edf(tmp_path / "x.edf", [("Cz", miniatures.electrode_signal(0, 2500, 250.0))], 250.0)
    b = bytearray(f.read_bytes())
    b[88:168] = b"X".ljust(80)  # not an EDF+ recording field
    b[168:176] = b"00.00.00"
    f.write_bytes(bytes(b))
    rec = read_recording(f, positions="none")
    assert rec.info["meas_date"] == ""
    assert any("meas_date set to unknown" in w for w in rec.info["warnings"])
