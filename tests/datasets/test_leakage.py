"""Cross-corpus subject guards (neurosig.datasets.leakage)."""

from __future__ import annotations

import pandas as pd
import pytest

from neurosig import NeurosigError
from neurosig.datasets.leakage import (
    check_no_overlap, check_store_splits, exclude_subjects, global_subject, subjects_of,
)
from neurosig.datasets.spec import FileSpec


def _spec(dataset, subject, name):
    return FileSpec(path=f"/data/{dataset}/{name}.edf", subject=subject, extras={"dataset": dataset})


def test_tuh_family_shares_patient_ids():
    assert global_subject("tuab", "aaaaaaav") == global_subject("tueg", "aaaaaaav") == "tuh:aaaaaaav"
    assert global_subject("tusz", "aaaaaaav") == global_subject("tuev", "aaaaaaav")
    assert global_subject("chbmit", "chb21") == global_subject("chbmit", "chb01")
    assert global_subject("bids_a", "01") != global_subject("bids_b", "01")


def test_exclude_evaluation_subjects_from_pretraining():
    pretrain = [_spec("tueg", p, f"{p}_s001_t000") for p in ("aaaaaaaa", "aaaaaaab", "aaaaaaac", "aaaaaaad")]
    tuab_eval = pd.DataFrame({"dataset": ["tuab"] * 3, "subject": ["aaaaaaab", "aaaaaaab", "aaaaaaad"]})
    tusz_eval = [_spec("tusz", "aaaaaaac", "aaaaaaac_s002_t001")]
    kept, dropped = exclude_subjects(pretrain, {"tuab": tuab_eval, "tusz": tusz_eval})
    assert [s.subject for s in kept] == ["aaaaaaaa"]
    assert dropped == {"tuab": ["/data/tueg/aaaaaaab_s001_t000.edf", "/data/tueg/aaaaaaad_s001_t000.edf"],
                       "tusz": ["/data/tueg/aaaaaaac_s001_t000.edf"]}
    check_no_overlap(pretrain=kept, tuab=tuab_eval, tusz=tusz_eval)  # passes after exclusion
    with pytest.raises(NeurosigError, match=r"subject leakage: 'pretrain' and 'tuab' share 2 subjects \(tuh:aaaaaaab"):
        check_no_overlap(pretrain=pretrain, tuab=tuab_eval)


def test_store_split_overlap_raises():
    ok = pd.DataFrame({"dataset": "d", "subject": ["a", "a", "b", "c"], "split": ["train", "train", "val", "test"]})
    assert check_store_splits(ok) == {"train": 1, "val": 1, "test": 1}
    bad = pd.DataFrame({"dataset": "d", "subject": ["a", "b", "a"], "split": ["train", "test", "test"]})
    with pytest.raises(NeurosigError, match="'train' and 'test' share 1 subjects \\(d:a\\)"):
        check_store_splits(bad)


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(NeurosigError, match="does not exist"):
        subjects_of(str(tmp_path / "nostore"))
    with pytest.raises(NeurosigError, match="has no dataset"):
        subjects_of(["s1"])
    with pytest.raises(NeurosigError, match="at least two"):
        check_no_overlap(only=["d:a"])
    assert subjects_of(["s1"], dataset="tuab") == {"tuh:s1"}


def test_cli_pretraining_store_excludes_evaluation_subjects(tmp_path, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import miniatures

    from neurosig.cli.main import main
    from neurosig.datasets import ShardStore

    tuab = miniatures.make_tuab(tmp_path / "tuab", seconds=30.0)
    tueg = miniatures.make_tueg(tmp_path / "tueg")
    assert main(["-q", "preprocess", str(tuab), "--adapter", "tuab", "--out", str(tmp_path / "s_tuab")]) == 0
    # without the guard the TUEG store shares two TUAB patients
    assert main(["-q", "preprocess", str(tueg), "--adapter", "tueg", "--out", str(tmp_path / "s_all")]) == 0
    with pytest.raises(NeurosigError, match="share 2 subjects"):
        check_no_overlap(pretrain=str(tmp_path / "s_all"), tuab=str(tmp_path / "s_tuab"))
    assert main(["-q", "preprocess", str(tueg), "--adapter", "tueg", "--out", str(tmp_path / "s_pre"),
                 "--exclude-subjects-of", str(tmp_path / "s_tuab")]) == 0
    assert "left out 2 file(s) whose subjects are in s_tuab" in capsys.readouterr().out
    assert set(ShardStore(tmp_path / "s_pre").manifest["subject"]) == {"aaaapt01"}
    check_no_overlap(pretrain=str(tmp_path / "s_pre"), tuab=str(tmp_path / "s_tuab"))
