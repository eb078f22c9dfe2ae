"""``neurosig preprocess``: a store from files/folders, rerun skips, one-line errors, --json."""

from __future__ import annotations

import json

from neurosig.cli.main import main
from neurosig.datasets import ShardStore
from neurosig.io.synthetic import synthetic_eeg, write_edf


def _edf(path, seconds=10):
    return write_edf(path, ["Fp1", "Cz", "Zz9"], 100.0, seconds, synthetic_eeg(3, 100 * seconds, 100.0))


def test_preprocess_cli(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    _edf(d / "a.edf")
    _edf(d / "b.edf", seconds=12)
    out = tmp_path / "st"
    rc = main(["-q", "preprocess", str(d), "--out", str(out), "--config", "preprocess/debug.yaml", "--positions", "none",
               "--json", str(tmp_path / "r.json")])
    assert rc == 0
    s = ShardStore(out)
    assert len(s) == 5 + 6 and s.manifest.sfreq.eq(100.0).all() and not s.manifest.has_positions.any()
    assert "2 processed" in capsys.readouterr().out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["n_processed"] == 2 and rep["n_windows"] == 11 and rep["files_per_s"] > 0
    assert main(["-q", "preprocess", str(d), "--out", str(out), "--config", "preprocess/debug.yaml", "--positions", "none"]) == 0
    assert "2 already done" in capsys.readouterr().out


def test_preprocess_cli_errors(tmp_path, capsys):
    f = _edf(tmp_path / "a.edf")
    rc = main(["preprocess", f, "--out", str(tmp_path / "st")])  # Zz9 has no standard position
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("neurosig: error: ") and "Zz9" in err[0] and "--positions none" in err[0]
    rc = main(["preprocess", str(tmp_path / "nope.edf"), "--out", str(tmp_path / "st")])
    assert rc == 2 and "nope.edf: no such file" in capsys.readouterr().err
    rc = main(["preprocess", f, "--out", str(tmp_path / "st"), "--config", str(tmp_path / "missing.yaml")])
    assert rc == 2 and "missing.yaml" in capsys.readouterr().err
    rc = main(["-q", "preprocess", f, str(tmp_path / "nope.edf"), "--out", str(tmp_path / "st2"), "--positions", "none",
               "--on-error", "skip", "--config", "preprocess/debug.yaml"])
    assert rc == 0 and "1 failed" in capsys.readouterr().out


def test_preprocess_dataset_flag_names_adapter_stores(tmp_path, capsys):
    """--dataset with --adapter: the adapter's name used to win in the manifest while the flag
    still changed the pipeline hash (a rerun without it was refused)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
    import miniatures

    root = miniatures.make_folder(tmp_path / "corpus", n=2, seconds=10.0)
    out = tmp_path / "st"
    args = ["-q", "preprocess", str(root), "--adapter", "folder", "--out", str(out), "--positions", "none",
            "--dataset", "mine"]
    assert main(args) == 0
    m = ShardStore(out).manifest
    assert set(m.dataset) == {"mine"} and len(m) > 0
    assert main(args) == 0 and "2 already done" in capsys.readouterr().out  # the same command reruns as cached
    # a TUH corpus renamed out of the TUH namespace would escape the leakage guard: refused, one line
    tuab = miniatures.make_tuab(tmp_path / "tuab", n_per_group=1, seconds=20.0)
    rc = main(["preprocess", str(tuab), "--adapter", "tuab", "--out", str(tmp_path / "t"), "--dataset", "mytuab"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--dataset 'mytuab'" in err[0] and "leave --dataset out" in err[0]
    assert not (tmp_path / "t").exists()  # nothing written
