"""Package logger and verbosity control (``neurosig -v``/``-q`` on the CLI)."""

from __future__ import annotations

import logging

_LOGGER_NAME = "neurosig"


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the package logger or one of its children (``neurosig.<name>``)."""
    logger = logging.getLogger(_LOGGER_NAME if not name else f"{_LOGGER_NAME}.{name}")
    root = logging.getLogger(_LOGGER_NAME)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("neurosig %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logger


def set_verbosity(level: int | str) -> None:
    """Set the package log level (``"DEBUG"``, ``"INFO"``, ``"WARNING"`` ... or an int)."""
    get_logger().setLevel(level if isinstance(level, int) else level.upper())
