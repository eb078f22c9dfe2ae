"""Adapters through the store builder and the CLI: labels/subjects/units in the store, a broken
file under --on-error skip, a killed run that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import miniatures
from neurosig.datasets import ShardStore, build_store
from neurosig.datasets.registry import get_adapter


def _build(name, root, out, **kw):
    return build_store(root, out, adapter=name, config=get_adapter(name).default_config(), progress=False, **kw)


def test_tuab_store_labels_subjects_units(tuab_root, tmp_path):
    rep = _build("tuab", tuab_root, tmp_path / "s")
    st = ShardStore(tmp_path / "s")
    m = st.manifest
    assert rep.n_failed == 0 and len(st) == 4 * 12  # 120 s files, 10 s windows
    assert set(m["dataset"]) == {"tuab"} and set(m["n_channels"]) == {22}
    per_file = m.groupby("subject")[["label", "split"]].first().to_dict("index")
    assert per_file == {"aaaaab00": {"label": 0, "split": "train"}, "aaaaab01": {"label": 1, "split": "train"},
                        "aaaaev02": {"label": 0, "split": "test"}, "aaaaev03": {"label": 1, "split": "test"}}
    assert m["ch_names"].iloc[0].split(",")[:2] == ["FP1-F7", "F7-T3"]
    # the pipeline's chunked TCP reference gives the same channels/positions as Adapter.read's
    ad = get_adapter("tuab")
    rec = ad.read(ad.files(tuab_root)[0])
    assert m["ch_names"].iloc[0].split(",") == rec.ch_names and bool(m["has_positions"].all())
    np.testing.assert_allclose(st[0]["pos"], rec.pos, atol=1e-6)
    # µV: FP1-F7 = electrode 0 - electrode 10 = 20 sin(3 Hz) - 40 sin(8 Hz) → rms √(200 + 800)
    x = np.concatenate([st[i]["x"][0, 200:-200] for i in range(1, 11)])
    assert np.sqrt(np.mean(x**2)) == pytest.approx(np.sqrt(1000.0), rel=0.05)
    # the corrupt header date is reported once (the listing and the reader used to say it twice)
    dated = [w for w in rep.warnings if "date" in w["warning"]]
    assert len(dated) == 1 and "'00.00.00'" in dated[0]["warning"] and "2010-03-04" in dated[0]["warning"]


def test_build_store_api_uses_the_adapters_defaults(tuab_root, tmp_path):
    """build_store(adapter=...) without a config gets the corpus's defaults, as `neurosig preprocess
    --adapter` does: the TUH double banana, not the 25 referential channels with EKG and photic as EEG."""
    build_store(tuab_root, tmp_path / "api", adapter="tuab", progress=False)
    m = ShardStore(tmp_path / "api").manifest
    assert set(m["n_channels"]) == {22} and m["ch_names"].iloc[0].split(",")[:2] == ["FP1-F7", "F7-T3"]
    assert len(m) == 4 * 12  # the adapter's 10 s windows


def test_annotation_labelled_corpora(tuev_root, tusz_root, chbmit_root, sleepedf_root, tmp_path):
    tuev = ShardStore(_build("tuev", tuev_root, tmp_path / "tuev") and tmp_path / "tuev").manifest
    # one 5 s window per .rec event (2 s before the 1 s event)
    assert sorted(tuev["label_name"]) == sorted(["spsw", "spsw", "eyem", "bckg", "gped", "pled", "artf"])
    assert set(tuev["n_times"]) == {1000}
    tusz = ShardStore(_build("tusz", tusz_root, tmp_path / "tusz") and tmp_path / "tusz").manifest
    first = tusz[tusz["session"] == "s001"].sort_values("start_s")
    assert first["label"].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]  # seizure 30-70 s
    assert set(tusz["split"]) == {"train", "val", "test"}
    chb = ShardStore(_build("chbmit", chbmit_root, tmp_path / "chb") and tmp_path / "chb").manifest
    assert set(chb["subject"]) == {"chb01"}  # chb21 is chb01
    sz = chb[chb["source"].str.endswith("chb01_03.edf")].sort_values("start_s")
    assert sz["label"].tolist() == [0] * 4 + [1] * 4 + [0] * 4  # seizure 40-76 s holds centres 45..75
    sl = ShardStore(_build("sleepedf", sleepedf_root, tmp_path / "sl") and tmp_path / "sl")
    night = sl.manifest[sl.manifest["subject"] == "SC00"].sort_values("start_s")
    assert night["label_name"].tolist() == miniatures.SLEEP_STAGES_EXPECTED
    assert set(sl.manifest["n_times"]) == {30 * 200} and sl[0]["ch_type"].tolist() == [0, 0, 6]


def test_broken_file_skipped_and_listed(tmp_path):
    root = miniatures.make_folder(tmp_path / "corpus", broken=True)
    rep = build_store(root, tmp_path / "s", adapter="folder", on_error="skip", progress=False)
    assert rep.n_failed == 1 and rep.n_processed == 4
    assert rep.errors[0]["source"].endswith("broken.edf")
    errors = (tmp_path / "s" / "errors.csv").read_text()
    assert "broken.edf" in errors
    assert len(ShardStore(tmp_path / "s")) == 4 * 2


def _parts(out):
    """Committed parts (a .tmp-*.json being written does not count)."""
    return [p for p in (out / "parts").glob("*.json") if not p.name.startswith(".")]


def _cli(*args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return [sys.executable, "-m", "neurosig", *args], env


def test_cli_killed_run_resumes(tmp_path, capsys):
    root = miniatures.make_tuab(tmp_path / "tuab", n_per_group=2, seconds=60.0)
    out = tmp_path / "store"
    cmd, env = _cli("preprocess", str(root), "--adapter", "tuab", "--out", str(out), "--jobs", "1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if (out / "parts").is_dir() and len(_parts(out)) >= 1:
            proc.send_signal(signal.SIGKILL)  # killed mid-corpus
            break
        time.sleep(0.01)
    proc.wait()
    done_before = len(_parts(out))
    assert done_before >= 1
    # the same command again (in this process: saves an interpreter start-up)
    from neurosig.cli.main import main

    assert main([*cmd[3:], "--json", str(tmp_path / "rep.json")]) == 0
    import json

    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["n_cached"] == done_before and rep["n_processed"] == 8 - done_before
    assert "files/s" in capsys.readouterr().out
    # the resumed store equals a clean one
    clean = tmp_path / "clean"
    build_store(root, clean, adapter="tuab", config=get_adapter("tuab").default_config(), progress=False)
    a, b = ShardStore(out), ShardStore(clean)
    cols = ["source", "subject", "label", "split", "start_s", "ch_names", "pipeline_hash", "source_hash"]
    ka = a.manifest.sort_values(["source", "start_s"])
    kb = b.manifest.sort_values(["source", "start_s"])
    assert ka[cols].reset_index(drop=True).equals(kb[cols].reset_index(drop=True))
    for i, j in zip(ka.index[:: 7], kb.index[:: 7]):
        np.testing.assert_array_equal(a[i]["x"], b[j]["x"])
    assert not list(Path(out).rglob(".tmp-*"))


def test_tuh_referential_store_leaves_out_ekg_eye_and_photic(tuab_root, tmp_path):
    """With the referential channels kept (reference average), TUH's EKG, ROC/LOC and photic
    traces were typed EEG by the file and went into the model and the average reference."""
    build_store(tuab_root, tmp_path / "avg", adapter="tuab", config={"reference": "average"}, progress=False)
    m = ShardStore(tmp_path / "avg").manifest
    names = m["ch_names"].iloc[0].split(",")
    assert names == ["FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
                     "T3", "T4", "T5", "T6", "A1", "A2", "FZ", "CZ", "PZ"]
    assert bool(m["has_positions"].all())
