"""Crash-safe Lightning checkpoints.

Lightning's default checkpoint IO writes straight into the target file, so a process killed
mid-save (pre-emption, out-of-memory, Ctrl-C) leaves a truncated ``last.ckpt`` that looks
complete. :class:`AtomicCheckpointIO` writes to a temporary file in the same directory,
fsyncs it and renames it into place (``os.replace`` is atomic on POSIX file systems), so the
previous checkpoint survives any failure before the rename.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from neurosig._utils.files import atomic_open


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are temp-file + fsync + rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        with atomic_open(path, "wb") as fh:
            torch.save(checkpoint, fh)
