"""Validation at public boundaries, in the style of MNE's ``_validate_type``/``_check_option``.

Each helper raises :class:`NeurosigError` with a message naming the parameter, what was
expected, what was given and (where one exists) the fix.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from neurosig._utils.errors import NeurosigError


def check_type(value: Any, types: type | tuple[type, ...], name: str) -> Any:
    """Raise unless ``value`` is an instance of ``types``; return it."""
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise NeurosigError(f"{name} must be {names}, got {type(value).__name__} ({value!r:.60}).")
    return value


def check_option(value: Any, allowed: Iterable[Any], name: str) -> Any:
    """Raise unless ``value`` is one of ``allowed``; return it."""
    allowed = list(allowed)
    if value not in allowed:
        raise NeurosigError(
            f"{name}={value!r} is not supported; choose one of {', '.join(repr(a) for a in allowed)}."
        )
    return value


def check_positive(value: float, name: str, *, strict: bool = True, integer: bool = False) -> Any:
    """Raise unless ``value`` is a (strictly) positive number (optionally an int)."""
    kind = "an integer" if integer else "a number"
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise NeurosigError(f"{name} must be {kind}, got {value!r}.")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise NeurosigError(f"{name} must be {kind}, got {value!r}.")
    if (strict and not value > 0) or (not strict and not value >= 0):
        bound = "> 0" if strict else ">= 0"
        raise NeurosigError(f"{name} must be {bound}, got {value!r}.")
    return value


def check_path_exists(path: str | os.PathLike, name: str = "path") -> str:
    """Raise a one-line error if ``path`` does not exist; return it as ``str``."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise NeurosigError(f"{name} {p!r} does not exist; check the spelling or create it first.")
    return p
