"""Time-frequency VQ tokenizer (``tf``).

Each token's patch (P = patch_len samples) is zero-padded by ``(n_fft - hop) // 2`` samples on
the left and the rest of ``n_fft - hop`` on the right and goes through ``stft_patches``
(n_fft 200, hop 100 at 200 Hz: ``fpt = patch_len / hop`` = 2 frames per 1 s token, covering
[-50, 150) and [50, 250) samples of the patch). The padding is per token, so a token's frames
hold only its own samples (no leak from the next patch) and the last, partly padded patch of a
window is treated like any other. Per token:

    frequency path: each frame's bins (F = n_fft//2+1) as (log-magnitude, sin φ, cos φ), cut
        into groups of ``bin_group`` bins → linear + group embedding → small transformer over
        groups → gated aggregation (sigmoid gate × values, softmax-attention pooling) → (d)
        per frame
    time path: the raw patch (P) → strided convs → pool (``time_pool`` positions), plus a
        linear view of the patch → (4*ch + d)
    fuse: concat(frames, time) → MLP → latent (code_dim) + sensor vector
    quantize: latent L2-normalised, EMA L2-normalised (cosine) codebook, k-means init,
        dead-code restart (commitment between unit vectors)
    decode: code + sensor → MLP → log-magnitude of the token's frames (fpt × F), their phase as
        (sin, cos) (fpt × 2F) and the time signal (P) (``decode`` returns the latter in model
        units)

Training uses complementary masked views (TFM-Tokenizer style): for each token either a
random subset of its frames (time masking; the time path loses the same hop segments) or a
random subset of bin groups (frequency masking; the time path is hidden in one view only) is
replaced by a learned mask vector in view A, the complement in view B; both views must
reconstruct the full token. With ``mask_prob`` < 1 only that fraction of tokens is masked
(complementary views as above); the others are seen whole in both views, as at inference.
Loss keys: ``tok/spec_mag`` (MSE of log-magnitude), ``tok/phase`` (1 − cos of the STFT phase
error, weighted by the target magnitude so silent bins do not count), ``tok/time`` (normalised
MSE of the signal), ``tok/commit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neurosig._utils.errors import NeurosigError
from neurosig.nn.sensors import SensorEncoder
from neurosig.tokenizers.base import Tokenizer, TokenizerConfig
from neurosig.tokenizers.quantizers import DEFAULT_DEAD_FRACTION, DEFAULT_DECAY, DEFAULT_DECAY_WARMUP, ResidualVQ, check_ema_params
from neurosig.tokenizers.rvq import _nmse, _sensor_cfg, ema_kwargs
from neurosig.tokenizers.spectral import LOG_EPS, phase_loss, stft_patches, token_stft_pad


@dataclass
class TFConfig(TokenizerConfig):
    n_fft: int = 200  # STFT window: 1 s at 200 Hz → 1 Hz bins (TFM-Tokenizer)
    hop: int = 100  # STFT hop: 2 frames per 1 s token; patch_len must be a multiple of it
    bin_group: int = 5  # bins per frequency-path token (5 Hz groups at 1 Hz resolution)
    freq_dim: int = 64  # width of the frequency-path transformer
    freq_layers: int = 2  # transformer layers over bin groups (small: ~20 groups per frame)
    freq_heads: int = 4  # attention heads of that transformer
    time_channels: int = 32  # channels of the strided time-path convs
    code_dim: int = 64  # codebook vector size (TFM-Tokenizer: 64)
    codebook_size: int = 8192  # number of codes (TFM-Tokenizer: 8192)
    hidden: int = 256  # decoder MLP width
    mask_ratio: float = 0.5  # fraction of frames / bin groups hidden in view A (0 disables masking)
    mask_prob: float = 1.0  # fraction of tokens that get the complementary masked views (the rest are seen whole, as at inference)
    time_pool: int = 8  # positions the strided time-path convs are pooled to (keeps coarse timing)
    phase_input: bool = True  # feed the STFT phase (sin, cos) to the frequency path besides log-magnitude
    decay: float = DEFAULT_DECAY  # EMA decay of the codebook once warmed up (0.99: averages ~100 updates)
    decay_warmup: int = DEFAULT_DECAY_WARMUP  # early decay (1+t)/(10+t): the codebook keeps up with the young encoder (0: constant decay)
    dead_fraction: float = DEFAULT_DEAD_FRACTION  # restart a code whose EMA usage < 0.1 x uniform usage (batch / K): any batch size, K, run length
    dead_threshold: float | None = None  # legacy: absolute EMA count per batch (also disables decay_warmup); null = use dead_fraction
    kmeans_iters: int = 10  # k-means iterations at codebook init
    log_floor: float = 1e-3  # log-magnitude targets are clamped at log(log_floor) (silent bins)

    def __post_init__(self):
        super().__post_init__()
        for name in ("n_fft", "hop", "bin_group", "freq_dim", "freq_layers", "freq_heads", "time_channels", "code_dim", "codebook_size", "hidden", "kmeans_iters", "time_pool"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise NeurosigError(f"tf config {name} must be a positive integer, got {v!r}.")
        if self.patch_len % self.hop:
            raise NeurosigError(f"tf config patch_len ({self.patch_len}) must be a multiple of hop ({self.hop}); e.g. hop = patch_len // 2.")
        if self.n_fft < self.hop:
            raise NeurosigError(f"tf config n_fft ({self.n_fft}) must be >= hop ({self.hop}).")
        if self.freq_dim % self.freq_heads:
            raise NeurosigError(f"tf config freq_dim ({self.freq_dim}) must be divisible by freq_heads ({self.freq_heads}).")
        check_ema_params("tf config", decay=self.decay, dead_fraction=self.dead_fraction, dead_threshold=self.dead_threshold, decay_warmup=self.decay_warmup)
        if not 0.0 <= self.mask_ratio < 1.0:
            raise NeurosigError(f"tf config mask_ratio must be in [0, 1), got {self.mask_ratio!r}.")
        if not 0.0 < self.mask_prob <= 1.0:
            raise NeurosigError(f"tf config mask_prob must be in (0, 1], got {self.mask_prob!r}; use mask_ratio: 0 to disable masking.")


class _Block(nn.Module):
    """Pre-norm transformer block (own code: same numerics with and without autograd, unlike
    nn.TransformerEncoder's inference fast path, so codes do not depend on the grad mode)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, g, d = h.shape  # (tokens*frames, groups, d)
        qkv = self.qkv(self.norm1(h)).reshape(b, g, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # (3, b, heads, g, dh)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (b, heads, g, dh)
        h = h + self.out(a.transpose(1, 2).reshape(b, g, d))
        return h + self.ff(self.norm2(h))


class TFTokenizer(Tokenizer):
    """Time-frequency tokenizer with a single EMA cosine codebook (L = 1)."""

    config_class = TFConfig
    model_type = "tokenizer-tf"
    default_loss_weights = {"tok/spec_mag": 1.0, "tok/phase": 0.5, "tok/time": 1.0, "tok/commit": 0.25}

    def __init__(self, config: TFConfig):
        super().__init__(config)
        c = config
        self.n_freq = c.n_fft // 2 + 1
        self.fpt = c.patch_len // c.hop  # frames per token
        self.n_groups = math.ceil(self.n_freq / c.bin_group)
        self.n_levels = 1
        self.codebook_sizes = [c.codebook_size]
        self.embed_dim = c.code_dim
        self.sensors = SensorEncoder(_sensor_cfg(c.sensors, c.code_dim))
        d = c.freq_dim
        self.n_feat = 3 if c.phase_input else 1  # (log-magnitude, sin φ, cos φ) per bin
        self.group_in = nn.Linear(self.n_feat * c.bin_group, d)
        self.group_pos = nn.Parameter(torch.randn(self.n_groups, d) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.freq_tf = nn.Sequential(*[_Block(d, c.freq_heads) for _ in range(c.freq_layers)])
        self.gate = nn.Linear(d, d)
        self.attn_pool = nn.Linear(d, 1)
        k1 = max(1, min(c.hop // 5, c.patch_len))
        ch = c.time_channels
        self.time_path = nn.Sequential(
            nn.Conv1d(1, ch, 2 * k1 + 1, stride=max(1, k1), padding=k1),
            nn.GELU(),
            nn.Conv1d(ch, ch, 5, stride=2, padding=2),
            nn.GELU(),
            nn.AdaptiveAvgPool1d(c.time_pool),
        )
        self.time_skip = nn.Linear(c.patch_len, d)  # linear view of the patch: the timing that pooling blurs
        self.fuse = nn.Sequential(nn.Linear(self.fpt * d + c.time_pool * ch + d, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.code_dim))
        self.enc_cond = nn.Linear(c.code_dim, c.code_dim)
        self.quantizer = ResidualVQ(
            1, c.codebook_size, c.code_dim, normalize=True, seed=c.seed, kmeans_iters=c.kmeans_iters, **ema_kwargs(c)
        )
        self.dec_cond = nn.Linear(c.code_dim, c.code_dim)
        self.decoder = nn.Sequential(nn.Linear(c.code_dim, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden), nn.GELU())
        self.head_spec = nn.Linear(c.hidden, self.fpt * self.n_freq)
        self.head_phase = nn.Linear(c.hidden, self.fpt * 2 * self.n_freq)
        self.head_time = nn.Linear(c.hidden, c.patch_len)
        self._mask_gen = torch.Generator().manual_seed(c.seed + 12345)

    @torch.no_grad()
    def spec_targets(self, x, pos=None, ch_type=None, ch_mask=None, orient=None, *, sfreq=None) -> torch.Tensor:
        """The log-magnitude STFT patches the decoder learns to predict (``predictions["spec"]``
        of ``forward``): x (B, C, T) -> (B, C, N, fpt, n_fft//2+1), clamped at log(log_floor),
        in scaled units; padded channels get zeros. ``sfreq`` as in ``encode``."""
        prep = self._prepare(x, pos, ch_type, ch_mask, orient, sfreq)
        inp = self._flatten(self._token_inputs(prep["xs"][prep["mask"]], prep["n"]))
        return self._scatter(prep, inp["spec"])

    # ------------------------------------------------------------------ tokens
    def _token_inputs(self, xv, n):
        c = self.config
        m = xv.shape[0]
        patch = xv.reshape(m, n, self.patch_len)  # (M, N, P)
        padded = F.pad(patch, token_stft_pad(c.n_fft, c.hop))  # (M, N, P + n_fft - hop) -> fpt frames per token
        logmag, phase = stft_patches(padded, c.n_fft, c.hop, center=False, output="logmag_phase")  # (M, N, fpt, Fq) each
        mag = (logmag.exp() - LOG_EPS).clamp_min(0.0)  # |X|, weights of the phase loss
        spec = logmag.clamp_min(math.log(c.log_floor))
        return {"patch": patch, "spec": spec, "sin": torch.sin(phase), "cos": torch.cos(phase), "mag": mag}

    def _make_masks(self, inp):
        c = self.config
        if c.mask_ratio <= 0:
            return None
        k = inp["patch"].shape[0]
        g = self._mask_gen
        dev = inp["patch"].device
        time_mode = torch.rand(k, generator=g) < 0.5  # (K,) True: mask frames, else bin groups
        chosen = torch.rand(k, generator=g) < c.mask_prob if c.mask_prob < 1.0 else torch.ones(k, dtype=torch.bool)  # (K,) tokens that get masked views
        n_fr = max(1, round(c.mask_ratio * self.fpt)) if self.fpt > 1 else 0
        n_gr = max(1, round(c.mask_ratio * self.n_groups))
        fr_rank = torch.rand(k, self.fpt, generator=g).argsort(-1).argsort(-1)  # random ranks
        frame_mask = fr_rank < n_fr  # (K, fpt)
        gr_rank = torch.rand(k, self.n_groups, generator=g).argsort(-1).argsort(-1)
        group_mask = gr_rank < n_gr  # (K, G)
        spec_mask = torch.where(
            time_mode[:, None, None], frame_mask[:, :, None].expand(-1, -1, self.n_groups), group_mask[:, None, :].expand(-1, self.fpt, -1)
        )  # (K, fpt, G)
        seg = frame_mask.repeat_interleave(c.hop, dim=1)  # (K, P): hop segment of each frame
        hide_time = (torch.rand(k, generator=g) < 0.5)[:, None].expand(-1, self.patch_len)
        time_mask = torch.where(time_mode[:, None], seg, hide_time)  # (K, P)
        if self.fpt == 1:  # one frame per token: time mode degenerates to frequency masking
            spec_mask = group_mask[:, None, :].expand(-1, 1, -1)
        spec_mask = spec_mask & chosen[:, None, None]
        time_mask = time_mask & chosen[:, None]
        return spec_mask.to(dev), time_mask.to(dev)

    def _complement(self, masks):
        """View B: the complement of view A on masked tokens; unmasked tokens stay whole.

        A masked token always hides at least one bin group or frame in view A, so the tokens
        that got views are exactly those with any True in ``spec_mask``."""
        if masks is None:
            return None
        spec_mask, time_mask = masks
        chosen = spec_mask.flatten(1).any(1)  # (K,)
        return ~spec_mask & chosen[:, None, None], ~time_mask & chosen[:, None]

    def _encode_tokens(self, inp, cond, mask=None):
        c = self.config
        spec = inp["spec"]  # (K, fpt, Fq)
        k = spec.shape[0]
        pad = self.n_groups * c.bin_group - self.n_freq
        feats = [spec, inp["sin"], inp["cos"]] if c.phase_input else [spec]
        feats = [F.pad(f, (0, pad)).reshape(k * self.fpt, self.n_groups, c.bin_group) for f in feats]
        groups = torch.cat(feats, -1)  # (K*fpt, G, n_feat*g)
        h = self.group_in(groups)  # (K*fpt, G, d)
        patch = inp["patch"]
        if mask is not None:
            spec_mask, time_mask = mask
            h = torch.where(spec_mask.reshape(k * self.fpt, self.n_groups, 1), self.mask_token, h)
            patch = patch.masked_fill(time_mask, 0.0)
        h = self.freq_tf(h + self.group_pos)  # (K*fpt, G, d)
        w = torch.softmax(self.attn_pool(h), dim=1)  # (K*fpt, G, 1)
        agg = (w * torch.sigmoid(self.gate(h)) * h).sum(1)  # (K*fpt, d) gated aggregation
        f = agg.reshape(k, self.fpt * c.freq_dim)  # (K, fpt*d)
        t = self.time_path(patch.unsqueeze(1)).flatten(1)  # (K, time_pool*ch)
        z = self.fuse(torch.cat([f, t, self.time_skip(patch)], -1)) + self.enc_cond(cond)  # (K, code_dim)
        # L2-normalised here, not only inside the cosine codebook: the commitment term then
        # compares unit vectors (bounded in [0, 4]) instead of a latent whose norm drifts
        return F.normalize(z, dim=-1)

    def _decode_tokens(self, q, cond):
        h = self.decoder(q + self.dec_cond(cond))  # (K, hidden)
        sc = self.head_phase(h).reshape(-1, 2, self.fpt, self.n_freq)  # (K, 2, fpt, Fq)
        return {"time": self.head_time(h), "spec": self.head_spec(h).reshape(-1, self.fpt, self.n_freq), "sin": sc[:, 0], "cos": sc[:, 1]}

    def _loss_terms(self, preds, inp):
        return {
            "tok/spec_mag": F.mse_loss(preds["spec"], inp["spec"]),
            "tok/phase": phase_loss(preds["sin"], preds["cos"], inp["sin"], inp["cos"], inp["mag"]),
            "tok/time": _nmse(preds["time"], inp["patch"]),
        }
