"""fMRI through the same path as EEG: the bundled resting-state run, preprocessed as a folder
(its 3-D masks skipped), then the shipped fMRI tokenizer and pretraining recipes, on CPU.

Skips when the bundled run is not fetched (``neurosig data fetch NeuropyconRestingFMRI``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from neurosig.cli.main import main

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_fmri_preprocess_tokenizer_pretrain(tmp_path):
    from neurosig.datasets import ShardStore, bundled

    if not bundled.is_fetched("NeuropyconRestingFMRI"):
        pytest.skip("bundled data not fetched: run neurosig data fetch NeuropyconRestingFMRI")
    folder = bundled.dataset_path("NeuropyconRestingFMRI")  # what `neurosig data path` prints
    n_regions = len((folder / "atlas_regions.tsv").read_text().splitlines()) - 1
    cfg = ROOT / "configs/preprocess/fmri.yaml"  # the shipped recipe: 50 s windows, 20 samples at TR 2.5 s
    store, report = tmp_path / "stores" / "fmri", tmp_path / "build.json"
    assert main(["-q", "preprocess", str(folder), "--config", str(cfg), "--out", str(store), "--json", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["n_files"] == 1 and rep["n_failed"] == 0
    assert sum("not a 4-D BOLD run" in w["warning"] for w in rep["warnings"]) == 3  # mask-CSF/GM/WM
    assert not [w for w in rep["warnings"] if "windows hold only" in w["warning"]]
    m = ShardStore(store).manifest
    assert n_regions == 184 and (m.n_channels == n_regions).all() and (m.n_times == 20).all()
    assert m.sfreq[0] == pytest.approx(0.4)

    tok = tmp_path / "runs" / "tok_fmri"
    assert main(["-q", "tokenizer", "fit", "--config", str(ROOT / "configs/tokenizer/rvq.fmri.yaml"), "--data", str(store),
                 "--max-steps", "4", "--out", str(tok), "--json", str(tmp_path / "tok.json")]) == 0
    pre, summary = tmp_path / "runs" / "pre_fmri", tmp_path / "pre.json"
    assert main(["-q", "pretrain", "fit", "--config", str(ROOT / "configs/pretrain/masked.fmri.yaml"), "--data", str(store),
                 "--tokenizer", str(tok), "--max-steps", "3", "--out", str(pre), "--json", str(summary)]) == 0
    s = json.loads(summary.read_text())
    assert s["steps"] == 3 and math.isfinite(s["loss"]) and (pre / "model").is_dir()
