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
    if p.is_dir():
        raise NeurosigError(f"config file {os.fspath(path)!r} is a folder; pass one YAML file in it (recipes live in {CONFIG_DIR}).")
    if not p.is_file():
        alt = CONFIG_DIR / p
        if alt.is_file():
            p = alt
        else:
            raise NeurosigError(f"config file {os.fspath(path)!r} not found; pass a path to a YAML file (recipes live in {CONFIG_DIR}).")
    try:
        data = yaml.load(p.read_text(), Loader=_loader()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else "parse error"
        raise NeurosigError(f"config file {os.fspath(p)!r} is not valid YAML ({first}); fix the syntax.") from None
    if not isinstance(data, dict):
        raise NeurosigError(f"config file {os.fspath(p)!r} must hold a mapping at the top level, got {type(data).__name__}.")
    return data


_FLOAT = r"""^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"""


def _loader():
    """PyYAML's safe loader, reading ``1e-3`` as a float as YAML 1.2 does (PyYAML's YAML 1.1 rules want ``1.0e-3``
    and would hand ``lr: 1e-3`` over as the string '1e-3')."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_FLOAT), list("-+0123456789."))
    return Loader


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _number(value: Any, tp: type, where: str) -> Any:
    """``value`` as ``tp`` (int or float): numbers, and integral floats (``1e3``) for int fields. Anything else,
    quoted numbers included, raises a one-line error."""
    if isinstance(value, str):
        raise NeurosigError(f"{where} must be {'an integer' if tp is int else 'a number'}, got the string {value!r:.40}; "
                            "write the number without quotes.")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NeurosigError(f"{where} must be {'an integer' if tp is int else 'a number'}, got {type(value).__name__} ({value!r:.60}).")
    if tp is int:
        if isinstance(value, float) and not value.is_integer():
            raise NeurosigError(f"{where} must be an integer, got {value!r}.")
        return int(value)
    return float(value)


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a config value (from YAML or a dict) against its field's annotation ``tp`` and return it, converted
    where the meaning is unambiguous: integral floats to int, ints to float, a single name to a list of one name. Anything else that does not fit raises a one-line error naming ``where``. Types this does not know
    (arrays, tensors, Any) pass unchanged; ranges and options stay with each dataclass's ``__post_init__``."""
    import types
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is None:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return coerce(value, a, where)
            except NeurosigError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise NeurosigError(f"{where} must be {' or '.join(_type_name(a) for a in args)}, got {type(value).__name__} ({value!r:.60}).")
    if tp is bool:
        if not isinstance(value, bool):
            raise NeurosigError(f"{where} must be true or false, got {value!r:.60}.")
        return value
    if tp in (int, float):
        return _number(value, tp, where)
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise NeurosigError(f"{where} must be a string, got {type(value).__name__} ({value!r:.60}).")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return from_dict(tp, value, where=where)
        if isinstance(value, tp):
            return value
        raise NeurosigError(f"{where} must be a mapping of {tp.__name__} keys ({', '.join(f.name for f in dataclasses.fields(tp) if f.init)}), got {value!r:.60}.")
    if tp in (list, tuple) or origin in (list, tuple):
        item = args[0] if args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)) else None
        if isinstance(value, str) and item is str:
            return [value]  # `exclude: Fp1` means [Fp1], not the letters F, p, 1
        if not isinstance(value, (list, tuple)):
            raise NeurosigError(f"{where} must be a list (e.g. [{value!r:.30}]), got {type(value).__name__} ({value!r:.60}).")
        if item is not None:
            return type(value)(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args and len(args) == len(value):
            return type(value)(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise NeurosigError(f"{where} must be a mapping, got {type(value).__name__} ({value!r:.60}).")
        if len(args) == 2:
            return {k: coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; nested dataclass fields are built recursively.

    Unknown keys raise a one-line error that names them and lists the valid ones; each value is checked against
    its field's annotation (:func:`coerce`).
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
        kwargs[name] = coerce(value, hints.get(name, Any), f"{where}.{name}" if ": " in where else f"{where}: {name}")
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON/YAML-ready dict of a (nested) dataclass."""
    return dataclasses.asdict(obj)
