"""SensorEncoder (positions, orientation, type, name-free mode) and the STFT reference."""

from __future__ import annotations

import math

import pytest
import torch

from neurosig import NeurosigError
from neurosig.nn.sensors import SensorConfig, SensorEncoder
from neurosig.tokenizers.spectral import patch_spectrum, stft_patches, stft_patches_reference


def _enc(**kw):
    torch.manual_seed(0)
    return SensorEncoder(SensorConfig(dim=16, hidden=32, **kw))


def test_positions_types_and_orientation_change_the_vector():
    enc = _enc()
    pos = torch.tensor([[0.05, 0.0, 0.07], [-0.05, 0.0, 0.07], [0.05, 0.0, 0.07]])
    t = torch.tensor([0, 0, 1])  # eeg, eeg, mag
    out = enc(pos, t)
    assert out.shape == (3, 16)
    assert not torch.allclose(out[0], out[1])  # position matters
    assert not torch.allclose(out[0], out[2])  # type matters
    o = torch.tensor([[0.0, 0.0, 1.0]] * 3)
    assert not torch.allclose(enc(pos, t, orient=o)[2], out[2])  # MEG orientation matters
    # continuous in position: a 0.1 mm move changes the vector far less than the hemisphere swap
    near = enc(pos + torch.tensor([0.0001, 0.0, 0.0]), t)
    assert (near[0] - out[0]).norm() < 0.2 * (out[1] - out[0]).norm()


def test_unknown_positions_raise_unless_name_free():
    pos = torch.tensor([[0.05, 0.0, 0.07], [float("nan")] * 3])
    t = torch.zeros(2, dtype=torch.long)
    with pytest.raises(NeurosigError, match="1 real channel\\(s\\) have unknown \\(NaN\\) sensor positions"):
        _enc()(pos, t)
    # a padded channel (mask False) with NaN position is fine
    assert _enc()(pos, t, mask=torch.tensor([True, False])).shape == (2, 16)
    free = _enc(name_free=True)
    with torch.no_grad():
        free.unknown.fill_(3.0)
    out = free(pos, t)
    torch.testing.assert_close(out[1], free.type_embed.weight[0] + 3.0)


def test_position_free_mode_uses_type_only():
    enc = _enc(use_positions=False)
    out = enc(torch.full((2, 3), float("nan")), torch.tensor([0, 5]))
    torch.testing.assert_close(out, enc.type_embed.weight[[0, 5]])


def test_sensor_config_validation():
    with pytest.raises(NeurosigError, match="sensors.dim must be a positive integer"):
        SensorConfig(dim=0)
    with pytest.raises(NeurosigError, match="length_scale"):
        SensorConfig(length_scale=-1.0)


def test_stft_reference_matches_torch_stft():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 517, generator=g)
    logmag, phase = stft_patches_reference(x, 200, 100)
    ref = torch.stft(x.reshape(-1, 517), 200, 100, window=torch.hann_window(200), center=False, return_complex=True)
    ref = ref.transpose(-1, -2).reshape(2, 3, -1, 101)  # (..., n_frames, F)
    assert logmag.shape == (2, 3, 1 + (517 - 200) // 100, 101)
    torch.testing.assert_close(logmag, torch.log(ref.abs() + 1e-6), atol=1e-4, rtol=1e-4)
    big = ref.abs() > 1e-2
    torch.testing.assert_close(torch.cos(phase[big]), torch.cos(torch.angle(ref)[big]), atol=1e-4, rtol=1e-4)
    # the dispatcher (kernels package or this reference) agrees
    lm2, _ = stft_patches(x, 200, 100)
    torch.testing.assert_close(lm2, logmag, atol=1e-4, rtol=1e-4)


def test_patch_spectrum_unit_phase_vectors():
    t = torch.arange(200) / 200.0
    p = torch.stack([torch.cos(2 * math.pi * 10 * t + 0.3), torch.zeros(200)])
    log_amp, sin, cos = patch_spectrum(p)
    torch.testing.assert_close(sin**2 + cos**2, torch.ones_like(sin))
    assert torch.argmax(log_amp[0]) == 10
    assert math.isclose(math.atan2(float(sin[0, 10]), float(cos[0, 10])), 0.3, abs_tol=1e-4)
    assert (cos[1] == 1).all() and (sin[1] == 0).all()  # silent patch: phase 0
