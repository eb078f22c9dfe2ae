"""Session-scoped synthetic miniatures of each corpus layout (written once per test session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/datasets → miniatures

import miniatures  # noqa: E402


def _mini(tmp_path_factory, name):
    root = tmp_path_factory.mktemp(name)
    getattr(miniatures, f"make_{name}")(root)
    return root


@pytest.fixture(scope="session")
def tuab_root(tmp_path_factory):
    return _mini(tmp_path_factory, "tuab")


@pytest.fixture(scope="session")
def tuev_root(tmp_path_factory):
    return _mini(tmp_path_factory, "tuev")


@pytest.fixture(scope="session")
def tusz_root(tmp_path_factory):
    return _mini(tmp_path_factory, "tusz")


@pytest.fixture(scope="session")
def chbmit_root(tmp_path_factory):
    return _mini(tmp_path_factory, "chbmit")


@pytest.fixture(scope="session")
def sleepedf_root(tmp_path_factory):
    return _mini(tmp_path_factory, "sleepedf")


@pytest.fixture(scope="session")
def bids_root(tmp_path_factory):
    return _mini(tmp_path_factory, "bids")


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory):
    return _mini(tmp_path_factory, "folder")


@pytest.fixture(scope="session")
def tueg_root(tmp_path_factory):
    return _mini(tmp_path_factory, "tueg")
