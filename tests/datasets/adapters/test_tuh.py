"""TUAB / TUEV / TUSZ adapters on synthetic miniatures of their published layouts."""

from __future__ import annotations

import numpy as np
import pytest

from miniatures import TUEV_EVENTS, TUH_ELECTRODES, electrode_signal
from neurosig import NeurosigError
from neurosig.datasets.adapters.base import window_labels
from neurosig.datasets.adapters.tuh import (
    TCP_CHANNELS, TCP_PAIRS, TUABAdapter, TUEVAdapter, TUSZAdapter, TUEV_LABELS, read_rec, read_tusz_csv,
)
from neurosig.datasets.registry import get_adapter


def test_tcp_montage_is_the_published_double_banana():
    assert len(TCP_CHANNELS) == 22
    assert TCP_CHANNELS[:4] == ("FP1-F7", "F7-T3", "T3-T5", "T5-O1")
    assert TCP_CHANNELS[8:14] == ("A1-T3", "T3-C3", "C3-CZ", "CZ-C4", "C4-T4", "T4-A2")
    assert TCP_CHANNELS[-1] == "P4-O2"


def test_tuab_labels_subjects_splits_and_corrupt_date(tuab_root):
    specs = get_adapter("tuab").files(tuab_root)
    assert len(specs) == 4
    by_name = {s.path.split("/")[-1]: s for s in specs}
    s = by_name["aaaaab01_s001_t000.edf"]  # train/abnormal
    assert (s.subject, s.session, s.run, s.label) == ("aaaaab01", "s001", "t000", 1)
    assert s.extras["split"] == "train" and s.extras["dataset"] == "tuab"
    assert by_name["aaaaev02_s001_t000.edf"].label == 0
    assert by_name["aaaaev02_s001_t000.edf"].extras["split"] == "test"
    # the first file was written with an impossible header date
    assert any("start date/time '00.00.00'" in w for w in by_name["aaaaab00_s001_t000.edf"].extras["warnings"])
    assert by_name["aaaaab01_s001_t000.edf"].extras["warnings"] == []
    # train and eval patients are disjoint in TUAB
    train = {s.subject for s in specs if s.extras["split"] == "train"}
    test = {s.subject for s in specs if s.extras["split"] == "test"}
    assert train and test and not train & test


def test_tuab_read_derives_tcp_montage_in_volts(tuab_root):
    ad = TUABAdapter()
    spec = ad.files(tuab_root)[0]  # the corrupt-date file still reads
    rec = ad.read(spec)
    assert rec.ch_names == list(TCP_CHANNELS)
    assert rec.sfreq == 250.0 and set(rec.ch_types) == {"eeg"}
    assert rec.subject == "aaaaab00" and rec.label == 0
    x = rec.raw.get_data()  # volts, (22, T)
    n = x.shape[1]
    assert n == 120 * 250
    idx = {e: i for i, e in enumerate(TUH_ELECTRODES)}
    for k in (0, 8, 21):
        a, c = TCP_PAIRS[k]
        expected_uv = electrode_signal(idx[a], n, 250.0, 0) - electrode_signal(idx[c], n, 250.0, 0)
        np.testing.assert_allclose(x[k] * 1e6, expected_uv, atol=0.1)  # 16-bit quantisation of ±1000 µV
    # bipolar channels get the midpoint of their electrodes as position
    assert np.isfinite(rec.pos).all() and rec.pos.shape == (22, 3)
    assert 0.05 < np.linalg.norm(rec.pos[0]) < 0.15


def test_tuab_bad_file_name_raises(tmp_path):
    p = tmp_path / "edf" / "train" / "normal" / "01_tcp_ar" / "recording1.edf"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"")
    with pytest.raises(NeurosigError, match="does not follow <patient>_s<session>_t<token>"):
        TUABAdapter().files(tmp_path)


def test_tuab_wrong_root_raises(tmp_path):
    with pytest.raises(NeurosigError, match="no files matching"):
        TUABAdapter().files(tmp_path)
    with pytest.raises(NeurosigError, match="is not a folder"):
        TUABAdapter().files(tmp_path / "missing")


def test_tuev_rec_labels_and_channels(tuev_root):
    specs = TUEVAdapter().files(tuev_root)
    assert [s.subject for s in specs] == ["aaaaaevt", "aaaaaeve"]
    assert [s.extras["split"] for s in specs] == ["train", "test"]
    for s, k in zip(specs, (0, 1)):
        rows = TUEV_EVENTS[k]
        assert s.annotations == [(st, e - st, TUEV_LABELS[lab - 1]) for _, st, e, lab in rows]
        assert s.extras["event_channels"] == [TCP_CHANNELS[c] for c, *_ in rows]
    # label vocabulary order is the .rec numbering 1..6
    assert TUEV_LABELS == ("spsw", "gped", "pled", "eyem", "artf", "bckg")
    # 5 s windows centred on events get the event's label
    y = window_labels(specs[0].annotations, np.array([8.0, 28.0, 48.0, 100.0]), 5.0, TUEV_LABELS, min_overlap=0.2)
    assert y.tolist() == [0, 3, 5, -1]


def test_tuev_bad_rec_line_raises(tmp_path):
    p = tmp_path / "x.rec"
    p.write_text("0,1.0,2.0,6\n3,5.0,6.0,9\n")
    with pytest.raises(NeurosigError, match=r"x.rec:2: label must be 1..6"):
        read_rec(p)
    p.write_text("zero,1,2,3\n")
    with pytest.raises(NeurosigError, match="expected 'channel,start,stop,label'"):
        read_rec(p)


def test_tusz_binary_and_types(tusz_root):
    specs = TUSZAdapter().files(tusz_root)
    assert [s.extras["split"] for s in specs] == ["train", "train", "val", "test"]
    s0 = specs[0]
    assert s0.subject == "aaaaaszt" and s0.session == "s001" and s0.extras["tusz_montage"] == "01_tcp_ar"
    assert [a for a in s0.annotations if a[2] == "seiz"] == [(30.0, 40.0, "seiz")]
    # the linked-ear montage uses EEG FP1-LE names
    assert specs[1].extras["reference"] == "LE" and "EEG FP1-LE" in specs[1].extras["rename"]
    y = window_labels(s0.annotations, np.arange(0, 120, 10.0), 10.0, ("bckg", "seiz"), background="bckg")
    assert y.tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    types = get_adapter("tusz_types").files(tusz_root)
    assert types[2].annotations == [(0.0, 10.0, "bckg"), (10.0, 15.0, "gnsz"), (25.0, 55.0, "bckg"),
                                    (80.0, 15.0, "gnsz"), (95.0, 25.0, "bckg")]  # gaps up to '# duration = 120.00 secs'

    assert types[2].extras["dataset"] == "tusz" and types[2].extras["label_names"][2] == "gnsz"


def test_tusz_le_montage_reads(tusz_root):
    ad = TUSZAdapter()
    rec = ad.read(ad.files(tusz_root)[1])
    assert rec.ch_names == list(TCP_CHANNELS)


def test_tusz_csv_header_checked(tmp_path):
    p = tmp_path / "a.csv_bi"
    p.write_text("# version = csv_v1.0.0\nchan,start,stop\nTERM,0,1\n")
    with pytest.raises(NeurosigError, match="channel,start_time,stop_time,label,confidence"):
        read_tusz_csv(p)
    with pytest.raises(NeurosigError, match="tusz labels="):
        TUSZAdapter(labels="multi")


def test_tusz_montage_without_ears_records_missing_pairs(tmp_path):
    from miniatures import tuh_signals, write_edf

    stem = "aaaaanoe_s001_t000"
    path = tmp_path / "edf" / "train" / "aaaaanoe" / "s001_2016" / "03_tcp_ar_a" / f"{stem}.edf"
    sigs = [(n, x) for n, x in tuh_signals("REF", 20.0, 250.0, seed=5) if n not in ("EEG A1-REF", "EEG A2-REF")]
    write_edf(path, sigs, 250.0)
    ad = TUSZAdapter()
    rec = ad.read(ad.files(tmp_path)[0])  # no .csv_bi: unlabelled, still read
    assert len(rec.ch_names) == 20 and "A1-T3" not in rec.ch_names
    assert rec.info["missing_channels"] == ["A1-T3", "T4-A2"]
    assert rec.ch_names == [c for c in TCP_CHANNELS if c not in ("A1-T3", "T4-A2")]


def test_tusz_unknown_labels_are_warned_not_dropped_silently(tmp_path, tusz_root):
    """A 'sz' row (not a TUSZ label) used to vanish: its windows unlabelled, no word anywhere;
    in types mode an unknown seizure label was even filled in as background."""
    import shutil

    root = tmp_path / "tusz"
    shutil.copytree(tusz_root, root)
    edf = sorted((root / "edf" / "train").rglob("*.edf"))[0]  # fnsz from 30 to 70 s
    for suffix, old in ((".csv_bi", ",seiz,"), (".csv", ",fnsz,")):
        p = edf.with_suffix(suffix)
        p.write_text(p.read_text().replace(old, ",sz,"))
    spec = TUSZAdapter().files(root)[0]
    assert [a[2] for a in spec.annotations] == ["bckg", "bckg"]  # the seizure row is not a known label
    w = [x for x in spec.extras["warnings"] if "not in the vocabulary" in x]
    assert len(w) == 1 and edf.with_suffix(".csv_bi").name in w[0] and "'sz' (1x, 40 s)" in w[0]
    types = TUSZAdapter(labels="types").files(root)[0]
    assert [(a[0], a[2]) for a in types.annotations] == [(0.0, "bckg"), (70.0, "bckg")]  # 30-70 s: not background
    w = [x for x in types.extras["warnings"] if "not in the vocabulary" in x]
    assert len(w) == 1 and edf.with_suffix(".csv").name in w[0] and "'sz' (2x, 80 s)" in w[0] and "not background" in w[0]
    # the published labels: no such warning
    assert not [x for s in TUSZAdapter().files(tusz_root) for x in s.extras["warnings"] if "vocabulary" in x]
