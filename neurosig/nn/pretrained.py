"""``save_pretrained`` / ``from_pretrained``: ``config.json`` + ``model.safetensors``.

Loading is strict: a missing or unexpected key, or a shape mismatch, raises a one-line error
that names the keys. Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig._utils.files import atomic_write_bytes

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class PretrainedMixin:
    """Mixin for ``nn.Module`` subclasses built from one config dataclass.

    Subclasses set ``config_class`` (a dataclass type), store ``self.config`` and are
    constructible as ``cls(config)``. ``model_type`` names the class in ``config.json`` so a
    directory can be checked before loading.
    """

    config_class: ClassVar[type]
    model_type: ClassVar[str]

    def save_pretrained(self, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        from safetensors.torch import save

        assert isinstance(self, nn.Module)
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        cfg = dataclasses.asdict(self.config)  # type: ignore[attr-defined]
        meta = {"model_type": self.model_type, "config": cfg, "neurosig_version": _version()}
        if extra:
            meta["extra"] = extra
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        atomic_write_bytes(d / WEIGHTS_NAME, save(state))
        atomic_write_bytes(d / CONFIG_NAME, json.dumps(meta, indent=2, sort_keys=True).encode())
        return d

    @classmethod
    def read_config(cls, directory: str | os.PathLike) -> dict[str, Any]:
        d = Path(directory)
        cfg_path = d / CONFIG_NAME
        if not cfg_path.is_file():
            raise NeurosigError(f"{os.fspath(d)!r} holds no {CONFIG_NAME}; point --model at a directory written by save_pretrained.")
        try:
            meta = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as err:
            raise NeurosigError(f"{os.fspath(cfg_path)!r} is not valid JSON ({err.msg}); re-export the model.") from None
        return meta

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from neurosig.config import from_dict

        d = Path(directory)
        meta = cls.read_config(d)
        mtype = meta.get("model_type")
        if mtype != cls.model_type:
            raise NeurosigError(
                f"{os.fspath(d)!r} holds a {mtype!r} model, not {cls.model_type!r}; load it with the matching class."
            )
        try:
            config = from_dict(cls.config_class, meta.get("config", {}), where=f"{os.fspath(d / CONFIG_NAME)}")
        except NeurosigError as err:  # a key unknown to this version: say which version made the folder
            made = meta.get("neurosig_version")
            from neurosig import __version__

            if "unknown key(s)" not in str(err) or made == __version__:
                raise
            by = f"neurosig {made}" if made else "a neurosig version that did not record itself"
            raise NeurosigError(f"{str(err).rstrip('.')}. {os.fspath(d / CONFIG_NAME)!r} was made by {by}; this is neurosig "
                                f"{__version__}: load it with that version, or re-export it with this one.") from None
        model = cls(config)  # type: ignore[call-arg]
        wpath = d / WEIGHTS_NAME
        if not wpath.is_file():
            raise NeurosigError(f"{os.fspath(d)!r} holds no {WEIGHTS_NAME}; re-export the model with save_pretrained.")
        try:
            state = load_file(os.fspath(wpath), device=str(map_location))
        except (SafetensorError, OSError, Exception) as err:  # corrupt or truncated file
            raise NeurosigError(f"{os.fspath(wpath)!r} could not be read ({type(err).__name__}: {err}); the file is damaged, re-export it.") from None
        load_state_dict_strict(model, state, source=os.fspath(wpath))
        model.eval()
        return model


def load_state_dict_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``; raise a one-line error on missing/unexpected/mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) ({', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''})")
        raise NeurosigError(f"{source}: weights do not match the model: {'; '.join(parts)}; the file was written by another model or config.")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise NeurosigError(
            f"{source}: {len(bad)} tensor(s) have the wrong shape (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}); the config does not match the weights."
        )
    model.load_state_dict(state, strict=True)


def _version() -> str:
    from neurosig import __version__

    return __version__
