"""PSD/trace figures: the spectrum is right (peak where the sine is, Parseval) and PNGs are written."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.evaluation.plots_signal import mean_psd, plot_psd, plot_traces


def test_mean_psd_peak_and_power(rng):
    sfreq, T = 200.0, 1000
    t = np.arange(T) / sfreq
    x = np.stack([np.stack([3.0 * np.sin(2 * np.pi * 12.0 * t + rng.uniform(0, 6)), rng.normal(0, 2.0, T)]) for _ in range(5)])  # (5, 2, T)
    freqs, p = mean_psd(x, sfreq)
    assert p.shape == (2, freqs.size)
    assert freqs[np.argmax(p[0])] == pytest.approx(12.0, abs=freqs[1])
    df = freqs[1] - freqs[0]
    # Parseval: integrated PSD ≈ variance (sine 3²/2 = 4.5; white noise 4.0)
    assert p[0].sum() * df == pytest.approx(4.5, rel=0.05)
    assert p[1].sum() * df == pytest.approx(4.0, rel=0.15)


def test_plots_write_png(tmp_path, rng):
    x = rng.normal(size=(4, 3, 256))
    p1 = plot_psd([("a", x, 128.0, ["C3", "Cz", "C4"]), ("b", x[:, :2], 128.0, ["x", "y"], "fT")], tmp_path / "f" / "psd.png")
    p2 = plot_traces([("a", x[0], 128.0, ["C3", "Cz", "C4"])], tmp_path / "tr.png")
    for p in (p1, p2):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_plot_errors(tmp_path, rng):
    with pytest.raises(NeurosigError, match=r"x must have shape \(n_windows, n_channels, n_times\)"):
        mean_psd(np.zeros(5), 100.0)
    with pytest.raises(NeurosigError, match="sfreq must be > 0"):
        mean_psd(np.zeros((2, 10)), 0.0)
    with pytest.raises(NeurosigError, match=r"a panel is \(title, x, sfreq, ch_names\[, unit\]\), got 3 items"):
        plot_psd([("a", rng.normal(size=(2, 3, 40)), 10.0)], tmp_path / "z.png")
    with pytest.raises(NeurosigError, match="needs at least one"):
        plot_psd([], tmp_path / "x.png")
    with pytest.raises(NeurosigError, match=r"panel 'a' needs x of shape \(n_channels, n_times\)"):
        plot_traces([("a", rng.normal(size=(2, 3, 4)), 10.0, ["a"])], tmp_path / "y.png")
