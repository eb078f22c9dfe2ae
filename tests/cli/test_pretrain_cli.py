"""`neurosig pretrain fit|generate` end to end on a tiny store (CPU) and its user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from neurosig.cli.main import main


def _tiny_config(tmp_path, objective):
    cfg = {
        "model": {"preset": "tiny", "objectives": [objective]},
        "data": {"batch_size": 4, "val_fraction": 0.0},
        "optim": {"lr": 3e-3, "warmup_steps": 1, "max_steps": 3},
        "trainer": {"val_every_n_steps": 0, "unigram_batches": 2, "save_top_k": 0},
    }
    p = tmp_path / f"{objective}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_fit_and_generate_end_to_end(mini_store, tmp_path, capsys):
    store = mini_store
    from neurosig.models._testing import ToyTokenizer, ToyTokenizerConfig

    tokdir = tmp_path / "tok"
    ToyTokenizer(ToyTokenizerConfig(patch_len=200, mean_range=100.0, log_std_min=0.0, log_std_max=5.0)).save_pretrained(tokdir)
    out = tmp_path / "run"
    rc = main(["pretrain", "fit", "--config", str(_tiny_config(tmp_path, "next")), "--data", str(store),
               "--tokenizer", str(tokdir), "--max-steps", "2", "--out", str(out), "--json", str(tmp_path / "s.json")])
    assert rc == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["steps"] == 2 and np.isfinite(s["train/next/ce"]) and s["unigram/mean"] > 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "tokenizer" / "config.json").is_file()
    rc = main(["pretrain", "generate", "--model", str(out / "model"), "--data", str(store), "--out", str(tmp_path / "gen"),
               "--prompt-patches", "1", "--steps", "2", "--top-k", "4"])
    assert rc == 0
    g = json.loads((tmp_path / "gen" / "generate.json").read_text())
    assert g["generated_patches"] == 2 and (tmp_path / "gen" / "generate.png").stat().st_size > 1000
    assert np.isfinite(g["log_psd_rmse_generated_vs_real"])


def test_user_errors_are_one_line(tmp_path, capsys):
    cfg = _tiny_config(tmp_path, "masked")
    assert main(["pretrain", "fit", "--config", str(cfg), "--data", str(tmp_path / "nope")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["pretrain", "fit", "--config", str(tmp_path / "missing.yaml"), "--data", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    (tmp_path / "store").mkdir()
    assert main(["pretrain", "fit", "--config", str(cfg), "--data", str(tmp_path / "store"), "--max-steps", "0"]) == 2
    assert "--max-steps" in capsys.readouterr().err
    assert main(["pretrain", "generate", "--model", str(tmp_path / "nomodel"), "--data", str(tmp_path), "--out", str(tmp_path / "g")]) == 2
    assert "--model" in capsys.readouterr().err


@pytest.mark.parametrize("flags, expect", [(["--top-k", "0"], "--top-k must be an integer >= 1"), (["--steps", "0"], "--steps must be >= 1"),
                                           (["--steps", "-2"], "--steps must be >= 1"), (["--temperature", "-1"], "--temperature must be a finite number >= 0"),
                                           (["--temperature", "nan"], "--temperature must be a finite number >= 0")])
def test_generate_sampling_args_are_checked_first(tmp_path, capsys, flags, expect):
    # --top-k 0 was a RuntimeError about tensor sizes; --steps 0 "succeeded" with an empty plot
    rc = main(["pretrain", "generate", "--model", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "g"), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and expect in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()


def test_spectral_comparison_uses_one_frequency_grid():
    """generate paired Welch bins index by index across grids of different lengths (400 generated vs 300 real
    samples): a continuation equal to the real signal over their common part scored a non-zero RMSE."""
    from neurosig.cli.pretrain import spectral_comparison

    rng = np.random.default_rng(0)
    real = rng.standard_normal((3, 300))
    generated = np.concatenate([real, rng.standard_normal((3, 100))], axis=1)  # the same signal, then 100 more samples
    res, spectra = spectral_comparison(real, real, generated, 200.0)
    assert res["compared_samples"] == 300
    assert res["log_psd_rmse_generated_vs_real"] == pytest.approx(0.0, abs=1e-12)
    assert res["log_psd_rmse_tokenizer_vs_real"] == pytest.approx(0.0, abs=1e-12)
    assert len({len(f) for f, _ in spectra.values()}) == 1
    res, spectra = spectral_comparison(real[:, :0], real[:, :0], generated, 200.0)
    assert "log_psd_rmse_generated_vs_real" not in res and "has 0 samples" in res["spectra_skipped"] and not spectra


def test_generate_says_why_the_spectra_are_missing(mini_store, tmp_path, capsys):
    from neurosig.models._testing import ToyTokenizer, ToyTokenizerConfig

    tokdir = tmp_path / "tok"
    ToyTokenizer(ToyTokenizerConfig(patch_len=200, mean_range=100.0, log_std_min=0.0, log_std_max=5.0)).save_pretrained(tokdir)
    out = tmp_path / "run"
    assert main(["pretrain", "fit", "--config", str(_tiny_config(tmp_path, "next")), "--data", str(mini_store),
                 "--tokenizer", str(tokdir), "--max-steps", "1", "--out", str(out)]) == 0
    import re

    from neurosig.datasets import ShardStore

    n_patches = -(-int(ShardStore(mini_store).manifest["n_times"].max()) // 200)
    capsys.readouterr()
    assert main(["pretrain", "generate", "--model", str(out / "model"), "--data", str(mini_store), "--out", str(tmp_path / "gen"),
                 "--prompt-patches", str(n_patches)]) == 0
    g = json.loads((tmp_path / "gen" / "generate.json").read_text())
    assert "log_psd_rmse_generated_vs_real" not in g and "no spectral comparison" in g["spectra_skipped"]
    assert re.search(r"no spectral comparison: the real continuation after the prompt has 0 samples", capsys.readouterr().out)


def test_fit_prints_and_writes_json_on_rank_zero_only(tmp_path, capsys, monkeypatch):
    from lightning.pytorch.utilities import rank_zero_only

    import neurosig.training.pretrain as pretrain

    monkeypatch.setattr(pretrain, "fit_pretrain", lambda *a, **k: {"val/mlm/ce": 1.0, "val_step": 3, "steps": 3})
    (tmp_path / "store").mkdir()
    argv = ["pretrain", "fit", "--config", str(_tiny_config(tmp_path, "masked")), "--data", str(tmp_path / "store"),
            "--out", str(tmp_path / "run"), "--json", str(tmp_path / "s.json")]
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    assert main(argv) == 0
    assert "pretrain:" not in capsys.readouterr().out and not (tmp_path / "s.json").exists()
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    assert main(argv) == 0
    assert "val/mlm/ce=1 (validation at step 3)" in capsys.readouterr().out and (tmp_path / "s.json").is_file()
