"""Package logger and verbosity control (``neurosig -v``/``-q`` on the CLI)."""

from __future__ import annotations

import logging
import sys

_LOGGER_NAME = "neurosig"
_LOGGED_ONCE: set[tuple[str, int, str]] = set()


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each record, not as it was when the handler was made (as Python's
    ``logging.lastResort`` does): a stream swapped in and closed later (pytest's capture, a notebook's redirect)
    must not turn every later log line into '--- Logging error --- ... I/O operation on closed file'."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; the property always reads the current one
        pass


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the package logger or one of its children (``neurosig.<name>``)."""
    logger = logging.getLogger(_LOGGER_NAME if not name else f"{_LOGGER_NAME}.{name}")
    root = logging.getLogger(_LOGGER_NAME)
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("neurosig %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logger


def set_verbosity(level: int | str) -> None:
    """Set the package log level (``"DEBUG"``, ``"INFO"``, ``"WARNING"`` ... or an int)."""
    get_logger().setLevel(level if isinstance(level, int) else level.upper())


def quiet_third_party() -> None:
    """Command-line runs without ``-v``: keep Lightning's per-trainer banners ("GPU available ...", "TPU ...", the
    cloud-logging tip, "`Trainer.fit` stopped ...") and torch's LeafSpec deprecation notice, which Lightning triggers
    on every fit, off the console. Lightning's warnings (WARNING and above) still show."""
    import warnings

    # the loggers Lightning's rank_zero_info writes to (its package loggers are reset to INFO when it is imported)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


def log_once(logger: logging.Logger, level: int, msg: str, *args) -> bool:
    """Log ``msg % args`` at ``level`` unless ``logger`` has already logged that exact text at that level in this
    process (as Python's warnings do by default): facts that hold for every seed or run of a loop are said once.
    Returns True when it logged."""
    key = (logger.name, int(level), msg % args if args else msg)
    if key in _LOGGED_ONCE:
        return False
    _LOGGED_ONCE.add(key)
    logger.log(level, msg, *args)
    return True
