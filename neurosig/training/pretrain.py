"""Pretraining: config dataclasses, a thin LightningModule and ``fit_pretrain``.

The LightningModule only wires things together: the frozen tokenizer turns a window batch into
codes, :meth:`FoundationModel.compute_losses` computes the objectives, AdamW with linear
warm-up and cosine decay steps every optimizer step. Everything else (precision, gradient
clipping and accumulation, DDP/FSDP, loggers, checkpoints) is Lightning's Trainer, configured by
:class:`TrainerConfig`.

Masks are drawn from a generator seeded by (seed, global step, micro-batch, rank), so a run
resumed from a checkpoint draws the same masks as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint, Timer, TQDMProgressBar

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig._utils.rng import stable_hash_int
from neurosig.models import FoundationModel, foundation_config, unigram_from_counts
from neurosig.models.config import OBJECTIVES, PRESETS
from neurosig.training.callbacks import frozen_parts_in_eval

log = get_logger("training.pretrain")


# ----------------------------------------------------------------------------- configs
@dataclass
class ModelSpec:
    # backbone size preset: tiny (tests), small (CPU runs), base (~6-8 M), large (GPU)
    preset: str = "small"
    # overrides of BackboneConfig fields (e.g. {attention: full, d_model: 192})
    backbone: dict = field(default_factory=dict)
    # objectives trained together: masked, next or both
    objectives: list[str] = field(default_factory=lambda: ["masked"])
    # loss weights keyed like the loss dict
    loss_weights: dict = field(default_factory=lambda: {"mlm/ce": 1.0, "next/ce": 1.0})
    # fraction of patches masked per channel (LaBraM: 0.5)
    mask_ratio: float = 0.5
    # block length (patches) of time masks
    mask_block: int = 2
    # also train the complementary mask
    symmetric_mask: bool = True

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise NeurosigError(f"model.preset={self.preset!r} is unknown; choose one of {', '.join(PRESETS)}.")
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise NeurosigError(f"model.objectives has {o!r}; choose from {', '.join(OBJECTIVES)}.")
        # everything else (backbone overrides, mask settings) is checked now, not after a tokenizer fit: the
        # model config over a stand-in vocabulary (the real one comes from the tokenizer)
        bb = {**self.backbone, **({"embed_dim": 1} if self.backbone.get("input") == "embedding" else {})}
        foundation_config(self.preset, codebook_sizes=[2], backbone=bb, objectives=list(self.objectives),
                          loss_weights=dict(self.loss_weights), mask_ratio=self.mask_ratio, mask_block=self.mask_block,
                          symmetric_mask=self.symmetric_mask)


@dataclass
class TokenizerSpec:
    # directory of a trained tokenizer (save_pretrained); empty = fit one first (kind/config/fit)
    path: str = ""
    # tokenizer kind for build_tokenizer when fitting: rvq, tf or vq
    kind: str = "rvq"
    # tokenizer config dict (see configs/tokenizer/*.yaml)
    config: dict = field(default_factory=dict)
    # options of the tokenizer training run (max_steps, batch_size, lr ...), passed to neurosig.training.tokenizer
    fit: dict = field(default_factory=dict)


@dataclass
class DataSpec:
    # windows per batch per process; 32 fits CPU runs of the small preset
    batch_size: int = 32
    # DataLoader worker processes (0 = main process; raise on machines with spare cores)
    num_workers: int = 0
    # fraction of subjects (or windows) held out for validation
    val_fraction: float = 0.1
    # store splits never trained on (a test split is held out even when unlabelled)
    exclude_splits: list[str] = field(default_factory=lambda: ["test"])
    # restrict to these datasets of the store (None = all, pooled)
    datasets: list[str] | None = None

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise NeurosigError(f"data.batch_size must be a positive integer, got {self.batch_size!r}.")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise NeurosigError(f"data.num_workers must be an integer >= 0 (0 = load in the main process), got {self.num_workers!r}.")


@dataclass
class OptimSpec:
    # peak learning rate (AdamW); 1e-3 suits the small presets, 3e-4 base/large
    lr: float = 1e-3
    # decoupled weight decay on matrices (not on norms, biases, embeddings)
    weight_decay: float = 0.05
    # Adam betas; 0.95 on the second moment is the usual transformer choice
    betas: tuple[float, float] = (0.9, 0.95)
    # linear warm-up steps (optimizer steps)
    warmup_steps: int = 100
    # total optimizer steps (schedule length; --max-steps overrides)
    max_steps: int = 2000
    # the cosine decays to lr * min_lr_ratio
    min_lr_ratio: float = 0.1
    # gradient-norm clipping (0 or null = off)
    grad_clip: float | None = 1.0
    # micro-batches per optimizer step (gradient accumulation)
    accumulate: int = 1

    def __post_init__(self):
        b = self.betas
        if (isinstance(b, (str, bytes)) or not hasattr(b, "__len__") or len(b) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in b)):
            raise NeurosigError(f"optim.betas must be two numbers in [0, 1) (e.g. [0.9, 0.95]), got {b!r}.")
        self.betas = tuple(float(v) for v in b)  # type: ignore[assignment]
        if not self.lr > 0:
            raise NeurosigError(f"optim.lr must be > 0, got {self.lr!r}.")
        if not (isinstance(self.min_lr_ratio, (int, float)) and 0 <= self.min_lr_ratio <= 1):
            raise NeurosigError(f"optim.min_lr_ratio must be in [0, 1] (the cosine ends at lr * min_lr_ratio), got {self.min_lr_ratio!r}.")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise NeurosigError(f"optim.weight_decay must be >= 0 (0 = off), got {self.weight_decay!r}.")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, (int, float)) and self.grad_clip >= 0):
            raise NeurosigError(f"optim.grad_clip must be >= 0 (0 or null = no clipping), got {self.grad_clip!r}.")
        for name in ("max_steps", "accumulate"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise NeurosigError(f"optim.{name} must be a positive integer, got {v!r}.")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise NeurosigError(f"optim.warmup_steps must be an integer >= 0, got {self.warmup_steps!r}.")
        if self.warmup_steps > self.max_steps:
            log.warning("optim.warmup_steps=%d exceeds optim.max_steps=%d: the learning rate never reaches optim.lr "
                        "(and never decays); lower warmup_steps", self.warmup_steps, self.max_steps)


@dataclass
class TrainerSpec:
    # "auto" = bf16-mixed on CUDA, 32-true on CPU; or any Lightning precision string
    precision: str = "auto"
    # accelerator/devices/strategy/num_nodes as Lightning takes them (ddp, fsdp ... for multi-GPU)
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    # loggers: csv (default), tensorboard, wandb (offline unless wandb_offline is False)
    loggers: list[str] = field(default_factory=lambda: ["csv"])
    wandb_project: str = "neurosig"
    wandb_offline: bool = True
    # log every n optimizer steps
    log_every_n_steps: int = 10
    # validation / checkpoint every n optimizer steps (0 = once per epoch)
    val_every_n_steps: int = 200
    # keep this many best checkpoints besides last.ckpt
    save_top_k: int = 1
    # seeds model init and masks
    seed: int = 0
    # batches used to estimate the unigram-code baseline from the training data
    unigram_batches: int = 50
    # stop after this many minutes of wall time of this invocation (a resumed run gets them again; 0 = no limit)
    max_minutes: float = 0.0

    LOGGERS = ("csv", "tensorboard", "wandb")
    # Lightning's precision names ("auto" picks bf16-mixed on CUDA, 32-true on CPU)
    PRECISIONS = ("auto", "32-true", "32", "16-mixed", "16", "bf16-mixed", "bf16", "16-true", "bf16-true", "64-true", "64",
                  "transformer-engine", "transformer-engine-float16")

    def __post_init__(self):  # checked when the config loads, before any tokenizer is fitted for the run
        if str(self.precision) not in self.PRECISIONS:
            raise NeurosigError(f"trainer.precision={self.precision!r} is not a Lightning precision; use one of {', '.join(self.PRECISIONS)}.")
        self.precision = str(self.precision)
        for name in self.loggers:
            if name not in self.LOGGERS:
                raise NeurosigError(f"trainer.loggers has {name!r}; choose from {', '.join(self.LOGGERS)}.")
        for name, low in (("num_nodes", 1), ("log_every_n_steps", 1), ("val_every_n_steps", 0), ("save_top_k", 0),
                          ("unigram_batches", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise NeurosigError(f"trainer.{name} must be an integer >= {low}, got {v!r}.")
        if not self.max_minutes >= 0:
            raise NeurosigError(f"trainer.max_minutes must be >= 0 (0 = no limit), got {self.max_minutes!r}.")


@dataclass
class PretrainConfig:
    model: ModelSpec = field(default_factory=ModelSpec)
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)
    data: DataSpec = field(default_factory=DataSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    trainer: TrainerSpec = field(default_factory=TrainerSpec)


def load_pretrain_config(path) -> PretrainConfig:
    from neurosig.config import from_dict, load_yaml

    return from_dict(PretrainConfig, load_yaml(path), where=os.fspath(path))


def build_model(spec: ModelSpec, tokenizer, seed: int = 0) -> FoundationModel:
    """The FoundationModel of ``spec`` over ``tokenizer``'s vocabulary (init seeded locally)."""
    bb = dict(spec.backbone)
    if bb.get("input", "codes") == "embedding":
        bb.setdefault("embed_dim", int(tokenizer.embed_dim))
    cfg = foundation_config(
        spec.preset, codebook_sizes=list(tokenizer.codebook_sizes), backbone=bb,
        objectives=list(spec.objectives), loss_weights=dict(spec.loss_weights), mask_ratio=spec.mask_ratio,
        mask_block=spec.mask_block, symmetric_mask=spec.symmetric_mask,
        patch_seconds=float(tokenizer.patch_len) / float(getattr(getattr(tokenizer, "config", None), "sfreq", 200.0)),
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # init only; restored right after
    try:
        model = FoundationModel(cfg)
    finally:
        torch.random.set_rng_state(state)
    return model


# ----------------------------------------------------------------------------- module
def lr_lambda(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p))


def next_objective_message(what: str, patch_len: int) -> str:
    return (f"model.objectives has 'next' but {what} has at most one patch of patch_len={int(patch_len)} samples, so next-token "
            f"training has nothing to predict; windows need >= 2 patches (> {int(patch_len)} samples): use longer windows "
            f"(window.length_s when building the store), a tokenizer with a smaller patch_len, or the 'masked' objective.")


def check_next_objective(spec: ModelSpec, n_times, patch_len: int, where: str) -> None:
    """One-line error when "next" is trained on windows (``n_times`` per training window) of at most one patch."""
    n = np.asarray(n_times, dtype=np.int64)
    if "next" in spec.objectives and len(n) and int(n.max()) <= int(patch_len):
        raise NeurosigError(next_objective_message(f"{where} (windows of {int(n.max())} samples)", patch_len))


class PretrainModule(L.LightningModule):
    """Frozen tokenizer + FoundationModel; logs ``train/*`` and ``val/*`` losses."""

    def __init__(self, model: FoundationModel, tokenizer, optim: OptimSpec | None = None, seed: int = 0):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.requires_grad_(False)
        self.tokenizer.eval()
        self.optim = optim or OptimSpec()
        self.seed = int(seed)
        self.last_tokens = 0
        self.need_embedding = model.config.backbone.input == "embedding"
        self._next_targets = None  # next-token targets seen this epoch (counted from its first batch)
        self.start_step = None  # global step when this invocation's training started (None: it never started)
        self.val_step = None  # global step of the latest validation

    def train(self, mode: bool = True):
        super().train(mode)
        self.tokenizer.eval()  # frozen: EMA codebooks and dropout stay off
        return self

    def _losses(self, batch, generator):
        from neurosig.models import tokenize_batch

        codes, tokens = tokenize_batch(batch, self.tokenizer, self.need_embedding)  # (B, C, N, L)
        ch_mask = batch.get("ch_mask")
        self.last_tokens = int((ch_mask.sum() if ch_mask is not None else codes.shape[0] * codes.shape[1]) * codes.shape[2])
        return self.model.compute_losses(codes, batch.get("pos"), batch.get("ch_type"), ch_mask, tokens=tokens, generator=generator)

    def training_step(self, batch, batch_idx):
        g = torch.Generator().manual_seed(
            stable_hash_int("mask", self.seed, self.global_step, batch_idx % self.optim.accumulate, self.global_rank)
        )
        out = self._losses(batch, g)
        if batch_idx == 0:
            self._next_targets = 0.0
        if "next/n_targets" in out and self._next_targets is not None:
            self._next_targets += float(out["next/n_targets"])
        B = batch["x"].shape[0]
        self.log_dict({f"train/{k}": v.detach() for k, v in _loggable(out).items()}, prog_bar=False, on_step=True, on_epoch=False, batch_size=B)
        self.log("loss", out["loss"].detach(), prog_bar=True, on_step=True, on_epoch=False, batch_size=B, logger=False)
        opt = self.trainer.optimizers[0] if self.trainer.optimizers else None
        if opt is not None:  # the learning rate of this step's update (CSV/TensorBoard column train/lr)
            self.log("train/lr", float(opt.param_groups[0]["lr"]), on_step=True, on_epoch=False, batch_size=B)
        return out["loss"]

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.val_step = int(self.global_step)  # the step the val/* figures come from

    def on_train_start(self):
        self.start_step = int(self.global_step)  # steps_run = global_step - start_step (a resumed run starts later)

    def on_train_epoch_end(self):
        # a whole epoch without a next-token target: every window is one patch (data modules other than a store,
        # which fit_pretrain checks before fitting)
        if self._next_targets == 0 and "next" in self.model.config.objectives:
            raise NeurosigError(next_objective_message("every training window of this epoch", self.tokenizer.patch_len))
        self._next_targets = None

    def validation_step(self, batch, batch_idx):
        g = torch.Generator().manual_seed(stable_hash_int("val", self.seed, batch_idx))
        out = self._losses(batch, g)
        if "next/n_targets" in out:
            # weight next-token CE by its number of targets (a one-patch batch has none and weight 1
            # with CE 0: a negligible bias, and every rank logs the same keys, which DDP needs)
            n = int(out.pop("next/n_targets"))
            self.log_dict({"val/next/ce": out.pop("next/ce"), "val/next/acc": out.pop("next/acc")}, on_step=False, on_epoch=True, batch_size=max(n, 1), sync_dist=True)
        self.log_dict({f"val/{k}": v for k, v in out.items()}, on_step=False, on_epoch=True, batch_size=batch["x"].shape[0], sync_dist=True)

    def configure_optimizers(self):
        o = self.optim
        decay, no_decay = [], []
        for n, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (decay if p.ndim >= 2 and "embed" not in n else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=o.lr, betas=o.betas,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, o.warmup_steps, o.max_steps, o.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}


def _loggable(out: dict) -> dict:
    """Loss dict without the next-token entries of a batch that has no next-token target."""
    out = dict(out)
    n = out.pop("next/n_targets", None)
    if n is not None and float(n) == 0:
        out.pop("next/ce", None), out.pop("next/acc", None)
    return out


# ----------------------------------------------------------------------------- trainer
class StepProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, counting optimizer steps in step-based runs.

    ``make_trainer`` runs are step-based (``max_steps``, ``max_epochs=-1``): Lightning's bars
    said ``Epoch 7/-2`` (the rich bar prints ``max_epochs - 1``) and counted the batches of an
    epoch, capped at the steps left (a resumed run showed ``11/10``). Here the training bar is
    one bar over the whole run: ``global_step`` of ``max_steps``, described ``step N/max_steps``
    (with the epoch), starting at the resumed step. Runs with ``max_epochs`` keep Lightning's bar.
    """

    @staticmethod
    def step_based(trainer) -> bool:
        return trainer.max_epochs in (None, -1) and bool(trainer.max_steps) and trainer.max_steps > 0

    @staticmethod
    def description(trainer) -> str:
        return f"step {trainer.global_step}/{trainer.max_steps} (epoch {trainer.current_epoch})"

    def _show_step(self, trainer, pl_module=None) -> None:
        bar = self.train_progress_bar
        bar.n = min(int(trainer.global_step), int(trainer.max_steps))
        bar.set_description(self.description(trainer), refresh=False)
        if pl_module is not None:
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()

    def on_train_start(self, trainer, *args, **kwargs):  # also on resume (Lightning skips the epoch start then)
        super().on_train_start(trainer, *args, **kwargs)
        if self.step_based(trainer):
            self.train_progress_bar.reset(total=int(trainer.max_steps))
            self.train_progress_bar.initial = int(trainer.global_step)  # its rate counts this run's steps
            self._show_step(trainer)

    def on_train_epoch_start(self, trainer, *args, **kwargs):
        if not self.step_based(trainer) or self._leave:
            return super().on_train_epoch_start(trainer, *args, **kwargs)
        self._show_step(trainer)  # one bar for the whole run: not reset every epoch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not self.step_based(trainer):
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.train_progress_bar is not None and self._should_update(trainer.global_step, self.train_progress_bar.total):
            self._show_step(trainer, pl_module)

    def get_metrics(self, trainer, pl_module):
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the CSV logger's version number, shown as 'v_num: 0.000': not a measurement
        return metrics

    def on_train_epoch_end(self, trainer, pl_module):
        if self.step_based(trainer) and not self.train_progress_bar.disable:
            self._show_step(trainer, pl_module)
        super().on_train_epoch_end(trainer, pl_module)


class LastCheckpoint(Checkpoint):
    """``last.ckpt`` only: every ``every_n_steps`` optimizer steps (at each training-epoch end when 0/None), and once
    more when training ends at a step not saved yet (the step the exported model has)."""

    def __init__(self, dirpath, every_n_steps: int | None = None):
        self.dirpath = Path(dirpath)  # where Lightning looks for ckpt_path="last"
        self.path = self.dirpath / "last.ckpt"
        self.every = int(every_n_steps or 0)
        self._saved_step = None

    @property
    def state_key(self) -> str:
        return "neurosig.LastCheckpoint"

    def _save(self, trainer) -> None:
        from lightning.pytorch.trainer.states import TrainerFn

        if trainer.fast_dev_run or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        if self._saved_step == trainer.global_step or trainer.global_step == 0:
            return
        trainer.save_checkpoint(self.path)
        self._saved_step = trainer.global_step

    def on_train_start(self, trainer, pl_module):
        self._saved_step = trainer.global_step  # a resumed run's checkpoint is at this step already

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.every and trainer.global_step % self.every == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        if not self.every:
            self._save(trainer)

    def on_train_end(self, trainer, pl_module):
        self._save(trainer)


class RunTimer(Timer):
    """Lightning's ``Timer`` (``max_time``) counting this invocation only: the time of earlier runs saved in the
    checkpoint is not restored on resume (``trainer.max_minutes`` is a limit per run, not a budget over resumes)."""

    def load_state_dict(self, state_dict) -> None:
        return None


TRUE_HALF_PRECISIONS = ("bf16-true", "16-true")


def check_trainer_settings(spec: TrainerSpec, *, pretraining: bool = False) -> None:
    """One-line errors for trainer settings Lightning would refuse late (after a tokenizer fit) or deep in a traceback:
    an accelerator this machine lacks, ``devices`` 0, an unknown strategy, FSDP without a GPU; and, for pretraining,
    half "true" precisions (the frozen tokenizer would be cast to half precision and its codes, the targets, change)."""
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    acc = str(spec.accelerator).lower()
    accs = ("auto", "gpu", *AcceleratorRegistry.available_accelerators())
    if acc not in accs:
        raise NeurosigError(f"trainer.accelerator={spec.accelerator!r} is unknown; use one of {', '.join(sorted(set(accs)))}.")
    cuda = torch.cuda.is_available()
    if acc in ("gpu", "cuda") and not cuda:
        raise NeurosigError(f"trainer.accelerator={spec.accelerator!r} but this machine has no usable GPU "
                            "(torch.cuda.is_available() is False); use accelerator: auto (or cpu).")
    if acc == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NeurosigError("trainer.accelerator='mps' but MPS is not available here; use accelerator: auto (or cpu).")
    d = spec.devices
    ok = (d == "auto" or (isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1))
          or (isinstance(d, (list, tuple)) and len(d) > 0 and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in d))
          or (isinstance(d, str) and d.strip() not in ("", "0") and all(p.strip().lstrip("-").isdigit() for p in d.split(",") if p.strip())))
    if not ok:
        raise NeurosigError(f"trainer.devices={d!r} is not a device count; use auto, a count >= 1, -1 (all) or a list of "
                            "device indices.")
    on_gpu = acc in ("gpu", "cuda") or (acc == "auto" and cuda)
    if on_gpu and isinstance(d, int) and d > torch.cuda.device_count():
        raise NeurosigError(f"trainer.devices={d} but this machine has {torch.cuda.device_count()} GPU(s); lower trainer.devices.")
    strat = spec.strategy
    if isinstance(strat, str):
        names = ("auto", *StrategyRegistry.available_strategies())
        if strat not in names:
            raise NeurosigError(f"trainer.strategy={strat!r} is unknown; use auto, ddp, fsdp or another Lightning strategy "
                                "(ddp_spawn, deepspeed ...).")
        if strat.startswith("fsdp") and not on_gpu:
            raise NeurosigError(f"trainer.strategy={strat!r} needs GPUs (Lightning's FSDP runs on CUDA only); use strategy: ddp "
                                "(or auto) on CPU.")
    if pretraining and str(spec.precision) in TRUE_HALF_PRECISIONS:
        raise NeurosigError(f"trainer.precision={spec.precision!r} is not supported for pretraining (the frozen tokenizer would run "
                            f"in half precision and its codes, the targets, change); use {spec.precision.replace('-true', '-mixed')!r}.")


def make_trainer(spec: TrainerSpec, optim: OptimSpec, out_dir, *, max_steps: int | None = None, callbacks=(), distributed_sampler: bool = False, enable_progress_bar: bool = True, **overrides) -> L.Trainer:
    """A Lightning Trainer with neurosig's defaults: atomic checkpoints (``last.ckpt`` +
    best ``val/loss``), CSV logs, a progress bar counting ``step N/max_steps`` (:class:`StepProgressBar`)
    with tokens/s, clipping, accumulation."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from neurosig.training.callbacks import TokensPerSecond
    from neurosig.training.checkpoint import AtomicCheckpointIO

    check_trainer_settings(spec)
    out = Path(out_dir)
    precision = spec.precision
    if precision == "auto":
        precision = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    loggers = []
    for name in spec.loggers:
        if name == "csv":
            from lightning.pytorch.loggers import CSVLogger

            loggers.append(CSVLogger(out, name="logs"))
        elif name == "tensorboard":
            from neurosig._utils.optional import require

            require("tensorboard", "the tensorboard logger")
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(out, name="tb"))
        elif name == "wandb":
            from neurosig._utils.optional import require

            require("wandb", "the wandb logger")
            from lightning.pytorch.loggers import WandbLogger

            loggers.append(WandbLogger(project=spec.wandb_project, save_dir=out, offline=spec.wandb_offline))
        else:  # TrainerSpec checks its loggers when built; a spec changed afterwards is checked here
            raise NeurosigError(f"trainer.loggers has {name!r}; choose from {', '.join(TrainerSpec.LOGGERS)}.")
    steps = int(max_steps or optim.max_steps)
    val_every = spec.val_every_n_steps or None
    from lightning.pytorch.callbacks import ProgressBar

    # our bar unless the caller brings one (Lightning refuses two, and a bar when enable_progress_bar is False)
    bar = [] if not enable_progress_bar or any(isinstance(c, ProgressBar) for c in callbacks) else [StepProgressBar()]
    # the best by val/loss is ranked right after each validation (a train-step trigger saved before that step's
    # validation and ranked it on the previous val/loss); last.ckpt every val_every steps (or each epoch) and at the end
    ckpts = [LastCheckpoint(out / "checkpoints", val_every)]
    if spec.save_top_k:
        ckpts.append(ModelCheckpoint(dirpath=out / "checkpoints", filename="step{step}", auto_insert_metric_name=False,
                                     save_top_k=spec.save_top_k, monitor="val/loss", mode="min", save_last=False,
                                     save_on_train_epoch_end=False))
    kw = dict(
        default_root_dir=out, max_steps=steps, precision=precision, accelerator=spec.accelerator,
        devices=spec.devices, strategy=spec.strategy, num_nodes=spec.num_nodes,
        gradient_clip_val=optim.grad_clip or None, accumulate_grad_batches=optim.accumulate,
        logger=loggers or False, log_every_n_steps=spec.log_every_n_steps,
        callbacks=[*ckpts, TokensPerSecond(), *callbacks, *bar], plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=distributed_sampler, enable_progress_bar=enable_progress_bar,
        enable_model_summary=False, max_epochs=-1,
        val_check_interval=(val_every * optim.accumulate) if val_every else None,
        check_val_every_n_epoch=None if val_every else 1,
    )
    if spec.max_minutes:  # per invocation: Lightning's max_time restored the time spent from the checkpoint, so a
        # resumed run whose budget was spent did nothing (and exited 0)
        kw["callbacks"].append(RunTimer(duration={"minutes": spec.max_minutes}, interval="step"))
    kw.update(overrides)
    return L.Trainer(**kw)


@torch.no_grad()
def estimate_unigram(tokenizer, loader, max_batches: int = 50) -> dict[str, float]:
    """Entropy of the code marginals over up to ``max_batches`` batches (the unigram baseline)."""
    from neurosig.models import tokenize_batch

    counts = [torch.zeros(k, dtype=torch.float64) for k in tokenizer.codebook_sizes]
    n = 0
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        codes, _ = tokenize_batch(batch, tokenizer)
        ch = batch.get("ch_mask")
        N = codes.shape[2]
        sel = (ch[:, :, None].expand(-1, -1, N) if ch is not None else torch.ones(codes.shape[:3], dtype=torch.bool)).reshape(-1)
        flat = codes.reshape(-1, codes.shape[-1])[sel]
        n += flat.shape[0]
        for l, k in enumerate(tokenizer.codebook_sizes):
            counts[l] += torch.bincount(flat[:, l].long().cpu(), minlength=k).double()
    out = unigram_from_counts(counts)
    out["unigram/n_tokens"] = float(n)
    return out


FIT_SPEC_NAME = "pretrain_tokenizer.json"  # beside the export in OUT/tokenizer_fit: the tokenizer section it is fitted with


def _json_norm(obj):
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def reuse_fitted_tokenizer(spec: TokenizerSpec, fit_dir):
    """The tokenizer an earlier run fitted and exported into ``fit_dir`` (``OUT/tokenizer_fit``),
    or ``None`` when there is no complete export there.

    Complete: ``config.json`` (written after the weights) and ``model.safetensors``. The export's
    model type and config must be those of ``spec.kind``/``spec.config`` (defaults filled in), and
    ``spec.fit`` the options recorded in ``pretrain_tokenizer.json`` when the run wrote one; else a
    one-line error names the differences (a checkpoint trained on the earlier tokenizer's codes must
    not be continued with another tokenizer, and the export is not overwritten).
    """
    from neurosig.config import from_dict
    from neurosig.tokenizers import TOKENIZERS

    d = Path(fit_dir)
    if not ((d / "config.json").is_file() and (d / "model.safetensors").is_file()):
        return None
    try:
        meta = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        meta = {}
    if spec.kind not in TOKENIZERS:
        raise NeurosigError(f"tokenizer.kind {spec.kind!r} is not known; choose one of {', '.join(TOKENIZERS)}.")
    cls = TOKENIZERS[spec.kind]
    want = _json_norm(dataclasses.asdict(from_dict(cls.config_class, dict(spec.config), where=f"tokenizer ({spec.kind})")))
    have = _json_norm(meta.get("config", {}))
    diffs = []
    if meta.get("model_type") != cls.model_type:
        diffs.append(f"kind: {meta.get('model_type')!r} there, {cls.model_type!r} in the config")
    else:
        diffs += [f"config.{k}: {have.get(k)!r} there, {want.get(k)!r} in the config" for k in sorted(set(want) | set(have))
                  if have.get(k) != want.get(k)]
    recorded = None
    if (d / FIT_SPEC_NAME).is_file():
        try:
            recorded = json.loads((d / FIT_SPEC_NAME).read_text()).get("fit")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if isinstance(recorded, dict):
            fit_now = _json_norm(dict(spec.fit))
            diffs += [f"fit.{k}: {recorded.get(k)!r} there, {fit_now.get(k)!r} in the config"
                      for k in sorted((set(fit_now) | set(recorded)) - {"progress"}) if recorded.get(k) != fit_now.get(k)]
    if diffs:
        raise NeurosigError(
            f"{os.fspath(d)!r} holds the tokenizer an earlier run fitted with another tokenizer section ({'; '.join(diffs)}); "
            f"restore that section of the config, pass --tokenizer {os.fspath(d)} to keep using that tokenizer, or use a new --out.")
    from neurosig.models import load_any_tokenizer

    log.info("reusing the tokenizer fitted earlier in %s (same kind and config%s); not fitting it again", d,
             "" if isinstance(recorded, dict) else "; its fit options were not recorded")
    return load_any_tokenizer(d)


def obtain_tokenizer(spec: TokenizerSpec, data, out_dir, tokenizer=None):
    """The tokenizer: given, loaded from ``spec.path``, reused from ``OUT/tokenizer_fit`` (see
    :func:`reuse_fitted_tokenizer`; a resumed run does not fit it again), or fitted on ``data`` first."""
    if tokenizer is not None:
        if isinstance(tokenizer, (str, os.PathLike)):
            return _load_tokenizer_dir(tokenizer, "--tokenizer")
        return tokenizer
    if spec.path:
        return _load_tokenizer_dir(spec.path, "tokenizer.path in the config", " (or leave it empty to fit one first)")
    try:
        from neurosig.training import tokenizer as tok_training
    except ImportError:
        tok_training = None
    fit = getattr(tok_training, "fit_tokenizer", None) if tok_training else None
    if fit is None:
        raise NeurosigError("no tokenizer given and neurosig.training.tokenizer.fit_tokenizer is unavailable; pass --tokenizer DIR (train one with `neurosig tokenizer fit`).")
    fit_dir = Path(out_dir) / "tokenizer_fit"
    reused = reuse_fitted_tokenizer(spec, fit_dir)
    if reused is not None:
        return reused
    fit_dir.mkdir(parents=True, exist_ok=True)  # the section it is fitted with, for the next run to compare
    (fit_dir / FIT_SPEC_NAME).write_text(json.dumps(_json_norm(dataclasses.asdict(spec)), indent=2, sort_keys=True))
    log.info("fitting the %s tokenizer first (no --tokenizer given)", spec.kind)
    tok = fit(kind=spec.kind, config=spec.config, data=data, out_dir=Path(out_dir) / "tokenizer_fit", **spec.fit)
    log.info("tokenizer exported to %s (fit_summary.json: its loss curve)", Path(out_dir) / "tokenizer_fit")
    return tok


def _configured_patch_len(spec: TokenizerSpec):
    """The patch_len of the tokenizer ``spec`` would fit (None if its section does not build)."""
    from neurosig.config import from_dict
    from neurosig.tokenizers import TOKENIZERS

    try:
        return int(from_dict(TOKENIZERS[spec.kind].config_class, dict(spec.config), where="tokenizer").patch_len)
    except Exception:  # noqa: BLE001 - the fit itself reports a bad section
        return None


def _load_tokenizer_dir(path, name: str, alternative: str = ""):
    """``load_any_tokenizer(path)``; a directory without a tokenizer is a one-line error naming ``name``
    (``read_config``'s own message names --model)."""
    from neurosig.models import load_any_tokenizer
    from neurosig.nn.pretrained import CONFIG_NAME

    d = Path(path)
    if not (d / CONFIG_NAME).is_file():
        what = f"holds no {CONFIG_NAME}" if d.is_dir() else "does not exist"
        raise NeurosigError(f"{name}: {os.fspath(d)!r} {what}; point it at a tokenizer directory written by "
                            f"`neurosig tokenizer fit`{alternative}.")
    return load_any_tokenizer(d)


RUN_SETTINGS_NAME = "pretrain_settings.json"  # in OUT: the settings a run started with, compared on --resume
RESUME_MAY_CHANGE = ("optim.max_steps",)  # --max-steps extends (or shortens) a run


def run_settings(config: PretrainConfig) -> dict:
    """The settings a resumed run must keep, flat: ``model.*``, ``optim.*``, the data's batching and split
    (``data.batch_size``, ``data.val_fraction``, ``data.exclude_splits``, ``data.datasets``) and ``trainer.seed``
    (masks, split)."""
    flat = {f"model.{k}": v for k, v in dataclasses.asdict(config.model).items()}
    flat.update({f"optim.{k}": v for k, v in dataclasses.asdict(config.optim).items()})
    flat.update({f"data.{k}": getattr(config.data, k) for k in ("batch_size", "val_fraction", "exclude_splits", "datasets")})
    flat["trainer.seed"] = config.trainer.seed
    return {"format": 1, "settings": _json_norm(flat)}


def check_resume_settings(config: PretrainConfig, out) -> None:
    """One-line error when ``config`` changes a setting the run in ``out`` started with (see :func:`run_settings`):
    the optimizer keeps the checkpoint's learning rates, the model its shapes, and the data order its batch size,
    so a changed lr was silently ignored while config.json recorded it, and a changed preset failed deep in torch."""
    p = Path(out) / RUN_SETTINGS_NAME
    if not p.is_file():
        log.info("%s has no %s (an older run): cannot check that --resume keeps its settings", os.fspath(out), RUN_SETTINGS_NAME)
        return
    try:
        have = json.loads(p.read_text())["settings"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NeurosigError(f"--resume: {os.fspath(p)!r} is damaged ({type(e).__name__}); restore it, or use a new --out.") from None
    want = run_settings(config)["settings"]
    diffs = [f"{k}: {have.get(k)!r} there, {want.get(k)!r} now" for k in sorted(set(want) | set(have))
             if k not in RESUME_MAY_CHANGE and have.get(k) != want.get(k)]
    if diffs:
        raise NeurosigError(
            f"--resume: the run in {os.fspath(out)!r} was started with other settings ({'; '.join(diffs)}); restore them in "
            f"the config (only optim.max_steps / --max-steps may change on resume), or use a new --out.")


def check_resume_checkpoint(path: str | os.PathLike) -> None:
    """Raise a one-line error if the checkpoint to resume from is not a readable torch archive.

    A truncated or overwritten ``last.ckpt`` (disk full, a copy cut short) otherwise fails deep in
    ``torch.load`` with "PytorchStreamReader failed reading zip archive"; this reads only the zip
    directory at the end of the file, not the tensors.
    """
    import zipfile

    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            ok = any(n.endswith("data.pkl") for n in z.namelist())
        why = "it holds no torch checkpoint"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        ok, why = False, f"{type(e).__name__}: {e}"
    if not ok:
        raise NeurosigError(f"--resume: checkpoint {os.fspath(p)!r} is damaged or truncated ({why}); move it away to start "
                            f"from scratch, or put an intact checkpoint from {os.fspath(p.parent)!r} in its place.")


def pretrain_subject_record(store, rows) -> dict:
    """``pretrain_subjects.json`` of a model pretrained on ``rows`` of ``store``: the global subject ids
    (:func:`neurosig.datasets.leakage.global_subject`, so TUEG and TUAB ids of one patient match) and the recordings
    (content hashes, else source paths) of the training windows."""
    from neurosig.datasets.leakage import global_subject

    m = store.manifest.iloc[np.asarray(rows, dtype=np.int64)]
    ds = m["dataset"].fillna("").astype(str) if "dataset" in m.columns else [""] * len(m)
    key = "source_hash" if "source_hash" in m.columns else "source" if "source" in m.columns else None
    return {
        "format": 1,
        "store": os.fspath(getattr(store, "root", "")),
        "n_windows": int(len(m)),
        "subjects": sorted({global_subject(d, s) for d, s in zip(ds, m["subject"].astype(str))}),
        "recording_key": key,
        "recordings": sorted(set(m[key].astype(str))) if key else [],
    }


def fit_pretrain(
    config: PretrainConfig,
    data,
    out_dir,
    *,
    tokenizer=None,
    max_steps: int | None = None,
    ckpt_path: str | None = None,
    callbacks=(),
    enable_progress_bar: bool = True,
    trainer_overrides: dict | None = None,
) -> dict:
    """Pretrain a FoundationModel; returns a summary dict (also written to ``out/summary.json``).

    ``data``: a shard-store path/``ShardStore`` (wrapped in ``StoreDataModule``) or any
    LightningDataModule. ``out_dir`` gets ``checkpoints/`` (Lightning, ``last.ckpt``), ``logs/``,
    ``model/`` (``save_pretrained`` export with ``tokenizer/``) and ``summary.json``.
    ``ckpt_path="last"`` resumes.
    """
    check_trainer_settings(config.trainer, pretraining=True)  # before any tokenizer fit
    out = Path(out_dir)
    if max_steps is not None and int(max_steps) != config.optim.max_steps:
        # the run's length (--max-steps) is the schedule's: warm-up/cosine span it, and the export records it
        config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, max_steps=int(max_steps)))
    if ckpt_path is not None:  # before any tokenizer fit or write: a damaged checkpoint fails here, in one line
        resume_from = out / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
        if resume_from.is_file():
            check_resume_checkpoint(resume_from)
    resuming = ckpt_path is not None and resume_from.is_file()
    if resuming:  # before any tokenizer fit: a resume with other training settings fails here, in one line
        check_resume_settings(config, out)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(data, L.LightningDataModule):
        dm, distributed_sampler = data, True
    else:
        from neurosig.training.data import StoreDataModule

        d = config.data
        dm = StoreDataModule(data, d.batch_size, exclude_splits=tuple(d.exclude_splits), datasets=d.datasets,
                             val_fraction=d.val_fraction, seed=config.trainer.seed, num_workers=d.num_workers)
        distributed_sampler = False
        if len(dm.indices.get("val", [])) == 0:  # no validation windows: train only
            trainer_overrides = {"limit_val_batches": 0, **(trainer_overrides or {})}
            config = dataclasses.replace(config, trainer=dataclasses.replace(config.trainer, save_top_k=0))
    if hasattr(dm, "check_validation_shards"):  # too few validation batches for the processes: before any tokenizer fit
        dm.check_validation_shards(_planned_world_size(config.trainer))
    store_rows = None
    if hasattr(dm, "store") and hasattr(dm, "indices"):
        store_rows = np.asarray(sorted({int(r) for r in dm.indices.get("train", [])}), dtype=np.int64)
        if tokenizer is None and not config.tokenizer.path:  # the patch_len the tokenizer will be fitted with: check before the fit
            patch_len = _configured_patch_len(config.tokenizer)
            if patch_len is not None:
                check_next_objective(config.model, dm.store.manifest["n_times"].to_numpy()[store_rows], patch_len,
                                     f"the training windows of store {getattr(dm.store, 'root', '')!s}")
    tok = obtain_tokenizer(config.tokenizer, data, out, tokenizer)
    if store_rows is not None:
        check_next_objective(config.model, dm.store.manifest["n_times"].to_numpy()[store_rows], tok.patch_len,
                             f"the training windows of store {getattr(dm.store, 'root', '')!s}")
    if hasattr(dm, "store") and hasattr(dm, "indices"):  # the data's rate, before any batch is drawn
        from neurosig.tokenizers import check_sfreq

        rows = sorted({int(r) for v in dm.indices.values() for r in v})
        check_sfreq(tok, dm.store.manifest["sfreq"].to_numpy()[rows], source=f"store {getattr(dm.store, 'root', '')!s}")
    if not resuming and (not torch.distributed.is_available() or not torch.distributed.is_initialized()
                         or torch.distributed.get_rank() == 0):
        (out / RUN_SETTINGS_NAME).write_text(json.dumps(run_settings(config), indent=2, sort_keys=True))
    model = build_model(config.model, tok, seed=config.trainer.seed)
    module = PretrainModule(model, tok, config.optim, seed=config.trainer.seed)
    trainer = make_trainer(config.trainer, config.optim, out, max_steps=max_steps, callbacks=callbacks,
                           distributed_sampler=distributed_sampler, enable_progress_bar=enable_progress_bar,
                           **(trainer_overrides or {}))
    # unigram baseline on the training data (rank 0 only needs it; cheap)
    if hasattr(dm, "setup"):
        dm.setup("fit")
    unigram = estimate_unigram(tok, dm.train_dataloader(), config.trainer.unigram_batches) if config.trainer.unigram_batches else {}
    if ckpt_path == "last":
        if (out / "checkpoints" / "last.ckpt").is_file():
            ckpt_path = os.fspath(out / "checkpoints" / "last.ckpt")
        else:
            log.info("no last.ckpt in %s: starting from scratch", out / "checkpoints")
            ckpt_path = None
    module.train()  # the backbone trains; PretrainModule.train keeps the tokenizer in eval mode
    with frozen_parts_in_eval():
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    steps_run = 0 if module.start_step is None else int(trainer.global_step) - module.start_step
    if steps_run == 0 and ckpt_path is not None:  # nothing trained: keep the run's summary and export as they are
        done = int(trainer.global_step) >= int(trainer.max_steps)
        note = (f"already complete at step {int(trainer.global_step)} (max_steps {int(trainer.max_steps)}); pass a larger "
                f"--max-steps to continue it" if done else
                f"no step run from step {int(trainer.global_step)} (trainer.max_minutes or another stop)")
        log.warning("%s: %s; its summary.json and model/ are kept", os.fspath(out), note)
        try:
            old = json.loads((out / "summary.json").read_text())
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict):
            return {**old, "steps_run": 0, "note": note}
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if steps_run and module.val_step != int(trainer.global_step) and _validates(trainer, dm):
        metrics.update(final_validation(trainer, module, dm))  # the val figures are the exported model's
    summary: dict[str, Any] = {
        "steps": int(trainer.global_step),
        "steps_run": steps_run,
        "n_parameters": model.n_parameters(),
        "n_parameters_backbone": model.n_parameters(backbone_only=True),
        **metrics,
        **unigram,
    }
    if module.val_step is not None and any(k.startswith("val/") for k in summary):
        summary["val_step"] = int(module.val_step)
    tps = [c for c in trainer.callbacks if type(c).__name__ == "TokensPerSecond"]
    if tps and tps[0].rate is not None:
        summary["perf/tokens_per_s"] = float(tps[0].rate)
    if trainer.is_global_zero:
        # what the model trained on, so that `neurosig finetune --model` can refuse to test on those subjects
        record = pretrain_subject_record(dm.store, dm.indices["train"]) if hasattr(dm, "store") and hasattr(dm, "indices") else None
        model.save_pretrained(out / "model", tokenizer=tok, extra={"pretrain": dataclasses.asdict(config)},
                              pretrain_subjects=record)
        (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def _planned_world_size(spec: TrainerSpec) -> int:
    """Processes the trainer settings ask for (1 when ``devices`` leaves it to Lightning: auto, -1)."""
    d = spec.devices
    if isinstance(d, str) and "," in d:
        n = len([p for p in d.split(",") if p.strip()])
    elif isinstance(d, str) and d.strip().isdigit():
        n = int(d)
    elif isinstance(d, (list, tuple)):
        n = len(d)
    elif isinstance(d, int) and not isinstance(d, bool) and d > 0:
        n = d
    else:
        n = 1
    return max(1, n) * int(spec.num_nodes)


def _validates(trainer, dm) -> bool:
    """Whether the fit validated (a validation loader, not switched off with ``limit_val_batches=0``)."""
    from lightning.pytorch.utilities.model_helpers import is_overridden

    return bool(trainer.limit_val_batches) and is_overridden("val_dataloader", dm, L.LightningDataModule)


def final_validation(trainer, module, dm) -> dict[str, float]:
    """Validate the final weights once more (the last scheduled validation may be steps older) and return the
    ``val/*`` figures. The random states are restored afterwards, so what follows draws what it would have."""
    import random

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        trainer.validate(module, datamodule=dm, verbose=False)
    np.random.set_state(np_state), random.setstate(py_state)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}


class SyntheticDataModule(L.LightningDataModule):
    """Noisy-sinusoid windows (``neurosig.models._testing.synthetic_windows``) for tests and smoke
    runs without a store; deterministic order (train shuffled by a seeded, per-epoch generator)."""

    def __init__(self, n_train: int = 64, n_val: int = 16, batch_size: int = 8, n_channels: int = 4, n_times: int = 160, seed: int = 0, shuffle: bool = True):
        super().__init__()
        from neurosig.models._testing import synthetic_windows

        self.train_items = synthetic_windows(n_train, n_channels, n_times, seed)
        self.val_items = synthetic_windows(n_val, n_channels, n_times, seed + 1000)
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle

    def train_dataloader(self):
        from torch.utils.data import DataLoader

        from neurosig.models._testing import collate_items

        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_items, batch_size=self.batch_size, shuffle=self.shuffle, generator=g if self.shuffle else None, collate_fn=collate_items)

    def val_dataloader(self):
        from torch.utils.data import DataLoader

        from neurosig.models._testing import collate_items

        return DataLoader(self.val_items, batch_size=self.batch_size, shuffle=False, collate_fn=collate_items)
