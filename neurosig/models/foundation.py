"""The foundation model: backbone + masked/next-token heads, sharing and generation."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig.models.backbone import Backbone
from neurosig.models.config import FoundationConfig
from neurosig.models.objectives import MultiLevelHead, block_time_mask, multilevel_ce
from neurosig.nn.pretrained import PretrainedMixin

TOKENIZER_DIR = "tokenizer"
# which subjects (and recordings) a pretrained model trained on: written by `neurosig pretrain` (fit_pretrain) through
# save_pretrained(..., pretrain_subjects=), read by `neurosig finetune` to refuse testing on subjects the model has seen
PRETRAIN_SUBJECTS = "pretrain_subjects.json"


def load_any_tokenizer(directory: str | os.PathLike):
    """Load a tokenizer directory with ``neurosig.tokenizers.load_tokenizer`` (or the toy one)."""
    d = Path(directory)
    meta = PretrainedMixin.read_config(d)
    from neurosig.models._testing import ToyTokenizer

    if meta.get("model_type") == ToyTokenizer.model_type:
        return ToyTokenizer.from_pretrained(d)
    try:
        from neurosig.tokenizers import load_tokenizer
    except ImportError as err:
        raise NeurosigError(f"{os.fspath(d)!r} holds a {meta.get('model_type')!r} tokenizer but neurosig.tokenizers.load_tokenizer is unavailable ({err}).") from None
    return load_tokenizer(d)


def tokenize_batch(batch: dict, tokenizer, need_embedding: bool = False):
    """codes (B, C, N, L) (and continuous tokens (B, C, N, D) if asked) of a window batch.

    ``batch["sfreq"]`` (``collate_windows`` sets it) is passed on, so a batch at another rate than
    the tokenizer's raises instead of being tokenized as if it were at the tokenizer's rate.

    The tokenizer runs in float32 with autocast off (float64 input and tokenizer, ``64-true``, stay float64):
    the codes are training targets and model inputs, and inside a ``bf16-mixed`` step a third of them
    differed from the float32 codes of validation, the unigram baseline and inference.
    """
    kw = dict(pos=batch.get("pos"), ch_type=batch.get("ch_type"), ch_mask=batch.get("ch_mask"), sfreq=batch.get("sfreq"))
    x = batch["x"]
    x = x if x.dtype == torch.float64 else x.float()
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        codes = tokenizer.encode(x, **kw)  # (B, C, N, L)
        tokens = tokenizer.embed(x, **kw) if need_embedding else None  # (B, C, N, D)
    return codes, tokens


def read_pretrain_subjects(directory: str | os.PathLike) -> dict | None:
    """The ``pretrain_subjects.json`` record of a pretrained directory, or None when it has none (older exports,
    models not pretrained on a store); a damaged record is a one-line error."""
    import json

    p = Path(directory) / PRETRAIN_SUBJECTS
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("subjects"), list):
            raise ValueError("no 'subjects' list")
    except (ValueError, UnicodeDecodeError) as e:
        raise NeurosigError(f"{os.fspath(p)!r} is damaged ({e}); re-run `neurosig pretrain` to write it, or delete it "
                            "(the overlap of test and pretraining subjects is then not checked).") from None
    return doc


def pretrained_sfreq(directory: str | os.PathLike) -> float | None:
    """The rate (Hz) the tokenizer saved in a pretrained ``directory`` (or a tokenizer directory) was
    built for, read from its config without loading weights; ``None`` when it has none (toy tokenizer).

    For checking data up front (``neurosig.tokenizers.check_sfreq(pretrained_sfreq(d), rates, source=...)``)
    before a long run whose first batch would raise anyway.
    """
    d = Path(directory)
    if (d / TOKENIZER_DIR).is_dir():
        d = d / TOKENIZER_DIR
    meta = PretrainedMixin.read_config(d)
    cfg = meta.get("config") if isinstance(meta, dict) else None
    sf = cfg.get("sfreq") if isinstance(cfg, dict) else None
    return float(sf) if isinstance(sf, (int, float)) and not isinstance(sf, bool) else None  # a malformed config fails at loading


TOKENIZER_FINGERPRINT = "tokenizer_fingerprint"  # extra.<this> of a model's config.json: which tokenizer it was saved with


def tokenizer_fingerprint(tokenizer) -> dict:
    """``{"model_type", "codebook_sizes", "sha256"}`` of a tokenizer; the hash covers its weights
    (names, dtypes, shapes, values) and its config, so a re-exported copy of the same tokenizer matches."""
    import dataclasses
    import hashlib
    import json

    h = hashlib.sha256()
    cfg = getattr(tokenizer, "config", None)
    if dataclasses.is_dataclass(cfg):
        h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
    for k, v in sorted(tokenizer.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return {"model_type": getattr(tokenizer, "model_type", type(tokenizer).__name__),
            "codebook_sizes": [int(k) for k in tokenizer.codebook_sizes], "sha256": h.hexdigest()}


def check_tokenizer_matches(model, tokenizer, source: str = "model") -> None:
    """Raise a one-line error when ``tokenizer``'s vocabulary (codebook sizes, hence levels) or, for
    ``input='embedding'``, its ``embed_dim`` is not the one ``model`` was built for."""
    bb = model.config.backbone
    ks = [int(k) for k in getattr(tokenizer, "codebook_sizes", [])]
    if ks != list(bb.codebook_sizes):
        raise NeurosigError(
            f"{source}: the tokenizer does not match the model: its codebook_sizes are {ks} ({len(ks)} level(s)), the model's "
            f"{list(bb.codebook_sizes)} ({len(bb.codebook_sizes)} level(s)); use the tokenizer the model was trained with."
        )
    if bb.input == "embedding" and int(getattr(tokenizer, "embed_dim", -1)) != bb.embed_dim:
        raise NeurosigError(
            f"{source}: the tokenizer does not match the model: its embed_dim is {getattr(tokenizer, 'embed_dim', None)}, "
            f"the model's {bb.embed_dim}; use the tokenizer the model was trained with."
        )


def keep_float64(module: nn.Module, directory, map_location="cpu") -> nn.Module:
    """``module`` (just loaded from ``directory``, hence float32) in float64 with the file's exact
    values when ``directory/model.safetensors`` holds float64 weights; otherwise unchanged.
    bf16/fp16 weights are left upcast to float32, which is exact."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from neurosig.nn.pretrained import WEIGHTS_NAME, load_state_dict_strict

    w = Path(directory) / WEIGHTS_NAME
    with safe_open(os.fspath(w), "pt") as f:
        if not any(f.get_slice(k).get_dtype() == "F64" for k in f.keys()):
            return module
    module = module.to(torch.float64)
    load_state_dict_strict(module, load_file(os.fspath(w), device=str(map_location)), source=os.fspath(w))
    return module.eval()


def check_generate_args(*, n_steps=None, temperature=None, top_k=None, names: dict[str, str] | None = None) -> None:
    """Validate :meth:`FoundationModel.generate`'s sampling arguments (one-line errors); ``names``
    maps an argument to how the caller spells it (e.g. ``{"top_k": "--top-k"}`` for the CLI)."""
    import math

    nm = {"n_steps": "n_steps", "temperature": "temperature", "top_k": "top_k", **(names or {})}
    for key, v in (("n_steps", n_steps), ("top_k", top_k)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "n_steps" else 1)):
            lo = "an integer >= 0" if key == "n_steps" else "an integer >= 1 (None keeps every code)"
            raise NeurosigError(f"{nm[key]} must be {lo}, got {v!r}.")
    if temperature is not None and not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise NeurosigError(f"{nm['temperature']} must be a finite number >= 0 (0 = greedy), got {temperature!r}.")


class FoundationModel(nn.Module, PretrainedMixin):
    """Backbone with masked-token and/or next-token heads over the tokenizer's vocabulary."""

    config_class = FoundationConfig
    model_type = "neurosig_foundation"

    def __init__(self, config: FoundationConfig):
        super().__init__()
        if isinstance(config, dict):
            config = FoundationConfig(**config)
        self.config = config
        self.backbone = Backbone(config.backbone)
        d, ks = config.backbone.d_model, config.backbone.codebook_sizes
        if not ks:
            raise NeurosigError("FoundationConfig.backbone.codebook_sizes is empty; objectives predict codes, set it from tokenizer.codebook_sizes.")
        self.heads = nn.ModuleDict({o: MultiLevelHead(d, ks) for o in config.objectives})

    # ---------------------------------------------------------------- training losses
    def compute_losses(
        self,
        codes: torch.Tensor,
        pos: torch.Tensor | None = None,
        ch_type: torch.Tensor | None = None,
        ch_mask: torch.Tensor | None = None,
        *,
        tokens: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Losses of every configured objective; ``out["loss"]`` is the weighted total.

        codes (B, C, N, L) are the targets (and the inputs when backbone.input == "codes");
        tokens (B, C, N, D) are the inputs when backbone.input == "embedding".
        """
        cfg = self.config
        B, C, N, L = codes.shape
        if ch_mask is None:
            ch_mask = torch.ones(B, C, dtype=torch.bool, device=codes.device)
        ch_mask = ch_mask.to(torch.bool)
        inputs = codes if cfg.backbone.input == "codes" else tokens
        if inputs is None:
            raise NeurosigError("backbone.input='embedding' needs tokens=tokenizer.embed(...) in compute_losses.")
        token_mask = ch_mask[:, :, None].expand(B, C, N)  # (B, C, N)
        out: dict[str, torch.Tensor] = {}
        if "masked" in cfg.objectives:
            m = block_time_mask(token_mask, cfg.mask_ratio, cfg.mask_block, generator)  # (B, C, N)
            masks = [m, token_mask & ~m] if cfg.symmetric_mask else [m]
            k = len(masks)
            rep = lambda t: None if t is None else torch.cat([t] * k)  # noqa: E731
            mm = torch.cat(masks)  # (k*B, C, N)
            h = self.backbone(rep(inputs), rep(pos), rep(ch_type), rep(ch_mask), mask=mm)  # (k*B, C, N, d)
            logits = self.heads["masked"](h)
            out["mlm/ce"], out["mlm/acc"] = multilevel_ce(logits, rep(codes), mm)
        if "next" in cfg.objectives:
            h = self.backbone(inputs, pos, ch_type, ch_mask, causal=True)  # (B, C, N, d)
            logits = self.heads["next"](h[:, :, :-1])  # predicts patch n+1 from patches <= n
            sel = token_mask[:, :, 1:]
            out["next/ce"], out["next/acc"] = multilevel_ce(logits, codes[:, :, 1:], sel)
            out["next/n_targets"] = sel.sum().to(torch.float32)  # 0 for one-patch windows (nothing to predict)
        total = sum(cfg.loss_weights.get(k, 1.0) * v for k, v in out.items() if k.endswith("/ce"))
        out["loss"] = total
        return out

    def forward(self, codes, pos=None, ch_type=None, ch_mask=None, *, tokens=None, generator=None):
        return self.compute_losses(codes, pos, ch_type, ch_mask, tokens=tokens, generator=generator)

    # ---------------------------------------------------------------- downstream use
    def embed(self, batch: dict, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
        """Contextual embeddings of a window batch: (hidden (B, C, N, d), token_mask (B, C, N)).

        ``batch`` holds ``x (B, C, T)`` and optionally ``pos``, ``ch_type``, ``ch_mask``, ``sfreq``
        (checked against the tokenizer's rate: pass it whenever the data has one); the
        tokenizer's codes are computed without gradient, the backbone runs bidirectionally with
        gradient (so fine-tuning can train it). token_mask is True on real channels.
        """
        if not isinstance(batch, dict) or "x" not in batch:
            raise NeurosigError("batch must be a dict with at least 'x' (B, C, T); build it with neurosig.datasets.collate_windows.")
        x = batch["x"]
        B, C = x.shape[:2]
        ch_mask = batch.get("ch_mask")
        if ch_mask is None:
            ch_mask = torch.ones(B, C, dtype=torch.bool, device=x.device)
        need_emb = self.config.backbone.input == "embedding"
        codes, tokens = tokenize_batch({**batch, "ch_mask": ch_mask}, tokenizer, need_emb)
        inputs = tokens if need_emb else codes
        hidden = self.backbone(inputs, batch.get("pos"), batch.get("ch_type"), ch_mask)  # (B, C, N, d)
        token_mask = ch_mask.to(torch.bool)[:, :, None].expand(B, C, hidden.shape[2])
        return hidden, token_mask

    @torch.no_grad()
    def generate(
        self,
        prompt_codes: torch.Tensor,
        n_steps: int,
        pos: torch.Tensor | None = None,
        ch_type: torch.Tensor | None = None,
        ch_mask: torch.Tensor | None = None,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sample ``n_steps`` more patches for every channel: (B, C, N0, L) -> (B, C, N0+n_steps, L).

        Needs the "next" objective. Each RVQ level of the next patch is sampled from its head
        (temperature 0 = greedy; ``top_k`` keeps the k most likely codes).
        """
        if "next" not in self.heads:
            raise NeurosigError("generate needs a model trained with the 'next' objective; add 'next' to objectives.")
        if self.config.backbone.input != "codes":
            raise NeurosigError("generate needs backbone.input='codes' (continuous-input models cannot feed samples back).")
        check_generate_args(n_steps=n_steps, temperature=temperature, top_k=top_k)
        codes = prompt_codes.long()
        for _ in range(n_steps):
            h = self.backbone(codes, pos, ch_type, ch_mask, causal=True)[:, :, -1]  # (B, C, d)
            nxt = []
            for lg in self.heads["next"](h):  # (B, C, K_l)
                lg = lg.float()
                if top_k is not None and top_k < lg.shape[-1]:
                    kth = lg.topk(top_k, dim=-1).values[..., -1:]
                    lg = lg.masked_fill(lg < kth, float("-inf"))
                if temperature == 0:
                    nxt.append(lg.argmax(-1))
                else:
                    p = torch.softmax(lg / temperature, dim=-1)
                    s = torch.multinomial(p.reshape(-1, p.shape[-1]).cpu(), 1, generator=generator)
                    nxt.append(s.reshape(p.shape[:-1]).to(codes.device))
            codes = torch.cat([codes, torch.stack(nxt, dim=-1)[:, :, None]], dim=2)  # (B, C, N+1, L)
        return codes

    # ---------------------------------------------------------------- sharing
    def save_pretrained(self, directory, tokenizer=None, extra=None, pretrain_subjects: dict | None = None) -> Path:  # type: ignore[override]
        """Write config.json + model.safetensors (and the tokenizer into ``directory/tokenizer``).

        ``pretrain_subjects``: the record of what the model trained on (``{"subjects": [global ids], "recordings":
        [...], ...}``, built by ``neurosig.training.pretrain``) → ``pretrain_subjects.json``. Without it, a record
        left in ``directory`` by an earlier export is removed: it would describe other training data."""
        import json

        from neurosig._utils.files import atomic_write_bytes

        if tokenizer is not None:
            check_tokenizer_matches(self, tokenizer, source="save_pretrained(tokenizer=...)")
            extra = {**(extra or {}), TOKENIZER_FINGERPRINT: tokenizer_fingerprint(tokenizer)}
        d = super().save_pretrained(directory, extra=extra)
        if tokenizer is not None:
            tokenizer.save_pretrained(d / TOKENIZER_DIR)
        if pretrain_subjects is not None:
            atomic_write_bytes(d / PRETRAIN_SUBJECTS, json.dumps(pretrain_subjects, indent=1, sort_keys=True).encode())
        else:
            (d / PRETRAIN_SUBJECTS).unlink(missing_ok=True)
        return d

    @classmethod
    def from_pretrained(cls, directory, map_location="cpu"):  # type: ignore[override]
        """As :meth:`PretrainedMixin.from_pretrained`, but float64 weights (``precision: 64-true``)
        stay float64 instead of being rounded into the float32 model."""
        model = super().from_pretrained(directory, map_location=map_location)
        return keep_float64(model, directory, map_location)

    @classmethod
    def load(cls, directory, map_location="cpu"):
        """``(model, tokenizer)`` from a directory written by :meth:`save_pretrained`."""
        d = Path(directory)
        model = cls.from_pretrained(d, map_location=map_location)
        tdir = d / TOKENIZER_DIR
        if not tdir.is_dir():
            raise NeurosigError(f"{os.fspath(d)!r} has no {TOKENIZER_DIR}/ folder; save with model.save_pretrained(dir, tokenizer=tok).")
        tok = keep_float64(load_any_tokenizer(tdir), tdir)
        check_tokenizer_matches(model, tok, source=repr(os.fspath(d)))
        meta = cls.read_config(d)
        want = ((meta.get("extra") or {}).get(TOKENIZER_FINGERPRINT) or {}).get("sha256")
        if want is not None and want != tokenizer_fingerprint(tok)["sha256"]:
            raise NeurosigError(f"{os.fspath(d)!r}: {TOKENIZER_DIR}/ holds another tokenizer than the model was saved with "
                                f"(weights+config fingerprint {tokenizer_fingerprint(tok)['sha256'][:12]} vs {want[:12]} in config.json); "
                                f"put back the tokenizer it was trained with.")
        return model, tok

    def n_parameters(self, backbone_only: bool = False) -> int:
        mod = self.backbone if backbone_only else self
        return sum(p.numel() for p in mod.parameters())
