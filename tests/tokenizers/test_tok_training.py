"""Lightning training of tokenizers, the reconstruction report and the code export."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neurosig import NeurosigError
from neurosig.tokenizers import load_tokenizer
from neurosig.training.tokenizer import _Acc, band_errors, fit_tokenizer, load_fit_config, reconstruction_report


def _items(n, c, t, seed):
    g = np.random.default_rng(seed)
    tt = np.arange(t) / 200.0
    out = []
    for _ in range(n):
        f = g.uniform(3, 30, size=(c, 1))
        x = 40 * np.sin(2 * np.pi * f * tt + g.uniform(0, 6, size=(c, 1))) + 5 * g.standard_normal((c, t))
        pos = g.standard_normal((c, 3))
        pos = 0.09 * pos / np.linalg.norm(pos, axis=1, keepdims=True)
        out.append({"x": torch.tensor(x, dtype=torch.float32), "pos": torch.tensor(pos, dtype=torch.float32),
                    "ch_type": torch.zeros(c, dtype=torch.long), "ch_mask": torch.ones(c, dtype=torch.bool),
                    "sfreq": 200.0, "y": -1, "subject": "s"})
    return out


def _collate(items):
    return {"x": torch.stack([i["x"] for i in items]), "pos": torch.stack([i["pos"] for i in items]),
            "ch_type": torch.stack([i["ch_type"] for i in items]), "ch_mask": torch.stack([i["ch_mask"] for i in items]),
            "sfreq": 200.0}


class _DM(L.LightningDataModule):
    def __init__(self):
        super().__init__()
        self.train, self.val = _items(32, 3, 400, 0), _items(8, 3, 400, 1)

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=8, shuffle=True, collate_fn=_collate, generator=torch.Generator().manual_seed(0))

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=8, collate_fn=_collate)


TINY = {"kernel_sizes": [5, 25], "branch_channels": 8, "code_dim": 16, "n_levels": 2, "codebook_size": 32, "hidden": 64}


def test_fit_lowers_loss_and_exports(tmp_path):
    tok = fit_tokenizer("rvq", TINY, _DM(), tmp_path / "run", max_steps=80, progress=False,
                        lr=5e-3, warmup_steps=5, trainer={"val_every_n_steps": 30, "loggers": []})
    summary = json.loads((tmp_path / "run" / "fit_summary.json").read_text())
    assert summary["steps"] == 80
    # the export records the steps that ran (max_steps=80), not OptimSpec's default 5000
    assert json.loads((tmp_path / "run" / "config.json").read_text())["extra"]["fit"]["optim"]["max_steps"] == 80
    assert summary["loss_last"] < 0.85 * summary["loss_first"]
    again = load_tokenizer(tmp_path / "run")
    batch = _collate(_DM().val)
    with torch.no_grad():
        assert torch.equal(again.encode(batch["x"], batch["pos"]), tok.encode(batch["x"], batch["pos"]))
        rep = reconstruction_report(again, [batch], figures=tmp_path / "fig")
    assert rep["nmse"] < rep["baseline/nmse"]
    assert 0 < rep["codebook_usage"] <= 1 and rep["perplexity"] >= 1
    assert rep["dead_codes"] == sum(round((1 - u) * 32) for u in rep["usage_per_level"])
    for f in ("traces.png", "spectra.png", "code_usage.png"):
        assert (tmp_path / "fig" / f).stat().st_size > 1000


def test_metric_accumulator_against_numpy():
    from scipy.stats import pearsonr

    g = np.random.default_rng(0)
    x = g.standard_normal((5, 400))
    y = x + 0.5 * g.standard_normal((5, 400))
    a = _Acc()
    a.add(x, y, 200.0)
    r = a.result()
    assert r["pcc"] == pytest.approx(np.mean([pearsonr(x[i], y[i])[0] for i in range(5)]), abs=1e-9)
    xc = x - x.mean(-1, keepdims=True)
    assert r["nmse"] == pytest.approx(((x - y) ** 2).sum() / (xc**2).sum())
    same = _Acc()
    same.add(x, x.copy(), 200.0)
    assert same.result()["nmse"] == 0 and same.result()["pcc"] == pytest.approx(1.0)
    assert same.result()["spec_pcc"] == pytest.approx(1.0)
    shifted = _Acc()  # a circular shift keeps the power spectrum: phase-insensitive metric stays 1
    shifted.add(x, np.roll(x, 7, axis=-1), 200.0)
    assert shifted.result()["spec_pcc"] == pytest.approx(1.0) and shifted.result()["pcc"] < 0.5
    base = _Acc()
    base.add(x, np.repeat(x.mean(-1, keepdims=True), 400, -1), 200.0)
    assert base.result()["spec_pcc"] == 0.0
    for band in ("delta", "theta", "alpha", "beta", "gamma"):
        assert base.result()[f"band_nmse/{band}"] == pytest.approx(1.0)  # the mean has no band power


def test_band_errors_locate_the_error():
    t = np.arange(400) / 200.0
    x = np.sin(2 * np.pi * 10 * t)[None] + np.sin(2 * np.pi * 20 * t)[None]
    y = np.sin(2 * np.pi * 20 * t)[None]  # misses the 10 Hz (alpha) component only
    e = band_errors(x, y, 200.0)
    assert e["alpha"][0] == pytest.approx(e["alpha"][1]) and e["alpha"][1] > 0
    assert e["beta"][0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name", ["tf", "rvq", "vq", "tf.debug", "rvq.debug", "vq.debug"])
def test_recipes_load_and_build(name):
    from neurosig.config import CONFIG_DIR
    from neurosig.tokenizers import build_tokenizer

    cfg = load_fit_config(CONFIG_DIR / "tokenizer" / f"{name}.yaml")
    tok = build_tokenizer(cfg.kind, cfg.tokenizer)
    assert tok.patch_len == 200 and cfg.optim.max_steps > 0


def test_fit_rejects_unknown_options(tmp_path):
    with pytest.raises(NeurosigError, match="unknown option 'learning_rate'"):
        fit_tokenizer("rvq", TINY, _DM(), tmp_path, learning_rate=1.0)
    with pytest.raises(NeurosigError, match="kind='bpe' is not a tokenizer"):
        from neurosig.training.tokenizer import TokenizerFitConfig

        TokenizerFitConfig(kind="bpe")


def test_report_progress_total_is_the_windows_evaluated(monkeypatch):
    import tqdm

    bars = []

    class _Bar:
        def __init__(self, *a, total=None, **k):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            pass

    monkeypatch.setattr(tqdm, "tqdm", _Bar)
    from neurosig.tokenizers import build_tokenizer

    tok = build_tokenizer("rvq", TINY)
    val = _DM().val
    batches = [_collate(val[:5]), _collate(val[5:])]  # 8 windows, far fewer than max_windows
    assert reconstruction_report(tok, batches)["n_windows"] == 8
    assert (bars[-1].total, bars[-1].n) == (8, 8)
    # a generator with a known size, cut at max_windows inside a batch: exactly max_windows are evaluated
    rep = reconstruction_report(tok, (b for b in batches), max_windows=6, n_windows=8)
    assert rep["n_windows"] == 6 and (bars[-1].total, bars[-1].n) == (6, 6)


def test_fit_reports_token_throughput():
    from neurosig.tokenizers import build_tokenizer
    from neurosig.training.callbacks import TokensPerSecond
    from neurosig.training.tokenizer import TokenizerModule

    module = TokenizerModule(build_tokenizer("rvq", TINY))
    tps = TokensPerSecond()
    tr = L.Trainer(max_steps=2, callbacks=[tps], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, limit_val_batches=0, accelerator="cpu")
    tr.fit(module, datamodule=_DM())
    assert module.last_tokens == 8 * 3 * 2  # windows x channels x 1 s patches of the last batch
    assert tps.rate > 0 and float(tr.progress_bar_metrics["perf/tokens_per_s"]) > 0  # was 0.000 on every fit
