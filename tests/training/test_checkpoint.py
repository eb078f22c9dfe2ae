"""Atomic checkpoint writes: an exception mid-save never replaces the last good checkpoint."""

from __future__ import annotations

import pytest
import torch

from neurosig.training.checkpoint import AtomicCheckpointIO


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.arange(4.0)}, path)
    good = path.read_bytes()

    real_save = torch.save

    def broken_save(obj, fh, *a, **k):  # write half a checkpoint, then die
        real_save(obj, fh, *a, **k)
        fh.truncate(fh.tell() // 2)
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2, "w": torch.arange(1000.0)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == good
    assert io.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind
    io.save_checkpoint({"step": 3}, path)
    assert io.load_checkpoint(path)["step"] == 3


def test_trainer_checkpoint_survives_crash_during_save(tmp_path, monkeypatch):
    """Through Lightning: train, save, crash on the next save -> last.ckpt still loads (old step)."""
    from neurosig.models._testing import ToyTokenizer
    from neurosig.training.pretrain import ModelSpec, OptimSpec, PretrainConfig, SyntheticDataModule, TrainerSpec, fit_pretrain

    cfg = PretrainConfig(model=ModelSpec(preset="tiny"), optim=OptimSpec(max_steps=2, warmup_steps=0),
                         trainer=TrainerSpec(val_every_n_steps=0, unigram_batches=0))
    fit_pretrain(cfg, SyntheticDataModule(16, 8, 8, shuffle=False), tmp_path, tokenizer=ToyTokenizer(), enable_progress_bar=False)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2

    import neurosig._utils.files as files

    def dying_replace(src, dst):
        raise OSError("simulated kill before rename")

    monkeypatch.setattr(files.os, "replace", dying_replace)
    with pytest.raises(OSError, match="simulated kill"):
        fit_pretrain(cfg, SyntheticDataModule(16, 8, 8, shuffle=False), tmp_path, tokenizer=ToyTokenizer(),
                     max_steps=4, ckpt_path="last", enable_progress_bar=False)
    monkeypatch.undo()
    assert torch.load(last, weights_only=False)["global_step"] == 2
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))  # the temporary file was removed
