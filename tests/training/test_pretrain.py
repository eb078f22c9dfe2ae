"""Pretraining LightningModule / fit_pretrain on synthetic windows (CPU, deterministic)."""

from __future__ import annotations

import json
import re

import lightning as L
import pytest
import torch

from neurosig import NeurosigError
from neurosig.models import FoundationModel
from neurosig.models._testing import ToyTokenizer
from neurosig.training.pretrain import (
    check_resume_checkpoint,
    DataSpec,
    ModelSpec,
    OptimSpec,
    PretrainConfig,
    SyntheticDataModule,
    TrainerSpec,
    fit_pretrain,
    load_pretrain_config,
    lr_lambda,
)


class LossRecorder(L.Callback):
    def __init__(self):
        self.losses = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses[trainer.global_step] = float(outputs["loss"])


def _config(objectives=("masked", "next"), max_steps=40, **trainer):
    return PretrainConfig(
        model=ModelSpec(preset="tiny", objectives=list(objectives)),
        optim=OptimSpec(lr=3e-3, warmup_steps=5, max_steps=max_steps),
        trainer=TrainerSpec(val_every_n_steps=0, log_every_n_steps=5, unigram_batches=8, **trainer),
    )


def test_fit_lowers_losses_below_unigram_and_exports(tmp_path):
    rec = LossRecorder()
    dm = SyntheticDataModule(n_train=1024, n_val=32, batch_size=16)
    summary = fit_pretrain(_config(max_steps=150), dm, tmp_path, tokenizer=ToyTokenizer(), callbacks=[rec], enable_progress_bar=False)
    steps = sorted(rec.losses)
    first = sum(rec.losses[s] for s in steps[:3]) / 3
    last = sum(rec.losses[s] for s in steps[-3:]) / 3
    assert last < 0.85 * first, (first, last)
    assert summary["steps"] == 150
    # both objectives beat the unigram baseline of the same data
    assert summary["val/mlm/ce"] < summary["unigram/mean"]
    assert summary["val/next/ce"] < summary["unigram/mean"]
    assert summary["perf/tokens_per_s"] > 0
    model, tok = FoundationModel.load(tmp_path / "model")
    assert isinstance(tok, ToyTokenizer)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert any((tmp_path / "logs").rglob("metrics.csv"))
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["steps"] == 150


def test_resume_from_last_matches_uninterrupted_run(tmp_path):
    def run(out, max_steps, ckpt_path=None):
        rec = LossRecorder()
        dm = SyntheticDataModule(n_train=16, n_val=8, batch_size=8, shuffle=False)
        cfg = _config(max_steps=4)
        fit_pretrain(cfg, dm, out, tokenizer=ToyTokenizer(), max_steps=max_steps, ckpt_path=ckpt_path,
                     callbacks=[rec], enable_progress_bar=False,
                     trainer_overrides=dict(deterministic=True))
        return rec.losses

    full = run(tmp_path / "a", 4)
    part = run(tmp_path / "b", 2)
    resumed = run(tmp_path / "b", 4, ckpt_path="last")
    assert sorted(full) == [1, 2, 3, 4] and sorted(part) == [1, 2] and sorted(resumed) == [3, 4]
    for s in (1, 2):
        assert part[s] == pytest.approx(full[s], rel=1e-6)
    for s in (3, 4):
        assert resumed[s] == pytest.approx(full[s], rel=1e-5)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """Two 12 s recordings at 100 Hz cut into 2 s windows: 12 windows, 3 shuffled batches of 4 per epoch."""
    from neurosig.datasets import FileSpec, build_store
    from neurosig.io.synthetic import synthetic_eeg, write_edf

    d = tmp_path_factory.mktemp("pretrain_store")
    specs = [FileSpec(write_edf(d / f"sub-{i}.edf", ["Fp1", "Cz", "O2"], 100.0, 12, synthetic_eeg(3, 1200, 100.0, seed=i)),
                      subject=f"s{i}") for i in range(2)]
    build_store(specs, d / "store", config=dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, chunk_s=12.0, window={"length_s": 2.0}),
                progress=False)
    return d / "store"


def test_resume_mid_epoch_on_store_data_matches_uninterrupted_run(tiny_store, tmp_path):
    # the store's train loader restarted its epoch from the first batch on resume (Lightning warned
    # "dataloader is not resumable"): steps after a mid-epoch stop trained on other batches; and
    # every epoch repeated the first one's batches (Lightning never calls a batch sampler's set_epoch)
    import warnings

    from neurosig.models._testing import ToyTokenizerConfig

    class Seen(LossRecorder):
        def __init__(self):
            super().__init__()
            self.x = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            self.x[trainer.global_step] = float(batch["x"].abs().sum())

    def run(out, max_steps, ckpt_path=None):
        rec = Seen()
        cfg = _config(objectives=["masked"], max_steps=7)
        cfg.data = DataSpec(batch_size=4, val_fraction=0.0)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fit_pretrain(cfg, tiny_store, out, tokenizer=ToyTokenizer(ToyTokenizerConfig(patch_len=50, mean_range=100.0, log_std_max=5.0)),
                         max_steps=max_steps, ckpt_path=ckpt_path, callbacks=[rec], enable_progress_bar=False)
        assert not [m for m in w if "not resumable" in str(m.message)]
        return rec

    full = run(tmp_path / "a", 7)
    assert {full.x[s] for s in (4, 5, 6)} != {full.x[s] for s in (1, 2, 3)}  # every epoch is shuffled anew
    run(tmp_path / "b", 2)  # stops after 2 of the epoch's 3 batches
    resumed = run(tmp_path / "b", 7, ckpt_path="last")
    assert sorted(resumed.losses) == [3, 4, 5, 6, 7]
    for s in resumed.losses:  # the same windows (epochs 0, 1 and 2, shuffled per epoch) and the same losses
        assert resumed.x[s] == pytest.approx(full.x[s], rel=1e-6), s
        assert resumed.losses[s] == pytest.approx(full.losses[s], rel=1e-5), s
    run(tmp_path / "c", 3)  # stopped at the end of an epoch: the resumed run starts the next one
    again = run(tmp_path / "c", 5, ckpt_path="last")
    assert sorted(again.losses) == [4, 5] and all(again.x[s] == pytest.approx(full.x[s], rel=1e-6) for s in (4, 5))


def test_resume_from_a_damaged_last_ckpt_is_one_line(tmp_path):
    # a truncated last.ckpt failed deep in torch.load ("PytorchStreamReader failed reading zip archive")
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(64)}}, good)
    last.write_bytes(good.read_bytes()[:200])
    dm = SyntheticDataModule(n_train=16, n_val=8, batch_size=8, shuffle=False)
    with pytest.raises(NeurosigError, match="last.ckpt.*damaged or truncated.*move it away") as e:
        fit_pretrain(_config(max_steps=2), dm, tmp_path, tokenizer=ToyTokenizer(), ckpt_path="last", enable_progress_bar=False)
    assert "\n" not in str(e.value)
    assert len(last.read_bytes()) == 200 and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "good.ckpt"]
    check_resume_checkpoint(good)  # an intact checkpoint passes


def test_lr_schedule_shape():
    lrs = [lr_lambda(s, 10, 100, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert max(lrs) == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_configs_load_and_validate(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs" / "pretrain"
    for name in ("masked", "next", "masked.debug", "next.debug"):
        cfg = load_pretrain_config(root / f"{name}.yaml")
        assert cfg.model.objectives
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: tiny, objectives: [clm]}\n")
    with pytest.raises(NeurosigError, match="objectives has 'clm'"):
        load_pretrain_config(bad)
    bad.write_text("optim: {lr: 1e-3, max_step: 3}\n")
    with pytest.raises(NeurosigError, match="unknown key"):
        load_pretrain_config(bad)
    with pytest.raises(NeurosigError, match="batch_size"):
        DataSpec(batch_size=0)
    with pytest.raises(NeurosigError, match="loggers has 'mlflow'"):
        fit_pretrain(_config(max_steps=1, loggers=["mlflow"]), SyntheticDataModule(8, 8, 4), tmp_path, tokenizer=ToyTokenizer())


def test_fit_without_tokenizer_fits_the_configured_one_first(tmp_path):
    pytest.importorskip("neurosig.training.tokenizer")
    cfg = _config(objectives=["masked"], max_steps=2)
    cfg.tokenizer.kind = "rvq"
    cfg.tokenizer.config = {"patch_len": 40, "kernel_sizes": [5], "n_levels": 1, "codebook_size": 16, "branch_channels": 4,
                            "code_dim": 8, "hidden": 16, "kmeans_iters": 2, "sensors": {"name_free": True}}
    cfg.tokenizer.fit = {"max_steps": 2, "warmup_steps": 0, "progress": False}
    cfg.trainer.val_every_n_steps = 0
    s = fit_pretrain(cfg, SyntheticDataModule(n_train=16, n_val=8, batch_size=8), tmp_path, enable_progress_bar=False)
    assert s["steps"] == 2 and (tmp_path / "tokenizer_fit" / "model.safetensors").is_file()
    model, tok = FoundationModel.load(tmp_path / "model")
    assert list(tok.codebook_sizes) == list(model.config.backbone.codebook_sizes) == [16]


def test_resume_reuses_the_tokenizer_fitted_into_out(tmp_path, monkeypatch, caplog):
    # a resumed run (or any run into an OUT whose tokenizer_fit holds a complete export) fitted the
    # tokenizer again from scratch: new codebooks under a checkpoint trained on the old codes
    import logging

    tok_training = pytest.importorskip("neurosig.training.tokenizer")
    cfg = _config(objectives=["masked"], max_steps=2)
    cfg.tokenizer.kind = "rvq"
    cfg.tokenizer.config = {"patch_len": 40, "kernel_sizes": [5], "n_levels": 1, "codebook_size": 16, "branch_channels": 4,
                            "code_dim": 8, "hidden": 16, "kmeans_iters": 2, "sensors": {"name_free": True}}
    cfg.tokenizer.fit = {"max_steps": 2, "warmup_steps": 0, "progress": False}
    dm = lambda: SyntheticDataModule(n_train=16, n_val=8, batch_size=8)  # noqa: E731
    fit_pretrain(cfg, dm(), tmp_path, max_steps=1, enable_progress_bar=False)
    weights = (tmp_path / "tokenizer_fit" / "model.safetensors").read_bytes()

    def no_fit(**kw):
        raise AssertionError("the tokenizer was fitted again")

    monkeypatch.setattr(tok_training, "fit_tokenizer", no_fit)
    with caplog.at_level(logging.INFO, logger="neurosig"):
        s = fit_pretrain(cfg, dm(), tmp_path, ckpt_path="last", enable_progress_bar=False)
    assert s["steps"] == 2 and "reusing the tokenizer fitted earlier" in caplog.text
    assert (tmp_path / "tokenizer_fit" / "model.safetensors").read_bytes() == weights
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "model" / "tokenizer" / "model.safetensors")
    fitted = load_file(tmp_path / "tokenizer_fit" / "model.safetensors")
    assert all(torch.equal(exported[k], fitted[k]) for k in fitted)
    # another tokenizer section: a one-line error naming the difference, nothing refitted or overwritten
    cfg.tokenizer.config = {**cfg.tokenizer.config, "codebook_size": 32}
    with pytest.raises(NeurosigError, match=r"tokenizer_fit.*another tokenizer section \(config.codebook_size: \[16\] there, \[32\] in the config") as e:
        fit_pretrain(cfg, dm(), tmp_path, ckpt_path="last", enable_progress_bar=False)
    assert "\n" not in str(e.value)
    cfg.tokenizer.config["codebook_size"] = 16
    cfg.tokenizer.fit = {**cfg.tokenizer.fit, "max_steps": 5}
    with pytest.raises(NeurosigError, match=r"fit.max_steps: 2 there, 5 in the config"):
        fit_pretrain(cfg, dm(), tmp_path, ckpt_path="last", enable_progress_bar=False)
    assert (tmp_path / "tokenizer_fit" / "model.safetensors").read_bytes() == weights


def test_progress_bar_counts_steps_of_max_steps(tmp_path, capsys):
    # step-based runs (max_epochs=-1) showed "Epoch 1/-2" and counted an epoch's batches capped at the
    # steps left (a resumed run: "11/10"); the tokenizer's trainer is make_trainer's too
    from neurosig.training.pretrain import StepProgressBar, make_trainer

    class Bar(L.Callback):
        def on_train_end(self, trainer, pl_module):
            bar = trainer.progress_bar_callback
            self.state = (type(bar), bar.train_progress_bar.n, bar.train_progress_bar.total, bar.train_progress_bar.desc)

    cfg = _config(objectives=["masked"], max_steps=7)
    cfg.trainer.val_every_n_steps = 2
    for max_steps, ckpt_path in ((4, None), (7, "last")):  # 3 batches per epoch: stops and resumes mid-epoch
        rec = Bar()
        fit_pretrain(cfg, SyntheticDataModule(n_train=24, n_val=8, batch_size=8), tmp_path, tokenizer=ToyTokenizer(),
                     max_steps=max_steps, ckpt_path=ckpt_path, callbacks=[rec])
        assert rec.state[0] is StepProgressBar and rec.state[1:3] == (max_steps, max_steps)
        assert rec.state[3].startswith(f"step {max_steps}/{max_steps} (epoch ")
    out = capsys.readouterr().out
    assert "/-2" not in out and "Epoch" not in out and "step 7/7" in out
    assert "v_num" not in out  # the CSV logger's version number is not shown as a metric
    assert {n for n, t in re.findall(r"(?<![\w.])(\d+)/(\d+) \[", out) if int(n) > int(t)} == set()  # never past the total
    tr = make_trainer(TrainerSpec(), OptimSpec(max_steps=3), tmp_path / "t")
    assert sum(isinstance(c, StepProgressBar) for c in tr.callbacks) == 1
    assert not any(isinstance(c, StepProgressBar) for c in make_trainer(TrainerSpec(), OptimSpec(), tmp_path / "u", enable_progress_bar=False).callbacks)


def test_pretraining_records_the_subjects_and_recordings_it_trained_on(tiny_store, tmp_path):
    """model/pretrain_subjects.json: what `finetune --model` checks its test subjects against."""
    from neurosig.datasets import ShardStore
    from neurosig.models.foundation import read_pretrain_subjects

    cfg = _config(objectives=["masked"], max_steps=1)
    cfg.data = DataSpec(batch_size=4, val_fraction=0.0)
    fit_pretrain(cfg, tiny_store, tmp_path, tokenizer=ToyTokenizer(), enable_progress_bar=False)
    rec = read_pretrain_subjects(tmp_path / "model")
    m = ShardStore(tiny_store).manifest
    assert rec["subjects"] == ["unknown:s0", "unknown:s1"] and rec["n_windows"] == len(m)
    assert rec["recording_key"] == "source_hash" and rec["recordings"] == sorted(set(m["source_hash"]))
    # a data module without a store: nothing to record, and a stale record from an earlier export goes
    (tmp_path / "b" / "model").mkdir(parents=True)
    (tmp_path / "b" / "model" / "pretrain_subjects.json").write_text(json.dumps(rec))
    fit_pretrain(_config(max_steps=1), SyntheticDataModule(8, 8, 4), tmp_path / "b", tokenizer=ToyTokenizer(), enable_progress_bar=False)
    assert read_pretrain_subjects(tmp_path / "b" / "model") is None


def test_training_codes_under_bf16_autocast_equal_the_float32_codes():
    """Lightning runs training steps inside autocast under bf16-mixed; the tokenizer's codes (the targets) must be
    the float32 ones that validation, the unigram baseline and inference use."""
    from neurosig.models import foundation_config, tokenize_batch
    from neurosig.models._testing import collate_items, synthetic_windows
    from neurosig.tokenizers import build_tokenizer
    from neurosig.training.pretrain import PretrainModule

    torch.manual_seed(0)
    tok = build_tokenizer("rvq", {"patch_len": 25, "n_levels": 2, "codebook_size": 64, "code_dim": 8,
                                  "branch_channels": 4, "hidden": 16, "sfreq": 200.0, "sensors": {"name_free": True}}).eval()
    batch = collate_items(synthetic_windows(16, 4, 100, 0))
    ref, _ = tokenize_batch(batch, tok)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        kw = {k: batch.get(k) for k in ("pos", "ch_type", "ch_mask", "sfreq")}
        with torch.no_grad():
            plain = tok.encode(batch["x"], **kw)  # the tokenizer itself, inside autocast
        ours, _ = tokenize_batch(batch, tok)
        module = PretrainModule(FoundationModel(foundation_config("tiny", codebook_sizes=tok.codebook_sizes)), tok)
        seen = {}
        module.model.compute_losses = lambda codes, *a, **k: seen.setdefault("codes", codes)
        module._losses(batch, torch.Generator().manual_seed(0))
    assert (plain != ref).any(), "bf16 autocast no longer changes this tokenizer's codes: the test checks nothing"
    assert torch.equal(ours, ref)
    assert torch.equal(seen["codes"], ref)


class LrRecorder(L.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_max_steps_override_sizes_the_schedule_and_is_recorded(tmp_path):
    rec = LrRecorder()
    cfg = _config(objectives=("masked",), max_steps=40)  # lr 3e-3, warm-up 5, cosine to 0.1 at step 40
    fit_pretrain(cfg, SyntheticDataModule(n_train=32, n_val=8, batch_size=8), tmp_path, tokenizer=ToyTokenizer(),
                 max_steps=10, callbacks=[rec], enable_progress_bar=False)
    o = cfg.optim
    assert rec.lrs == pytest.approx([o.lr * lr_lambda(s, o.warmup_steps, 10, o.min_lr_ratio) for s in range(10)])
    meta = json.loads((tmp_path / "model" / "config.json").read_text())
    assert meta["extra"]["pretrain"]["optim"]["max_steps"] == 10


def test_best_checkpoints_rank_on_their_own_validation_and_last_is_the_final_step(tmp_path):
    """The top-k ModelCheckpoint had a train-step trigger: it saved before that step's validation and ranked the
    checkpoint by the previous val/loss. And last.ckpt stayed at the last multiple of val_every_n_steps."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Watch(L.Callback):
        val, best = {}, {}

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking and trainer.state.fn == "fit":  # not fit_pretrain's final validation
                self.val[trainer.global_step] = float(trainer.callback_metrics["val/loss"])

        def on_train_end(self, trainer, pl_module):
            for cb in trainer.checkpoint_callbacks:
                if isinstance(cb, ModelCheckpoint):
                    self.best.update({re.search(r"step(\d+)", p).group(1): float(v) for p, v in cb.best_k_models.items()})

    w = Watch()
    cfg = _config(objectives=("masked",), max_steps=7, save_top_k=5)
    cfg.trainer.val_every_n_steps = 2
    fit_pretrain(cfg, SyntheticDataModule(n_train=64, n_val=8, batch_size=8), tmp_path, tokenizer=ToyTokenizer(),
                 callbacks=[w], enable_progress_bar=False)
    assert sorted(w.val) == [2, 4, 6] and sorted(int(k) for k in w.best) == [2, 4, 6]
    for step, score in w.best.items():
        assert score == pytest.approx(w.val[int(step)], rel=1e-6), step
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 7


def test_resume_from_the_last_ckpt_written_at_train_end_is_exact(tiny_store, tmp_path):
    # max_steps 3 is not a multiple of val_every_n_steps 2: last.ckpt is written when training ends (step 3, mid-epoch)
    from neurosig.models._testing import ToyTokenizerConfig

    def run(out, max_steps, ckpt_path=None):
        rec = LossRecorder()
        cfg = _config(objectives=["masked"], max_steps=7)
        cfg.trainer.val_every_n_steps = 2
        cfg.data = DataSpec(batch_size=4, val_fraction=0.0)
        fit_pretrain(cfg, tiny_store, out, tokenizer=ToyTokenizer(ToyTokenizerConfig(patch_len=50, mean_range=100.0, log_std_max=5.0)),
                     max_steps=max_steps, ckpt_path=ckpt_path, callbacks=[rec], enable_progress_bar=False)
        return rec.losses

    full = run(tmp_path / "a", 7)
    run(tmp_path / "b", 4)
    run(tmp_path / "b", 5, ckpt_path="last")  # 4 -> 5: last.ckpt only from the train-end save
    assert torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 5
    resumed = run(tmp_path / "b", 7, ckpt_path="last")
    assert sorted(resumed) == [6, 7]
    for s in resumed:
        assert resumed[s] == pytest.approx(full[s], rel=1e-5), s


def test_next_objective_on_one_patch_windows_is_a_one_line_error(tiny_store, tmp_path):
    """Windows of at most one patch gave next-token training nothing to predict (and val/next/ce = 0)."""
    from neurosig.models._testing import ToyTokenizerConfig

    cfg = _config(objectives=["next"], max_steps=3)
    cfg.data = DataSpec(batch_size=4, val_fraction=0.0)
    tok = ToyTokenizer(ToyTokenizerConfig(patch_len=200, mean_range=100.0, log_std_max=5.0))  # the store's windows: 200 samples
    with pytest.raises(NeurosigError, match=r"'next'.*windows of 200 samples.*patch_len=200.*>= 2 patches") as e:
        fit_pretrain(cfg, tiny_store, tmp_path / "s", tokenizer=tok, enable_progress_bar=False)
    assert "\n" not in str(e.value) and not (tmp_path / "s" / "checkpoints").exists()
    # any other data module: caught at the end of the first epoch
    with pytest.raises(NeurosigError, match=r"'next'.*patch_len=160.*>= 2 patches"):
        fit_pretrain(_config(objectives=["next"], max_steps=20), SyntheticDataModule(n_train=16, n_val=8, batch_size=8, n_times=160),
                     tmp_path / "d", tokenizer=ToyTokenizer(ToyTokenizerConfig(patch_len=160)), enable_progress_bar=False)


def test_time_limit_is_per_invocation_and_a_finished_run_keeps_its_summary(tmp_path):
    """trainer.max_minutes was a budget over all resumes (a resumed run whose minutes were spent did nothing, silently),
    and resuming a finished run rewrote summary.json without its loss keys."""
    dm = lambda: SyntheticDataModule(n_train=32, n_val=8, batch_size=8)  # noqa: E731
    cfg = _config(objectives=("masked",), max_steps=4, max_minutes=1e-5)  # 0.6 ms: stops after every step
    s1 = fit_pretrain(cfg, dm(), tmp_path / "t", tokenizer=ToyTokenizer(), enable_progress_bar=False)
    s2 = fit_pretrain(cfg, dm(), tmp_path / "t", tokenizer=ToyTokenizer(), ckpt_path="last", enable_progress_bar=False)
    assert (s1["steps"], s2["steps"], s2["steps_run"]) == (1, 2, 1)

    cfg = _config(objectives=("masked",), max_steps=4)
    first = fit_pretrain(cfg, dm(), tmp_path / "f", tokenizer=ToyTokenizer(), enable_progress_bar=False)
    assert "val/mlm/ce" in first and first["steps_run"] == 4
    again = fit_pretrain(cfg, dm(), tmp_path / "f", tokenizer=ToyTokenizer(), ckpt_path="last", enable_progress_bar=False)
    assert again["steps_run"] == 0 and "already complete at step 4" in again["note"]
    assert again["val/mlm/ce"] == first["val/mlm/ce"]
    assert json.loads((tmp_path / "f" / "summary.json").read_text()) == first


def test_resume_with_changed_training_settings_is_a_one_line_error(tmp_path):
    """A changed optim.lr was silently ignored (the checkpoint's base_lrs) while config.json recorded it; a changed preset
    failed deep in torch; a changed batch size continued silently."""
    import dataclasses

    dm = lambda: SyntheticDataModule(n_train=16, n_val=8, batch_size=8)  # noqa: E731
    cfg = _config(objectives=("masked",), max_steps=2)
    fit_pretrain(cfg, dm(), tmp_path, tokenizer=ToyTokenizer(), enable_progress_bar=False)
    changes = [
        (dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr=5e-3)), r"optim\.lr: 0\.003 there, 0\.005 now"),
        (dataclasses.replace(cfg, model=ModelSpec(preset="small", objectives=["masked"])), r"model\.preset: 'tiny' there, 'small' now"),
        (dataclasses.replace(cfg, data=DataSpec(batch_size=4)), r"data\.batch_size: 32 there, 4 now"),
    ]
    for changed, match in changes:
        with pytest.raises(NeurosigError, match=match) as e:
            fit_pretrain(changed, dm(), tmp_path, tokenizer=ToyTokenizer(), max_steps=4, ckpt_path="last", enable_progress_bar=False)
        assert "\n" not in str(e.value) and "--out" in str(e.value)
    # a longer run (--max-steps) is allowed
    s = fit_pretrain(cfg, dm(), tmp_path, tokenizer=ToyTokenizer(), max_steps=4, ckpt_path="last", enable_progress_bar=False)
    assert s["steps"] == 4


@pytest.mark.parametrize("trainer, match", [
    ({"accelerator": "gpu"}, r"trainer\.accelerator='gpu'.*no usable GPU"),
    ({"devices": 0}, r"trainer\.devices=0"),
    ({"strategy": "bogus"}, r"trainer\.strategy='bogus' is unknown"),
    ({"strategy": "fsdp", "accelerator": "cpu"}, r"trainer\.strategy='fsdp' needs GPUs"),
    ({"precision": "bf16-true"}, r"trainer\.precision='bf16-true' is not supported for pretraining.*'bf16-mixed'"),
])
def test_trainer_settings_are_checked_before_the_tokenizer_fit(tmp_path, trainer, match):
    if trainer.get("accelerator") == "gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg = _config(objectives=("masked",), max_steps=2, **trainer)
    with pytest.raises(NeurosigError, match=match) as e:
        fit_pretrain(cfg, SyntheticDataModule(n_train=16, n_val=8), tmp_path, enable_progress_bar=False)  # would fit a tokenizer
    assert "\n" not in str(e.value)
    assert not (tmp_path / "tokenizer_fit").exists()


@pytest.mark.parametrize("optim, match", [
    ({"min_lr_ratio": -2.0}, r"optim\.min_lr_ratio must be in \[0, 1\]"),
    ({"min_lr_ratio": 1.5}, r"optim\.min_lr_ratio"),
    ({"grad_clip": -1.0}, r"optim\.grad_clip must be >= 0"),
    ({"weight_decay": -1}, r"optim\.weight_decay must be >= 0"),
    ({"betas": [1.5, 0.9]}, r"optim\.betas must be two numbers in \[0, 1\)"),
    ({"betas": [0.9]}, r"optim\.betas"),
    ({"betas": 0.9}, r"optim\.betas"),
])
def test_optim_ranges_are_one_line_errors(optim, match):
    with pytest.raises(NeurosigError, match=match) as e:
        OptimSpec(**optim)
    assert "\n" not in str(e.value)
    assert OptimSpec(grad_clip=None).grad_clip is None and OptimSpec(grad_clip=0.0).grad_clip == 0.0


def test_warmup_longer_than_the_run_warns(caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        OptimSpec(warmup_steps=100, max_steps=10)
    assert "optim.warmup_steps=100 exceeds optim.max_steps=10" in caplog.text


def test_summary_validates_the_final_weights_and_logs_the_learning_rate(tmp_path):
    """The summary reported the last scheduled validation (steps before the end) as final; the lr was not logged."""
    import csv

    class Val(L.Callback):
        val = {}

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking and trainer.state.fn == "fit":
                self.val[trainer.global_step] = float(trainer.callback_metrics["val/mlm/ce"])

    v = Val()
    cfg = _config(objectives=("masked",), max_steps=6)  # validation once per epoch of 4 batches: at step 4
    s = fit_pretrain(cfg, SyntheticDataModule(n_train=32, n_val=8, batch_size=8), tmp_path, tokenizer=ToyTokenizer(),
                     callbacks=[v], enable_progress_bar=False)
    assert sorted(v.val) == [4] and s["val_step"] == 6 and s["steps"] == 6
    assert s["val/mlm/ce"] != pytest.approx(v.val[4], rel=1e-6)
    assert json.loads((tmp_path / "summary.json").read_text())["val_step"] == 6
    rows = [r for f in (tmp_path / "logs").rglob("metrics.csv") for r in csv.DictReader(open(f)) if r.get("train/lr")]
    o = cfg.optim
    assert rows and all(float(r["train/lr"]) == pytest.approx(o.lr * lr_lambda(int(r["step"]), o.warmup_steps, 6, o.min_lr_ratio))
                        for r in rows)


def test_too_few_validation_batches_for_the_processes_fails_before_the_tokenizer_fit(tiny_store, tmp_path):
    cfg = _config(objectives=("masked",), max_steps=2, devices=2, accelerator="cpu", strategy="ddp")
    cfg.data = DataSpec(batch_size=64, val_fraction=0.5)
    with pytest.raises(NeurosigError, match=r"'val' split has 1 batch\(es\) of data\.batch_size=64 for 2 processes.*data\.val_fraction"):
        fit_pretrain(cfg, tiny_store, tmp_path, enable_progress_bar=False)  # would fit a tokenizer first
    assert not (tmp_path / "tokenizer_fit").exists()
