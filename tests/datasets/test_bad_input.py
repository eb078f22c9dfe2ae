"""Bad input: each case gives a one-line error naming the file and the fix, or a warning in the manifest."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.datasets import ShardStore, build_store
from neurosig.io import read_recording
from neurosig.io.synthetic import synthetic_eeg, write_edf

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 2.0}, chunk_s=10.0)
NAMES = ["Fp1", "Cz", "O2"]


def _edf(path, names=NAMES, seconds=10, sfreq=100.0, data=None, **kw):
    x = synthetic_eeg(len(names), int(seconds * sfreq), sfreq) if data is None else data
    return write_edf(path, names, sfreq, seconds, x, **kw)


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _part(tmp_path, f, **cfg):
    out = tmp_path / "st"
    build_store([f], out, config={**CFG, **cfg}, progress=False)
    s = ShardStore(out)
    return s, s.part_info(s.manifest.part[0])


def test_truncated_edf(tmp_path):
    f = _edf(tmp_path / "cut.edf", header_records=20)  # header says 20 records, file holds 10
    with pytest.raises(NeurosigError, match=r"cut\.edf: truncated EDF: the header announces 20 data records but the file holds only 10") as e:
        read_recording(f)
    assert "copy the file again" in _one_line(e)
    g = tmp_path / "cut2.edf"
    g.write_bytes(open(f, "rb").read()[:300])  # cut inside the header
    with pytest.raises(NeurosigError, match=r"cut2\.edf: truncated EDF header"):
        read_recording(g)


def test_corrupt_header(tmp_path):
    f = tmp_path / "junk.edf"
    f.write_bytes(b"0       " + b"x" * 300)
    with pytest.raises(NeurosigError, match=r"junk\.edf: EDF header field .* not a number; the header is corrupt"):
        read_recording(f)


def test_physical_min_equals_max(tmp_path):
    f = _edf(tmp_path / "pm.edf", phys_range=[(-500, 500), (7, 7), (-500, 500)])
    s, part = _part(tmp_path, f)
    assert part["ch_names"] == ["Fp1", "O2"]
    assert any("Cz have physical minimum == maximum" in w for w in part["warnings"])
    assert s.manifest.n_warnings[0] >= 1
    g = _edf(tmp_path / "pm_all.edf", phys_range=(3, 3))
    with pytest.raises(NeurosigError, match=r"pm_all\.edf: every channel has physical minimum == maximum"):
        read_recording(g)


def test_nan_and_inf_samples(tmp_path):
    import mne

    x = np.random.default_rng(0).normal(0, 1e-5, (3, 1000))
    x[0, 10:20] = np.nan
    x[1, 500] = np.inf
    raw = mne.io.RawArray(x, mne.create_info(NAMES, 100.0, "eeg"), verbose="error")
    f = tmp_path / "nan_raw.fif"
    raw.save(f, verbose="error")
    s, part = _part(tmp_path, f)
    assert part["bad_channels"] == ["Cz", "Fp1"]
    assert any("11 NaN/Inf sample(s) replaced by 0" in w for w in part["warnings"])
    assert all(np.isfinite(s[i]["x"]).all() for i in range(len(s)))
    assert s[0]["ch_mask"].tolist() == [False, False, True]  # bad channels are masked for models


def test_flat_channel(tmp_path):
    x = synthetic_eeg(3, 1000, 100.0)
    x[2] = 12.0  # constant µV
    s, part = _part(tmp_path, _edf(tmp_path / "flat.edf", data=x))
    assert part["bad_channels"] == ["O2"] and "O2 (flat)" in " ".join(part["warnings"])
    assert s.manifest.bad_channels[0] == "O2"


def test_saturated_channel(tmp_path):
    x = synthetic_eeg(3, 1000, 100.0)
    x[1] = np.clip(x[1] * 10, -200, 200)  # amplifier rails at ±200 µV
    s, part = _part(tmp_path, _edf(tmp_path / "sat.edf", data=x, phys_range=(-200, 200)))
    assert part["bad_channels"] == ["Cz"] and "Cz (saturated)" in " ".join(part["warnings"])


def test_duplicate_channel_names(tmp_path):
    s, part = _part(tmp_path, _edf(tmp_path / "dup.edf", names=["Cz", "Cz", "O2"]))
    assert part["ch_names"] == ["Cz-0", "Cz-1", "O2"] and part["has_positions"]
    assert any("duplicate channel names Cz" in w for w in part["warnings"])


def test_mixed_sampling_rates(tmp_path):
    x = synthetic_eeg(3, 1000, 100.0)
    f = write_edf(tmp_path / "rates.edf", NAMES, [100.0, 100.0, 50.0], 10, lambda k: [x[0, k * 100:(k + 1) * 100], x[1, k * 100:(k + 1) * 100], x[2, k * 50:(k + 1) * 50]])
    s, part = _part(tmp_path, f)
    assert part["ch_names"] == ["Fp1", "Cz"]
    assert any("O2 are sampled at another rate" in w for w in part["warnings"])


def test_annotations_outside_data(tmp_path):
    f = _edf(tmp_path / "ann.edf", annotations=[(2.0, 1.0, "spike"), (55.0, 1.0, "spike")])
    s, part = _part(tmp_path, f, window={"mode": "events", "length_s": 1.0, "event_labels": {"spike": 1}})
    assert len(s) == 1 and s.manifest.label[0] == 1
    assert any("outside data range" in w or "outside the data" in w for w in part["warnings"])


def test_unreadable_meas_date(tmp_path):
    f = _edf(tmp_path / "date.edf", startdate="31.02.99")  # 31 February cannot be stored
    s, part = _part(tmp_path, f)
    assert part["meas_date"] == "" and len(s) == 5
    assert any("cannot be read or stored" in w for w in part["warnings"])


def test_unknown_empty_and_missing(tmp_path):
    (tmp_path / "x.xyz").write_text("hello")
    with pytest.raises(NeurosigError, match=r"x\.xyz: unknown file type '\.xyz'; supported: EDF"):
        read_recording(tmp_path / "x.xyz")
    (tmp_path / "empty.edf").write_bytes(b"")
    with pytest.raises(NeurosigError, match=r"empty\.edf: the file is empty \(0 bytes\)"):
        read_recording(tmp_path / "empty.edf")
    with pytest.raises(NeurosigError, match=r"missing\.edf: no such file; check the path"):
        read_recording(tmp_path / "missing.edf")
    with pytest.raises(NeurosigError, match=r"missing\.edf: no such file"):
        build_store([tmp_path / "missing.edf"], tmp_path / "st", progress=False)
    (tmp_path / "bad.vhdr").write_text("not a header")
    with pytest.raises(NeurosigError, match=r"bad\.vhdr: could not be read as \.vhdr") as e:
        read_recording(tmp_path / "bad.vhdr")
    _one_line(e)


def test_unknown_positions_in_build(tmp_path):
    f = _edf(tmp_path / "odd.edf", names=["Cz", "Foo1"])
    with pytest.raises(NeurosigError, match=r"odd\.edf: no known position for channel\(s\) Foo1; .*--positions none"):
        build_store([f], tmp_path / "st", config=CFG, progress=False)
    build_store([f], tmp_path / "st2", config=CFG, positions="none", progress=False)
    s = ShardStore(tmp_path / "st2")
    assert not s.manifest.has_positions[0] and np.isnan(s[0]["pos"]).all()


def test_window_longer_than_recording(tmp_path):
    f = _edf(tmp_path / "short.edf", seconds=3)
    with pytest.raises(NeurosigError, match=r"short\.edf: window\.length_s=10 s is longer than the recording \(3\.00 s\); lower window\.length_s"):
        build_store([f], tmp_path / "st", config={**CFG, "window": {"length_s": 10.0}}, progress=False)


@pytest.mark.parametrize("on_error", ["skip", "warn"])
def test_folder_run_isolates_bad_files(tmp_path, on_error):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        _edf(d / f"good{i}.edf")
    _edf(d / "bad_trunc.edf", header_records=50)
    (d / "bad_empty.edf").write_bytes(b"")
    (d / "notes.txt").write_text("ignored: not a recording")
    r = build_store([d], tmp_path / "st", config=CFG, on_error=on_error, progress=False)
    assert (r.n_files, r.n_processed, r.n_failed) == (5, 3, 2)
    s = ShardStore(tmp_path / "st")
    assert len(s) == 15
    err = s.errors()
    assert sorted(p.split("/")[-1] for p in err.source) == ["bad_empty.edf", "bad_trunc.edf"]
    assert err.error.str.contains("truncated EDF").any() and err.error.str.contains("empty").any()


def test_raise_keeps_what_was_written(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    _edf(d / "a_good.edf")
    _edf(d / "b_bad.edf", header_records=50)
    _edf(d / "c_good.edf")
    with pytest.raises(NeurosigError, match=r"b_bad\.edf: truncated EDF"):
        build_store([d], tmp_path / "st", config=CFG, on_error="raise", progress=False)
    s = ShardStore(tmp_path / "st")
    assert set(s.manifest.source.str.split("/").str[-1]) == {"a_good.edf"}  # the finished file stays
    assert "b_bad.edf" in s.errors().source[0]


def test_mixed_rates_keep_the_eeg_rate_even_when_outnumbered(tmp_path):
    # Sleep-EDF-like PSG: 2 EEG channels at 100 Hz, 3 slow channels at 1 Hz (they outnumber the EEG)
    names = ["EEG Fpz-Cz", "EEG Pz-Oz", "Resp oro-nasal", "EMG submental", "Temp rectal"]
    x = synthetic_eeg(2, 3000, 100.0)
    slow = np.zeros(30)
    f = write_edf(tmp_path / "psg.edf", names, [100.0, 100.0, 1.0, 1.0, 1.0], 30,
                  lambda k: [x[0, k * 100:(k + 1) * 100], x[1, k * 100:(k + 1) * 100], slow[k:k + 1], slow[k:k + 1], slow[k:k + 1]])
    from neurosig.io.edf import check_edf

    hdr = check_edf(f)
    assert sorted(hdr.exclude) == ["EMG submental", "Resp oro-nasal", "Temp rectal"]
    assert any("Resp oro-nasal, EMG submental, Temp rectal are sampled at another rate" in w for w in hdr.warnings)


def _tree(root):
    return {p.relative_to(root): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def _logged(logger_name="neurosig"):
    """Collect the messages of the package logger (it does not propagate to pytest's caplog)."""
    import logging

    class _H(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    h = _H()
    logging.getLogger(logger_name).addHandler(h)
    return h


def test_existing_store_with_another_pipeline_is_refused(tmp_path):
    import logging

    files = [_edf(tmp_path / f"r{i}.edf") for i in range(2)]
    out = tmp_path / "st"
    build_store(files, out, config=CFG, progress=False)
    before = _tree(out)
    with pytest.raises(NeurosigError, match=r"store .*st' already holds 2 of these files .*another pipeline config") as e:
        build_store(files, out, config={**CFG, "resample_sfreq": 50.0}, progress=False)
    msg = _one_line(e)
    assert "r0.edf" in msg and "new --out" in msg and "delete" in msg
    assert _tree(out) == before  # nothing written, nothing lost
    s = ShardStore(out)
    assert len(s) == 10 and s.manifest.sfreq.eq(100.0).all()
    # the same config again is a no-op; new files under another config go beside, with a warning
    assert build_store(files, out, config=CFG, progress=False).n_cached == 2
    h = _logged()
    try:
        build_store([_edf(tmp_path / "new.edf")], out, config={**CFG, "resample_sfreq": 50.0}, progress=False)
    finally:
        logging.getLogger("neurosig").removeHandler(h)
    assert any("another pipeline config" in m for m in h.messages)
    assert ShardStore(out).manifest.pipeline_hash.nunique() == 2


def test_empty_input_list_is_refused(tmp_path):
    with pytest.raises(NeurosigError, match=r"build_store: inputs is empty") as e:
        build_store([], tmp_path / "st", progress=False)
    _one_line(e)
    assert not (tmp_path / "st").exists()
