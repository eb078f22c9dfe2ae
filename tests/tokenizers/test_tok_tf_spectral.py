"""The tf tokenizer's per-token STFT padding, phase loss, partial masking, and the report's
spectral metric (spec_nmse against the mean-spectrum baseline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurosig import NeurosigError
from neurosig.tokenizers import build_tokenizer
from neurosig.tokenizers.spectral import phase_loss, stft_patches_reference, token_stft_pad
from neurosig.training.tokenizer import _Acc, stft_logmag

TF_SMALL = {"freq_dim": 16, "freq_layers": 1, "freq_heads": 2, "time_channels": 8, "code_dim": 16, "codebook_size": 32, "hidden": 64,
            "sensors": {"name_free": True, "hidden": 32}}


@pytest.mark.parametrize("n_fft,hop,patch", [(200, 100, 200), (8, 4, 8), (100, 50, 200), (7, 3, 9)])
def test_token_stft_pad_gives_whole_frames_inside_the_patch(n_fft, hop, patch):
    left, right = token_stft_pad(n_fft, hop)
    assert left + right == n_fft - hop and 0 <= right - left <= 1
    n_frames = 1 + (left + patch + right - n_fft) // hop
    assert n_frames == patch // hop


def test_tf_token_spectra_do_not_leak_from_the_next_patch():
    tok = build_tokenizer("tf", TF_SMALL).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 600, generator=g)
    y = x.clone()
    y[:, 200:] = torch.randn(2, 400, generator=g)  # change every patch but the first
    a, b = tok._token_inputs(x, 3), tok._token_inputs(y, 3)
    assert a["spec"].shape == (2, 3, 2, 101)
    torch.testing.assert_close(a["spec"][:, 0], b["spec"][:, 0])  # token 0 sees only its own samples
    torch.testing.assert_close(a["sin"][:, 0], b["sin"][:, 0])
    assert not torch.allclose(a["spec"][:, 1], b["spec"][:, 1])
    # the frames equal the STFT of the patch padded by 50 zeros on each side
    ref, ph = stft_patches_reference(torch.nn.functional.pad(x[:, :200], (50, 50)), 200, 100)
    torch.testing.assert_close(a["spec"][:, 0], ref.clamp_min(np.log(1e-3)))
    torch.testing.assert_close(a["cos"][:, 0], torch.cos(ph))


def test_phase_loss_values():
    phi = torch.linspace(-3, 3, 50)
    s, c = torch.sin(phi), torch.cos(phi)
    assert phase_loss(3 * s, 3 * c, s, c).item() == pytest.approx(0.0, abs=1e-6)  # scale-free
    assert phase_loss(-s, -c, s, c).item() == pytest.approx(2.0, abs=1e-6)  # opposite phase
    assert phase_loss(c, -s, s, c).item() == pytest.approx(1.0, abs=1e-6)  # 90° off (φ + π/2)
    w = torch.zeros(50)
    w[:25] = 1.0
    pred_s, pred_c = s.clone(), c.clone()
    pred_s[25:], pred_c[25:] = -s[25:], -c[25:]  # wrong only where the weight is 0
    assert phase_loss(pred_s, pred_c, s, c, w).item() == pytest.approx(0.0, abs=1e-6)
    assert phase_loss(pred_s, pred_c, s, c).item() == pytest.approx(1.0, abs=1e-6)


def test_tf_loss_has_phase_term_and_mask_prob_leaves_tokens_whole():
    tok = build_tokenizer("tf", {**TF_SMALL, "mask_prob": 0.5}).train()
    x = 30 * torch.randn(2, 3, 800, generator=torch.Generator().manual_seed(1))
    out = tok({"x": x})
    assert set(out.losses) == {"tok/spec_mag", "tok/phase", "tok/time", "tok/commit"}
    expect = sum(tok.loss_weights[k] * v for k, v in out.losses.items())
    torch.testing.assert_close(out.loss, expect)
    prep = tok._prepare(x)
    inp = tok._flatten(tok._token_inputs(prep["xs"][prep["mask"]], prep["n"]))
    spec_a, time_a = tok._make_masks(inp)
    spec_b, time_b = tok._complement((spec_a, time_a))
    chosen = spec_a.flatten(1).any(1)
    assert 0 < chosen.sum() < len(chosen)  # some tokens masked, some whole
    assert torch.equal((spec_a ^ spec_b)[chosen], torch.ones_like(spec_a[chosen]))  # complementary where masked
    assert not spec_b[~chosen].any() and not time_a[~chosen].any() and not time_b[~chosen].any()  # whole in both views
    with pytest.raises(NeurosigError, match="mask_prob must be in"):
        build_tokenizer("tf", {**TF_SMALL, "mask_prob": 0.0})


def test_stft_logmag_against_scipy():
    from scipy.signal import stft

    g = np.random.default_rng(0)
    x = g.standard_normal((3, 700))
    s = stft_logmag(x, 200.0)
    f, _, z = stft(x, fs=200.0, window="hann", nperseg=200, noverlap=100, boundary=None, padded=False, detrend=False, scaling="spectrum")
    sel = (f >= 0.5) & (f < 75)
    ref = np.log(np.abs(z[:, sel, :]) * 100.0 + 0.1).transpose(0, 2, 1)  # scipy scales by 1/Σw = 1/100
    assert s.shape == (3, 6, 74)  # bins 1 .. 74 Hz
    np.testing.assert_allclose(s, ref, rtol=1e-6, atol=1e-9)
    assert stft_logmag(x[:, :100], 200.0).shape == (3, 1, 74)  # shorter than 1 s: one padded frame


def test_spec_nmse_against_the_mean_spectrum():
    g = np.random.default_rng(1)
    t = np.arange(800) / 200.0
    amp = g.uniform(1, 20, size=(6, 1))
    x = amp * np.sin(2 * np.pi * 10 * t) + g.standard_normal((6, 800))
    perfect = _Acc()
    perfect.add(x, x.copy(), 200.0)
    assert perfect.result()["spec_nmse"] == 0.0
    shifted = _Acc()  # a phase shift keeps every frame's magnitude (to window edge effects): near 0
    shifted.add(x, np.roll(x, 1, axis=-1), 200.0)
    assert shifted.result()["spec_nmse"] < 0.05 and shifted.result()["nmse"] > 0.05
    # predicting the mean log-spectrum everywhere is the baseline: spec_nmse 1 (computed by hand)
    sx = stft_logmag(x, 200.0)
    mean = sx.reshape(-1, sx.shape[-1]).mean(0)
    a = _Acc()
    a.add(x, 0.5 * x, 200.0)
    err = ((sx - stft_logmag(0.5 * x, 200.0)) ** 2).sum()
    assert a.result()["spec_nmse"] == pytest.approx(err / ((sx - mean) ** 2).sum(), rel=1e-9)
    two = _Acc()  # accumulating in pieces gives the same figure
    two.add(x[:3], 0.5 * x[:3], 200.0)
    two.add(x[3:], 0.5 * x[3:], 200.0)
    assert two.result()["spec_nmse"] == pytest.approx(a.result()["spec_nmse"], rel=1e-9)


def test_report_measures_the_tf_decoders_own_spectrum():
    from neurosig.training.tokenizer import _MeanSpecErr, reconstruction_report

    tok = build_tokenizer("tf", TF_SMALL).eval()
    g = torch.Generator().manual_seed(2)
    batch = {"x": 30 * torch.randn(2, 3, 450, generator=g), "ch_mask": torch.tensor([[True, True, False], [True, True, True]])}
    tgt = tok.spec_targets(batch["x"], ch_mask=batch["ch_mask"])
    with torch.no_grad():
        out = tok(batch)
    assert tgt.shape == out.predictions["spec"].shape == (2, 3, 3, 2, 101)
    assert not tgt[0, 2].any()  # padded channel
    rep = reconstruction_report(tok, [batch])
    tm = out.token_mask
    s, s_hat = tgt[tm].flatten(0, 1).double().numpy(), out.predictions["spec"][tm].flatten(0, 1).double().numpy()
    expect = ((s - s_hat) ** 2).sum() / ((s - s.mean(0)) ** 2).sum()
    assert rep["pred_spec_nmse"] == pytest.approx(expect, rel=1e-5)
    assert rep["baseline/spec_nmse"] == 1.0 and np.isfinite(rep["spec_nmse"])
    m = _MeanSpecErr()  # predicting the mean spectrum scores exactly 1
    m.add(s, np.repeat(s.mean(0, keepdims=True), len(s), 0))
    assert m.result() == pytest.approx(1.0)
    rvq = build_tokenizer("rvq", {"kernel_sizes": [5], "branch_channels": 4, "code_dim": 8, "n_levels": 1, "codebook_size": 8, "hidden": 16,
                                  "sensors": {"name_free": True, "hidden": 16}}).eval()
    assert "pred_spec_nmse" not in reconstruction_report(rvq, [batch])  # no spectrum head of this kind


def test_tf_latents_are_unit_vectors_so_commitment_is_bounded():
    tok = build_tokenizer("tf", TF_SMALL).train()
    x = 300 * torch.randn(2, 4, 600, generator=torch.Generator().manual_seed(3))  # large input: latent norm must not follow
    prep = tok._prepare(x)
    inp = tok._flatten(tok._token_inputs(prep["xs"][prep["mask"]], prep["n"]))
    z = tok._encode_tokens(inp, tok._cond_tokens(prep))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(len(z)))
    out = tok({"x": x})
    assert 0.0 <= out.losses["tok/commit"].item() <= 4.0 / tok.config.code_dim + 1e-6  # mean over dims of |z − q|² ≤ 4 / D
