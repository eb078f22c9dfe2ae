"""`neurosig finetune fit|test` on a TUAB-layout miniature store: JSON keys, report, split file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
miniatures = pytest.importorskip("miniatures")

from neurosig.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from neurosig.datasets import build_store
    from neurosig.datasets.registry import get_adapter

    d = tmp_path_factory.mktemp("ft")
    miniatures.make_tuab(d / "tuab")
    build_store(d / "tuab", d / "store", adapter="tuab", config=get_adapter("tuab").default_config(), progress=False)
    return d / "store"


def test_fit_then_test(store, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("finetune:\n  epochs: 1\n  batch_size: 8\n  pooling: mean\n  scratch: {d_model: 16, n_layers: 1, n_heads: 2, patch_len: 250}\n")
    out = tmp_path / "run"
    rc = main(["finetune", "fit", "--config", str(cfg), "--data", str(store), "--scratch", "--seeds", "0,1",
               "--out", str(out), "--json", str(tmp_path / "m.json")])
    assert rc == 0
    m = json.loads((tmp_path / "m.json").read_text())
    for k in ("balanced_accuracy", "cohen_kappa", "weighted_f1", "auroc", "auprc"):
        assert k in m and f"{k}_std" in m
    assert m["n_seeds"] == 2
    for f in ("split.json", "report.md", "confusion.png", "roc.png", "calibration.png", "finetuned_seed1.pt"):
        assert (out / f).exists(), f
    rc = main(["finetune", "test", "--config", str(cfg), "--data", str(store), "--scratch", "--seeds", "0,1",
               "--out", str(out), "--json", str(tmp_path / "t.json")])
    assert rc == 0
    t = json.loads((tmp_path / "t.json").read_text())
    # re-testing the saved models on the saved split gives the same figures
    assert t["balanced_accuracy"] == pytest.approx(m["balanced_accuracy"], abs=1e-6)


def test_user_errors(store, tmp_path, capsys):
    assert main(["finetune", "fit", "--config", "configs/finetune/debug.yaml", "--data", str(store)]) == 2
    assert "--scratch" in capsys.readouterr().err
    assert main(["finetune", "fit", "--config", "configs/finetune/debug.yaml", "--data", str(tmp_path / "nope"), "--scratch"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("finetune:\n  task: dance\n")
    assert main(["finetune", "fit", "--config", str(bad), "--data", str(store), "--scratch"]) == 2
    assert "finetune.task" in capsys.readouterr().err
