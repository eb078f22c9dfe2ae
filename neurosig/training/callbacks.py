"""Training callbacks: token throughput on the progress bar; Lightning's eval-mode warning for frozen parts."""

from __future__ import annotations

import contextlib
import time
import warnings

import lightning as L


class TokensPerSecond(L.Callback):
    """Logs ``perf/tokens_per_s`` (real channel-patch tokens per second, this process) to the
    progress bar and the loggers. The module sets ``last_tokens`` in its training step."""

    def __init__(self, smoothing: float = 0.9):
        self.smoothing = smoothing
        self._t0 = None
        self.rate = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._t0 is None:
            return
        dt = max(time.perf_counter() - self._t0, 1e-9)
        tokens = float(getattr(pl_module, "last_tokens", 0))
        rate = tokens / dt
        self.rate = rate if self.rate is None else self.smoothing * self.rate + (1 - self.smoothing) * rate
        pl_module.log("perf/tokens_per_s", self.rate, prog_bar=True, on_step=True, on_epoch=False, batch_size=1)


@contextlib.contextmanager
def frozen_parts_in_eval():
    """Silence Lightning's "Found N module(s) in eval mode at the start of training" inside ``trainer.fit``: our
    modules keep frozen parts (a tokenizer whose codes are the targets, a linear probe's backbone) in eval mode on
    purpose, and set train mode on what is trained themselves (their ``train`` overrides)."""
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=PossibleUserWarning)
        yield
