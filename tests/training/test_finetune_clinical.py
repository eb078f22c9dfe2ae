"""Clinical task paths end to end on the corpora miniatures: store → fine-tune → metrics.

Abnormal EEG (TUAB layout, standard train/test split), seizure detection (CHB-MIT layout, events),
sleep staging (Sleep-EDF layout, 30 s epochs with neighbours).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
miniatures = pytest.importorskip("miniatures")

from neurosig.datasets import ShardStore, build_store  # noqa: E402
from neurosig.datasets.registry import get_adapter  # noqa: E402
from neurosig.training.finetune import FinetuneConfig, WindowTable, fit_one_seed  # noqa: E402

TINY = dict(epochs=2, patience=5, batch_size=8, lr=3e-3, mode="full", pooling="attention",
            scratch=dict(d_model=16, n_layers=1, n_heads=2, patch_len=200))


def _store(name, tmp_path):
    root = tmp_path / name
    root.mkdir()
    getattr(miniatures, f"make_{name}")(root)
    build_store(root, tmp_path / f"{name}_store", adapter=name, config=get_adapter(name).default_config(), progress=False)
    return ShardStore(tmp_path / f"{name}_store")


def test_abnormal_eeg_tuab(tmp_path):
    table = WindowTable.from_store(_store("tuab", tmp_path))
    out = fit_one_seed(table, FinetuneConfig(task="classification", **TINY), seed=0, progress=False)
    # the standard TUAB test split is the test set; its subjects never train
    assert set(table.split[out["split"]["test"]]) == {"test"}
    assert set(table.subject[out["split"]["train"]]).isdisjoint(table.subject[out["split"]["test"]])
    assert 0.0 <= out["metrics"]["balanced_accuracy"] <= 1.0 and out["per_subject"]["n_groups"] == 2


def test_seizure_detection_chbmit(tmp_path):
    table = WindowTable.from_store(_store("chbmit", tmp_path))
    cfg = FinetuneConfig(task="seizure", fractions=(0.5, 0.25, 0.25), events=dict(tolerance_s=5.0), **TINY)
    out = fit_one_seed(table, cfg, seed=0, progress=False)
    ev = out["events"]
    assert {"event_sensitivity", "event_precision", "false_alarms_per_24h"} <= set(ev)
    assert ev["false_alarms_per_24h"] >= 0


def test_sleep_staging_sleepedf(tmp_path):
    table = WindowTable.from_store(_store("sleepedf", tmp_path))
    cfg = FinetuneConfig(task="sleep", context=1, **TINY)
    # the miniature holds two nights: train on one, validate/test on halves of the other
    recs = sorted(set(table.recording))
    assert len(recs) == 2
    lab = table.y >= 0
    a = np.flatnonzero(lab & (table.recording == recs[1]))
    split = {"train": np.flatnonzero(lab & (table.recording == recs[0])), "val": a[: len(a) // 2], "test": a[len(a) // 2:]}
    out = fit_one_seed(table, cfg, seed=0, progress=False, split=split)
    assert out["prob"].shape == (len(out["split"]["test"]), table.n_classes)
    assert np.allclose(out["prob"].sum(1), 1.0, atol=1e-5)


def test_class_names_come_from_the_store_vocabulary_not_the_labels_present(tmp_path, monkeypatch):
    """No N1 epoch in the store: names were [W, N2, N3, REM] for 5 classes (a mislabelled confusion matrix, then an
    IndexError in the report and no metrics.json)."""
    from neurosig.evaluation.reports import write_report

    monkeypatch.setattr(miniatures, "SLEEP_HYPNOGRAM", tuple(h for h in miniatures.SLEEP_HYPNOGRAM if h[0] != "Sleep stage 1"))
    table = WindowTable.from_store(_store("sleepedf", tmp_path))
    assert 1 not in set(table.y.tolist()) and 4 in set(table.y.tolist())
    assert table.class_names == ["W", "N1", "N2", "N3", "REM"] and table.n_classes == 5
    y = table.y[table.y >= 0]
    prob = np.eye(5)[y] * 0.9 + 0.02
    write_report(tmp_path / "rep", {"balanced_accuracy": 1.0}, y, prob, table.class_names)
    assert (tmp_path / "rep" / "confusion.png").is_file() and (tmp_path / "rep" / "roc.png").is_file()


def test_sleep_context_skips_the_dropped_movement_epoch(tmp_path):
    """The miniature night drops 'Movement time' at 180-210 s: the N2 epoch at 210 s has no -1 neighbour."""
    from neurosig.training.finetune import ContextDataset

    table = WindowTable.from_store(_store("sleepedf", tmp_path))
    rec = table.recording[0]
    row = {float(t): j for j, t in enumerate(table.start) if table.recording[j] == rec}
    assert 180.0 not in row and {150.0, 210.0, 240.0} <= set(row)
    it = ContextDataset(table, np.arange(len(table.y)), 1)[row[210.0]]
    assert it["ctx_mask"].tolist() == [False, True, True]
    np.testing.assert_array_equal(it["ctx_x"][2], table.dataset[row[240.0]]["x"])


def test_seizure_truth_is_read_from_annotation_intervals_kept_in_the_store(tmp_path):
    """A store whose part records keep the file's annotations (``annotations``: [onset_s, duration_s, description])
    gives the annotated seizures as the truth, mapped through the pipeline's window.event_labels; one without gives
    None (window labels are then the truth)."""
    import json

    store = _store("chbmit", tmp_path)
    table = WindowTable.from_store(store)
    rec = table.recording[0]
    # the store builder keeps each file's annotations: the miniature's seizures (chb01_03 40-76 s, chb21_01 two)
    truth = {"chb01_01.edf": [], "chb01_03.edf": [(40.0, 76.0)], "chb01_04.edf": [], "chb21_01.edf": [(10.0, 20.0), (90.0, 100.0)]}
    assert {r.split("/")[-1]: table.true_events(r) for r in set(table.recording.tolist())} == truth
    key = str(table.part[0])
    p = store.root / "parts" / f"{key}.json"
    doc = json.loads(p.read_text())
    doc["annotations"] = [[0.0, 96.0, "bckg"], [96.0, 8.0, "seizure"], [104.0, 16.0, "bckg"], [50.0, 1.0, "note"]]
    p.write_text(json.dumps(doc))
    assert WindowTable.from_store(ShardStore(store.root)).true_events(rec) == [(96.0, 104.0)]
    del doc["annotations"]  # a store made before parts kept annotations
    p.write_text(json.dumps(doc))
    assert WindowTable.from_store(ShardStore(store.root)).true_events(rec) is None
