"""Torch views of a :class:`~neurosig.datasets.store.ShardStore`: dataset, collate, bucketing sampler."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from neurosig._utils.channels import PAD_CH_TYPE
from neurosig._utils.errors import NeurosigError


class WindowDataset(Dataset):
    """Items of a shard store as tensors: ``x (C, T) float32``, ``pos (C, 3)``, ``ch_type (C,)``,
    ``ch_mask (C,) bool``, ``sfreq`` (float), ``y`` (int, -1 unlabelled), ``subject`` (str)."""

    def __init__(self, store, indices: Sequence[int] | None = None):
        from neurosig.datasets.store import ShardStore

        if not isinstance(store, ShardStore):
            store = ShardStore(store)
        self.store = store
        self.indices = np.arange(len(store)) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(store)):
            raise NeurosigError(f"WindowDataset: indices must lie in [0, {len(store)}); got {self.indices.min()}..{self.indices.max()}.")

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, i: int) -> dict:
        item = self.store[int(self.indices[i])]
        return {
            "x": torch.from_numpy(item["x"]),
            "pos": torch.from_numpy(item["pos"]),
            "ch_type": torch.from_numpy(item["ch_type"]),
            "ch_mask": torch.from_numpy(item["ch_mask"]),
            "sfreq": float(item["sfreq"]),
            "y": int(item["y"]),
            "subject": str(item["subject"]),
        }

    @property
    def lengths(self) -> np.ndarray:
        """``n_times`` of each item (for :class:`BucketBatchSampler`)."""
        return self.store.manifest["n_times"].to_numpy()[self.indices]


def _as_tensor(v, dtype) -> torch.Tensor:
    return v.to(dtype) if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v), dtype=dtype)


def collate_windows(items: Sequence[dict]) -> dict:
    """Stack items into the window batch of DESIGN.md §3, padding channels to the largest ``C``.

    Padded channels: ``x`` 0, ``pos`` NaN, ``ch_type`` -1, ``ch_mask`` False. Items must share
    ``T`` (use :class:`BucketBatchSampler`); a mismatch raises.
    """
    if not items:
        raise NeurosigError("collate_windows: got an empty list of items.")
    xs = [_as_tensor(it["x"], torch.float32) for it in items]
    ts = {x.shape[-1] for x in xs}
    if len(ts) > 1:
        raise NeurosigError(f"collate_windows: windows have different lengths {sorted(ts)}; batch equal n_times together (BucketBatchSampler).")
    B, C, T = len(items), max(x.shape[0] for x in xs), ts.pop()
    x = torch.zeros(B, C, T, dtype=torch.float32)  # (B, C, T)
    pos = torch.full((B, C, 3), float("nan"), dtype=torch.float32)  # (B, C, 3)
    ch_type = torch.full((B, C), PAD_CH_TYPE, dtype=torch.int64)  # (B, C)
    ch_mask = torch.zeros(B, C, dtype=torch.bool)  # (B, C)
    for b, it in enumerate(items):
        c = xs[b].shape[0]
        x[b, :c] = xs[b]
        pos[b, :c] = _as_tensor(it["pos"], torch.float32)
        ch_type[b, :c] = _as_tensor(it["ch_type"], torch.int64)
        ch_mask[b, :c] = _as_tensor(it["ch_mask"], torch.bool)
    return {
        "x": x,
        "pos": pos,
        "ch_type": ch_type,
        "ch_mask": ch_mask,
        "sfreq": torch.tensor([float(it["sfreq"]) for it in items], dtype=torch.float32),  # (B,)
        "y": torch.tensor([int(it["y"]) for it in items], dtype=torch.int64),  # (B,)
        "subject": [str(it["subject"]) for it in items],
    }


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of positions ``0..len(lengths)-1`` whose ``lengths`` (n_times) are equal.

    With ``shuffle`` the order inside each bucket and the order of batches change with the seed
    and with :meth:`set_epoch`; without it the batches are in index order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise NeurosigError(f"BucketBatchSampler: batch_size must be a positive integer, got {batch_size!r}.")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches: list[list[int]] = []
        for length in np.unique(self.lengths):
            idx = np.flatnonzero(self.lengths == length)
            if self.shuffle:
                idx = rng.permutation(idx)
            for s in range(0, idx.size, self.batch_size):
                chunk = idx[s : s + self.batch_size]
                if self.drop_last and chunk.size < self.batch_size:
                    continue
                batches.append(chunk.tolist())
        if self.shuffle:
            order = rng.permutation(len(batches))
            batches = [batches[i] for i in order]
        else:
            batches.sort(key=lambda b: b[0])
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        n = 0
        for length in np.unique(self.lengths):
            k = int(np.count_nonzero(self.lengths == length))
            n += k // self.batch_size if self.drop_last else -(-k // self.batch_size)
        return n
