"""Crash-safe Lightning checkpoints.

Lightning's default checkpoint IO writes straight into the target file, so a process killed
mid-save (pre-emption, out-of-memory, Ctrl-C) leaves a truncated ``last.ckpt`` that looks
complete. :class:`AtomicCheckpointIO` writes to a temporary file in the same directory,
fsyncs it and renames it into place (``os.replace`` is atomic on POSIX file systems), so the
previous checkpoint survives any failure before the rename.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are temp-file + fsync + rename."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
