"""build_store: cache key, reprocessing, process pool, kill -9 resume, epochs/NIfTI inputs, adapters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.datasets import FileSpec, ShardStore, build_store, process_file
from neurosig.io.synthetic import synthetic_eeg, write_edf

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 2.0}, chunk_s=10.0)


def _files(d: Path, n: int, seconds: int = 20) -> list[str]:
    d.mkdir(parents=True, exist_ok=True)
    return [write_edf(d / f"sub-{i:02d}_task.edf", ["Fp1", "Cz", "O2"], 100.0, seconds, synthetic_eeg(3, 100 * seconds, 100.0, seed=i))
            for i in range(n)]


def _all_items(store: ShardStore) -> dict[str, np.ndarray]:
    m = store.manifest
    return {f"{m.source[i]}#{m.start_s[i]}": store[i]["x"] for i in range(len(store))}


def test_cache_skip_and_reprocess_on_change(tmp_path):
    files = _files(tmp_path / "in", 2)
    r1 = build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert (r1.n_processed, r1.n_cached, r1.n_windows) == (2, 0, 20)
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "st" / "shards").iterdir()}
    r2 = build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert (r2.n_processed, r2.n_cached) == (0, 2)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "st" / "shards").iterdir()} == mtimes  # nothing rewritten
    # a changed parameter is another pipeline: into a new store it processes everything again
    r3 = build_store(files, tmp_path / "st30", config={**CFG, "h_freq": 30.0}, progress=False)
    assert r3.n_processed == 2
    assert ShardStore(tmp_path / "st30").manifest.pipeline_hash[0] != ShardStore(tmp_path / "st").manifest.pipeline_hash[0]
    # a changed source file is a new part too, which replaces the old one (the file is stored once)
    write_edf(files[0], ["Fp1", "Cz", "O2"], 100.0, 20, synthetic_eeg(3, 2000, 100.0, seed=99))
    r4 = build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert (r4.n_processed, r4.n_cached, r4.n_replaced) == (1, 1, 1)
    assert len(ShardStore(tmp_path / "st")) == 20 and len(list((tmp_path / "st" / "parts").glob("*.json"))) == 2


def test_process_pool_equals_serial(tmp_path):
    files = _files(tmp_path / "in", 3)
    build_store(files, tmp_path / "a", config=CFG, jobs=1, progress=False)
    build_store(files, tmp_path / "b", config=CFG, jobs=2, progress=False)
    a, b = _all_items(ShardStore(tmp_path / "a")), _all_items(ShardStore(tmp_path / "b"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_kill_9_then_rerun_completes_store(tmp_path):
    files = _files(tmp_path / "in", 5, seconds=30)
    out = tmp_path / "st"
    script = textwrap.dedent(f"""
        import time
        import neurosig.datasets.build as b
        orig = b.ShardWriter.write
        def slow(self, w):
            time.sleep(0.03)
            orig(self, w)
        b.ShardWriter.write = slow
        b.build_store({files!r}, {str(out)!r}, config={CFG!r}, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    t0 = time.time()
    while time.time() - t0 < 60:
        parts = list((out / "parts").glob("*.json")) if (out / "parts").exists() else []
        if parts:
            break
        time.sleep(0.02)
    time.sleep(0.25)  # now inside a later file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "parts").glob("*.json")))
    assert 1 <= done_before < 5, "the kill should land mid-run"
    r = build_store(files, out, config=CFG, progress=False)
    assert r.n_cached == done_before and r.n_processed == 5 - done_before
    s = ShardStore(out)
    assert len(s) == 5 * 15 and s.manifest.window_id.is_unique
    assert not list(out.rglob(".tmp-*"))  # no half-written leftovers
    ref = tmp_path / "ref"
    build_store(files, ref, config=CFG, progress=False)
    a, b = _all_items(s), _all_items(ShardStore(ref))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_filespec_labels_and_identity(tmp_path):
    f = _files(tmp_path / "in", 1)[0]
    res = process_file(FileSpec(f, subject="p7", session="2", label=3, extras={"label_name": "abnormal", "dataset": "toy"}), CFG, tmp_path / "st")
    assert res.n_windows == 10 and not res.cached
    again = process_file(FileSpec(f, subject="p7", session="2", label=3, extras={"label_name": "abnormal", "dataset": "toy"}), CFG, tmp_path / "st")
    assert again.cached and again.key == res.key
    other = process_file(FileSpec(f, subject="p7", session="2", label=4), CFG, tmp_path / "st")
    assert other.key != res.key  # a different label is a different output
    from neurosig.datasets.store import consolidate

    consolidate(tmp_path / "st")
    m = ShardStore(tmp_path / "st").manifest
    row = m[m.part == res.key].iloc[0]
    assert (row.subject, row.session, row.label, row.label_name, row.dataset) == ("p7", "2", 3, "abnormal", "toy")


def test_epochs_file_one_window_per_epoch(tmp_path):
    import mne
    import pandas as pd

    n = 6
    info = mne.create_info(["Fp1", "Cz", "O2"], 128.0, "eeg")
    data = np.random.default_rng(1).normal(0, 1e-5, (n, 3, 256))
    y = np.array([0, 1, 1, 0, 1, 0])
    md = pd.DataFrame({"subject": ["s1"] * 3 + ["s2"] * 3, "split": ["train"] * 4 + ["test"] * 2})
    ep = mne.EpochsArray(data, info, events=np.column_stack([np.arange(n) * 300, np.zeros(n, int), y]),
                         event_id={"left": 0, "right": 1}, metadata=md, verbose="error")
    f = tmp_path / "toy_train-epo.fif"
    ep.save(f, verbose="error")
    build_store([f], tmp_path / "st", progress=False)
    s = ShardStore(tmp_path / "st")
    m = s.manifest
    assert len(s) == n and m.label.tolist() == y.tolist() and m.label_name.tolist()[:2] == ["left", "right"]
    assert m.subject.tolist() == ["s1"] * 3 + ["s2"] * 3 and m.split.tolist() == ["train"] * 4 + ["test"] * 2
    assert s[0]["x"].shape == (3, 400)  # 2 s at 200 Hz
    assert s.part_info(m.part[0])["warnings"]  # short epochs: filter fallback recorded


def test_nifti_store(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(0)
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nib.Nifti1Image(rng.normal(100, 5, (4, 4, 2, 40)).astype(np.float32), aff)
    img.header["pixdim"][4] = 2.0
    nib.save(img, tmp_path / "sub-01_bold.nii")
    atlas = np.zeros((4, 4, 2), np.int16)
    atlas[:2], atlas[2:] = 1, 2
    nib.save(nib.Nifti1Image(atlas, aff), tmp_path / "parcels.nii")
    build_store([tmp_path / "sub-01_bold.nii"], tmp_path / "st", atlas=tmp_path / "parcels.nii",
                config={"window": {"length_s": 20.0}}, progress=False)
    s = ShardStore(tmp_path / "st")
    assert len(s) == 4 and s[0]["x"].shape == (2, 10) and s.manifest.sfreq[0] == 0.5
    assert s[0]["ch_type"].tolist() == [5, 5] and s.manifest.has_positions.all()
    x = np.concatenate([s[i]["x"] for i in range(len(s))], axis=1)
    np.testing.assert_allclose(x.mean(axis=1), 0, atol=1e-5)  # z-scored per parcel


def test_adapter_argument_and_registry(tmp_path):
    from neurosig.datasets import ADAPTERS, register_adapter

    files = _files(tmp_path / "corpus", 2)

    @register_adapter("_toy_test")
    class Toy:
        def files(self, root):
            return [FileSpec(p, subject=f"S{i}", label=i, extras={"dataset": "toy"}) for i, p in enumerate(sorted(Path(root).glob("*.edf")))]

    try:
        build_store([tmp_path / "corpus"], tmp_path / "st", config=CFG, adapter="_toy_test", progress=False)
        m = ShardStore(tmp_path / "st").manifest
        assert sorted(set(m.subject)) == ["S0", "S1"] and set(m.dataset) == {"toy"} and set(m.label) == {0, 1}
        with pytest.raises(NeurosigError, match="adapter 'nope' is unknown"):
            build_store([tmp_path / "corpus"], tmp_path / "st2", adapter="nope", progress=False)
    finally:
        ADAPTERS.pop("_toy_test", None)


def test_argument_errors(tmp_path):
    f = _files(tmp_path / "in", 1)
    with pytest.raises(NeurosigError, match="on_error='ignore' is not supported"):
        build_store(f, tmp_path / "st", on_error="ignore")
    with pytest.raises(NeurosigError, match="jobs must be a positive integer"):
        build_store(f, tmp_path / "st", jobs=0)
    with pytest.raises(NeurosigError, match="backend='spark' is not supported"):
        build_store(f, tmp_path / "st", backend="spark")


def test_filespec_label_must_be_integer():
    assert FileSpec("x.edf", label=np.int64(2)).label == 2
    with pytest.raises(NeurosigError, match=r"FileSpec\('x.edf'\): label must be an integer class id or None, got 'abnormal'"):
        FileSpec("x.edf", label="abnormal")


def test_rerun_does_not_rehash_unchanged_files(tmp_path, monkeypatch):
    import neurosig.io.readers as readers

    files = _files(tmp_path / "in", 2)
    calls = []
    orig = readers.source_hash
    monkeypatch.setattr(readers, "source_hash", lambda *a, **k: calls.append(a[0]) or orig(*a, **k))
    build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert len(calls) == 2
    r = build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert r.n_cached == 2 and len(calls) == 2  # sizes and mtimes unchanged: remembered hashes
    os.utime(files[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    r = build_store(files, tmp_path / "st", config=CFG, progress=False)
    assert len(calls) == 3 and r.n_cached == 2  # touched file hashed again; same bytes → same part


def _per_source(store: ShardStore) -> dict:
    m = store.manifest
    return {os.path.realpath(s): (sorted(set(g.part)), len(g), sorted(set(g.label))) for s, g in m.groupby("source")}


def test_rebuild_replaces_edited_file_instead_of_duplicating(tmp_path):
    import logging

    files = _files(tmp_path / "in", 2)
    out = tmp_path / "st"
    build_store(files, out, config=CFG, progress=False)
    old_key = ShardStore(out).manifest.query("source == @files[0]").part.iloc[0]
    write_edf(files[0], ["Fp1", "Cz", "O2"], 100.0, 20, synthetic_eeg(3, 2000, 100.0, seed=99))
    seen: list[str] = []
    h = logging.Handler(logging.WARNING)
    h.emit = lambda rec: seen.append(rec.getMessage())
    logging.getLogger("neurosig").addHandler(h)  # the package logger does not propagate to caplog
    try:
        r = build_store(files, out, config=CFG, progress=False)
    finally:
        logging.getLogger("neurosig").removeHandler(h)
    assert (r.n_processed, r.n_cached, r.n_replaced) == (1, 1, 1)
    assert any("replaced 1 recording" in m for m in seen), seen
    s = ShardStore(out)
    assert len(s) == 20 and s.manifest.window_id.is_unique  # each recording once, not 30
    per = _per_source(s)
    assert len(per[os.path.realpath(files[0])][0]) == 1 and per[os.path.realpath(files[0])][0][0] != old_key
    assert not (out / "parts" / f"{old_key}.json").exists() and not list((out / "shards").glob(f"{old_key}-*"))
    ref = tmp_path / "ref"  # the store holds the new content: same as a fresh build
    build_store(files, ref, config=CFG, progress=False)
    a, b = _all_items(s), _all_items(ShardStore(ref))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _folder_corpus(root: Path, labels: list[str]) -> list[str]:
    files = _files(root, len(labels))
    rows = "".join(f"{os.path.basename(f)},{lab}\n" for f, lab in zip(files, labels))
    (root / "labels.csv").write_text("path,label\n" + rows)
    return files


def test_rebuild_replaces_recording_whose_label_changed_in_labels_csv(tmp_path):
    root = tmp_path / "corpus"
    files = _folder_corpus(root, ["0", "1"])
    out = tmp_path / "st"
    build_store(root, out, config=CFG, adapter="folder", progress=False)
    (root / "labels.csv").write_text(f"path,label\n{os.path.basename(files[0])},1\n{os.path.basename(files[1])},1\n")
    r = build_store(root, out, config=CFG, adapter="folder", progress=False)
    assert (r.n_processed, r.n_cached, r.n_replaced) == (1, 1, 1)
    s = ShardStore(out)
    assert len(s) == 20
    assert {k: v[1:] for k, v in _per_source(s).items()} == {os.path.realpath(f): (10, [1]) for f in files}
    # a row inserted above: the rows below get a new line number (part of the key), still once each
    extra = _files(tmp_path / "more", 1)[0]
    (root / "sub-new.edf").write_bytes(Path(extra).read_bytes())
    (root / "labels.csv").write_text(f"path,label\nsub-new.edf,0\n{os.path.basename(files[0])},1\n{os.path.basename(files[1])},1\n")
    r = build_store(root, out, config=CFG, adapter="folder", progress=False)
    assert (r.n_processed, r.n_replaced) == (3, 2)
    s = ShardStore(out)
    assert len(s) == 30 and len(set(s.manifest.part)) == 3 and s.manifest.window_id.is_unique


def test_rebuild_by_another_path_spelling_replaces_instead_of_duplicating(tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    files = _folder_corpus(root, ["0", "1"])
    out = tmp_path / "st"
    monkeypatch.chdir(tmp_path)
    build_store("corpus", "st", config=CFG, adapter="folder", progress=False)  # relative spelling
    assert set(ShardStore(out).manifest.source) == {os.path.realpath(f) for f in files}  # stored resolved
    (root / "labels.csv").write_text(f"path,label\n{os.path.basename(files[0])},1\n{os.path.basename(files[1])},1\n")
    monkeypatch.chdir("/")
    r = build_store(str(root), str(out), config=CFG, adapter="folder", progress=False)  # absolute, other cwd
    assert (r.n_processed, r.n_cached, r.n_replaced) == (1, 1, 1)
    s = ShardStore(out)
    assert len(s) == 20 and s.manifest.window_id.is_unique
    assert {k: v[1:] for k, v in _per_source(s).items()} == {os.path.realpath(f): (10, [1]) for f in files}
    # another pipeline over the same files by yet another spelling is refused, not stored twice
    monkeypatch.chdir(root)
    with pytest.raises(NeurosigError, match="already holds 2 of these files"):
        build_store(".", str(out), config={**CFG, "resample_sfreq": 50.0}, adapter="folder", progress=False)


def _make_parts_relative(out: Path, base: Path) -> None:
    """Rewrite a store as an older neurosig wrote it: sources relative to the build's directory."""
    import json

    for p in (out / "parts").glob("*.json"):
        d = json.loads(p.read_text())
        d["source"] = os.path.relpath(d["source"], base)
        p.write_text(json.dumps(d))


def test_legacy_relative_sources_are_matched_from_another_directory(tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    files = _folder_corpus(root, ["0", "1"])
    out = tmp_path / "st"
    build_store(root, out, config=CFG, adapter="folder", progress=False)
    _make_parts_relative(out, tmp_path)  # "corpus/sub-00_task.edf", built from tmp_path
    (root / "labels.csv").write_text(f"path,label\n{os.path.basename(files[0])},1\n{os.path.basename(files[1])},1\n")
    monkeypatch.chdir("/")  # neither cwd-resolution works: path suffix + same content hash does
    r = build_store(str(root), str(out), config=CFG, adapter="folder", progress=False)
    assert (r.n_processed, r.n_cached, r.n_replaced) == (1, 1, 1)
    s = ShardStore(out)
    assert len(s) == 20 and sorted(s.manifest.groupby("part").label.first()) == [1, 1]
    # a different corpus whose files have the same relative names but other bytes is not touched
    other = tmp_path / "elsewhere" / "corpus"
    other.mkdir(parents=True)
    for i, f in enumerate(files):
        write_edf(other / os.path.basename(f), ["Fp1", "Cz", "O2"], 100.0, 20, synthetic_eeg(3, 2000, 100.0, seed=50 + i))
    _make_parts_relative(out, tmp_path)
    r = build_store([str(other / os.path.basename(f)) for f in files], str(out), config=CFG, progress=False)
    assert r.n_replaced == 0 and len(ShardStore(out)) == 40


def test_failed_reprocessing_keeps_the_old_part(tmp_path, monkeypatch):
    from neurosig.datasets.store import ShardWriter

    files = _files(tmp_path / "in", 2)
    out = tmp_path / "st"
    build_store(files, out, config=CFG, progress=False)
    before = _all_items(ShardStore(out))
    parts_before = sorted(p.name for p in (out / "parts").iterdir())
    write_edf(files[0], ["Fp1", "Cz", "O2"], 100.0, 20, synthetic_eeg(3, 2000, 100.0, seed=99))
    orig = ShardWriter.write

    def crash(self, w):
        if self.n_written == 3:
            raise RuntimeError("disk on fire")
        orig(self, w)

    monkeypatch.setattr(ShardWriter, "write", crash)
    with pytest.raises(NeurosigError, match="disk on fire"):
        build_store(files, out, config=CFG, progress=False)
    r = build_store(files, out, config=CFG, on_error="warn", progress=False)
    assert (r.n_failed, r.n_replaced) == (1, 0)
    assert sorted(p.name for p in (out / "parts").iterdir()) == parts_before
    s = ShardStore(out)
    after = _all_items(s)
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)
    monkeypatch.setattr(ShardWriter, "write", orig)
    r = build_store(files, out, config=CFG, progress=False)
    assert (r.n_processed, r.n_replaced) == (1, 1) and len(ShardStore(out)) == 20


def test_killed_between_new_part_and_removal_is_cleaned_by_next_build(tmp_path):
    # process_file writes the new part without removing the old one: the state of a build killed
    # right after committing the new part. The next build finds it done and drops the stale part.
    files = _files(tmp_path / "in", 2)
    out = tmp_path / "st"
    build_store(files, out, config=CFG, progress=False)
    write_edf(files[0], ["Fp1", "Cz", "O2"], 100.0, 20, synthetic_eeg(3, 2000, 100.0, seed=99))
    process_file(files[0], CFG, out)
    assert len(list((out / "parts").glob("*.json"))) == 3
    r = build_store(files, out, config=CFG, progress=False)
    assert (r.n_processed, r.n_cached, r.n_replaced) == (0, 2, 1)
    assert len(ShardStore(out)) == 20


def _fmri_folder(d: Path, n_vol: int = 40, tr: float = 2.0) -> Path:
    """A folder like the converted bundled run: a BOLD series, an atlas and 3-D tissue masks."""
    import nibabel as nib

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nib.Nifti1Image(rng.normal(100, 5, (4, 4, 2, n_vol)).astype(np.float32), aff)
    img.header["pixdim"][4] = tr
    nib.save(img, d / "sub-01_bold.nii")
    atlas = np.zeros((4, 4, 2), np.int16)
    atlas[:2], atlas[2:] = 1, 2
    nib.save(nib.Nifti1Image(atlas, aff), d / "atlas.nii")
    for tissue in ("CSF", "GM"):
        nib.save(nib.Nifti1Image((rng.random((4, 4, 2)) > 0.5).astype(np.float32), aff), d / f"mask-{tissue}.nii")
    return d


def test_folder_skips_3d_nifti_masks_with_a_note(tmp_path, caplog):
    d = _fmri_folder(tmp_path / "fmri")
    with caplog.at_level("INFO", logger="neurosig"):
        rep = build_store([d], tmp_path / "st", config={"window": {"length_s": 20.0}}, progress=False)
    assert rep.n_files == 1 and rep.n_failed == 0 and len(ShardStore(tmp_path / "st")) == 4
    notes = [w for w in rep.warnings if "not a 4-D BOLD run" in w["warning"]]
    assert sorted(Path(w["source"]).name for w in notes) == ["mask-CSF.nii", "mask-GM.nii"]
    assert "(4, 4, 2)" in notes[0]["warning"] and "mask-CSF.nii" in caplog.text
    # a 3-D file named directly is still an error naming the file and the fix
    with pytest.raises(NeurosigError, match=r"mask-CSF\.nii: expected a 4D BOLD series .*pass the functional run"):
        build_store([d / "mask-CSF.nii"], tmp_path / "st2", atlas=d / "atlas.nii", progress=False)
    # a folder holding only masks says so
    for f in ("sub-01_bold.nii",):
        (d / f).unlink()
    with pytest.raises(NeurosigError, match=r"holds no supported recordings.*2 NIfTI file\(s\) are 3-D images"):
        build_store([d], tmp_path / "st3", progress=False)


def test_window_with_few_samples_is_warned(tmp_path):
    d = _fmri_folder(tmp_path / "fmri", tr=2.5)  # 0.4 Hz: default 10 s windows hold 4 samples
    rep = build_store([d / "sub-01_bold.nii"], tmp_path / "st", progress=False)
    assert ShardStore(tmp_path / "st")[0]["x"].shape == (2, 4)
    few = [w["warning"] for w in rep.warnings if "windows hold only 4 samples" in w["warning"]]
    assert few and "set window.length_s to at least 20 s" in few[0]
    rep = build_store([d / "sub-01_bold.nii"], tmp_path / "st2", config={"window": {"length_s": 50.0}}, progress=False)
    assert ShardStore(tmp_path / "st2")[0]["x"].shape == (2, 20)
    assert not [w for w in rep.warnings if "windows hold only" in w["warning"]]
