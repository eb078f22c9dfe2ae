"""Pipeline steps against references: MNE's filter + resample, units, references, bad marks, hash."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.io import read_recording
from neurosig.io.recording import Recording
from neurosig.io.synthetic import synthetic_eeg, write_edf
from neurosig.preprocessing import Pipeline, PipelineConfig, WindowConfig

NAMES = ["Fp1", "Fp2", "F7", "F8", "T3", "T4", "T5", "T6", "O1", "O2", "C3", "C4", "Cz", "F3", "F4", "P3", "P4", "A1", "A2"]


@pytest.fixture(scope="module")
def edf(tmp_path_factory):
    p = tmp_path_factory.mktemp("pp") / "rec.edf"
    x = synthetic_eeg(len(NAMES), 256 * 60, 256.0, seed=3)
    write_edf(p, NAMES, 256.0, 60, x)
    return str(p)


def _array_rec(x, sfreq=100.0, names=None, types=None, **kw):
    names = names or [f"C{i}" for i in range(x.shape[0])]
    return Recording(sfreq=sfreq, ch_names=names, ch_types=types or ["eeg"] * len(names), pos=np.full((len(names), 3), np.nan),
                     subject="s", source="array", data=x, **kw)


@pytest.mark.parametrize("chunk_s", [10.0, 1000.0])
def test_equals_mne_filter_then_polyphase_resample(edf, chunk_s):
    """Chunked output == MNE's whole-file raw.filter + notch + resample(polyphase), edges included."""
    rec = read_recording(edf)
    out = Pipeline(PipelineConfig(notch=50, chunk_s=chunk_s, clip={})).apply(rec)
    raw = mne.io.read_raw(edf, preload=True, verbose="error")
    raw.filter(0.1, 75.0, verbose="error")
    raw.notch_filter([50.0], verbose="error")
    ref = raw.resample(200.0, method="polyphase", verbose="error").get_data() * 1e6  # µV
    assert out.data.shape == ref.shape and out.sfreq == 200.0
    err = np.abs(out.data - ref).max()
    assert err < 1e-3 * ref.std(), err  # float32 vs float64 only
    assert out.info["units"] == ["uV"] * len(NAMES)


def test_units_volts_to_microvolts_and_tesla_to_femtotesla():
    t = np.arange(1000) / 100.0
    x = np.stack([10e-6 * np.sin(2 * np.pi * 5 * t), 300e-15 * np.sin(2 * np.pi * 5 * t)])
    rec = _array_rec(x, names=["Cz", "M1"], types=["eeg", "mag"])
    cfg = PipelineConfig(l_freq=None, h_freq=None, notch=None, resample_sfreq=None, clip={})
    out = Pipeline(cfg).apply(rec)
    np.testing.assert_allclose(out.data[0], x[0] * 1e6, atol=1e-4)
    np.testing.assert_allclose(out.data[1], x[1] * 1e15, atol=1e-3)


def test_notch_removes_mains_and_auto_reads_line_freq():
    sf = 500.0
    t = np.arange(int(sf * 40)) / sf
    x = (20 * np.sin(2 * np.pi * 10 * t) + 20 * np.sin(2 * np.pi * 60 * t))[None] * 1e-6
    rec = _array_rec(x, sfreq=sf, names=["Cz"], info={"line_freq": 60.0})
    cfg = PipelineConfig(l_freq=None, h_freq=None, resample_sfreq=None, clip={})  # notch auto → 60 from the file
    out = Pipeline(cfg).apply(rec).data[0, 2000:-2000]
    seg = t[2000:-2000]
    amp = lambda f: 2 * np.abs(np.mean(out * np.exp(-2j * np.pi * f * seg)))  # noqa: E731
    assert amp(60) < 0.2 and abs(amp(10) - 20) < 0.5
    p = Pipeline(cfg).plan(_array_rec(x, sfreq=sf, names=["Cz"]))  # no line_freq → 50 Hz, recorded
    assert p.steps["notch"][0] == 50.0 and any("mains frequency unknown" in w for w in p.warnings)


def test_average_and_bipolar_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1e-5, (len(NAMES), 1000))
    rec = _array_rec(x, names=NAMES)
    base = dict(l_freq=None, h_freq=None, notch=None, resample_sfreq=None, clip={})
    avg = Pipeline(PipelineConfig(reference="average", **base)).apply(rec)
    np.testing.assert_allclose(avg.data.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(avg.data[0], (x[0] - x.mean(0)) * 1e6, rtol=1e-4, atol=1e-3)
    bip = Pipeline(PipelineConfig(reference="bipolar_tcp", **base)).apply(rec)
    assert bip.ch_names[0] == "FP1-F7" and len(bip.ch_names) == 22
    np.testing.assert_allclose(bip.data[0], (x[0] - x[2]) * 1e6, rtol=1e-4, atol=1e-3)
    i = bip.ch_names.index("A1-T3")
    np.testing.assert_allclose(bip.pos[i], np.full(3, np.nan))  # positions unknown in → midpoint unknown


def test_bad_channel_marks_and_nan_cleaning():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2e-5, (4, 3000))
    x[1] = 3e-5  # flat
    x[2, 100:110] = np.nan  # NaN
    x[3] = np.clip(x[3], -1e-5, 1e-5)  # saturated: ~30% of samples at the rails
    rec = _array_rec(x, names=["Cz", "Pz", "Oz", "Fz"])
    out = Pipeline(PipelineConfig(notch=None, resample_sfreq=None, l_freq=1.0, h_freq=30.0)).apply(rec)
    assert out.info["bad_channels"] == {"Pz": "flat", "Oz": "nan", "Fz": "saturated"}
    assert np.isfinite(out.data).all()
    assert any("10 NaN/Inf sample(s) replaced by 0" in w for w in out.info["warnings"])


def test_clip():
    x = np.zeros((1, 1000))
    x[0, 500] = 2e-3  # 2000 µV spike
    out = Pipeline(PipelineConfig(l_freq=None, h_freq=None, notch=None, resample_sfreq=None)).apply(_array_rec(x))
    assert out.data.max() == pytest.approx(500.0)
    assert out.info["steps"]["clipped_fraction"]["C0"] == pytest.approx(1 / 1000)


def test_hash_is_the_cache_key():
    a, b = PipelineConfig(), PipelineConfig(chunk_s=60.0)
    assert Pipeline(a).hash == Pipeline(b).hash  # how the work is chunked does not change the output
    assert Pipeline(a).hash != Pipeline(PipelineConfig(h_freq=40.0)).hash
    assert Pipeline(a).hash != Pipeline(PipelineConfig(window=WindowConfig(length_s=5.0))).hash


def test_iir_chunked_matches_unchunked(edf):
    rec = read_recording(edf)
    a = Pipeline(PipelineConfig(filter_method="iir", chunk_s=10.0, l_freq=1.0)).apply(rec).data
    b = Pipeline(PipelineConfig(filter_method="iir", chunk_s=1000.0, l_freq=1.0)).apply(rec).data
    assert np.abs(a - b).max() < 1e-3 * b.std()


def test_high_freq_clipped_below_nyquist():
    x = np.random.default_rng(0).normal(0, 1e-5, (2, 1280))
    p = Pipeline(PipelineConfig()).plan(_array_rec(x, sfreq=128.0, names=["Cz", "Pz"]))  # 75 Hz > Nyquist 64
    assert p.steps["h_freq"] == pytest.approx(0.8 * 64) and any("clipped" in w for w in p.warnings)
    assert p.sfreq_out == 200.0


def test_short_epochs_fall_back_without_crash():
    """1 s epochs cannot hold a 0.1 Hz FIR high-pass: demean + IIR, recorded as warnings."""
    E, C, T = 5, 3, 128
    x = np.random.default_rng(0).normal(0, 1e-5, (E, C, T)) + 1e-5
    flat = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(C, E * T)
    rec = _array_rec(flat, sfreq=128.0, names=["Fp1", "Cz", "O2"],
                     info={"epoch_len": T, "n_epochs": E, "epoch_labels": [0, 1, 0, 1, 0], "epoch_label_names": ["a", "b", "a", "b", "a"],
                           "epoch_subjects": ["s"] * E, "epoch_splits": [""] * E})
    pipe = Pipeline(PipelineConfig())
    p, wins, gen = pipe.iter_windows(rec)
    arrays = [a for _, a in gen]
    assert len(arrays) == E and arrays[0].shape == (3, 200)
    assert [w.label for w in wins] == [0, 1, 0, 1, 0]
    assert any("high-pass skipped" in w for w in p.warnings) and any("IIR" in w for w in p.warnings)
    assert all(np.isfinite(a).all() for a in arrays)
    assert abs(float(np.mean(arrays[0]))) < 2.0  # demeaned (input had a +10 µV offset)


def test_fixed_and_event_windows():
    sf = 100.0
    x = np.random.default_rng(0).normal(0, 1e-5, (2, 6000))
    ann = [(5.0, 1.0, "spike"), (20.0, 1.0, "eye"), (59.5, 1.0, "spike"), (30.0, 1.0, "other")]
    rec = _array_rec(x, sfreq=sf, annotations=ann)
    base = dict(l_freq=None, h_freq=None, notch=None, resample_sfreq=None, clip={})
    p, wins, gen = Pipeline(PipelineConfig(window=WindowConfig(length_s=10.0, stride_s=5.0), **base)).iter_windows(rec, label=1)
    assert [w.start for w in wins] == list(range(0, 5001, 500)) and {w.label for w in wins} == {1}
    out = [a for _, a in gen]
    np.testing.assert_allclose(out[3], x[:, 1500:2500] * 1e6, rtol=1e-5, atol=1e-4)
    ev = WindowConfig(mode="events", length_s=1.0, tmin_s=-0.2, event_labels={"spike": 1, "eye": 2})
    p, wins, gen = Pipeline(PipelineConfig(window=ev, **base)).iter_windows(rec)
    assert [(w.start, w.label, w.label_name) for w in wins] == [(480, 1, "spike"), (1980, 2, "eye")]
    assert any("outside the recording" in w for w in p.warnings)
    sleep = WindowConfig(length_s=10.0, label_from_annotations=True, event_labels={"W": 0, "N2": 2}, drop_unlabelled=True)
    rec2 = _array_rec(x, sfreq=sf, annotations=[(0.0, 30.0, "W"), (30.0, 20.0, "N2")])
    _, wins, _ = Pipeline(PipelineConfig(window=sleep, **base)).iter_windows(rec2)
    assert [w.label for w in wins] == [0, 0, 0, 2, 2]


def test_fmri_is_zscored():
    x = np.random.default_rng(0).normal(100, 5, (3, 50))
    rec = _array_rec(x, sfreq=0.5, names=["a", "b", "c"], types=["fmri"] * 3)
    out = Pipeline(PipelineConfig(window=WindowConfig(length_s=20.0))).apply(rec)
    np.testing.assert_allclose(out.data.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(out.data.std(axis=1), 1, atol=1e-5)
    assert out.sfreq == 0.5


def test_config_validation_messages():
    with pytest.raises(NeurosigError, match="reference='bogus' is not supported"):
        PipelineConfig(reference="bogus")
    with pytest.raises(NeurosigError, match=r"l_freq \(50\) must be below h_freq \(40\)"):
        PipelineConfig(l_freq=50, h_freq=40)
    with pytest.raises(NeurosigError, match="event_labels is required"):
        WindowConfig(mode="events")
    from neurosig.config import from_dict

    with pytest.raises(NeurosigError, match="unknown key"):
        from_dict(PipelineConfig, {"hfreq": 3})
    cfg = PipelineConfig.from_yaml("preprocess/debug.yaml")
    assert cfg.window.length_s == 2.0 and cfg.filter_method == "iir"
    assert PipelineConfig.from_yaml("preprocess/default.yaml") == PipelineConfig()


def test_reads_in_bounded_chunks_never_whole(edf):
    """The streaming path asks the reader for chunk + overlap at a time, covering the file once."""
    rec = read_recording(edf)
    spans = []
    orig = rec.raw.get_data

    def spy(*a, start=0, stop=None, **kw):
        spans.append((start, stop))
        return orig(*a, start=start, stop=stop, **kw)

    rec.raw.get_data = spy
    pipe = Pipeline(PipelineConfig(chunk_s=10.0))
    p = pipe.plan(rec)
    n_blocks = sum(1 for _ in pipe.iter_blocks(rec, p))
    H = p.half + p.ctx
    assert n_blocks == len(spans) == 6  # 60 s in 10 s chunks
    assert max(b - a for a, b in spans) <= int(10.0 * 256) + 2 * H < rec.n_times
    assert spans[0][0] == 0 and spans[-1][1] == rec.n_times


def test_declared_bad_channels_are_marked_with_their_reason():
    """Channels the file declares bad (BIDS channels.tsv status=bad, FIF info['bads']) are marked
    'declared' like flat/saturated ones, and a bipolar derivation from one is bad too."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2e-5, (4, 3000))
    x[1] = 3e-5  # flat as well
    rec = _array_rec(x, names=["Cz", "Pz", "Oz", "Fz"], info={"bads": ["Oz", "Pz"]})
    out = Pipeline(PipelineConfig(notch=None, resample_sfreq=None, l_freq=1.0, h_freq=30.0)).apply(rec)
    assert out.info["bad_channels"] == {"Pz": "declared+flat", "Oz": "declared"}
    assert any("bad channels:" in w and "Oz (declared)" in w for w in out.info["warnings"])
    names = ["Fp1", "F7", "T3", "T5", "O1"]
    rec = _array_rec(rng.normal(0, 2e-5, (5, 3000)), names=names, info={"bads": ["T3"]})
    out = Pipeline(PipelineConfig(notch=None, resample_sfreq=None, reference="bipolar_tcp")).apply(rec)
    assert out.info["bad_channels"] == {"F7-T3": "declared", "T3-T5": "declared"}


def test_average_reference_leaves_declared_bad_channels_out_like_mne():
    """A channel the file declares bad (FIF info['bads'], BIDS channels.tsv) used to be averaged into every other
    channel's reference; MNE's set_eeg_reference leaves it out of the average and leaves it as it is."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1e-5, (len(NAMES), 1000))
    x[3] += 5e-4  # a broken electrode, declared bad
    base = dict(l_freq=None, h_freq=None, notch=None, resample_sfreq=None, clip={}, reference="average")
    out = Pipeline(PipelineConfig(**base)).apply(_array_rec(x, names=NAMES, info={"bads": [NAMES[3]]}))
    raw = mne.io.RawArray(x, mne.create_info(list(NAMES), 100.0, "eeg"), verbose="error")
    raw.info["bads"] = [NAMES[3]]
    ref = raw.copy().set_eeg_reference("average", projection=False, verbose="error").get_data() * 1e6
    np.testing.assert_allclose(out.data, ref, rtol=1e-4, atol=1e-3)
    assert out.info["bad_channels"] == {NAMES[3]: "declared"}


def test_average_reference_leaves_flat_and_saturated_channels_out():
    """Channels the store marks flat or saturated were averaged into every other channel's reference (they were
    found only at the end of the streaming pass); a scan before the pass now leaves them out, as if declared bad."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1e-5, (len(NAMES), 3000))
    x[2] = 4e-4  # disconnected electrode sitting at a DC offset: flat
    x[4] = np.clip(rng.normal(0, 1e-3, 3000), -5e-4, 5e-4)  # railed amplifier: saturated
    base = dict(l_freq=None, h_freq=None, notch=None, resample_sfreq=None, clip={}, reference="average", chunk_s=10.0)  # 3 chunks
    out = Pipeline(PipelineConfig(**base)).apply(_array_rec(x, names=NAMES))
    raw = mne.io.RawArray(x, mne.create_info(list(NAMES), 100.0, "eeg"), verbose="error")
    raw.info["bads"] = [NAMES[2], NAMES[4]]
    ref = raw.copy().set_eeg_reference("average", projection=False, verbose="error").get_data() * 1e6
    np.testing.assert_allclose(out.data, ref, rtol=1e-4, atol=1e-3)
    assert out.info["bad_channels"] == {NAMES[2]: "flat", NAMES[4]: "saturated"}
