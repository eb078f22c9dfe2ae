"""Tokenizer contract: shapes, padding, round trip, save/load, masks, learning, errors."""

from __future__ import annotations

import json

import pytest
import torch

from neurosig import NeurosigError
from neurosig.tokenizers import TOKENIZERS, build_tokenizer, load_tokenizer

SMALL = {
    "rvq": {"kernel_sizes": [5, 25], "branch_channels": 8, "code_dim": 16, "n_levels": 2, "codebook_size": 32, "hidden": 64},
    "vq": {"kernel_sizes": [5, 25], "branch_channels": 8, "code_dim": 16, "codebook_size": 32, "hidden": 64},
    "tf": {"freq_dim": 16, "freq_layers": 1, "freq_heads": 2, "time_channels": 8, "code_dim": 16, "codebook_size": 32, "hidden": 64},
}


def small(kind, **over):
    cfg = {**SMALL[kind], "sensors": {"name_free": True, "hidden": 32}, **over}
    return build_tokenizer(kind, cfg)


def _signal(b, c, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    tt = torch.arange(t) / 200.0
    f = 4 + 20 * torch.rand(b, c, 1, generator=g)
    return 30 * torch.sin(2 * torch.pi * f * tt) + 10 * torch.randn(b, c, t, generator=g)  # µV


def _pos(b, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(b, c, 3, generator=g), dim=-1) * 0.09


def test_registry_complete():
    assert set(TOKENIZERS) == {"tf", "rvq", "vq"}


@pytest.mark.parametrize("kind", sorted(SMALL))
@pytest.mark.parametrize("n_ch,n_times", [(1, 200), (3, 450), (19, 100), (64, 400)])
def test_shapes_any_channel_count(kind, n_ch, n_times):
    tok = small(kind).eval()
    x = _signal(2, n_ch, n_times)
    n = -(-n_times // 200)
    with torch.no_grad():
        out = tok({"x": x, "pos": _pos(2, n_ch)})
    assert out.codes.shape == (2, n_ch, n, tok.n_levels) and out.codes.dtype == torch.long
    assert out.quantized.shape == (2, n_ch, n, tok.embed_dim)
    assert out.reconstruction.shape == (2, n_ch, n * 200)
    assert len(tok.codebook_sizes) == tok.n_levels
    for lvl, k in enumerate(tok.codebook_sizes):
        assert 0 <= int(out.codes[..., lvl].min()) and int(out.codes[..., lvl].max()) < k
    assert all(k.startswith("tok/") for k in out.losses)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_round_trip_eval(kind):
    tok = small(kind)
    x = _signal(2, 3, 450)
    pos = _pos(2, 3)
    tok.train()
    tok({"x": x, "pos": pos})  # k-means init + one EMA update
    tok.eval()
    with torch.no_grad():
        out = tok({"x": x, "pos": pos})
        codes = tok.encode(x, pos=pos)
        rec = tok.decode(codes, pos=pos)
        emb = tok.embed(x, pos=pos)
    assert torch.equal(codes, out.codes)
    torch.testing.assert_close(rec, out.reconstruction, atol=0, rtol=0)
    torch.testing.assert_close(emb, out.quantized, atol=0, rtol=0)
    torch.testing.assert_close(tok.lookup(codes), out.quantized, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_padded_channels_are_ignored(kind):
    tok = small(kind).eval()
    x = _signal(2, 4, 400)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    ch_type = torch.zeros(2, 4, dtype=torch.long).masked_fill(~mask, -1)
    pos = _pos(2, 4).masked_fill(~mask[..., None], float("nan"))
    with torch.no_grad():
        a = tok({"x": x, "pos": pos, "ch_type": ch_type, "ch_mask": mask})
        x2 = x.clone()
        x2[~mask] = 1e6  # garbage in padded channels changes nothing
        b = tok({"x": x2, "pos": pos, "ch_type": ch_type, "ch_mask": mask})
    assert torch.equal(a.codes, b.codes)
    for k in a.losses:
        torch.testing.assert_close(a.losses[k], b.losses[k])
    assert (a.reconstruction[~mask] == 0).all() and (a.codes[~mask] == 0).all()
    assert a.token_mask.shape == (2, 4, 2) and torch.equal(a.token_mask[..., 0], mask)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_save_load_identical_codes(kind, tmp_path):
    tok = small(kind)
    x = _signal(2, 3, 600)
    tok.train()
    for _ in range(2):
        tok({"x": x, "pos": _pos(2, 3)})
    tok.eval()
    tok.save_pretrained(tmp_path / "m")
    again = load_tokenizer(tmp_path / "m")
    assert type(again) is type(tok)
    with torch.no_grad():
        assert torch.equal(tok.encode(x, pos=_pos(2, 3)), again.encode(x, pos=_pos(2, 3)))


def test_from_pretrained_missing_or_extra_keys_raise(tmp_path):
    from safetensors.torch import load_file, save_file

    tok = small("rvq")
    d = tmp_path / "m"
    tok.save_pretrained(d)
    state = load_file(str(d / "model.safetensors"))
    missing = dict(state)
    missing.pop(sorted(missing)[0])
    save_file(missing, str(d / "model.safetensors"))
    with pytest.raises(NeurosigError, match="missing 1 key"):
        load_tokenizer(d)
    extra = dict(state)
    extra["surprise.weight"] = torch.zeros(2)
    save_file(extra, str(d / "model.safetensors"))
    with pytest.raises(NeurosigError, match="unexpected 1 key"):
        load_tokenizer(d)


def test_load_tokenizer_rejects_other_models(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "backbone", "config": {}}))
    with pytest.raises(NeurosigError, match="not a tokenizer"):
        load_tokenizer(tmp_path)


def test_tf_masks_are_complementary():
    tok = small("tf").train()
    x = _signal(1, 2, 800)
    prep = tok._prepare(x)
    inp = tok._flatten(tok._token_inputs(prep["xs"][prep["mask"]], prep["n"]))
    spec_a, time_a = tok._make_masks(inp)
    spec_b, time_b = tok._complement((spec_a, time_a))
    assert torch.equal(spec_a ^ spec_b, torch.ones_like(spec_a))  # disjoint and covering
    assert torch.equal(time_a ^ time_b, torch.ones_like(time_a))
    frac = spec_a.float().mean().item()
    assert 0.3 < frac < 0.7  # mask_ratio 0.5
    # both views are hidden somewhere in every token, and the views change the latent
    assert spec_a.flatten(1).any(1).all() and spec_b.flatten(1).any(1).all()
    cond = tok._cond_tokens(prep)
    za = tok._encode_tokens(inp, cond, mask=(spec_a, time_a))
    zb = tok._encode_tokens(inp, cond, mask=(spec_b, time_b))
    assert not torch.allclose(za, zb)


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_short_training_lowers_loss(kind):
    torch.manual_seed(0)
    tok = small(kind)
    x = _signal(4, 3, 600, seed=1)
    pos = _pos(4, 3)
    opt = torch.optim.AdamW(tok.parameters(), lr=1e-2)
    tok.train()
    losses = []
    for _ in range(60):
        out = tok({"x": x, "pos": pos})
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def test_low_rate_patch_len_for_fmri():
    # fMRI parcels at TR 2 s (0.5 Hz): 8 samples per token, z-scored (type scale 1.0)
    tok = build_tokenizer("rvq", {**SMALL["rvq"], "patch_len": 8, "sfreq": 0.5}).eval()
    x = torch.randn(1, 5, 30)
    ch_type = torch.full((1, 5), 5)
    with torch.no_grad():
        out = tok({"x": x, "pos": _pos(1, 5), "ch_type": ch_type, "sfreq": 0.5})
    assert out.codes.shape == (1, 5, 4, 4) and out.reconstruction.shape == (1, 5, 32)
    tf = build_tokenizer("tf", {**SMALL["tf"], "patch_len": 8, "sfreq": 0.5, "n_fft": 8, "hop": 4, "bin_group": 2}).eval()
    with torch.no_grad():
        assert tf.encode(x, pos=_pos(1, 5), ch_type=ch_type).shape == (1, 5, 4, 1)


def test_scale_is_fixed_and_restored():
    tok = small("rvq")
    assert tok.type_scale[0] == 100.0 and tok.type_scale[5] == 1.0  # eeg µV / 100, fmri z
    prep = tok._prepare(torch.full((1, 1, 200), 50.0))
    torch.testing.assert_close(prep["xs"], torch.full((1, 1, 200), 0.5))


def test_errors_at_the_boundary():
    tok = small("rvq")
    with pytest.raises(NeurosigError, match=r"x must have shape \(B, C, T\)"):
        tok.encode(torch.zeros(3, 200))
    with pytest.raises(NeurosigError, match="pos must have shape"):
        tok.encode(torch.zeros(1, 3, 200), pos=torch.zeros(1, 2, 3))
    with pytest.raises(NeurosigError, match="differs from the tokenizer's sfreq"):
        tok({"x": torch.zeros(1, 3, 200), "sfreq": 256.0})
    with pytest.raises(NeurosigError, match="ch_mask is False for every channel"):
        tok.encode(torch.zeros(1, 2, 200), ch_mask=torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(NeurosigError, match="n_levels"):
        tok.decode(torch.zeros(1, 2, 1, 1, dtype=torch.long))
    with pytest.raises(NeurosigError, match="outside"):
        tok.decode(torch.full((1, 2, 1, 4), 99, dtype=torch.long))
    strict = build_tokenizer("rvq", SMALL["rvq"])  # name_free off (default)
    with pytest.raises(NeurosigError, match="unknown \\(NaN\\) sensor positions.*name_free"):
        strict.encode(torch.zeros(1, 2, 200))
    with pytest.raises(NeurosigError, match="loss_weights: unknown key"):
        build_tokenizer("rvq", {**SMALL["rvq"], "loss_weights": {"tok/spec": 1.0}})
    with pytest.raises(NeurosigError, match="unknown key"):
        build_tokenizer("tf", {"n_fft2": 3})
    with pytest.raises(NeurosigError, match="kind 'abc' is not known"):
        build_tokenizer("abc", {})
    with pytest.raises(NeurosigError, match="multiple of hop"):
        build_tokenizer("tf", {"patch_len": 200, "hop": 70})
    with pytest.raises(NeurosigError, match="n_levels must be 1"):
        build_tokenizer("vq", {"n_levels": 2})
    with pytest.raises(NeurosigError, match="one per branch"):
        build_tokenizer("rvq", {"kernel_sizes": [3, 5], "n_levels": [1, 2, 3]})


def test_loss_weights_total_is_weighted_sum():
    tok = small("rvq", loss_weights={"tok/phase": 0.0, "tok/time": 2.0}).eval()
    with torch.no_grad():
        out = tok({"x": _signal(1, 2, 200), "pos": _pos(1, 2)})
    want = out.losses["tok/amp"] + 2.0 * out.losses["tok/time"] + 0.25 * out.losses["tok/commit"]
    torch.testing.assert_close(out.loss, want)
