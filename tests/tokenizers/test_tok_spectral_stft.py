"""neurosig.tokenizers.spectral's stft_patches and its reference take the same options as the kernels."""

from __future__ import annotations

import pytest
import torch

from neurosig import NeurosigError
from neurosig.kernels import stft_patches as kernel_stft_patches
from neurosig.tokenizers.spectral import stft_patches, stft_patches_reference

BOTH = [stft_patches, stft_patches_reference]


def _x(shape=(2, 300), seed=0, dtype=torch.float32):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 20).to(dtype)


@pytest.mark.parametrize("fn", BOTH)
@pytest.mark.parametrize("center", [False, True])
def test_every_output_name_works_in_both(fn, center):
    x = _x()
    mag = kernel_stft_patches(x, 64, 32, center=center, output="magnitude", impl="torch")
    lm_k, ph_k = kernel_stft_patches(x, 64, 32, center=center, impl="torch")
    for name in ("magnitude", "mag"):
        torch.testing.assert_close(fn(x, 64, 32, center=center, output=name), mag, rtol=1e-5, atol=1e-4)
    spec = fn(x, 64, 32, center=center, output="complex")
    assert spec.is_complex() and spec.shape == mag.shape
    torch.testing.assert_close(spec.abs(), mag, rtol=1e-5, atol=1e-4)
    lm, ph = fn(x, 64, 32, center=center)
    torch.testing.assert_close(lm, lm_k, rtol=1e-5, atol=1e-4)
    big = mag > 1e-2 * mag.max()
    torch.testing.assert_close(torch.cos(ph[big]), torch.cos(ph_k[big]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fn", BOTH)
def test_same_errors_as_the_kernels(fn):
    short = torch.randn(2, 20)
    with pytest.raises(NeurosigError, match="center=True reflect-pads n_fft//2=32 samples"):
        fn(short, 64, 32, center=True)  # the reference used to zero-pad this silently
    with pytest.raises(NeurosigError, match="output='logmag' is not supported"):
        fn(_x(), 64, 32, output="logmag")
    with pytest.raises(NeurosigError, match="hop must be a positive integer"):
        fn(_x(), 64, 0)
    with pytest.raises(NeurosigError, match="window must have n_fft=64"):
        fn(_x(), 64, 32, window=torch.ones(10))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_reference_returns_the_input_dtype_like_the_kernels(dtype):
    x = _x(dtype=dtype)
    lm, ph = stft_patches_reference(x, 64, 32)
    lm_k, _ = stft_patches(x, 64, 32)
    assert lm.dtype == ph.dtype == lm_k.dtype == dtype
    assert stft_patches_reference(x, 64, 32, output="mag").dtype == dtype


def test_empty_batch():
    x = torch.randn(0, 3, 300)
    for fn in BOTH:
        lm, ph = fn(x, 64, 32)
        assert lm.shape == ph.shape == (0, 3, 8, 33)
        assert fn(x, 64, 32, output="complex").shape == (0, 3, 8, 33)
