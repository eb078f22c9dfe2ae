"""`neurosig bench real`: argument errors, and (realdata, slow) a short end-to-end run."""

from __future__ import annotations

import json

import pytest

from neurosig.cli.main import main


def test_bad_arguments(capsys, tmp_path):
    assert main(["bench", "real", "--datasets", "", "--out", str(tmp_path)]) == 2
    assert "--datasets is empty" in capsys.readouterr().err
    assert main(["bench", "real", "--seeds", "x,y", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["bench", "real", "--seeds", "0", "--out", str(tmp_path)]) == 2  # a count of 0: no seed at all
    assert "names no seed" in capsys.readouterr().err
    assert main(["bench", "real", "--datasets", "NoSuchSet", "--out", str(tmp_path)]) == 2
    assert "NoSuchSet" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.realdata
def test_short_run_json_schema(tmp_path):
    from neurosig.datasets import bundled

    if not bundled.is_fetched("EyesOpenShut") or not bundled.is_fetched("FingerMovements"):
        pytest.skip("bundled data not fetched: run neurosig data fetch EyesOpenShut FingerMovements")
    j = tmp_path / "b.json"
    rc = main(["bench", "real", "--datasets", "EyesOpenShut", "--extra", "FingerMovements", "--seeds", "1",
               "--tokenizer-steps", "2", "--pretrain-steps", "2", "--out", str(tmp_path / "o"), "--json", str(j)])
    assert rc == 0
    doc = json.loads(j.read_text())
    assert set(doc) == {"datasets", "mean_ratio", "test_bootstrap", "config", "seconds"}
    d = doc["datasets"]["EyesOpenShut"]
    assert set(d) == {"balanced_accuracy", "balanced_accuracy_std", "peer_balanced_accuracy",
                      "peer_balanced_accuracy_std", "ratio", "n_train", "n_test"}
    assert (d["n_train"], d["n_test"]) == (56, 42)
    assert "EyesOpenShut/test" not in doc["config"]["pretraining_pool"]
    b = doc["test_bootstrap"]
    assert b["mean_ratio"] == pytest.approx(doc["mean_ratio"]) and b["ci"][0] <= b["mean_ratio"] <= b["ci"][1]
