"""`neurosig tokenizer report` scores the rows the fit held out: the split settings the fit ran
with (val_fraction, seed, exclude_splits, datasets) are recorded in the tokenizer's config.json
and read back; a folder without that record warns that they cannot be reconstructed."""

from __future__ import annotations

import json
import logging

import numpy as np
import yaml

from neurosig.cli.main import main


def _fit(tmp_path, store, val_fraction, seed):
    cfg = {
        "kind": "vq",
        "tokenizer": {"code_dim": 8, "codebook_size": 16, "sensors": {"name_free": True}},
        "data": {"batch_size": 8, "val_fraction": val_fraction},
        "optim": {"lr": 1e-3, "warmup_steps": 1, "max_steps": 1},
        "trainer": {"val_every_n_steps": 0, "save_top_k": 0, "loggers": [], "seed": seed},
    }
    p = tmp_path / "vq.yaml"
    p.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "tok"
    assert main(["tokenizer", "fit", "--config", str(p), "--data", str(store), "--out", str(out)]) == 0
    return out


def _report(out, store, path, *extra):
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda r: records.append(r.getMessage())
    logging.getLogger("neurosig").addHandler(handler)
    try:
        assert main(["tokenizer", "report", "--model", str(out), "--data", str(store), "--json", str(path), *extra]) == 0
    finally:
        logging.getLogger("neurosig").removeHandler(handler)
    return json.loads(path.read_text()), [r for r in records if "held-out rows" in r]


def test_report_uses_the_fits_recorded_split(mini_store, tmp_path):
    from neurosig.datasets.store import ShardStore
    from neurosig.training.data import StoreDataModule

    out = _fit(tmp_path, mini_store, val_fraction=0.5, seed=3)
    rec = json.loads((out / "config.json").read_text())["extra"]["fit"]["split"]
    assert rec["val_fraction"] == 0.5 and rec["seed"] == 3 and rec["exclude_splits"] == ["test"]
    store = ShardStore(mini_store)
    assert not (store.manifest.get("split", np.array([])) == "test").any()  # no test split: auto = the fit's val rows
    want = StoreDataModule(store, 8, val_fraction=0.5, seed=3).indices["val"]  # what the fit validated on
    rep, warned = _report(out, mini_store, tmp_path / "r.json")
    assert rep["split"] == "val" and rep["n_windows"] == len(want) and not warned
    assert rep["val_fraction"] == 0.5 and rep["split_seed"] == 3
    rep, _ = _report(out, mini_store, tmp_path / "r2.json", "--split", "val")
    assert rep["n_windows"] == len(want)

    # a folder written before the record: the rows cannot be reconstructed, and the report says so
    meta = json.loads((out / "config.json").read_text())
    del meta["extra"]["fit"]["split"]
    (out / "config.json").write_text(json.dumps(meta))
    rep, warned = _report(out, mini_store, tmp_path / "r3.json")
    assert len(warned) == 1 and "config.json has no extra.fit.split" in warned[0] and "\n" not in warned[0]
    assert rep["val_fraction"] == 0.5  # extra.fit.data's val_fraction is still used; only the seed is a guess
