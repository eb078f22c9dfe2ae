"""StoreDataModule: test splits never trained on, validation carve, equal-length batches, DDP shards."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.datasets import FileSpec, ShardStore, build_store
from neurosig.io.synthetic import synthetic_eeg, write_edf
from neurosig.training.data import RankShardedBatchSampler, StoreDataModule, split_eligible_rows

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, chunk_s=10.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("dm")
    specs = []
    for i in range(6):
        n_ch = 3 if i % 2 else 4
        names = ["Fp1", "Cz", "O2", "Pz"][:n_ch]
        f = write_edf(d / f"sub-{i:02d}.edf", names, 200.0, 24, synthetic_eeg(n_ch, 4800, 200.0, seed=i))
        split = "test" if i == 5 else "train"
        specs.append(FileSpec(f, subject=f"s{i}", label=i % 2, extras={"split": split, "dataset": "toy"}))
    # a second window length in the same store (4 s vs 2 s windows) to exercise bucketing
    build_store(specs[:3], d / "store", config={**CFG, "window": {"length_s": 4.0}}, progress=False)
    build_store(specs[3:], d / "store", config={**CFG, "window": {"length_s": 2.0}}, progress=False)
    return ShardStore(d / "store")


def test_test_split_is_never_in_train_or_val(store):
    m = store.manifest
    dm = StoreDataModule(store, batch_size=4, val_fraction=0.2, seed=0)
    used = np.concatenate([dm.indices["train"], dm.indices["val"]])
    assert len(used) == int((m["split"] != "test").sum())
    assert not set(m["split"].to_numpy()[used]) & {"test"}
    assert set(dm.indices["train"]).isdisjoint(dm.indices["val"])
    # five training subjects -> the validation carve is subject-disjoint
    tr = set(m["subject"].to_numpy()[dm.indices["train"]])
    va = set(m["subject"].to_numpy()[dm.indices["val"]])
    assert va and not tr & va


def test_split_is_deterministic_and_seeded(store):
    a = split_eligible_rows(store.manifest, val_fraction=0.3, seed=1)
    b = split_eligible_rows(store.manifest, val_fraction=0.3, seed=1)
    np.testing.assert_array_equal(a["val"], b["val"])


def test_batches_have_equal_length_and_padded_channels(store):
    dm = StoreDataModule(store, batch_size=5, val_fraction=0.0, seed=0)
    seen = 0
    for batch in dm.train_dataloader():
        B, C, T = batch["x"].shape
        assert batch["ch_mask"].shape == (B, C) and batch["pos"].shape == (B, C, 3)
        # padded channels are masked out and zero
        pad = ~batch["ch_mask"]
        assert (batch["x"][pad] == 0).all()
        assert T in (200, 400)
        seen += B
    assert seen == len(dm.indices["train"])


def test_rank_shards_are_disjoint_and_equal():
    batches = [[i] for i in range(7)]
    r0 = list(RankShardedBatchSampler(batches, 0, 2))
    r1 = list(RankShardedBatchSampler(batches, 1, 2))
    assert len(r0) == len(r1) == 3
    assert not {b[0] for b in r0} & {b[0] for b in r1}


def test_bad_arguments(store):
    with pytest.raises(NeurosigError, match="batch_size"):
        StoreDataModule(store, batch_size=0)
    with pytest.raises(NeurosigError, match="not in the store"):
        StoreDataModule(store, datasets=["nope"])
    with pytest.raises(NeurosigError, match="val_fraction"):
        split_eligible_rows(store.manifest, val_fraction=1.5)
    with pytest.raises(NeurosigError, match="no windows left"):
        StoreDataModule(store, exclude_splits=("train", "test"))


def test_validation_shards_drop_no_batch_and_too_few_batches_is_one_line():
    """Validation was truncated to len // world_size batches per rank: with fewer validation batches than ranks it
    never ran (and otherwise up to world_size - 1 batches were left out)."""
    batches = [[i] for i in range(7)]
    shards = [RankShardedBatchSampler(batches, r, 3, even=False) for r in range(3)]
    assert sorted(b[0] for s in shards for b in s) == list(range(7))
    assert [len(s) for s in shards] == [len(list(s)) for s in shards] == [3, 2, 2]


def test_too_few_validation_batches_for_the_processes_is_one_line(store):
    class FakeTrainer:
        world_size, global_rank = 4, 1

    dm = StoreDataModule(store, batch_size=64, val_fraction=0.3)
    dm.trainer = FakeTrainer()
    n_val = len(dm.indices["val"])
    assert 0 < n_val
    with pytest.raises(NeurosigError, match=r"'val' split has \d batch\(es\) of data\.batch_size=64 for 4 processes.*data\.val_fraction") as e:
        dm.val_dataloader()
    assert "\n" not in str(e.value)
    dm.trainer.world_size = 1
    dm.val_dataloader()
