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


def _manifest_damages():
    def cut_at_row(b: bytes) -> bytes:
        lines = b.splitlines(keepends=True)
        return b"".join(lines[: len(lines) // 2])

    def cut_mid_row(b: bytes) -> bytes:
        lines = b.splitlines(keepends=True)
        half = b"".join(lines[: len(lines) // 2])
        return half + lines[len(lines) // 2][:25]

    def drop_column(b: bytes) -> bytes:
        import io

        import pandas as pd

        return pd.read_csv(io.BytesIO(b), keep_default_na=False).drop(columns=["sfreq"]).to_csv(index=False).encode()

    return {
        "cut_at_row": (cut_at_row, "window rows but the parts hold"),
        "cut_mid_row": (cut_mid_row, "damaged"),
        "empty": (lambda b: b"", "it is empty"),
        "missing_column": (drop_column, "lacks the column"),
        "binary_junk": (lambda b: bytes(range(256)) * 8, "does not parse"),
    }


@pytest.mark.parametrize("damage", sorted(_manifest_damages()))
@pytest.mark.parametrize("old_marker", [False, True])
def test_damaged_manifest_is_rebuilt_from_parts(store, tmp_path, damage, old_marker):
    import logging
    import shutil

    d, _, _ = store
    good = ShardStore(d / "store")
    copy = tmp_path / "copy"
    shutil.copytree(d / "store", copy)
    if old_marker:  # a store written before store.json counted its windows
        meta = json.loads((copy / "store.json").read_text())
        meta.pop("n_windows", None)
        (copy / "store.json").write_text(json.dumps(meta))
    fn, why = _manifest_damages()[damage]
    (copy / "manifest.csv").write_bytes(fn((copy / "manifest.csv").read_bytes()))
    seen: list[str] = []

    class _H(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    h = _H(logging.WARNING)
    logging.getLogger("neurosig").addHandler(h)
    try:
        s = ShardStore(copy)
    finally:
        logging.getLogger("neurosig").removeHandler(h)
    assert len(seen) == 1 and "manifest.csv is damaged" in seen[0] and why in seen[0] and "\n" not in seen[0]
    assert str(copy) in seen[0] and "neurosig preprocess" in seen[0]
    assert len(s) == len(good)
    assert list(s.manifest.window_id) == list(good.manifest.window_id)
    np.testing.assert_array_equal(s[len(s) - 1]["x"], good[len(good) - 1]["x"])
    # repaired on disk: the next open is quiet and reads the manifest
    logging.getLogger("neurosig").addHandler(h)
    try:
        again = ShardStore(copy)
    finally:
        logging.getLogger("neurosig").removeHandler(h)
    assert len(seen) == 1 and len(again) == len(good)
    assert json.loads((copy / "store.json").read_text())["n_windows"] == len(good)


def test_store_path_is_a_file(tmp_path):
    f = tmp_path / "rec.edf"
    f.write_bytes(b"0")
    with pytest.raises(NeurosigError, match=r"rec\.edf' is a file, not a store folder; pass the folder given as --out") as e:
        ShardStore(f)
    assert "\n" not in str(e.value) and "does not exist" not in str(e.value)


def test_damaged_manifest_in_a_read_only_store_is_read_from_parts(store, tmp_path, monkeypatch):
    import shutil

    import neurosig.datasets.store as store_mod

    d, _, _ = store
    copy = tmp_path / "copy"
    shutil.copytree(d / "store", copy)
    lines = (copy / "manifest.csv").read_bytes().splitlines(keepends=True)
    (copy / "manifest.csv").write_bytes(b"".join(lines[:3]))

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store_mod, "atomic_write_text", refuse)
    s = ShardStore(copy)
    assert len(s) == len(ShardStore(d / "store")) and len((copy / "manifest.csv").read_bytes().splitlines()) == 3
