"""Backbone, objectives, FoundationModel: shapes, masking, any-montage invariances, sharing."""

from __future__ import annotations

import json

import pytest
import torch

from neurosig import NeurosigError
from neurosig.models import (
    PRESETS,
    Backbone,
    BackboneConfig,
    FoundationModel,
    backbone_preset,
    block_time_mask,
    foundation_config,
    unigram_entropy,
)
from neurosig.models._testing import ToyTokenizer
from neurosig.nn.attention import attention, block_causal_mask
from neurosig.nn.posenc import FourierPositionEncoding4D


def _batch(B=3, C=5, T=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, T, generator=g)
    pos = torch.randn(B, C, 3, generator=g) * 0.05
    if B > 1:
        pos[1] = float("nan")  # a recording without positions
    ch_mask = torch.ones(B, C, dtype=torch.bool)
    ch_mask[0, 3:] = False  # padded channels
    ch_type = torch.zeros(B, C, dtype=torch.long)
    ch_type[~ch_mask] = -1
    return dict(x=x, pos=pos, ch_type=ch_type, ch_mask=ch_mask)


def _model(tok, attention_kind="factorised", objectives=("masked", "next"), seed=0, **kw):
    torch.manual_seed(seed)
    cfg = foundation_config("tiny", codebook_sizes=tok.codebook_sizes, objectives=list(objectives),
                            backbone=dict(attention=attention_kind), **kw)
    return FoundationModel(cfg)


@pytest.mark.parametrize("kind", ["full", "factorised"])
def test_backbone_shapes_padding_and_channel_permutation(kind):
    tok = ToyTokenizer()
    m = _model(tok, kind).eval()
    b = _batch()
    hidden, tmask = m.embed(b, tok)
    assert hidden.shape == (3, 5, 5, 32) and tmask.shape == (3, 5, 5)
    assert torch.isfinite(hidden).all()
    assert hidden[0, 3:].abs().max() == 0  # padded channels are exactly zero
    assert not tmask[0, 3:].any() and tmask[0, :3].all()
    # padded channels do not change the real ones: drop them and compare
    b0 = {k: v[:1, :3] for k, v in b.items()}
    h0, _ = m.embed(b0, tok)
    torch.testing.assert_close(h0[0], hidden[0, :3], atol=1e-5, rtol=1e-4)
    # with known positions, permuting channels permutes the output (no fixed montage assumed)
    perm = torch.tensor([2, 0, 4, 1, 3])
    b2 = {k: v[2:3] for k, v in b.items()}
    b2p = {k: v[:, perm] for k, v in b2.items()}
    h2, _ = m.embed(b2, tok)
    h2p, _ = m.embed(b2p, tok)
    torch.testing.assert_close(h2p[0], h2[0, perm], atol=1e-5, rtol=1e-4)


def test_any_channel_count_and_time_length():
    tok = ToyTokenizer()
    m = _model(tok).eval()
    for C, T in [(1, 20), (7, 65), (33, 200)]:
        h, tm = m.embed({"x": torch.randn(2, C, T)}, tok)
        assert h.shape == (2, C, -(-T // 20), 32) and tm.all()


def test_causal_backbone_does_not_see_future():
    tok = ToyTokenizer()
    for kind in ("full", "factorised"):
        m = _model(tok, kind).eval()
        b = _batch(B=1, C=4, T=120)
        codes = tok.encode(b["x"])
        h1 = m.backbone(codes, b["pos"], None, None, causal=True)
        codes2 = codes.clone()
        codes2[:, :, 4:] = (codes2[:, :, 4:] + 3) % 16  # change the future
        h2 = m.backbone(codes2, b["pos"], None, None, causal=True)
        torch.testing.assert_close(h1[:, :, :4], h2[:, :, :4])
        assert (h1[:, :, 4:] - h2[:, :, 4:]).abs().max() > 1e-3


def test_full_and_factorised_attention_helpers_match_reference():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 6, 8, generator=g) for _ in range(3))
    pad = torch.tensor([[False] * 4 + [True] * 2, [True] * 6])  # second row fully padded
    out = attention(q, k, v, key_padding_mask=pad, impl="sdpa")
    assert torch.isfinite(out).all()
    ref = torch.softmax((q[0] @ k[0, :, :4].transpose(-1, -2)) / 8 ** 0.5, -1) @ v[0, :, :4]
    torch.testing.assert_close(out[0], ref, atol=1e-5, rtol=1e-5)
    m = block_causal_mask(2, 3)
    assert m.shape == (6, 6) and m[0, 1] == False and m[1, 0] and m[0, 3]  # noqa: E712


def test_posenc_unknown_positions_use_channel_embedding():
    pe = FourierPositionEncoding4D(16, n_freqs=4)
    pos = torch.full((1, 3, 3), float("nan"))
    out = pe(pos, 2)
    assert out.shape == (1, 3, 2, 16) and torch.isfinite(out).all()
    assert (out[0, 0] - out[0, 1]).abs().max() > 1e-4  # channels distinguishable without positions
    known = pe(torch.zeros(1, 3, 3), 2)
    torch.testing.assert_close(known[0, 0], known[0, 1])  # same position -> same code
    with pytest.raises(NeurosigError, match="pos must have shape"):
        pe(torch.zeros(1, 3, 2), 2)


def test_block_mask_ratio_and_blocks():
    tm = torch.ones(64, 8, 40, dtype=torch.bool)
    tm[:, 6:] = False
    m = block_time_mask(tm, 0.5, 4, torch.Generator().manual_seed(0))
    assert not m[:, 6:].any()
    assert abs(m[:, :6].float().mean().item() - 0.5) < 0.05
    # runs of masked patches are mostly >= 4 long (except at the edges)
    d = torch.diff(m[:, :6].int(), dim=-1)
    starts = (d == 1).sum().item()
    assert m[:, :6].sum().item() / max(starts, 1) >= 3.5


def test_losses_fall_and_beat_unigram_on_predictable_data():
    """A sequence whose codes follow a deterministic rule is learned well below the unigram CE."""
    tok = ToyTokenizer()
    m = _model(tok, "factorised")
    g = torch.Generator().manual_seed(0)
    # sinusoid-like slow means: patch mean cycles over 4 levels per channel -> next token predictable
    B, C, N = 16, 3, 8
    t = torch.arange(N)
    level = ((t[None, None] + torch.randint(0, 4, (B, C, 1), generator=g)) % 4).float()  # (B, C, N)
    x = (level[..., None] - 1.5).expand(B, C, N, 20).reshape(B, C, N * 20) + 0.01 * torch.randn(B, C, N * 20, generator=g)
    codes = tok.encode(x)
    base = unigram_entropy(codes, tok.codebook_sizes)["unigram/mean"]
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first = None
    for step in range(150):
        out = m.compute_losses(codes, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first or {k: float(v.detach()) for k, v in out.items()}
    last = {k: float(v.detach()) for k, v in out.items()}
    print(base, first, last)
    assert last["next/ce"] < 0.5 * base and last["mlm/ce"] < 0.7 * base
    assert last["loss"] < first["loss"]


def test_generate_shapes_and_determinism():
    tok = ToyTokenizer()
    m = _model(tok).eval()
    codes = tok.encode(_batch()["x"])[:, :, :2]
    g1 = m.generate(codes, 4, top_k=3, generator=torch.Generator().manual_seed(1))
    g2 = m.generate(codes, 4, top_k=3, generator=torch.Generator().manual_seed(1))
    assert g1.shape == (3, 5, 6, 2) and torch.equal(g1, g2) and torch.equal(g1[:, :, :2], codes)
    assert (g1 < 16).all() and (g1 >= 0).all()
    greedy = m.generate(codes, 2, temperature=0)
    h = m.backbone(codes, causal=True)[:, :, -1]
    torch.testing.assert_close(greedy[:, :, 2, 0], m.heads["next"](h)[0].argmax(-1))
    with pytest.raises(NeurosigError, match="'next' objective"):
        _model(tok, objectives=["masked"]).generate(codes, 1)


def test_unigram_entropy_matches_formula():
    codes = torch.tensor([0, 0, 1, 2]).reshape(1, 1, 4, 1)
    h = unigram_entropy(codes, [4])
    import math

    ref = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert abs(h["unigram/mean"] - ref) < 1e-9 and abs(h["unigram/uniform"] - math.log(4)) < 1e-9


def test_embedding_input_mode():
    tok = ToyTokenizer()
    cfg = foundation_config("tiny", codebook_sizes=tok.codebook_sizes, embed_dim=tok.embed_dim,
                            backbone=dict(input="embedding"))
    m = FoundationModel(cfg)
    b = _batch()
    h, _ = m.embed(b, tok)
    assert h.shape == (3, 5, 5, 32)
    codes = tok.encode(b["x"])
    out = m.compute_losses(codes, b["pos"], b["ch_type"], b["ch_mask"], tokens=tok.embed(b["x"]))
    assert torch.isfinite(out["loss"])


def test_save_load_roundtrip_and_strict(tmp_path):
    tok = ToyTokenizer()
    m = _model(tok).eval()
    m.save_pretrained(tmp_path / "m", tokenizer=tok)
    assert (tmp_path / "m" / "config.json").is_file() and (tmp_path / "m" / "model.safetensors").is_file()
    m2, tok2 = FoundationModel.load(tmp_path / "m")
    b = _batch()
    torch.testing.assert_close(m.embed(b, tok)[0], m2.embed(b, tok2)[0])
    # strict: a config with a different shape or missing keys raises
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"]["backbone"]["n_layers"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(NeurosigError, match="missing"):
        FoundationModel.load(tmp_path / "m")
    meta["config"]["backbone"]["n_layers"] = 1
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(NeurosigError, match="unexpected"):
        FoundationModel.load(tmp_path / "m")
    with pytest.raises(NeurosigError, match="no config.json"):
        FoundationModel.load(tmp_path / "nothing")


def test_config_validation_messages():
    with pytest.raises(NeurosigError, match="divisible by n_heads"):
        BackboneConfig(d_model=30, n_heads=4)
    with pytest.raises(NeurosigError, match="attention='sparse'"):
        BackboneConfig(attention="sparse")
    with pytest.raises(NeurosigError, match="mask_ratio"):
        foundation_config("tiny", codebook_sizes=[8], mask_ratio=1.5)
    with pytest.raises(NeurosigError, match="objectives has 'clm'"):
        foundation_config("tiny", codebook_sizes=[8], objectives=["clm"])
    with pytest.raises(NeurosigError, match="preset 'huge'"):
        backbone_preset("huge")
    with pytest.raises(NeurosigError, match="codebook_sizes is empty"):
        Backbone(BackboneConfig())
    tok = ToyTokenizer()
    m = _model(tok)
    with pytest.raises(NeurosigError, match=r"codes must have shape"):
        m.backbone(torch.zeros(1, 2, 3, 5, dtype=torch.long))
    with pytest.raises(NeurosigError, match="ch_mask and ch_type"):
        m.backbone(torch.zeros(1, 2, 3, 2, dtype=torch.long), ch_mask=torch.ones(1, 3, dtype=torch.bool))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_build_and_base_size(preset):
    if preset == "large":
        pytest.skip("large is only counted in docs (too big for the unit-test budget)")
    bb = Backbone(backbone_preset(preset, codebook_sizes=[512] * 4))
    n = sum(p.numel() for p in bb.parameters())
    if preset == "base":
        assert 5e6 <= n <= 10e6
    out = bb(torch.zeros(1, 2, 2, 4, dtype=torch.long))
    assert out.shape[-1] == bb.config.d_model


def test_next_objective_on_one_patch_windows_has_no_targets():
    tok = ToyTokenizer()
    m = _model(tok, objectives=["next"])
    codes = tok.encode(torch.randn(2, 3, 20))  # N = 1: nothing to predict
    out = m.compute_losses(codes)
    assert float(out["next/n_targets"]) == 0 and float(out["loss"]) == 0.0
    out["loss"].backward()  # still differentiable (DDP needs every parameter in the graph)
    out2 = m.compute_losses(tok.encode(torch.randn(2, 3, 60)))
    assert float(out2["next/n_targets"]) == 2 * 3 * 2


def test_load_refuses_a_tokenizer_that_does_not_match(tmp_path):
    """A model folder whose tokenizer/ has other codebook sizes or levels, or other weights than the
    model was saved with, is a one-line error at load naming the folder (was a raw IndexError later)."""
    from neurosig.models._testing import ToyTokenizerConfig

    tok = ToyTokenizer()
    m = _model(tok).eval()
    m.save_pretrained(tmp_path / "m", tokenizer=tok)
    assert json.loads((tmp_path / "m" / "config.json").read_text())["extra"]["tokenizer_fingerprint"]["codebook_sizes"] == [16, 16]
    FoundationModel.load(tmp_path / "m")
    ToyTokenizer(ToyTokenizerConfig(n_bins=32)).save_pretrained(tmp_path / "m" / "tokenizer")  # more codes per level
    with pytest.raises(NeurosigError, match=r"m': the tokenizer does not match the model: its codebook_sizes are \[32, 32\]") as e:
        FoundationModel.load(tmp_path / "m")
    assert "\n" not in str(e.value)
    ToyTokenizer(ToyTokenizerConfig(mean_range=5.0)).save_pretrained(tmp_path / "m" / "tokenizer")  # same sizes, other tokenizer
    with pytest.raises(NeurosigError, match=r"m': tokenizer/ holds another tokenizer than the model was saved with"):
        FoundationModel.load(tmp_path / "m")
    # Python callers passing codes of another vocabulary get the same kind of message, not an IndexError
    with pytest.raises(NeurosigError, match=r"codes exceed the model's vocabulary: max code per level \[20, 0\]"):
        m.backbone(torch.tensor([20, 0]).reshape(1, 1, 1, 2))


def test_unknown_loss_weight_keys_are_refused():
    """A misspelt loss weight (mlm/cee) was ignored silently, leaving the real term at weight 1."""
    with pytest.raises(NeurosigError, match=r"^model.loss_weights: unknown key\(s\) mlm/cee; valid keys: mlm/ce, next/ce\.$"):
        foundation_config("tiny", codebook_sizes=[8], loss_weights={"mlm/cee": 0.5})
    cfg = foundation_config("tiny", codebook_sizes=[8], loss_weights={"mlm/ce": 0.5})
    assert cfg.loss_weights == {"mlm/ce": 0.5}


@pytest.mark.parametrize("kw, msg", [({"top_k": 0}, r"^top_k must be an integer >= 1"), ({"top_k": -1}, r"^top_k must be"),
                                     ({"temperature": -1.0}, r"^temperature must be"), ({"temperature": float("nan")}, r"^temperature must be")])
def test_generate_rejects_bad_sampling_arguments(kw, msg):
    """top_k 0 / -1 was a raw RuntimeError deep in topk; the CLI had its own check."""
    from neurosig.models.foundation import check_generate_args

    tok = ToyTokenizer()
    m = _model(tok).eval()
    codes = tok.encode(_batch()["x"])[:, :, :2]
    with pytest.raises(NeurosigError, match=msg):
        m.generate(codes, 1, **kw)
    with pytest.raises(NeurosigError, match=r"^--top-k must be"):
        check_generate_args(top_k=0, names={"top_k": "--top-k"})


def test_float64_weights_reload_as_float64(tmp_path):
    """precision 64-true exports float64 weights; they were rounded into a float32 model on load."""
    tok = ToyTokenizer()
    m = _model(tok).eval().double()
    m.save_pretrained(tmp_path / "m", tokenizer=tok.double())
    m2, tok2 = FoundationModel.load(tmp_path / "m")
    assert next(m2.parameters()).dtype == torch.float64
    for k, v in m.state_dict().items():
        assert torch.equal(m2.state_dict()[k], v), k
    assert FoundationModel.from_pretrained(tmp_path / "m").backbone.norm.weight.dtype == torch.float64
    # float32 exports stay float32
    _model(tok).save_pretrained(tmp_path / "f", tokenizer=ToyTokenizer())
    assert next(FoundationModel.load(tmp_path / "f")[0].parameters()).dtype == torch.float32


def test_unknown_config_key_names_the_version_that_made_the_folder(tmp_path):
    """config.json records neurosig_version; a key this version does not know now says which version wrote it."""
    from neurosig import __version__

    tok = ToyTokenizer()
    _model(tok).save_pretrained(tmp_path / "m", tokenizer=tok)
    for rel in ("config.json", "tokenizer/config.json"):
        p = tmp_path / "m" / rel
        good = p.read_text()
        meta = json.loads(good)
        meta["config"]["future_option"] = 1
        meta["neurosig_version"] = "9.9"
        p.write_text(json.dumps(meta))
        with pytest.raises(NeurosigError, match=rf"unknown key\(s\) future_option .* was made by neurosig 9\.9; this is neurosig {__version__}") as e:
            FoundationModel.load(tmp_path / "m")
        assert "\n" not in str(e.value)
        meta["neurosig_version"] = __version__  # same version: the plain message
        p.write_text(json.dumps(meta))
        with pytest.raises(NeurosigError, match="unknown key") as e:
            FoundationModel.load(tmp_path / "m")
        assert "made by" not in str(e.value)
        p.write_text(good)
    # a tokenizer folder loaded on its own says it too (the check lives in the shared loader)
    from neurosig.models.foundation import load_any_tokenizer

    p = tmp_path / "m" / "tokenizer" / "config.json"
    meta = json.loads(p.read_text())
    meta["config"]["future_option"], meta["neurosig_version"] = 1, "9.9"
    p.write_text(json.dumps(meta))
    with pytest.raises(NeurosigError, match=r"was made by neurosig 9\.9"):
        load_any_tokenizer(tmp_path / "m" / "tokenizer")
