"""Tokenizer contract: :class:`TokenizerOutput`, the :class:`Tokenizer` base and its config.

Flow shared by every tokenizer (``Tokenizer._prepare``):

1. ``x (B, C, T)`` in model units (µV for EEG/iEEG, fT for MEG, z for fMRI) is right-padded
   with zeros to ``N * patch_len`` samples, ``N = ceil(T / patch_len)`` (a window shorter than
   one patch gives ``N = 1``).
2. It is divided by a **fixed** per-channel-type scale (``input_scale`` = 100 for µV/fT,
   ``type_scales`` overrides, fMRI 1.0). The scale is a config value, so ``decode`` multiplies
   it back and returns model units again. No per-window statistics are used: a token means the
   same amplitude in every window.
3. Only real channels (``ch_mask`` True) are tokenized; padded channels get code 0, zero
   quantized vectors and a zero reconstruction, and never enter losses or codebook updates.
4. Every channel gets a sensor vector (``neurosig.nn.sensors.SensorEncoder``) from its
   position, orientation and type, added to its token latents (encoder) and to the quantized
   vectors (decoder).

Subclasses implement ``_token_inputs``, ``_encode_tokens``, ``_decode_tokens``,
``_loss_terms`` (and optionally ``_make_masks``) on flattened tokens ``(K, ...)``.

Sampling rate: a tokenizer is built for one rate (``config.sfreq``; its ``patch_len`` and
spectral bins mean seconds and Hz only at that rate). ``forward(batch)`` reads
``batch["sfreq"]``; ``encode``/``embed``/``decode`` take ``sfreq=`` (a number or a ``(B,)``
tensor, as ``collate_windows`` gives). Every caller whose data carries a rate must pass it:
a different rate raises :class:`NeurosigError` (resample at preprocessing, ``resample_sfreq``).
``sfreq=None`` means "x is already at the tokenizer's rate" and is meant only for bare arrays
that carry no rate (unit tests, synthetic signals); it is not checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from neurosig._utils.channels import CH_TYPE_CODES, CH_TYPES
from neurosig._utils.errors import NeurosigError
from neurosig.nn.pretrained import PretrainedMixin
from neurosig.nn.sensors import SensorConfig, SensorEncoder


@dataclass
class TokenizerOutput:
    """What ``Tokenizer.forward`` returns (never a tuple).

    codes (B, C, N, L) int64; quantized (B, C, N, D); reconstruction (B, C, N * patch_len) in
    model units; losses: raw loss terms keyed ``tok/...``; loss: their weighted sum (the
    weights are the config's ``loss_weights`` with the same keys); metrics: floats/0-d tensors
    (``perplexity``, ``usage``, ``nmse`` ...).
    """

    codes: torch.Tensor
    quantized: torch.Tensor
    reconstruction: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    loss: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None  # (B, C, N) bool: real channel and not a padded patch
    predictions: dict[str, torch.Tensor] = field(default_factory=dict)  # extra decoded targets


def check_sfreq(tokenizer, sfreq, *, source: str = "batch") -> None:
    """Raise :class:`NeurosigError` unless every rate in ``sfreq`` is the rate ``tokenizer`` was built for.

    ``tokenizer``: a tokenizer (its ``config.sfreq``) or that rate in Hz; ``None`` or a tokenizer
    without a configured rate (the toy one) accepts any rate. ``sfreq``: a number, a sequence, a
    numpy array or a tensor of rates (``None``: unknown, not checked). ``source`` names the data in
    the message (``"batch"``, ``"store runs/x"``, ``"--data DIR"``).
    """
    want = tokenizer if tokenizer is None or isinstance(tokenizer, (int, float)) else getattr(getattr(tokenizer, "config", None), "sfreq", None)
    if want is None or sfreq is None:
        return
    if isinstance(sfreq, torch.Tensor):
        rates = sfreq.detach().flatten().cpu().double().tolist()
    elif isinstance(sfreq, (int, float)):
        rates = [float(sfreq)]
    else:
        rates = [float(v) for v in (sfreq.tolist() if hasattr(sfreq, "tolist") else sfreq)]
    want = float(want)
    bad = sorted({r for r in rates if not abs(r - want) <= 1e-3 * want})  # NaN counts as bad
    if bad:
        got = ", ".join(f"{r:g}" for r in bad[:4]) + (", ..." if len(bad) > 4 else "")
        if max(bad) < 10.0:  # slow data (fMRI at 1/TR): never resampled to an M/EEG rate
            raise NeurosigError(
                f"{source} sfreq {got} Hz differs from the tokenizer's sfreq {want:g} Hz; data this slow (fMRI, 1/TR) is not "
                f"resampled: use a tokenizer built for sfreq={bad[0]:g} Hz with a patch_len of a few samples, e.g. "
                f"configs/tokenizer/rvq.fmri.yaml and configs/pretrain/masked.fmri.yaml (sfreq 0.4 = TR 2.5 s; set sfreq to 1/TR)."
            )
        raise NeurosigError(
            f"{source} sfreq {got} Hz differs from the tokenizer's sfreq {want:g} Hz; re-run preprocessing with resample_sfreq: {want:g} "
            f"(or use a tokenizer built for sfreq={bad[0]:g} Hz with a matching patch_len)."
        )


def _check_pos_int(cfg, name):
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise NeurosigError(f"tokenizer config {name} must be a positive integer, got {v!r}.")


@dataclass
class TokenizerConfig:
    patch_len: int = 200  # samples per token: 1 s at the 200 Hz model rate (set e.g. 8 for fMRI at TR 2 s)
    sfreq: float = 200.0  # sampling rate the tokenizer was built for (checked against batch["sfreq"])
    input_scale: float = 100.0  # fixed divisor of model units (µV, fT): EEG of ~±100 µV maps to ~±1
    type_scales: dict[str, float] = field(default_factory=lambda: {"fmri": 1.0, "misc": 1.0})  # per-type overrides (z-scored BOLD is already ~1)
    sensors: SensorConfig = field(default_factory=SensorConfig)  # sensor/position encoder; its dim is set to the latent size
    loss_weights: dict[str, float] = field(default_factory=dict)  # weight per loss key (tok/...); missing keys take the class default
    seed: int = 0  # seeds codebook init, k-means and masks (local generators only)

    def __post_init__(self):
        _check_pos_int(self, "patch_len")
        if not (isinstance(self.sfreq, (int, float)) and self.sfreq > 0):
            raise NeurosigError(f"tokenizer config sfreq must be > 0 Hz, got {self.sfreq!r}.")
        if not (isinstance(self.input_scale, (int, float)) and self.input_scale > 0):
            raise NeurosigError(f"tokenizer config input_scale must be > 0, got {self.input_scale!r}.")
        for k, v in self.type_scales.items():
            if k not in CH_TYPE_CODES:
                raise NeurosigError(f"tokenizer config type_scales: unknown channel type {k!r}; use one of {', '.join(CH_TYPES)}.")
            if not v > 0:
                raise NeurosigError(f"tokenizer config type_scales[{k!r}] must be > 0, got {v!r}.")
        if isinstance(self.sensors, dict):
            self.sensors = SensorConfig(**self.sensors)


class Tokenizer(nn.Module, PretrainedMixin):
    """Base of every neurosig tokenizer (see the module doc for the shared flow).

    Attributes: ``patch_len``, ``n_levels`` (L), ``codebook_sizes`` (vocab per level),
    ``embed_dim`` (D of ``quantized``).
    """

    config_class: ClassVar[type] = TokenizerConfig
    model_type: ClassVar[str] = "tokenizer"
    default_loss_weights: ClassVar[dict[str, float]] = {}
    patch_len: int
    n_levels: int
    codebook_sizes: list[int]
    embed_dim: int

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.patch_len = int(config.patch_len)
        unknown = sorted(set(config.loss_weights) - set(self.default_loss_weights))
        if unknown:
            raise NeurosigError(
                f"loss_weights: unknown key(s) {', '.join(unknown)} for {type(self).__name__}; valid keys: {', '.join(sorted(self.default_loss_weights))}."
            )
        self.loss_weights = {**self.default_loss_weights, **{k: float(v) for k, v in config.loss_weights.items()}}
        scales = torch.full((len(CH_TYPES),), float(config.input_scale))
        for name, v in config.type_scales.items():
            scales[CH_TYPE_CODES[name]] = float(v)
        self.register_buffer("type_scale", scales, persistent=False)  # derived from config

    # ------------------------------------------------------------------ hooks
    def _token_inputs(self, xv: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
        """xv (M, N*P) scaled signal of M real channels -> dict of (M, N, ...) per-token inputs
        (must contain ``patch`` (M, N, P))."""
        raise NotImplementedError

    def _encode_tokens(self, inp: dict[str, torch.Tensor], cond: torch.Tensor, mask=None) -> torch.Tensor:
        """Flattened inputs (K, ...) and sensor vectors cond (K, Ds) -> latent z (K, Dz)."""
        raise NotImplementedError

    def _decode_tokens(self, q: torch.Tensor, cond: torch.Tensor) -> dict[str, torch.Tensor]:
        """q (K, D), cond (K, Ds) -> predictions, at least ``time`` (K, P) in scaled units."""
        raise NotImplementedError

    def _loss_terms(self, preds: dict[str, torch.Tensor], inp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _make_masks(self, inp: dict[str, torch.Tensor]):
        """Training-time masks (view A); view B is their complement. None: no masking."""
        return None

    def _complement(self, masks):
        return None if masks is None else tuple(~m for m in masks)

    # quantizer: a module with forward(z, update=...) -> (q, codes (K, L), commit, stats) and lookup(codes)
    quantizer: nn.Module

    # ------------------------------------------------------------------ input handling
    def _prepare(self, x, pos=None, ch_type=None, ch_mask=None, orient=None, sfreq=None):
        if not isinstance(x, torch.Tensor):
            raise NeurosigError(f"x must be a torch.Tensor of shape (B, C, T), got {type(x).__name__}.")
        if x.dim() != 3:
            raise NeurosigError(f"x must have shape (B, C, T), got {tuple(x.shape)}; add a batch axis with x[None].")
        b, c, t = x.shape
        if t < 1 or c < 1:
            raise NeurosigError(f"x has an empty axis {tuple(x.shape)}; windows need >= 1 channel and >= 1 sample.")
        check_sfreq(self, sfreq, source="batch")  # every window of the batch, not just the first
        dev = x.device
        ch_type = torch.zeros(b, c, dtype=torch.long, device=dev) if ch_type is None else ch_type.to(dev).long()
        ch_mask = torch.ones(b, c, dtype=torch.bool, device=dev) if ch_mask is None else ch_mask.to(dev).bool()
        if pos is None:
            pos = torch.full((b, c, 3), float("nan"), device=dev)
        for name, v, shape in (("ch_type", ch_type, (b, c)), ("ch_mask", ch_mask, (b, c)), ("pos", pos, (b, c, 3))):
            if tuple(v.shape) != shape:
                raise NeurosigError(f"{name} must have shape {shape} to match x {tuple(x.shape)}, got {tuple(v.shape)}.")
        if not bool(ch_mask.any()):
            raise NeurosigError("ch_mask is False for every channel; a batch needs at least one real channel.")
        if bool(((ch_type < 0) & ch_mask).any()):
            raise NeurosigError("ch_type is -1 (padding) on a channel whose ch_mask is True; mark padded channels with ch_mask False.")
        n = max(1, math.ceil(t / self.patch_len))
        xp = torch.nn.functional.pad(x.float(), (0, n * self.patch_len - t))  # (B, C, N*P)
        xp = torch.nan_to_num(xp)
        scale = self.type_scale[ch_type.clamp_min(0)]  # (B, C)
        xs = xp / scale.unsqueeze(-1)
        cond = self.sensors(pos.to(dev), ch_type, orient, ch_mask)  # (B, C, Ds)
        tok_valid = torch.zeros(b, c, n, dtype=torch.bool, device=dev)
        n_real = max(1, math.ceil(t / self.patch_len))
        tok_valid[:, :, :n_real] = ch_mask.unsqueeze(-1)
        return {"xs": xs, "scale": scale, "mask": ch_mask, "cond": cond, "n": n, "t": t, "token_mask": tok_valid}

    @staticmethod
    def _flatten(inp: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.flatten(0, 1) for k, v in inp.items()}  # (M, N, ...) -> (M*N, ...)

    def _cond_tokens(self, prep) -> torch.Tensor:
        cond = prep["cond"][prep["mask"]]  # (M, Ds)
        return cond.repeat_interleave(prep["n"], dim=0)  # (M*N, Ds)

    def _scatter(self, prep, values: torch.Tensor, fill=0) -> torch.Tensor:
        """values (M*N, ...) of real channels -> (B, C, N, ...) with ``fill`` on padded channels."""
        b, c = prep["mask"].shape
        n = prep["n"]
        full = torch.full((b, c, n, *values.shape[1:]), fill, dtype=values.dtype, device=values.device)
        full[prep["mask"]] = values.reshape(-1, n, *values.shape[1:])
        return full

    # ------------------------------------------------------------------ public API
    def forward(self, batch: dict[str, Any]) -> TokenizerOutput:
        """batch: ``x (B, C, T)``, optional ``pos``, ``ch_type``, ``ch_mask``, ``orient``, ``sfreq``."""
        if not isinstance(batch, dict) or "x" not in batch:
            raise NeurosigError("Tokenizer.forward expects a batch dict with at least 'x' (B, C, T); use encode(x) for a bare tensor.")
        prep = self._prepare(batch["x"], batch.get("pos"), batch.get("ch_type"), batch.get("ch_mask"), batch.get("orient"), batch.get("sfreq"))
        xv = prep["xs"][prep["mask"]]  # (M, N*P)
        inp = self._flatten(self._token_inputs(xv, prep["n"]))  # (K, ...)
        cond = self._cond_tokens(prep)  # (K, Ds)
        masks = self._make_masks(inp) if self.training else None
        views = [None] if masks is None else [masks, self._complement(masks)]
        losses: dict[str, torch.Tensor] = {}
        metrics: dict[str, Any] = {}
        first = None
        for view in views:
            z = self._encode_tokens(inp, cond, mask=view)  # (K, Dz)
            q, codes, commit, stats = self.quantizer(z, update=self.training)
            preds = self._decode_tokens(q, cond)
            terms = self._loss_terms(preds, inp)
            terms["tok/commit"] = commit
            for k, v in terms.items():
                losses[k] = losses.get(k, 0.0) + v / len(views)
            for k, v in stats.items():
                metrics[k] = metrics.get(k, 0.0) + (v / len(views))
            if first is None:
                first = (q, codes, preds)
        q, codes, preds = first
        loss = sum(self.loss_weights.get(k, 0.0) * v for k, v in losses.items())
        recon = self._scatter(prep, preds["time"]).flatten(2) * prep["scale"].unsqueeze(-1)  # (B, C, N*P)
        with torch.no_grad():
            target = inp["patch"]
            metrics["nmse"] = (((preds["time"] - target) ** 2).sum() / (target**2).sum().clamp_min(1e-12)).detach()
            if "perplexity" not in metrics:
                metrics.update(self._code_stats(codes))
        return TokenizerOutput(
            codes=self._scatter(prep, codes),
            quantized=self._scatter(prep, q),
            reconstruction=recon,
            losses=losses,
            metrics=metrics,
            loss=loss,
            token_mask=prep["token_mask"],
            predictions={k: self._scatter(prep, v) for k, v in preds.items() if k != "time"},
        )

    def _code_stats(self, codes: torch.Tensor) -> dict[str, Any]:
        out = {}
        for lvl in range(codes.shape[-1]):
            k = self.codebook_sizes[lvl]
            counts = torch.bincount(codes[:, lvl], minlength=k).float()
            p = counts / counts.sum().clamp_min(1)
            out[f"l{lvl}/perplexity"] = torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
            out[f"l{lvl}/usage"] = (counts > 0).float().mean()
        return out

    def _encode_q(self, x, pos=None, ch_type=None, ch_mask=None, orient=None, sfreq=None):
        prep = self._prepare(x, pos, ch_type, ch_mask, orient, sfreq)
        xv = prep["xs"][prep["mask"]]
        inp = self._flatten(self._token_inputs(xv, prep["n"]))
        z = self._encode_tokens(inp, self._cond_tokens(prep))
        q, codes, _, _ = self.quantizer(z, update=False)
        return prep, q, codes

    def encode(self, x, pos=None, ch_type=None, ch_mask=None, orient=None, *, sfreq=None) -> torch.Tensor:
        """x (B, C, T) -> codes (B, C, N, L) int64 (padded channels: 0). Never updates codebooks.

        ``sfreq``: the rate of ``x`` in Hz (number or ``(B,)`` tensor, e.g. ``batch["sfreq"]``);
        pass it whenever the data carries one: a rate other than ``config.sfreq`` raises. ``None``
        only for bare arrays already at the tokenizer's rate (not checked; see the module doc).
        """
        prep, _, codes = self._encode_q(x, pos, ch_type, ch_mask, orient, sfreq)
        return self._scatter(prep, codes)

    def embed(self, x, pos=None, ch_type=None, ch_mask=None, orient=None, *, sfreq=None) -> torch.Tensor:
        """x (B, C, T) -> quantized token vectors (B, C, N, D) (padded channels: 0); ``sfreq`` as in :meth:`encode`."""
        prep, q, _ = self._encode_q(x, pos, ch_type, ch_mask, orient, sfreq)
        return self._scatter(prep, q)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., L) -> quantized vectors (..., D) (the embedding the backbone may use)."""
        return self.quantizer.lookup(codes)

    def decode(self, codes, pos=None, ch_type=None, ch_mask=None, orient=None, *, sfreq=None) -> torch.Tensor:
        """codes (B, C, N, L) -> signal (B, C, N * patch_len) in model units at ``config.sfreq``
        (padded channels: 0). ``sfreq``: the rate the caller expects back (checked as in :meth:`encode`)."""
        check_sfreq(self, sfreq, source="decode")
        if not isinstance(codes, torch.Tensor) or codes.dim() != 4:
            raise NeurosigError(f"codes must be a (B, C, N, L) integer tensor, got {getattr(codes, 'shape', type(codes).__name__)}.")
        b, c, n, lv = codes.shape
        if lv != self.n_levels:
            raise NeurosigError(f"codes have {lv} level(s) but this tokenizer has n_levels={self.n_levels}; decode with the tokenizer that encoded them.")
        for lvl, k in enumerate(self.codebook_sizes):
            if codes.numel() and (int(codes[..., lvl].min()) < 0 or int(codes[..., lvl].max()) >= k):
                raise NeurosigError(f"codes level {lvl} hold values outside [0, {k}); they were not produced by this tokenizer.")
        prep = self._prepare(torch.zeros(b, c, n * self.patch_len, device=codes.device), pos, ch_type, ch_mask, orient)
        q = self.quantizer.lookup(codes[prep["mask"]].reshape(-1, lv))  # (M*N, D)
        preds = self._decode_tokens(q, self._cond_tokens(prep))
        return self._scatter(prep, preds["time"]).flatten(2) * prep["scale"].unsqueeze(-1)

    def codebook_usage_counts(self, codes: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Histogram per level of ``codes (B, C, N, L)`` over real tokens (``mask (B, C, N)``)."""
        flat = codes[mask] if mask is not None else codes.reshape(-1, codes.shape[-1])
        return [torch.bincount(flat[:, i], minlength=k) for i, k in enumerate(self.codebook_sizes)]
