"""The pieces of `neurosig bench real` (tokenizer fit, pretraining, feature extraction) for every
bench tokenizer, on a few synthetic trials: shapes and the invariants of each feature block."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.cli.bench import BENCH_CONFIG, BENCH_TOKENIZERS, DEFAULT_TOKENIZER, _embed, _fit_tokenizer, _pretrain, bench_config
from neurosig.evaluation.benchmark import BenchSet, crop_items


def test_bench_config_is_a_copy_and_names_its_tokenizer():
    cfg = bench_config("tf")
    assert cfg["tokenizer"]["kind"] == "tf" and BENCH_CONFIG["tokenizer"]["kind"] == DEFAULT_TOKENIZER
    cfg["tokenizer"]["config"]["patch_len"] = 7
    cfg["heads"]["patch"].append(["x"])
    assert BENCH_TOKENIZERS["tf"]["config"]["patch_len"] == 50 and BENCH_CONFIG["heads"]["patch"] == [["patch"]]
    with pytest.raises(NeurosigError, match="--tokenizer 'nope'.*rvq"):
        bench_config("nope")


def test_bad_tokenizer_is_a_one_line_error(capsys, tmp_path):
    from neurosig.cli.main import main

    assert main(["bench", "real", "--tokenizer", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--tokenizer 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", sorted(BENCH_TOKENIZERS))
def test_fit_pretrain_embed_shapes(kind, tmp_path):
    cfg = bench_config(kind)
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    rng = np.random.default_rng(0)
    C, n = 3, 6
    pos, ct = np.full((C, 3), np.nan, np.float32), np.zeros(C, np.int64)
    items = []
    for _ in range(8):
        items += crop_items(rng.standard_normal((C, 4 * P)).astype(np.float32) * 1e-5, pos, ct, rate, 4 * P)
    tok = _fit_tokenizer(items, 2, 0, cfg, progress=False)
    model, tok = _pretrain(items, tok, 2, 0, cfg, tmp_path / "m", progress=False)
    x = rng.standard_normal((n, C, 8 * P)).astype(np.float32) * 1e-5  # 8 patches: 4 equal segments of 2
    s = BenchSet("toy", x, np.zeros(n, int), x, np.zeros(n, int), rate, ["a", "b", "c"], ct, pos)
    f = _embed(model, tok, s, x, rate, batch_size=4)  # batches of 4 and 2
    d = cfg["model"]["backbone"]["d_model"]  # the backbone width the bench config asks for
    assert f["emb"].shape == (n, C * d)
    D = f["tokv"].shape[1] // C
    assert f["tokv"].shape == (n, C * D) and f["tokv_t"].shape == (n, C * D * 4) and f["emb_t"].shape == (n, C * d * 4)
    ks = list(getattr(tok, "codebook_sizes", None) or [])
    h = f["codes"].reshape(n, C, -1)
    if ks:
        assert h.shape[-1] == sum(ks)
    # each channel's histogram sums to 1 per quantizer level
    assert np.allclose(h.sum(-1), len(ks) if ks else 1.0, atol=1e-5)
    # the time-resolved blocks average back to the time-mean blocks (segments equal in length)
    for a, b, w in (("tokv", "tokv_t", D), ("emb", "emb_t", d)):
        np.testing.assert_allclose(f[b].reshape(n, C, 4, w).mean(2), f[a].reshape(n, C, w), rtol=1e-4, atol=1e-6)
    assert all(np.isfinite(v).all() for v in f.values())


def test_tokenizer_fit_is_reproducible_per_seed_and_leaves_the_global_generator_alone():
    import torch

    cfg = bench_config(DEFAULT_TOKENIZER)
    rng = np.random.default_rng(1)
    pos, ct = np.full((2, 3), np.nan, np.float32), np.zeros(2, np.int64)
    items = []
    for _ in range(16):
        items += crop_items(rng.standard_normal((2, 200)).astype(np.float32) * 1e-5, pos, ct, 200.0, 200)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = _fit_tokenizer(items, 5, 0, cfg, progress=False).state_dict()
    assert torch.equal(torch.rand(1), before)  # the caller's generator stream is untouched
    b = _fit_tokenizer(items, 5, 0, cfg, progress=False).state_dict()
    c = _fit_tokenizer(items, 5, 1, cfg, progress=False).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(a[k].shape == c[k].shape and not torch.equal(a[k], c[k]) for k in a)


def test_pretraining_is_per_seed_by_default_and_can_be_shared():
    from neurosig.cli.main import build_parser

    p = build_parser()
    assert p.parse_args(["bench", "real"]).pretrain_per_seed is True
    assert p.parse_args(["bench", "real", "--no-pretrain-per-seed"]).pretrain_per_seed is False
    assert BENCH_CONFIG["fold_order"] == "blocked"
    assert "ensemble_c" in BENCH_CONFIG["heads"]  # the drift blocks are a candidate, not forced
    assert BENCH_CONFIG["heads"]["ensemble_n"] == BENCH_CONFIG["heads"]["ensemble_c"] + [["nspec"]]  # native-rate spectrum: a candidate too
