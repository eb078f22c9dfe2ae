"""neurosig.tokenizers: discrete tokens for neural signals.

- ``tf``  :class:`TFTokenizer`  time-frequency VQ tokenizer (STFT, dual path, EMA cosine codebook)
- ``rvq`` :class:`RVQTokenizer` multi-scale residual-VQ tokenizer (amplitude, phase, time decoder)
- ``vq``  :class:`VQTokenizer`  plain single-level VQ with the RVQ encoder/decoder (baseline)

``build_tokenizer(kind, config)`` builds one from a config dict/dataclass,
``load_tokenizer(dir)`` loads a ``save_pretrained`` directory (dispatch on ``model_type``).
``check_sfreq(tok, rates, source=...)`` raises unless the data's rate is the tokenizer's ``config.sfreq``.
"""

from __future__ import annotations

import os
from typing import Any

from neurosig._utils.errors import NeurosigError
from neurosig.tokenizers.base import Tokenizer, TokenizerConfig, TokenizerOutput, check_sfreq
from neurosig.tokenizers.rvq import RVQConfig, RVQTokenizer, VQConfig, VQTokenizer
from neurosig.tokenizers.tf import TFConfig, TFTokenizer

TOKENIZERS: dict[str, type[Tokenizer]] = {"tf": TFTokenizer, "rvq": RVQTokenizer, "vq": VQTokenizer}
_BY_MODEL_TYPE = {cls.model_type: cls for cls in TOKENIZERS.values()}


def build_tokenizer(kind: str, config: Any = None) -> Tokenizer:
    """Build a tokenizer of ``kind`` ('tf', 'rvq', 'vq') from a config dict or dataclass."""
    from neurosig.config import from_dict

    if kind not in TOKENIZERS:
        raise NeurosigError(f"tokenizer kind {kind!r} is not known; choose one of {', '.join(TOKENIZERS)}.")
    cls = TOKENIZERS[kind]
    if config is None or isinstance(config, dict):
        config = from_dict(cls.config_class, config or {}, where=f"tokenizer ({kind})")
    elif not isinstance(config, cls.config_class):
        raise NeurosigError(f"config for tokenizer {kind!r} must be a dict or {cls.config_class.__name__}, got {type(config).__name__}.")
    return cls(config)


def load_tokenizer(directory: str | os.PathLike, map_location: str = "cpu") -> Tokenizer:
    """Load any tokenizer written by ``save_pretrained`` (strict: missing/extra keys raise)."""
    meta = Tokenizer.read_config(directory)
    mtype = meta.get("model_type")
    if mtype not in _BY_MODEL_TYPE:
        raise NeurosigError(
            f"{os.fspath(directory)!r} holds model_type {mtype!r}, not a tokenizer; expected one of {', '.join(_BY_MODEL_TYPE)}."
        )
    return _BY_MODEL_TYPE[mtype].from_pretrained(directory, map_location=map_location)


__all__ = [
    "Tokenizer",
    "TokenizerConfig",
    "TokenizerOutput",
    "TFTokenizer",
    "TFConfig",
    "RVQTokenizer",
    "RVQConfig",
    "VQTokenizer",
    "VQConfig",
    "TOKENIZERS",
    "build_tokenizer",
    "load_tokenizer",
    "check_sfreq",
]
