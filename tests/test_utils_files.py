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
