"""Vector quantizers: EMA codebooks (optionally L2-normalised), k-means init, dead-code restart,
and residual VQ built from them.

Nearest-code search never builds a one-hot matrix and chunks the distance matrix
(``rows × K`` at most ``chunk`` rows at a time). When the kernels package provides
``neurosig.kernels.ops.rvq_search`` it is used for the search (fused Triton kernel on CUDA,
its own reference elsewhere); otherwise :func:`rvq_search_reference` here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from neurosig._utils.errors import NeurosigError

try:  # the kernels engineer's dispatcher (Triton on CUDA, reference elsewhere)
    from neurosig.kernels.ops import rvq_search as _kernel_rvq_search  # type: ignore
except Exception:  # pragma: no cover - depends on the kernels package being present
    _kernel_rvq_search = None

__all__ = ["rvq_search", "rvq_search_reference", "nearest_code", "kmeans", "EMAQuantizer", "ResidualVQ", "check_ema_params"]


def nearest_code(x: torch.Tensor, codebook: torch.Tensor, *, chunk: int = 8192) -> torch.Tensor:
    """Index of the nearest (Euclidean) code for each row of ``x``.

    x (N, D), codebook (K, D) -> codes (N,) int64. Ties go to the lowest index. The distance
    ``|c|² - 2 x·c`` (``|x|²`` is constant per row) is built ``chunk`` rows at a time.
    """
    n = x.shape[0]
    out = torch.empty(n, dtype=torch.long, device=x.device)
    c_sq = (codebook.float() ** 2).sum(-1)  # (K,)
    cb_t = codebook.float().t()  # (D, K)
    for s in range(0, n, chunk):
        xs = x[s : s + chunk].float()  # (n_chunk, D)
        d = c_sq.unsqueeze(0) - 2.0 * (xs @ cb_t)  # (n_chunk, K)
        out[s : s + chunk] = d.argmin(dim=-1)
    return out


def rvq_search_reference(x: torch.Tensor, codebooks: torch.Tensor, *, chunk: int = 8192):
    """Residual nearest-code search. x (N, D), codebooks (L, K, D) -> (codes (N, L) int64, quantized (N, D)).

    Level ``l`` quantizes the residual left by levels ``< l``; ``quantized`` is the sum of the
    chosen codes.
    """
    n_levels = codebooks.shape[0]
    residual = x.float()
    quant = torch.zeros_like(residual)
    codes = []
    for lvl in range(n_levels):
        idx = nearest_code(residual, codebooks[lvl], chunk=chunk)  # (N,)
        q = codebooks[lvl].float()[idx]  # (N, D)
        quant = quant + q
        residual = residual - q
        codes.append(idx)
    return torch.stack(codes, dim=-1), quant.to(x.dtype)


def rvq_search(x: torch.Tensor, codebooks: torch.Tensor):
    """Dispatch to the kernels package's ``rvq_search`` when present, else the reference."""
    if _kernel_rvq_search is not None:
        return _kernel_rvq_search(x, codebooks)
    return rvq_search_reference(x, codebooks)


@torch.no_grad()
def kmeans(
    x: torch.Tensor,
    k: int,
    *,
    iters: int = 10,
    normalize: bool = False,
    generator: torch.Generator | None = None,
    plusplus_max: int = 1024,
) -> torch.Tensor:
    """Lloyd's k-means on x (N, D) -> centres (k, D). With fewer samples than ``k``, initial
    centres are drawn with replacement (duplicates are left to dead-code restart).
    Empty clusters keep their previous centre. ``normalize`` runs spherical k-means."""
    x = x.float()
    if normalize:
        x = F.normalize(x, dim=-1)
    n = x.shape[0]
    if n >= k and k <= plusplus_max:
        centres = _kmeans_pp(x, k, generator)  # (k, D) k-means++ seeding: no merged clusters
    elif n >= k:
        centres = x[torch.randperm(n, generator=generator)[:k].to(x.device)].clone()
    else:
        centres = x[torch.randint(0, n, (k,), generator=generator).to(x.device)].clone()
    for _ in range(iters):
        idx = nearest_code(x, centres)  # (N,)
        sums = torch.zeros_like(centres).index_add_(0, idx, x)  # (k, D)
        counts = torch.bincount(idx, minlength=k).to(x.dtype)  # (k,)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
        if normalize:
            centres = F.normalize(centres, dim=-1)
    return centres


def _kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    n = x.shape[0]
    first = int(torch.randint(0, n, (1,), generator=generator))
    centres = [x[first]]
    d2 = ((x - x[first]) ** 2).sum(-1)  # (N,) squared distance to the nearest chosen centre
    for _ in range(1, k):
        total = d2.sum()
        if total <= 0:
            idx = int(torch.randint(0, n, (1,), generator=generator))
        else:
            idx = int(torch.multinomial((d2 / total).cpu(), 1, generator=generator))
        centres.append(x[idx])
        d2 = torch.minimum(d2, ((x - x[idx]) ** 2).sum(-1))
    return torch.stack(centres).clone()


def _all_reduce_(t: torch.Tensor) -> torch.Tensor:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(t)
    return t


# Library defaults of the EMA codebooks (shared by the tf, rvq and vq configs).
DEFAULT_DECAY = 0.99  # EMA decay once warmed up: codes average the last ~100 updates in long runs
DEFAULT_DECAY_WARMUP = 10  # early decay (1 + t) / (10 + t): codes average the last ~t/9 updates at update t
DEFAULT_DEAD_FRACTION = 0.1  # a code is dead below 10 % of the uniform usage (EMA batch size / K)


def check_ema_params(where: str, *, decay, dead_fraction, dead_threshold=None, decay_warmup=DEFAULT_DECAY_WARMUP) -> None:
    """Validate the EMA-codebook parameters; ``where`` prefixes the one-line NeurosigError
    (e.g. ``"tf config"``)."""
    def _num(v):
        return not isinstance(v, bool) and isinstance(v, (int, float))

    if not _num(decay) or not 0.0 < float(decay) < 1.0:
        raise NeurosigError(f"{where} decay must be a number in (0, 1), got {decay!r}; 0.99 is the usual value (the early updates are faster anyway, see decay_warmup).")
    if not _num(dead_fraction) or not 0.0 <= float(dead_fraction) < 1.0:
        raise NeurosigError(
            f"{where} dead_fraction must be a number in [0, 1) (a code is restarted when its EMA usage falls below this fraction of the uniform usage), got {dead_fraction!r}; use 0.1, or 0 to disable restarts."
        )
    if dead_threshold is not None and (not _num(dead_threshold) or float(dead_threshold) < 0.0):
        raise NeurosigError(
            f"{where} dead_threshold must be null (relative rule, dead_fraction) or a number >= 0 (legacy absolute EMA count per batch), got {dead_threshold!r}; leave it unset."
        )
    if isinstance(decay_warmup, bool) or not isinstance(decay_warmup, int) or decay_warmup < 0:
        raise NeurosigError(f"{where} decay_warmup must be an integer >= 0 (0 disables the fast early EMA), got {decay_warmup!r}; use 10.")


class EMAQuantizer(nn.Module):
    """One codebook updated by exponential moving averages (no codebook gradient).

    - ``normalize=True``: inputs and codes are L2-normalised (cosine codebook).
    - k-means init on the first training batch (``kmeans_init``); the EMA counts start at the
      k-means cluster sizes of that batch.
    - EMA decay of update ``t`` (0-based): ``min(decay, (1 + t) / (decay_warmup + t))``, so a
      fresh codebook follows the fast-moving encoder (it averages roughly the last
      ``(t + decay_warmup) / (decay_warmup - 1)`` updates) and settles at ``decay``
      (0.99: ~100 updates) after ~900 updates. ``decay_warmup=0`` keeps ``decay`` throughout.
    - Dead-code restart: the EMA cluster sizes are counts per batch, so "unused" is judged
      relative to the uniform usage ``u = Σ cluster_size / K`` (the EMA batch size over K): a
      code whose EMA count falls below ``dead_fraction · u`` is replaced by a random input
      vector of the current batch and given the count ``u``. The rule holds for any batch size,
      codebook size and run length; a code unused at update ``t`` is restarted after about
      ``log(1 / dead_fraction) · (t + decay_warmup) / (decay_warmup - 1)`` idle updates
      (≈ a quarter of the run so far with the defaults), at most ``log(dead_fraction) /
      log(decay)`` ≈ 230.
    - Legacy rule: ``dead_threshold`` (a number) restarts codes below that **absolute** EMA
      count, restarted codes get count 1, the EMA counts start at 1 and the decay is constant
      (no warm-up): the behaviour of earlier versions, kept so old configs reproduce. With the
      old defaults (0.99, 1e-3) a code had to sit unused ~690 updates before a restart, and
      short runs collapsed to a handful of codes.

    forward(z (N, D)) -> (quantized (N, D) with straight-through gradient in training,
    codes (N,), commit loss (scalar), stats dict).
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        *,
        decay: float = DEFAULT_DECAY,
        eps: float = 1e-5,
        normalize: bool = False,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
        dead_fraction: float = DEFAULT_DEAD_FRACTION,
        dead_threshold: float | None = None,
        decay_warmup: int = DEFAULT_DECAY_WARMUP,
        seed: int = 0,
    ):
        super().__init__()
        check_ema_params("EMAQuantizer", decay=decay, dead_fraction=dead_fraction, dead_threshold=dead_threshold, decay_warmup=decay_warmup)
        self.codebook_size = int(codebook_size)
        self.dim = int(dim)
        self.decay = float(decay)
        self.eps = float(eps)
        self.normalize = bool(normalize)
        self.kmeans_iters = int(kmeans_iters)
        self.dead_fraction = float(dead_fraction)
        self.dead_threshold = None if dead_threshold is None else float(dead_threshold)
        self.legacy = self.dead_threshold is not None  # absolute threshold, constant decay
        self.decay_warmup = 0 if self.legacy else int(decay_warmup)
        # EMA updates done by this module (drives the decay warm-up). Not in the state dict, so
        # checkpoints of earlier versions still load; loading a trained (initialised) codebook
        # marks the warm-up as done (_load_from_state_dict), so resumed training does not
        # shake a trained codebook with the fast early decay.
        self.n_updates = 0
        self._gen = torch.Generator().manual_seed(int(seed))
        init = torch.randn(codebook_size, dim, generator=self._gen)
        if normalize:
            init = F.normalize(init, dim=-1)
        self.register_buffer("embed", init)  # (K, D)
        self.register_buffer("embed_avg", init.clone())  # (K, D) EMA of summed assigned inputs
        self.register_buffer("cluster_size", torch.ones(codebook_size))  # (K,) EMA of counts per batch
        self.register_buffer("initted", torch.tensor(not kmeans_init))

    def warmed_up_updates(self) -> int:
        """Updates after which the warm-up decay reaches ``decay`` (0 without warm-up)."""
        w, d = self.decay_warmup, self.decay
        return 0 if w <= 1 else max(0, math.ceil((w * d - 1.0) / (1.0 - d)))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if bool(self.initted):  # a trained codebook: continue with the settled decay
            self.n_updates = max(self.n_updates, self.warmed_up_updates())

    def current_decay(self) -> float:
        """The EMA decay the next update uses (see the class doc)."""
        if self.decay_warmup <= 0:
            return self.decay
        t = self.n_updates
        return min(self.decay, (1.0 + t) / (self.decay_warmup + t))

    @torch.no_grad()
    def _init(self, z: torch.Tensor) -> None:
        centres = kmeans(z, self.codebook_size, iters=self.kmeans_iters, normalize=self.normalize, generator=self._gen)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(centres, src=0)  # every rank starts from rank 0's centres
        if self.normalize:
            centres = F.normalize(centres, dim=-1)
        self.embed.copy_(centres)
        if self.legacy:
            self.cluster_size.fill_(1.0)
            self.embed_avg.copy_(centres)
        else:
            # counts of the init batch (all ranks): the EMA starts in "count per batch" units
            counts = _all_reduce_(torch.bincount(nearest_code(z.float(), centres), minlength=self.codebook_size).float())  # z is normalised already when cosine
            self.cluster_size.copy_(counts)
            self.embed_avg.copy_(centres * counts[:, None])
        self.initted.fill_(True)

    def search(self, z: torch.Tensor) -> torch.Tensor:
        """codes (N,) of the nearest codes for z (N, D) (normalised first when cosine)."""
        if self.normalize:
            z = F.normalize(z, dim=-1)
        codes, _ = rvq_search(z.detach().float(), self.embed.unsqueeze(0))
        return codes[:, 0]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed)

    def dead_mask(self) -> torch.Tensor:
        """(K,) bool: the codes the next update would restart."""
        if self.legacy:
            return self.cluster_size < self.dead_threshold
        uniform = self.cluster_size.sum() / self.codebook_size  # EMA batch size / K
        return self.cluster_size < self.dead_fraction * uniform

    @torch.no_grad()
    def _ema_update(self, z: torch.Tensor, codes: torch.Tensor) -> int:
        k = self.codebook_size
        decay = self.current_decay()
        self.n_updates += 1
        counts = torch.bincount(codes, minlength=k).float()  # (K,)
        sums = torch.zeros(k, self.dim, device=z.device).index_add_(0, codes, z.float())  # (K, D)
        _all_reduce_(counts)
        _all_reduce_(sums)
        self.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.embed_avg.mul_(decay).add_(sums, alpha=1 - decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + k * self.eps) * n  # Laplace smoothing
        embed = self.embed_avg / smoothed[:, None]
        if self.normalize:
            embed = F.normalize(embed, dim=-1)
        self.embed.copy_(embed)
        # dead-code restart
        dead = self.dead_mask()
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, z.shape[0], (n_dead,), generator=self._gen).to(z.device)
            new = z.float()[pick]
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.broadcast(new, src=0)
            if self.normalize:
                new = F.normalize(new, dim=-1)
            size = 1.0 if self.legacy else float(n / k)  # restarted codes start at the uniform usage
            self.embed[dead] = new
            self.embed_avg[dead] = new * size
            self.cluster_size[dead] = size
        return n_dead

    def forward(self, z: torch.Tensor, *, update: bool | None = None):
        update = self.training if update is None else update
        if self.normalize:
            z = F.normalize(z, dim=-1)
        if update and not bool(self.initted):
            self._init(z.detach())
        codes = self.search(z)  # (N,)
        q = self.lookup(codes)  # (N, D)
        commit = F.mse_loss(z, q.detach())
        n_dead = self._ema_update(z.detach(), codes) if update else 0
        if self.training:
            q = z + (q - z).detach()  # straight-through
        counts = torch.bincount(codes, minlength=self.codebook_size).float()
        p = counts / counts.sum().clamp_min(1)
        stats = {
            "perplexity": torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()).detach(),
            "usage": (counts > 0).float().mean().detach(),
            "restarted": float(n_dead),
        }
        return q, codes, commit, stats


class ResidualVQ(nn.Module):
    """``n_levels`` EMA codebooks applied to successive residuals.

    forward(z (N, D)) -> (quantized (N, D), codes (N, L), commit loss, stats dict).
    ``n_levels=1`` is a plain single-level VQ.
    """

    def __init__(self, n_levels: int, codebook_size: int, dim: int, *, seed: int = 0, **kw):
        super().__init__()
        self.levels = nn.ModuleList(
            [EMAQuantizer(codebook_size, dim, seed=seed + 1000 * i, **kw) for i in range(n_levels)]
        )

    @property
    def codebooks(self) -> torch.Tensor:
        return torch.stack([lv.embed for lv in self.levels])  # (L, K, D)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., L) -> summed codes (..., D)."""
        return sum(lv.lookup(codes[..., i]) for i, lv in enumerate(self.levels))

    def forward(self, z: torch.Tensor, *, update: bool | None = None):
        update = self.training if update is None else update
        if not update and not self.training:
            codes, _ = rvq_search(z.detach().float(), self.codebooks)  # (N, L)
            q = self.lookup(codes)  # exact codebook sum (so decode(encode) matches)
            commit = F.mse_loss(z, q)
            return q, codes, commit, {}
        residual = z
        quant = torch.zeros_like(z)
        codes, commits, stats = [], [], {}
        for i, lv in enumerate(self.levels):
            q, c, commit, st = lv(residual.detach() if i else residual, update=update)
            # gradient flows to z through the straight-through estimate of level 0 only via q
            quant = quant + q
            residual = residual - q.detach()
            codes.append(c)
            commits.append(commit)
            for k, v in st.items():
                stats[f"l{i}/{k}"] = v
        if self.training:
            quant = z + (quant - z).detach()
        commit = F.mse_loss(z, quant.detach())
        return quant, torch.stack(codes, -1), commit, stats
