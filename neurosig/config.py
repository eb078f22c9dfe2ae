"""Config plumbing: typed dataclasses loaded from YAML (stdlib + PyYAML only, no torch).

Each area defines its own config dataclasses next to its code (``neurosig.tokenizers``,
``neurosig.models`` ...) as plain ``@dataclass`` classes that validate in ``__post_init__``;
this module turns YAML/dicts into them with unknown keys rejected by name.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

from neurosig._utils.errors import NeurosigError

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "configs"


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping; a missing file or a non-mapping raises a one-line error."""
    import yaml

    p = Path(path)
    if not p.is_file():
        alt = CONFIG_DIR / p
        if alt.is_file():
            p = alt
        else:
            raise NeurosigError(f"config file {os.fspath(path)!r} not found; pass a path to a YAML file (recipes live in {CONFIG_DIR}).")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "parse error"
        raise NeurosigError(f"config file {os.fspath(p)!r} is not valid YAML ({first}); fix the syntax.") from None
    if not isinstance(data, dict):
        raise NeurosigError(f"config file {os.fspath(p)!r} must hold a mapping at the top level, got {type(data).__name__}.")
    return data


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; nested dataclass fields are built recursively.

    Unknown keys raise a one-line error that names them and lists the valid ones.
    """
    data = dict(data or {})
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise NeurosigError(
            f"{where}: unknown key(s) {', '.join(unknown)} for {cls.__name__}; valid keys: {', '.join(sorted(fields))}."
        )
    kwargs = {}
    import typing

    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        ftype = hints.get(name)
        if dataclasses.is_dataclass(ftype) and isinstance(value, dict):
            value = from_dict(ftype, value, where=f"{where}.{name}")
        kwargs[name] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON/YAML-ready dict of a (nested) dataclass."""
    return dataclasses.asdict(obj)
