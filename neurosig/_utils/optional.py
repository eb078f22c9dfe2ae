"""Optional dependencies with a one-line install hint instead of an ImportError traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from neurosig._utils.errors import NeurosigError

# module name -> the pip extra that provides it
_EXTRAS = {
    "transformers": "llm",
    "gguf": "llm",
    "accelerate": "llm",
    "ray": "ray",
    "aeon": "peer",
    "triton": "triton",
    "wandb": "wandb",
    "tensorboard": "tensorboard",
    "pyedflib": "dev",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = _EXTRAS.get(module.split(".")[0])
        hint = f"pip install 'neurosig[{extra}]'" if extra else f"pip install {module.split('.')[0]}"
        raise NeurosigError(f"{purpose} needs the optional package {module!r} ({err}); install it with: {hint}") from None
