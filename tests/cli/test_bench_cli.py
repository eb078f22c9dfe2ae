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
    # the seed list is checked as finetune's is (one shared check): in numpy's range, each seed once
    assert main(["bench", "real", "--seeds", "0,-1", "--out", str(tmp_path)]) == 2
    assert "seeds must be integers from 0" in capsys.readouterr().err
    assert main(["bench", "real", "--seeds", "1,1", "--out", str(tmp_path)]) == 2
    assert "lists a seed twice" in capsys.readouterr().err
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
    assert (tmp_path / "o" / "report.md").is_file() and (tmp_path / "o" / "ratios.png").is_file()


def _bench_doc(peer: bool = True) -> dict:
    """A `bench real` result as it writes it: two sets, two seeds, two heads (numbers made up, consistent)."""
    ours = {"A": [0.80, 0.84], "B": [0.60, 0.62]}
    peer_acc = {"A": [0.90, 0.90], "B": [0.50, 0.56]}
    sets = {}
    for n in ("A", "B"):
        m, pm = sum(ours[n]) / 2, sum(peer_acc[n]) / 2
        sets[n] = {"balanced_accuracy": m, "balanced_accuracy_std": 0.028, "peer_balanced_accuracy": pm if peer else None,
                   "peer_balanced_accuracy_std": 0.0 if peer else None, "ratio": m / pm if peer else None,
                   "n_train": 40, "n_test": 20}
    ratios = [d["ratio"] for d in sets.values()] if peer else []
    mean = sum(ratios) / 2 if peer else None
    return {"datasets": sets, "mean_ratio": mean,
            "test_bootstrap": {"mean_ratio": mean, "ci": [0.9, 1.2], "p_above_1": 0.61,
                               "per_set": [{"ratio": r, "ci": [r - 0.1, r + 0.1]} for r in ratios], "n_boot": 2000,
                               "level": 0.95} if peer else None,
            "config": {"seeds": [0, 1], "chosen_head": ["h1", "h2"], "val_folds": 3, "fold_order": "blocked",
                       "peer": "MiniRocket", "tokenizer": {"kind": "rvq"}, "tokenizer_steps": 3, "pretrain_steps": 4,
                       "pretrain_per_seed": True, "n_pool_windows": 7, "pretraining_pool": ["A/train", "B/train"],
                       "validation": {"A": {"h1": [0.7, 0.9], "h2": [0.6, 0.6]}, "B": {"h1": [0.5, 0.5], "h2": [0.8, 0.6]}},
                       "test_all_heads": {n: {"h1": ours[n], "h2": [0.5, 0.5]} for n in ("A", "B")}},
            "seconds": 12.0}


def test_report_from_saved_json(tmp_path, capsys):
    doc = _bench_doc()
    j = tmp_path / "run" / "b.json"
    j.parent.mkdir()
    j.write_text(json.dumps(doc))
    assert main(["bench", "report", str(j)]) == 0  # default folder: the JSON's
    assert str(j.parent / "report.md") in capsys.readouterr().out
    md = (j.parent / "report.md").read_text()
    png = (j.parent / "ratios.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    # per set: ours and the peer as mean ± sd, the ratio and its interval, each as the JSON holds it
    assert rows["A"] == "| A | 40 / 20 | 0.820 ± 0.028 | 0.900 ± 0.000 | 0.911 | [0.811, 1.011] |"
    assert rows["B"] == "| B | 40 / 20 | 0.610 ± 0.028 | 0.530 ± 0.000 | 1.151 | [1.051, 1.251] |"
    assert rows["**mean**"] == "| **mean** | | | | **1.031** | [0.900, 1.200], 61 % of draws above 1 |"
    # validation: mean over seeds per head, then over sets; every head on test: mean ratio against the peer
    assert "| h1 | 0.800 | 0.500 | 0.650 |" in md and "| h2 | 0.600 | 0.700 | 0.650 |" in md
    assert "| h1 | 0.820 | 0.610 | 1.031 |" in md and "| h2 | 0.500 | 0.500 | 0.749 |" in md
    assert "Chosen head per seed: h1, h2." in md and "![ratios](ratios.png)" in md


def test_report_without_peer(tmp_path):
    from neurosig.evaluation.reports import write_bench_report

    md = write_bench_report(_bench_doc(peer=False), tmp_path).read_text()
    assert "The peer was not run" in md and "| A | 40 / 20 | 0.820 ± 0.028 | - | - | - |" in md
    assert not (tmp_path / "ratios.png").exists()


def test_report_bad_input(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert main(["bench", "report", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "nope.json: no such file" in err and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["bench", "report", str(bad)]) == 2
    assert "bad.json: not valid JSON" in capsys.readouterr().err
    other = tmp_path / "metrics.json"
    other.write_text(json.dumps({"balanced_accuracy": 0.7}))
    assert main(["bench", "report", str(other), "--out", str(tmp_path / "r")]) == 2
    assert "metrics.json: not a `neurosig bench real` result" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written for a wrong input


def test_report_from_the_run_folder(tmp_path, capsys):
    """`bench report DIR` used to say 'no such file' for the --out folder of `bench real`, which holds bench_real.json."""
    run = tmp_path / "bench"
    run.mkdir()
    assert main(["bench", "report", str(run)]) == 2
    assert "is a folder without bench_real.json" in capsys.readouterr().err
    (run / "bench_real.json").write_text(json.dumps(_bench_doc()))
    assert main(["bench", "report", str(run)]) == 0
    assert (run / "report.md").is_file() and (run / "ratios.png").is_file()
