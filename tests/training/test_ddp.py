"""2-process DDP on CPU (gloo): ranks see disjoint data and hold identical weights after a step."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from neurosig.models._testing import ToyTokenizer
from neurosig.training.pretrain import ModelSpec, OptimSpec, PretrainConfig, SyntheticDataModule, TrainerSpec, fit_pretrain


class RecordRank(L.Callback):
    def __init__(self, out_dir):
        self.out_dir = str(out_dir)
        self.seen = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen.extend(batch["index"].tolist())

    def on_train_end(self, trainer, pl_module):
        state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}
        torch.save({"seen": self.seen, "state": state, "world": trainer.world_size}, f"{self.out_dir}/rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_two_process_ddp_disjoint_data_same_weights(tmp_path):
    cfg = PretrainConfig(model=ModelSpec(preset="tiny", objectives=["masked", "next"]),
                         optim=OptimSpec(lr=1e-2, warmup_steps=0, max_steps=2),
                         trainer=TrainerSpec(val_every_n_steps=0, unigram_batches=0, accelerator="cpu", devices=2, strategy="ddp_spawn"))
    dm = SyntheticDataModule(n_train=32, n_val=8, batch_size=4)
    fit_pretrain(cfg, dm, tmp_path, tokenizer=ToyTokenizer(), callbacks=[RecordRank(tmp_path)], enable_progress_bar=False,
                 trainer_overrides=dict(limit_val_batches=0))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert len(r0["seen"]) == len(r1["seen"]) == 8  # 2 steps x 4 windows each
    assert not set(r0["seen"]) & set(r1["seen"])  # disjoint shares of the data
    init = _init_state(cfg)
    changed = 0
    for k in r0["state"]:
        torch.testing.assert_close(r0["state"][k], r1["state"][k], rtol=0, atol=0)  # identical after all-reduce
        changed += int(not torch.equal(r0["state"][k], init[k]))
    assert changed > 0  # and they did train
    from neurosig.models import FoundationModel

    FoundationModel.load(tmp_path / "model")  # rank 0 exported


def _init_state(cfg):
    from neurosig.training.pretrain import build_model

    return build_model(cfg.model, ToyTokenizer(), seed=cfg.trainer.seed).state_dict()
