"""Shard store: items match the pipeline output, manifest columns, torch views, path validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.datasets import MANIFEST_COLUMNS, FileSpec, ShardStore, build_store
from neurosig.io.synthetic import synthetic_eeg, write_edf
from neurosig.preprocessing import Pipeline, PipelineConfig, WindowConfig

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, window={"length_s": 4.0}, chunk_s=10.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("st")
    a = write_edf(d / "sub-01_a.edf", ["Fp1", "Cz", "O2"], 200.0, 30, synthetic_eeg(3, 6000, 200.0, seed=1))
    b = write_edf(d / "sub-02_b.edf", ["Fp1", "Cz", "O2", "Pz", "EOG"], 200.0, 20, synthetic_eeg(5, 4000, 200.0, seed=2))
    build_store([FileSpec(a, label=1), FileSpec(b, label=0, extras={"split": "test", "dataset": "toy"})], d / "store",
                config=CFG, progress=False)
    return d, a, b


def test_items_equal_pipeline_windows(store):
    d, a, _ = store
    s = ShardStore(d / "store")
    assert list(s.manifest.columns) == MANIFEST_COLUMNS
    assert len(s) == 7 + 5  # 30 s / 4 s + 20 s / 4 s
    pipe = Pipeline(PipelineConfig(**{k: v for k, v in CFG.items() if k != "window"}, window=WindowConfig(length_s=4.0)))
    _, wins, gen = pipe.iter_windows(pipe.read(a), label=1)
    ref = [w for _, w in gen]
    rows = np.flatnonzero(s.manifest["subject"] == "01")
    for k, i in enumerate(rows):
        item = s[int(i)]
        np.testing.assert_array_equal(item["x"], ref[k])
        assert item["x"].dtype == np.float32 and item["x"].shape == (3, 400)
        assert item["y"] == 1 and item["subject"] == "01" and item["sfreq"] == 100.0
    m = s.manifest
    assert set(m["split"]) == {"", "test"} and set(m["dataset"]) == {"", "toy"}
    assert m.loc[m.subject == "02", "ch_names"].iloc[0] == "Fp1,Cz,O2,Pz"  # EOG not picked (ch_types default)
    assert m["has_positions"].all() and (m["n_times"] == 400).all()
    it = s[int(rows[0])]
    assert it["ch_type"].tolist() == [0, 0, 0] and it["ch_mask"].all() and np.isfinite(it["pos"]).all()


def test_subset_and_torch_views(store):
    import torch

    from neurosig.datasets import BucketBatchSampler, WindowDataset, collate_windows

    d, _, _ = store
    s = ShardStore(d / "store")
    sub = s.subset([len(s) - 1, 0])
    np.testing.assert_array_equal(sub[1]["x"], s[0]["x"])
    ds = WindowDataset(s)
    i3 = int(np.flatnonzero(s.manifest.n_channels == 3)[0])
    i4 = int(np.flatnonzero(s.manifest.n_channels == 4)[0])
    batch = collate_windows([ds[i3], ds[i4]])
    assert batch["x"].shape == (2, 4, 400) and batch["x"].dtype == torch.float32
    assert batch["ch_mask"].tolist() == [[True, True, True, False], [True, True, True, True]]
    assert batch["ch_type"][0, 3] == -1 and torch.isnan(batch["pos"][0, 3]).all() and batch["x"][0, 3].abs().sum() == 0
    assert batch["y"].tolist() == [1, 0] and batch["subject"] == ["01", "02"]
    with pytest.raises(NeurosigError, match="different lengths"):
        collate_windows([{**ds[0], "x": ds[0]["x"][:, :10]}, ds[1]])
    loader = torch.utils.data.DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, 5, shuffle=True, seed=0), collate_fn=collate_windows)
    seen = sum(b["x"].shape[0] for b in loader)
    assert seen == len(s)


def test_bucket_sampler():
    from neurosig.datasets import BucketBatchSampler

    lengths = [10, 20, 10, 20, 10, 30]
    bs = BucketBatchSampler(lengths, 2)
    batches = list(bs)
    assert batches == [[0, 2], [1, 3], [4], [5]] and len(bs) == 4
    assert all(len({lengths[i] for i in b}) == 1 for b in batches)
    sh = BucketBatchSampler(lengths, 2, shuffle=True, seed=1, drop_last=True)
    assert len(sh) == 2 and sorted(map(sorted, sh)) == [[0, 2], [1, 3]] or all(len(b) == 2 for b in sh)
    a = list(BucketBatchSampler(lengths * 5, 3, shuffle=True, seed=7))
    assert a == list(BucketBatchSampler(lengths * 5, 3, shuffle=True, seed=7))  # deterministic per seed
    sh2 = BucketBatchSampler(lengths * 5, 3, shuffle=True, seed=7)
    sh2.set_epoch(1)
    assert list(sh2) != a


def test_manifest_path_outside_store_raises(store, tmp_path):
    import shutil

    d, _, _ = store
    copy = tmp_path / "copy"
    shutil.copytree(d / "store", copy)
    man = (copy / "manifest.csv").read_text().splitlines()
    head, first = man[0], man[1]
    cols = head.split(",")
    i = cols.index("shard")
    cells = first.split(",")
    cells[i] = "../../etc/passwd"
    (copy / "manifest.csv").write_text("\n".join([head, ",".join(cells), *man[2:]]) + "\n")
    with pytest.raises(NeurosigError, match=r"shard path '\.\./\.\./etc/passwd' points outside the store"):
        ShardStore(copy)
    cells[i] = "/etc/passwd"
    (copy / "manifest.csv").write_text("\n".join([head, ",".join(cells), *man[2:]]) + "\n")
    with pytest.raises(NeurosigError, match="must be relative to the store"):
        ShardStore(copy)


def test_missing_store_raises(tmp_path):
    with pytest.raises(NeurosigError, match="does not exist; build it with: neurosig preprocess"):
        ShardStore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeurosigError, match="holds no processed files"):
        ShardStore(tmp_path / "empty")


def test_part_records_provenance(store):
    d, a, _ = store
    s = ShardStore(d / "store")
    key = s.manifest.loc[0, "part"]
    part = s.part_info(key)
    prov = part["provenance"]
    assert prov["pipeline_hash"] == s.manifest.loc[0, "pipeline_hash"]
    assert prov["source_sha256"] == s.manifest.loc[0, "source_hash"]
    assert set(prov["versions"]) >= {"neurosig", "mne", "numpy", "scipy"}
    assert prov["pipeline"]["h_freq"] == 40.0 and prov["steps"]["resample"] == [1, 2]
    import hashlib

    assert hashlib.sha256(open(part["source"], "rb").read()).hexdigest() == part["source_hash"]
    json.dumps(part)  # plain JSON


def test_string_columns_stay_strings(tmp_path):
    """Subjects/keys that look like numbers (``007``, ``1e5``) survive the CSV round trip."""
    f = write_edf(tmp_path / "r.edf", ["Fp1", "Cz"], 100.0, 8, synthetic_eeg(2, 800, 100.0))
    build_store([FileSpec(f, subject="007", session="1e5")], tmp_path / "st", config=CFG, progress=False)
    m = ShardStore(tmp_path / "st").manifest
    assert m.subject[0] == "007" and m.session[0] == "1e5" and isinstance(m.pipeline_hash[0], str)


def test_pickles_without_shard_data(store):
    """DataLoader workers receive the store by pickle: paths travel, mapped shards do not."""
    import pickle

    d, _, _ = store
    s = ShardStore(d / "store")
    before = len(pickle.dumps(s))
    xs = [s[i]["x"] for i in range(len(s))]  # maps every shard
    shard_bytes = sum(x.nbytes for x in xs)
    blob = pickle.dumps(s)
    assert len(blob) - before < shard_bytes / 10
    s2 = pickle.loads(blob)
    assert not s2._mmaps
    np.testing.assert_array_equal(s2[0]["x"], xs[0])
