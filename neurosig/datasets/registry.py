"""Registry of corpus adapters (``neurosig preprocess --adapter NAME``).

An adapter is an object (or class) with ``files(root) -> list[FileSpec]`` that knows a corpus
layout (subject ids, labels, splits). Corpus modules register themselves with
:func:`register_adapter`; ``neurosig.datasets.ADAPTERS`` maps name → adapter.
"""

from __future__ import annotations

from typing import Any, Callable

from neurosig._utils.errors import NeurosigError

ADAPTERS: dict[str, Any] = {}


def register_adapter(name: str) -> Callable[[Any], Any]:
    """Class/object decorator: ``@register_adapter("tuab") class TUAB: def files(self, root): ...``."""

    def deco(obj: Any) -> Any:
        if name in ADAPTERS and ADAPTERS[name] is not obj:
            raise NeurosigError(f"adapter {name!r} is registered twice; pick another name.")
        ADAPTERS[name] = obj
        return obj

    return deco


def get_adapter(name_or_obj: Any) -> Any:
    """Return an adapter instance from a registry name or pass an adapter object through."""
    if isinstance(name_or_obj, str):
        _load_builtin_adapters()
        if name_or_obj not in ADAPTERS:
            known = ", ".join(sorted(ADAPTERS)) or "none registered"
            raise NeurosigError(f"adapter {name_or_obj!r} is unknown; choose one of: {known}.")
        obj = ADAPTERS[name_or_obj]
    else:
        obj = name_or_obj
    if isinstance(obj, type):
        obj = obj()
    if not callable(getattr(obj, "files", None)):
        raise NeurosigError(f"adapter {obj!r} has no files(root) method; an adapter must return FileSpecs from files(root).")
    return obj


def _load_builtin_adapters() -> None:
    """Import ``neurosig.datasets.adapters`` (if the corpora engineer shipped it) so it registers."""
    import importlib

    try:
        importlib.import_module("neurosig.datasets.adapters")
    except ModuleNotFoundError as err:
        if err.name not in ("neurosig.datasets.adapters",):
            raise
