"""``StoreDataModule``: batches of windows from a shard store, for every Lightning fit.

* Which windows: all rows of the store, minus rows whose ``split`` column is in
  ``exclude_splits`` (default ``("test",)``: a test split is never trained on, labelled or
  not), optionally restricted to ``datasets``; or explicit ``indices`` per stage.
* Validation: carved from the eligible rows, subject-disjoint when there are enough subjects
  (``min_subjects_for_subject_split``), else by a seeded, hash-based window split (logged).
* Batches: windows of equal ``n_times`` are batched together (bucketing), channels padded to
  the largest count in the batch (``ch_mask`` marks real channels). Training batches are
  shuffled anew every epoch and the training loader is resumable mid-epoch
  (:class:`ResumableDataLoader`: Lightning keeps its position in checkpoints).
* Multi-process (DDP): each rank takes a disjoint, equally long share of the training batches, and
  a disjoint share of all validation batches (none dropped; at least one batch per rank, else a one-line
  error naming ``data.val_fraction``). Build the
  Trainer with ``use_distributed_sampler=False`` (``make_trainer`` helpers in this package do).
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Sampler

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger, log_once
from neurosig._utils.rng import stable_hash_int

log = get_logger("training.data")


class RankShardedBatchSampler(Sampler[list[int]]):
    """Wrap a batch sampler so rank ``r`` of ``w`` gets batches ``r, r + w, ...``.

    Training (``even=True``): the batch list is truncated to a multiple of ``world_size`` so every
    rank runs the same number of steps (DDP would otherwise hang on the last step). Validation
    (``even=False``): nothing is dropped; ranks get shares that differ by at most one batch (each
    rank's mean is all-reduced once at the epoch end, so uneven shares do not hang).
    """

    def __init__(self, batch_sampler, rank: int, world_size: int, even: bool = True):
        self.batch_sampler = batch_sampler
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.even = bool(even)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __iter__(self):
        batches = list(self.batch_sampler)
        n = (len(batches) // self.world_size) * self.world_size if self.even else len(batches)
        yield from batches[self.rank : n : self.world_size]

    def __len__(self) -> int:
        n = len(self.batch_sampler)
        return n // self.world_size if self.even else len(range(self.rank, n, self.world_size))


class ResumableBatchSampler(Sampler[list[int]]):
    """Wrap a batch sampler whose order depends only on its seed and epoch (``BucketBatchSampler``,
    optionally rank-sharded) and count the epochs here, so training can resume mid-epoch.

    The wrapper is a stream over epochs: ``served`` counts the batches of ``epoch`` that
    :class:`ResumableDataLoader` handed out; a pass continues that epoch from there and, once all
    its batches were handed out, starts the next one (``set_epoch`` on the wrapped sampler: a new
    shuffle). Lightning calls ``set_epoch`` only on ``loader.sampler`` and
    ``loader.batch_sampler.sampler``, never on a batch sampler, so without this every epoch
    repeated the first one's order. :meth:`state_dict` / :meth:`load_state_dict` save and restore
    (epoch, served); skipped batches are index lists only, their windows are not loaded.
    """

    def __init__(self, batch_sampler):
        self.batch_sampler = batch_sampler
        self.epoch = 0
        self.served = 0

    def __iter__(self):  # a generator: starts where the previous pass (or the checkpoint) left off
        if self.served >= len(self):
            self.epoch, self.served = self.epoch + 1, 0
        if hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(self.epoch)
        it = iter(self.batch_sampler)
        for _ in range(self.served):
            next(it, None)
        yield from it

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "served": self.served}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.served = int(state["epoch"]), int(state["served"])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a :class:`ResumableBatchSampler` with ``state_dict``/``load_state_dict``.

    Lightning saves this state in its checkpoints and, on resume, loads it before the first batch,
    so a resumed run trains on the batches the uninterrupted run would have, also when it stopped
    mid-epoch (a plain DataLoader restarts the epoch from its first batch, and Lightning warns that
    the dataloader is not resumable).
    """

    def __iter__(self):
        sampler = self.batch_sampler
        for batch in super().__iter__():
            sampler.served += 1
            yield batch

    def state_dict(self) -> dict:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.load_state_dict(state)


def split_eligible_rows(
    manifest,
    *,
    exclude_splits: Sequence[str] = ("test",),
    datasets: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    min_subjects_for_subject_split: int = 5,
) -> dict[str, np.ndarray]:
    """Row indices for ``train`` and ``val`` from a store manifest (see the module docstring)."""
    if not 0.0 <= val_fraction < 1.0:
        raise NeurosigError(f"val_fraction must be in [0, 1), got {val_fraction!r}.")
    keep = np.ones(len(manifest), dtype=bool)
    if "split" in manifest.columns and exclude_splits:
        keep &= ~manifest["split"].astype(str).isin(list(exclude_splits)).to_numpy()
    if datasets:
        if "dataset" not in manifest.columns:
            raise NeurosigError("datasets= was given but the store manifest has no 'dataset' column; rebuild the store or drop datasets=.")
        known = set(manifest["dataset"].astype(str))
        missing = sorted(set(datasets) - known)
        if missing:
            raise NeurosigError(f"datasets {', '.join(missing)} are not in the store (it holds {', '.join(sorted(known))}); fix --datasets.")
        keep &= manifest["dataset"].astype(str).isin(list(datasets)).to_numpy()
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise NeurosigError("no windows left to train on after excluding splits "
                            f"{list(exclude_splits)} and filtering datasets {list(datasets or [])}; check the store.")
    if val_fraction == 0:
        return {"train": rows, "val": rows[:0]}
    subjects = manifest["subject"].astype(str).to_numpy()[rows]
    uniq = np.unique(subjects)
    if uniq.size >= min_subjects_for_subject_split:
        # subject-disjoint: a subject goes to val when its stable hash falls under the fraction
        is_val_subj = {s: (stable_hash_int("val", seed, s) % 10_000) < val_fraction * 10_000 for s in uniq}
        if not any(is_val_subj.values()):  # tiny subject counts: force one subject into val
            is_val_subj[min(uniq, key=lambda s: stable_hash_int("val", seed, s))] = True
        if all(is_val_subj.values()):
            is_val_subj[max(uniq, key=lambda s: stable_hash_int("val", seed, s))] = False
        val_mask = np.array([is_val_subj[s] for s in subjects])
    else:
        log_once(log, logging.INFO, "only %d subject(s): validation windows are carved by a seeded window split, not by subject",
                 uniq.size)
        ids = manifest["window_id"].astype(str).to_numpy()[rows] if "window_id" in manifest.columns else rows.astype(str)
        val_mask = np.array([(stable_hash_int("valw", seed, i) % 10_000) < val_fraction * 10_000 for i in ids])
        if rows.size > 1 and not val_mask.any():
            val_mask[0] = True
    return {"train": rows[~val_mask], "val": rows[val_mask]}


class StoreDataModule(L.LightningDataModule):
    """Batches from a shard store (see the module docstring).

    Parameters
    ----------
    store: a ``ShardStore`` or the path of one.
    batch_size: windows per batch (per process).
    indices: explicit ``{"train": rows, "val": rows, "test": rows}``; overrides the split logic.
    exclude_splits, datasets, val_fraction, seed: passed to :func:`split_eligible_rows`.
    num_workers: DataLoader worker processes (0 = in the main process).
    """

    def __init__(
        self,
        store,
        batch_size: int = 32,
        *,
        indices: dict[str, Sequence[int]] | None = None,
        exclude_splits: Sequence[str] = ("test",),
        datasets: Sequence[str] | None = None,
        val_fraction: float = 0.1,
        seed: int = 0,
        num_workers: int = 0,
        drop_last: bool = False,
    ):
        super().__init__()
        from neurosig.datasets import ShardStore

        if isinstance(store, (str, os.PathLike)):
            store = ShardStore(store)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise NeurosigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.store = store
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.drop_last = drop_last
        if indices is not None:
            self.indices = {k: np.asarray(v, dtype=np.int64) for k, v in indices.items()}
        else:
            self.indices = split_eligible_rows(
                store.manifest, exclude_splits=exclude_splits, datasets=datasets,
                val_fraction=val_fraction, seed=seed,
            )

    # -- loaders -------------------------------------------------------------------------
    def _loader(self, stage: str, shuffle: bool) -> DataLoader:
        from neurosig.datasets import BucketBatchSampler, WindowDataset, collate_windows

        rows = self.indices.get(stage)
        if rows is None or len(rows) == 0:
            raise NeurosigError(f"the {stage!r} split of the store is empty; give more data or change the split.")
        ds = WindowDataset(self.store, indices=rows)
        lengths = self.store.manifest["n_times"].to_numpy()[rows]
        sampler = BucketBatchSampler(lengths, self.batch_size, shuffle=shuffle, seed=self.seed,
                                     drop_last=self.drop_last and shuffle)
        trainer = getattr(self, "trainer", None)
        world = getattr(trainer, "world_size", 1) if trainer is not None else 1
        if world > 1:
            if stage != "train":  # a rank without a batch: validation would never run
                self._check_batches_per_process(stage, len(sampler), world)
            sampler = RankShardedBatchSampler(sampler, trainer.global_rank, world, even=stage == "train")
        if stage == "train":  # resumable mid-epoch: Lightning saves and restores how far the epoch got
            return ResumableDataLoader(ds, batch_sampler=ResumableBatchSampler(sampler), collate_fn=collate_windows,
                                       num_workers=self.num_workers, persistent_workers=self.num_workers > 0)
        return DataLoader(ds, batch_sampler=sampler, collate_fn=collate_windows,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def _check_batches_per_process(self, stage: str, n_batches: int, world: int) -> None:
        if n_batches < world:
            raise NeurosigError(
                f"the {stage!r} split has {n_batches} batch(es) of data.batch_size={self.batch_size} for {world} processes "
                f"(each needs one); raise data.val_fraction (or lower data.batch_size), or set data.val_fraction: 0.")

    def check_validation_shards(self, world: int) -> None:
        """The one-line error of a validation split with fewer batches than ``world`` processes, before any fit."""
        from neurosig.datasets import BucketBatchSampler

        rows = self.indices.get("val")
        if world > 1 and rows is not None and len(rows):
            lengths = self.store.manifest["n_times"].to_numpy()[rows]
            self._check_batches_per_process("val", len(BucketBatchSampler(lengths, self.batch_size, shuffle=False, seed=self.seed,
                                                                        drop_last=False)), world)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict" if "predict" in self.indices else "val", shuffle=False)
