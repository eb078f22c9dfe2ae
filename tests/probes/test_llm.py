import numpy as np
import pytest
import torch

from neurosig import NeurosigError
from neurosig.probes.llm import LLMProbe, assign_tokens, load_model, word_spans

UNITS = [["the", "dog", "chased", "cats"], ["wonderful", "neighbourhoods", "drink", "extraordinary", "tea"]]


@pytest.mark.parametrize("kind,width,n_layers", [("llama", 24, 3), ("gpt2", 24, 2), ("bert", 24, 2)])
def test_hook_shapes(tiny_models, kind, width, n_layers):
    model, tok = tiny_models[kind]
    probe = LLMProbe(model, tok, name=kind)
    assert probe.n_layers == n_layers
    feats = probe.extract(UNITS, batch_size=2)
    for f, u in zip(feats, UNITS):
        assert f["mlp"].shape == (n_layers, len(u), width)
        assert f["resid"].shape == (n_layers, len(u), 16)
        assert np.isfinite(f["mlp"]).all()


def _manual(model, tok, units, kind):
    """Per-word averages computed by hand: run the MLP input/activation on each token."""
    text, spans = word_spans(units)
    enc = tok(text, return_offsets_mapping=True, return_tensors="pt")
    offs = enc.pop("offset_mapping")[0].tolist()
    store = {}
    if kind == "llama":
        mod = model.model.layers[1].mlp
        h = mod.register_forward_hook(lambda m, a, o: store.__setitem__("x", a[0]))
    elif kind == "gpt2":
        mod = model.transformer.h[1].mlp
        h = mod.register_forward_hook(lambda m, a, o: store.__setitem__("x", a[0]))
    else:
        mod = model.encoder.layer[1].intermediate
        h = mod.register_forward_hook(lambda m, a, o: store.__setitem__("x", a[0]))
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    h.remove()
    x = store["x"][0]
    with torch.no_grad():
        return _manual_acts(mod, x, spans, offs, text, out, kind)


def _manual_acts(mod, x, spans, offs, text, out, kind):
    if kind == "llama":  # gated MLP: act(gate(x)) * up(x)
        acts = mod.act_fn(mod.gate_proj(x)) * mod.up_proj(x)
    elif kind == "gpt2":
        acts = mod.act(mod.c_fc(x))
    else:
        acts = mod.intermediate_act_fn(mod.dense(x))
    rows, rrows = [], []
    for s, e in spans:
        idx = [t for t, (a, b) in enumerate(offs) if b > a and min(b, e) - max(a, s) > 0 and text[a:b].strip()]
        rows.append(acts[idx].mean(0))
        rrows.append(out.hidden_states[2][0][idx].mean(0))
    return torch.stack(rows).numpy(), torch.stack(rrows).numpy()


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert"])
def test_word_average_matches_manual(tiny_models, kind):
    model, tok = tiny_models[kind]
    probe = LLMProbe(model, tok)
    units = UNITS[1]
    f = probe.extract([units], layers=[1])[0]
    mlp, resid = _manual(model, tok, units, kind)
    np.testing.assert_allclose(f["mlp"][0], mlp, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f["resid"][0], resid, rtol=1e-4, atol=1e-5)


def test_multi_token_words_exist(tiny_models):
    _, tok = tiny_models["llama"]
    assert len(tok("extraordinary")["input_ids"]) > 1  # averaging really pools several tokens


def test_batching_matches_single(tiny_models):
    model, tok = tiny_models["llama"]
    probe = LLMProbe(model, tok)
    both = probe.extract(UNITS, batch_size=2)
    one = [probe.extract([u], batch_size=1)[0] for u in UNITS]
    for a, b in zip(both, one):
        np.testing.assert_allclose(a["mlp"], b["mlp"], rtol=1e-4, atol=1e-5)


def test_assign_tokens_ignores_spaces_and_specials():
    text, spans = word_spans(["ab", "cd"])
    assert text == "ab cd" and spans == [(0, 2), (3, 5)]
    np.testing.assert_array_equal(assign_tokens([(0, 0), (0, 2), (2, 5)], spans), [-1, 0, 1])


def test_context_length_guard(tiny_models):
    model, tok = tiny_models["llama"]
    probe = LLMProbe(model, tok)
    with pytest.raises(NeurosigError, match="context length 64"):
        probe.extract([["dog"] * 100])


def test_bad_layers_and_kinds(tiny_models):
    model, tok = tiny_models["gpt2"]
    probe = LLMProbe(model, tok)
    with pytest.raises(NeurosigError, match="out of range"):
        probe.extract(UNITS, layers=[5])
    with pytest.raises(NeurosigError, match="kinds entry"):
        probe.extract(UNITS, kinds=("attn",))


def test_load_local_dir_offline(tiny_llama_dir):
    probe = load_model(tiny_llama_dir)
    assert probe.n_layers == 3 and probe.causal
    assert probe.extract([UNITS[0]])[0]["mlp"].shape == (3, 4, 24)


def test_load_missing_path():
    with pytest.raises(NeurosigError, match="neither a bundled model"):
        load_model("/nonexistent/model-dir")


def test_steer_changes_only_later_layers(tiny_models):
    model, tok = tiny_models["llama"]
    probe = LLMProbe(model, tok)
    base = probe.extract([UNITS[0]], kinds=("resid",))[0]["resid"]
    v = np.ones(16, np.float32)
    with probe.steer(1, v, scale=2.0):
        st = probe.extract([UNITS[0]], kinds=("resid",))[0]["resid"]
    np.testing.assert_allclose(st[:2], base[:2], atol=1e-6)  # layers up to the steered one untouched
    assert np.abs(st[2] - base[2]).mean() > 0.1  # the next block sees the shifted residual
    after = probe.extract([UNITS[0]], kinds=("resid",))[0]["resid"]
    np.testing.assert_allclose(after, base, atol=1e-6)  # hook removed


@pytest.mark.slow
@pytest.mark.realdata
def test_real_smollm2_if_fetched():
    try:
        from neurosig.datasets.bundled import model_path

        path = model_path("smollm2-135m")
    except Exception:
        pytest.skip("bundled data not fetched: run neurosig data fetch smollm2-135m")
    probe = load_model(path)
    assert probe.n_layers == 30
    f = probe.extract([["the", "dog", "chased", "cats"]], layers=[0, 29], kinds=("mlp",))[0]
    assert f["mlp"].shape == (2, 4, 1536)
    assert probe.max_length == 8192
    with pytest.raises(NeurosigError, match="context length 8192"):
        probe.encode(["word " * 9000])


def test_left_padding_tokenizer_is_switched_to_right(tiny_models):
    model, tok = tiny_models["llama"]
    tok.padding_side = "left"
    probe = LLMProbe(model, tok)
    both = probe.extract(UNITS, batch_size=2, kinds=("mlp",))
    one = probe.extract([UNITS[0]], batch_size=1, kinds=("mlp",))[0]
    np.testing.assert_allclose(both[0]["mlp"], one["mlp"], rtol=1e-4, atol=1e-5)
