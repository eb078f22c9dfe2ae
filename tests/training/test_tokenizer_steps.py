"""fit_tokenizer counts optimizer steps, not micro-batches, under gradient accumulation."""

from __future__ import annotations

import json

import lightning as L
import torch
from torch.utils.data import DataLoader


def _collate(items):
    return {k: torch.stack([i[k] for i in items]) for k in ("x", "pos", "ch_type", "ch_mask")} | {"sfreq": 200.0}


class _DM(L.LightningDataModule):
    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        items = [{"x": 20 * torch.randn(2, 200, generator=g), "pos": torch.randn(2, 3, generator=g) * 0.09,
                  "ch_type": torch.zeros(2, dtype=torch.long), "ch_mask": torch.ones(2, dtype=torch.bool)} for _ in range(32)]
        return DataLoader(items, batch_size=4, collate_fn=_collate)


def test_accumulated_fit_reports_optimizer_steps(tmp_path):
    from neurosig.training.tokenizer import fit_tokenizer

    fit_tokenizer("vq", {"code_dim": 8, "codebook_size": 16}, _DM(), tmp_path / "t", max_steps=3, progress=False,
                  optim={"accumulate": 2, "warmup_steps": 1}, trainer={"val_every_n_steps": 0, "save_top_k": 0, "loggers": []})
    summary = json.loads((tmp_path / "t" / "fit_summary.json").read_text())
    assert summary["steps"] == 3 and summary["micro_batches"] == 6 and len(summary["loss_curve"]) == 6  # was steps 6
    fit = json.loads((tmp_path / "t" / "config.json").read_text())["extra"]["fit"]
    assert fit["steps"] == 3 and fit["micro_batches"] == 6 and fit["optim"]["max_steps"] == 3
