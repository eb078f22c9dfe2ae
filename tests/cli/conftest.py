"""Fixtures of the CLI tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

MINI = Path(__file__).resolve().parents[1] / "datasets" / "miniatures.py"


@pytest.fixture
def mini_store(tmp_path):
    """A shard store built from two 12 s synthetic recordings (tests/datasets/miniatures.py)."""
    from neurosig.datasets.build import build_store

    spec = importlib.util.spec_from_file_location("ns_miniatures_cli", MINI)
    mini = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mini)
    src = mini.make_folder(tmp_path / "src", n=2, seconds=12.0)
    out = tmp_path / "store"
    build_store([src], out, progress=False)
    return out
