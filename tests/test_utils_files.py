"""Atomic writes: a failure before the rename keeps the old file and leaves no temporary."""

from __future__ import annotations

import pytest

from neurosig._utils import files


def test_atomic_write_replaces_and_cleans(tmp_path):
    p = tmp_path / "a" / "x.json"
    files.atomic_write_text(p, "one")
    files.atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two" and [q.name for q in p.parent.iterdir()] == ["x.json"]


def test_failure_keeps_previous_version(tmp_path):
    p = tmp_path / "x.bin"
    files.atomic_write_bytes(p, b"good")
    with pytest.raises(RuntimeError, match="died"):
        with files.atomic_open(p, "wb") as fh:
            fh.write(b"half")
            raise RuntimeError("died mid-write")
    assert p.read_bytes() == b"good" and [q.name for q in tmp_path.iterdir()] == ["x.bin"]


def test_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        with files.atomic_open(tmp_path / "x", "a"):
            pass


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask_like_open(tmp_path, umask):
    """mkstemp makes 0o600 files: manifest.csv, store.json and parts were private while the shards
    beside them (plain open()) were 0o644."""
    import os
    import stat

    old = os.umask(umask)
    try:
        assert files.current_umask() == umask
        files.atomic_write_text(tmp_path / "m.csv", "a")
        with open(tmp_path / "plain.npy", "wb") as fh:
            fh.write(b"x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "m.csv").stat().st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.npy").stat().st_mode)
