"""Offline language-model loading and per-word feature extraction.

* :func:`load_model` loads a causal or encoder model **offline**: a bundled name
  (``smollm2-135m`` — a GGUF file read through ``transformers``; ``minilm-l6`` — BERT
  safetensors), a local Hugging Face directory, or a ``.gguf`` file. The hub is never
  contacted (``HF_HUB_OFFLINE=1``, ``local_files_only=True``).
* :data:`HOOK_REGISTRY` says, per architecture, which module's input or output holds the MLP
  "neurons": the input of ``down_proj`` for gated MLPs (Llama, Qwen, Gemma, Mistral), the output
  of the MLP activation for GPT-2, the intermediate activation for BERT.
* :meth:`LLMProbe.extract` runs batches of texts given as lists of *units* (words, or any
  multi-word chunk) and returns, per layer, MLP activations and residual hidden states averaged
  over the tokens of each unit (token → unit assignment through the tokenizer's offset mapping).
* :meth:`LLMProbe.steer` adds a vector to one layer's residual stream (forward hook), used by
  the brain-grounded axes.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig._utils.optional import require

log = get_logger("probes.llm")

BUNDLED_MODELS = ("smollm2-135m", "minilm-l6")


@dataclass(frozen=True)
class HookSpec:
    """Where the MLP neurons of one architecture live."""

    pattern: str  # regex on module names; group 1 is the layer index
    where: str  # "input" (first positional input of the module) or "output"
    causal: bool  # causal LM (generation possible) or encoder


# model_type -> HookSpec. Gated MLPs: act(gate(x)) * up(x) is the input of down_proj.
_GATED = HookSpec(r"(?:^|\.)layers\.(\d+)\.mlp\.down_proj$", "input", True)
HOOK_REGISTRY: dict[str, HookSpec] = {
    "llama": _GATED,
    "mistral": _GATED,
    "qwen2": _GATED,
    "qwen3": _GATED,
    "gemma": _GATED,
    "gemma2": _GATED,
    "gemma3_text": _GATED,
    "gpt2": HookSpec(r"(?:^|\.)h\.(\d+)\.mlp\.act$", "output", True),
    "bert": HookSpec(r"(?:^|\.)encoder\.layer\.(\d+)\.intermediate$", "output", False),
}

# Residual-stream blocks (for steering): module whose output[0] is the residual stream.
_BLOCK_PATTERNS = (r"(?:^|\.)layers\.(\d+)$", r"(?:^|\.)h\.(\d+)$", r"(?:^|\.)encoder\.layer\.(\d+)$")


def resolve_model_path(name: str | os.PathLike) -> Path:
    """A bundled model name or a local path → an existing local path (never a hub id)."""
    s = os.fspath(name)
    if s in BUNDLED_MODELS:
        try:
            from neurosig.datasets import bundled  # built by the bundled-data owner
        except ImportError:
            bundled = None
        if bundled is None or not hasattr(bundled, "model_path"):
            raise NeurosigError(
                f"model {s!r} is a bundled model but neurosig.datasets.bundled.model_path is unavailable; "
                f"run: neurosig data fetch {s} (or pass a local path with --model)"
            )
        return Path(bundled.model_path(s))
    p = Path(s).expanduser()
    if not p.exists():
        raise NeurosigError(
            f"model {s!r} is neither a bundled model ({', '.join(BUNDLED_MODELS)}) nor an existing local path; "
            "pass a local Hugging Face directory or a .gguf file (the hub is never contacted)"
        )
    return p


def load_model(name: str | os.PathLike, *, device: str = "cpu", dtype: str = "float32") -> "LLMProbe":
    """Load a model offline and wrap it in an :class:`LLMProbe`.

    ``name`` is ``smollm2-135m``, ``minilm-l6``, a local HF directory or a ``.gguf`` file (a
    directory holding exactly one ``.gguf`` file is read as that file).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    transformers = require("transformers", "loading a language model")
    import torch

    path = resolve_model_path(name)
    gguf_file = None
    if path.is_file():
        if path.suffix != ".gguf":
            raise NeurosigError(f"model file {str(path)!r} is not a .gguf file; pass a .gguf file or a model directory")
        gguf_file, path = path.name, path.parent
    elif not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            gguf_file = ggufs[0].name
        else:
            raise NeurosigError(
                f"model directory {str(path)!r} holds no config.json and {len(ggufs)} .gguf files; "
                "pass a Hugging Face directory or one .gguf file"
            )
    if gguf_file is not None:
        require("gguf", "reading a GGUF model")
    kw = dict(local_files_only=True, gguf_file=gguf_file) if gguf_file else dict(local_files_only=True)
    torch_dtype = getattr(torch, dtype)
    tok = transformers.AutoTokenizer.from_pretrained(str(path), **kw)
    config = transformers.AutoConfig.from_pretrained(str(path), **kw)
    spec = HOOK_REGISTRY.get(config.model_type)
    if spec is None:
        raise NeurosigError(
            f"model type {config.model_type!r} of {str(path)!r} has no hook entry; supported: {', '.join(sorted(HOOK_REGISTRY))}"
        )
    auto = transformers.AutoModelForCausalLM if spec.causal else transformers.AutoModel
    model = auto.from_pretrained(str(path), dtype=torch_dtype, **kw)
    model.to(device).eval()
    label = os.fspath(name)
    return LLMProbe(model, tok, name=label)


def check_layer_arg(probe, layers, flag: str) -> None:
    """Check CLI layer indices against ``probe.n_layers`` before any extraction; the error names ``flag``."""
    if layers is None:
        return
    bad = [int(l) for l in layers if not 0 <= int(l) < probe.n_layers]
    if bad:
        raise NeurosigError(f"{flag} {','.join(map(str, bad))} is out of range: {probe.name} has layers 0..{probe.n_layers - 1}; pass indices in that range")


def _find_modules(model, pattern: str) -> dict[int, object]:
    rx = re.compile(pattern)
    found = {}
    for mname, mod in model.named_modules():
        m = rx.search(mname)
        if m:
            found.setdefault(int(m.group(1)), mod)
    return found


def word_spans(units: Sequence[str], sep: str = " ") -> tuple[str, list[tuple[int, int]]]:
    """Join ``units`` with ``sep``; return the text and each unit's ``[start, end)`` char span."""
    spans, pos = [], 0
    for i, u in enumerate(units):
        if i:
            pos += len(sep)
        spans.append((pos, pos + len(u)))
        pos += len(u)
    return sep.join(units), spans


def assign_tokens(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Unit index of each token (-1 for special/padding tokens and pure whitespace).

    A token belongs to the unit its character span overlaps most (leading spaces that BPE
    tokenizers glue to a token do not count).
    """
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    out = np.full(len(offsets), -1, dtype=np.int64)
    for t, (a, b) in enumerate(offsets):
        if b <= a:
            continue
        ov = np.minimum(ends, b) - np.maximum(starts, a)
        j = int(np.argmax(ov))
        if ov[j] > 0:
            out[t] = j
    return out


class LLMProbe:
    """A loaded model + tokenizer with MLP-neuron hooks and per-unit averaging."""

    def __init__(self, model, tokenizer, *, name: str = "model", max_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        mtype = model.config.model_type
        if mtype not in HOOK_REGISTRY:
            raise NeurosigError(f"model type {mtype!r} has no hook entry; supported: {', '.join(sorted(HOOK_REGISTRY))}")
        self.spec = HOOK_REGISTRY[mtype]
        self.mlp_modules = _find_modules(model, self.spec.pattern)
        if not self.mlp_modules:
            raise NeurosigError(f"no module matches the {mtype} MLP hook pattern {self.spec.pattern!r}; the model layout is unexpected")
        self.n_layers = len(self.mlp_modules)
        blocks = {}
        for pat in _BLOCK_PATTERNS:
            blocks = _find_modules(model, pat)
            if blocks:
                break
        self.blocks = blocks
        cfg_max = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
        self.max_length = int(max_length or cfg_max or 512)
        # right padding: with left padding a causal model's positions would shift per text
        tokenizer.padding_side = "right"
        if getattr(tokenizer, "pad_token", None) is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if not getattr(tokenizer, "is_fast", False):
            raise NeurosigError("the tokenizer must be a fast tokenizer (offset mappings are needed to average per word)")

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def causal(self) -> bool:
        return self.spec.causal

    def _check_layers(self, layers: Iterable[int] | None) -> list[int]:
        if layers is None:
            return list(range(self.n_layers))
        layers = [int(l) for l in layers]
        bad = [l for l in layers if not 0 <= l < self.n_layers]
        if bad:
            raise NeurosigError(f"layers {bad} are out of range; the model has layers 0..{self.n_layers - 1}")
        return layers

    @contextlib.contextmanager
    def _mlp_hooks(self, layers: list[int], store: dict):
        handles = []

        def make(i):
            if self.spec.where == "input":

                def hook(mod, args):
                    store[i] = args[0].detach()

                return self.mlp_modules[i].register_forward_pre_hook(hook)

            def hook(mod, args, out):
                store[i] = (out[0] if isinstance(out, tuple) else out).detach()

            return self.mlp_modules[i].register_forward_hook(hook)

        try:
            for i in layers:
                handles.append(make(i))
            yield
        finally:
            for h in handles:
                h.remove()

    def encode(self, texts: list[str]):
        """Tokenize with offsets and the context-length guard (raises on too-long texts)."""
        enc = self.tokenizer(texts, return_offsets_mapping=True, padding=True, return_tensors="pt", truncation=False)
        lengths = enc["attention_mask"].sum(1)
        if int(lengths.max()) > self.max_length:
            k = int(lengths.argmax())
            raise NeurosigError(
                f"text {k} has {int(lengths[k])} tokens, more than the model's context length {self.max_length}; "
                "use shorter streams (fewer sentences per trial) or split the text"
            )
        return enc

    def extract(
        self,
        texts: Sequence[Sequence[str]],
        *,
        layers: Iterable[int] | None = None,
        kinds: Sequence[str] = ("mlp", "resid"),
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[dict[str, np.ndarray]]:
        """Per-unit features of each text (a list of units joined by spaces).

        Returns one dict per text: ``"mlp"`` → ``(n_layers_sel, n_units, n_neurons)`` and
        ``"resid"`` → ``(n_layers_sel, n_units, d_model)`` (float32), averaged over each unit's tokens.
        ``resid`` of layer ``i`` is the output of block ``i`` (``hidden_states[i + 1]``).
        """
        import torch

        for k in kinds:
            if k not in ("mlp", "resid"):
                raise NeurosigError(f"kinds entry {k!r} is not supported; choose 'mlp' and/or 'resid'")
        if not texts or any(len(u) == 0 for u in texts):
            raise NeurosigError("texts must be a non-empty list of non-empty unit lists")
        layers = self._check_layers(layers)
        out: list[dict[str, np.ndarray]] = []
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"{self.name}: features", unit="batch")
        for b0 in starts:
            batch = [list(map(str, u)) for u in texts[b0 : b0 + batch_size]]
            joined = [word_spans(u) for u in batch]
            enc = self.encode([t for t, _ in joined])
            offsets = enc.pop("offset_mapping").numpy()  # (B, L, 2)
            store: dict[int, torch.Tensor] = {}
            with torch.no_grad(), self._mlp_hooks(layers if "mlp" in kinds else [], store):
                res = self.model(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                    output_hidden_states="resid" in kinds,
                )
            hidden = getattr(res, "hidden_states", None)
            for bi, (units, (_, spans)) in enumerate(zip(batch, joined)):
                mask = enc["attention_mask"][bi].numpy().astype(bool)
                tok_unit = assign_tokens([tuple(o) if m else (0, 0) for o, m in zip(offsets[bi], mask)], spans)
                n_u = len(units)
                counts = np.bincount(tok_unit[tok_unit >= 0], minlength=n_u)
                if (counts == 0).any():
                    j = int(np.flatnonzero(counts == 0)[0])
                    raise NeurosigError(f"unit {j} ({units[j]!r}) of text {b0 + bi} received no token; remove empty units")
                # averaging matrix (n_units, L): row j = 1/count_j on unit j's tokens
                A = np.zeros((n_u, len(tok_unit)), dtype=np.float32)
                sel = tok_unit >= 0
                A[tok_unit[sel], np.flatnonzero(sel)] = 1.0
                A /= counts[:, None]
                At = torch.from_numpy(A).to(self.device)
                item = {}
                if "mlp" in kinds:
                    item["mlp"] = torch.stack([At @ store[i][bi].float() for i in layers]).cpu().numpy()
                if "resid" in kinds:
                    item["resid"] = torch.stack([At @ hidden[i + 1][bi].float() for i in layers]).cpu().numpy()
                out.append(item)
        return out

    # ---- generation-time tools (causal models) -------------------------------------------------
    @contextlib.contextmanager
    def steer(self, layer: int, vector, scale: float = 1.0):
        """Add ``scale * vector`` (d_model,) to the residual output of block ``layer``."""
        import torch

        (layer,) = self._check_layers([layer])
        if layer not in self.blocks:
            raise NeurosigError(f"no residual block found for layer {layer}")
        v = torch.as_tensor(np.asarray(vector), dtype=torch.float32, device=self.device)

        def hook(mod, args, out):
            if isinstance(out, tuple):
                return (out[0] + scale * v.to(out[0].dtype),) + tuple(out[1:])
            return out + scale * v.to(out.dtype)

        h = self.blocks[layer].register_forward_hook(hook)
        try:
            yield
        finally:
            h.remove()
