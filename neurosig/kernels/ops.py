"""Public kernel calls: validation, pure-PyTorch references and the dispatcher.

Every call takes ``impl="auto"|"triton"|"torch"``:

- ``"torch"``: the pure-PyTorch reference (the best PyTorch path: ``torch.stft`` + abs + angle,
  the per-level matmul/argmin quantizer, SDPA);
- ``"triton"``: the fused Triton kernel. On CPU it runs under the Triton interpreter, which needs
  ``TRITON_INTERPRET=1`` in the environment *before* the kernels are first imported;
- ``"auto"``: the kernel on CUDA when the benchmark showed that it wins (``USE_TRITON_ON_CUDA``),
  the reference everywhere else. The choice is logged once per kernel.

``kernel_impl("torch")`` (a context manager) overrides what ``"auto"`` resolves to, e.g. to
measure a model with and without kernels in the same run.

Numerical conventions shared by the reference and the kernel:

- ``stft_patches``: log-magnitude is ``log(|X| + LOG_EPS)`` with ``LOG_EPS = 1e-6``; phase is
  in ``(-pi, pi]`` (``atan2(im, re)``, ``+pi`` on the negative real axis, 0 where ``X == 0``);
  the default window is the periodic Hann window (``torch.hann_window(n_fft)``); with
  ``center=True`` the signal is reflect-padded by ``n_fft // 2`` on both sides (as
  ``torch.stft``).
- ``rvq_search``: squared Euclidean distance, ties go to the lowest index (as
  ``torch.argmin``); distances are computed in float32 whatever the input dtype; a NaN
  distance counts as +inf (a NaN entry is never chosen; a NaN vector gets code 0).
- ``attention``: softmax scale ``1 / sqrt(Dh)``; a query row whose keys are all padding (or, with
  ``causal=True``, all its visible keys are padding) returns 0 and passes no gradient.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch
import torch.nn.functional as F

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger
from neurosig._utils.validation import check_option

__all__ = [
    "LOG_EPS",
    "USE_TRITON_ON_CUDA",
    "attention",
    "codebook_stats",
    "ema_update",
    "kernel_impl",
    "rvq_search",
    "stft_patches",
    "triton_available",
]

LOG_EPS = 1e-6  # log-magnitude floor: log(|X| + LOG_EPS); far below EEG spectra in uV

# Whether "auto" runs the Triton kernel on CUDA. Decided by scripts/bench_kernels.py on a GPU:
# a kernel is switched on only after it has been measured to beat the best PyTorch path at
# neurosig's shapes. No GPU measurement exists yet (H100 figures are owed, see docs/kernels.md),
# so every flag is False and "auto" runs the reference everywhere.
USE_TRITON_ON_CUDA: dict[str, bool] = {
    "stft_patches": False,
    "rvq_search": False,
    "attention": False,
}

_IMPLS = ("auto", "triton", "torch")
_LOGGED: set[tuple[str, str]] = set()
_AUTO_OVERRIDE: list[str] = []  # stack of kernel_impl(...) overrides for "auto"
_log = get_logger("kernels")


# ----------------------------------------------------------------------------------------------
# dispatch
# ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when the ``triton`` package can be imported (checked once)."""
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


@contextlib.contextmanager
def kernel_impl(impl: str) -> Iterator[None]:
    """Within the block, calls with ``impl="auto"`` resolve to ``impl`` ("auto" restores the default)."""
    check_option(impl, _IMPLS, "impl")
    _AUTO_OVERRIDE.append(impl)
    try:
        yield
    finally:
        _AUTO_OVERRIDE.pop()


def _interpreted() -> bool:
    """Whether the Triton kernels run under the CPU interpreter (``TRITON_INTERPRET=1`` at import)."""
    import neurosig.kernels.triton as kt  # only reads the environment; does not import triton

    return bool(kt.INTERPRETED)


def _check_triton_usable(name: str, device: torch.device) -> None:
    if not triton_available():
        raise NeurosigError(
            f"{name}(impl='triton') needs the optional package 'triton'; install it with: "
            "pip install 'neurosig[triton]' (or use impl='torch')."
        )
    if device.type == "cuda":
        if _interpreted():
            raise NeurosigError(
                f"{name}(impl='triton') got CUDA tensors but TRITON_INTERPRET=1 was set when neurosig's kernels "
                "were imported, so they would run in the CPU interpreter, not on the GPU; unset TRITON_INTERPRET "
                "before importing neurosig, or use impl='torch'."
            )
        return
    if device.type != "cpu":
        raise NeurosigError(f"{name}(impl='triton') runs on CUDA or (interpreted) CPU tensors, got device {device}; use impl='torch'.")
    if not _interpreted():
        raise NeurosigError(
            f"{name}(impl='triton') on CPU needs the Triton interpreter: set TRITON_INTERPRET=1 "
            "before neurosig's kernels are first imported, or use impl='torch'."
        )


def _resolve(name: str, impl: str, device: torch.device) -> str:
    """Return "triton" or "torch" for this call (and log the choice once per kernel)."""
    check_option(impl, _IMPLS, "impl")
    reason = "requested"
    if impl == "auto" and _AUTO_OVERRIDE and _AUTO_OVERRIDE[-1] != "auto":
        impl, reason = _AUTO_OVERRIDE[-1], "kernel_impl override"
    if impl == "auto":
        if device.type != "cuda":
            impl, reason = "torch", f"reference on {device.type}"
        elif not USE_TRITON_ON_CUDA.get(name, False):
            impl, reason = "torch", "kernel not measured to beat PyTorch on this GPU (USE_TRITON_ON_CUDA)"
        elif not triton_available():
            impl, reason = "torch", "triton not installed"
        elif _interpreted():
            impl, reason = "torch", "TRITON_INTERPRET=1: the kernels would run in the CPU interpreter"
        else:
            impl, reason = "triton", "kernel measured to win on CUDA"
    if impl == "triton":
        _check_triton_usable(name, device)
    key = (name, impl)
    if key not in _LOGGED:
        _LOGGED.add(key)
        _log.info("kernels: %s uses the %s implementation (%s)", name, impl, reason)
    return impl


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise NeurosigError(f"{name} must be a bool (True or False), got {value!r} ({type(value).__name__}).")
    return value


def _check_tensor(t: object, name: str, ndim: int | None = None, min_ndim: int | None = None) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise NeurosigError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
    if ndim is not None and t.ndim != ndim:
        raise NeurosigError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}.")
    if min_ndim is not None and t.ndim < min_ndim:
        raise NeurosigError(f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(t.shape)}.")
    if not t.is_floating_point():
        raise NeurosigError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
    return t


# ----------------------------------------------------------------------------------------------
# STFT patches
# ----------------------------------------------------------------------------------------------
def _stft_checks(x, n_fft, hop, window, center, output) -> torch.Tensor:
    _check_tensor(x, "x", min_ndim=1)
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 2:
        raise NeurosigError(f"n_fft must be an integer >= 2, got {n_fft!r}.")
    if isinstance(hop, bool) or not isinstance(hop, int) or hop <= 0:
        raise NeurosigError(f"hop must be a positive integer (samples between frames), got {hop!r}.")
    check_option(output, ("logmag_phase", "magnitude"), "output")
    _check_bool(center, "center")
    T = x.shape[-1]
    if center and n_fft // 2 >= T:
        raise NeurosigError(
            f"x has {T} samples but center=True reflect-pads n_fft//2={n_fft // 2} samples, which needs "
            f"T > {n_fft // 2}; use a longer signal or a smaller n_fft."
        )
    t_pad = T + 2 * (n_fft // 2) if center else T
    if n_fft > t_pad:
        raise NeurosigError(
            f"n_fft={n_fft} is larger than the signal length T={T} (last axis of x); use n_fft <= T or center=True."
        )
    if window is None:
        wdtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        window = torch.hann_window(n_fft, periodic=True, dtype=wdtype, device=x.device)
    else:
        _check_tensor(window, "window", ndim=1)
        if window.shape[0] != n_fft:
            raise NeurosigError(f"window must have n_fft={n_fft} samples, got {window.shape[0]}.")
        if window.device != x.device:
            raise NeurosigError(f"window is on {window.device} but x is on {x.device}; move it with window.to(x.device).")
    return window


def _stft_reference(x, n_fft, hop, window, center, output):
    lead, T = x.shape[:-1], x.shape[-1]
    xf = x.reshape(-1, T)  # (R, T)
    if xf.shape[0] == 0:  # no signal (e.g. an empty batch): torch.stft fails on it (MKL), the kernel returns empty
        n_frames = 1 + (T + (2 * (n_fft // 2) if center else 0) - n_fft) // hop
        empty = x.new_zeros(*lead, n_frames, n_fft // 2 + 1) + x.sum() * 0  # (..., n_frames, F), 0 elements; keeps autograd
        return empty if output == "magnitude" else (empty, empty.clone())
    compute = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    spec = torch.stft(
        xf.to(compute), n_fft, hop_length=hop, win_length=n_fft, window=window.to(compute),
        center=center, pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
    )  # (R, F, n_frames)
    spec = spec.transpose(-1, -2)  # (R, n_frames, F)
    mag = spec.abs()
    out_shape = (*lead, spec.shape[-2], spec.shape[-1])
    if output == "magnitude":
        return mag.reshape(out_shape).to(x.dtype)
    logmag = torch.log(mag + LOG_EPS)
    phase = torch.angle(spec)
    return logmag.reshape(out_shape).to(x.dtype), phase.reshape(out_shape).to(x.dtype)


def stft_patches(
    x: torch.Tensor,
    n_fft: int,
    hop: int,
    window: torch.Tensor | None = None,
    center: bool = False,
    output: str = "logmag_phase",
    impl: str = "auto",
):
    """Short-time Fourier transform laid out as token patches.

    x (..., T) -> (..., n_frames, n_fft // 2 + 1): ``(logmag, phase)`` for
    ``output="logmag_phase"`` (``logmag = log(|X| + LOG_EPS)``, phase in (-pi, pi]) or the
    magnitude ``|X|`` alone for ``output="magnitude"``. ``n_frames = 1 + (T' - n_fft) // hop``
    with ``T' = T + 2 * (n_fft // 2)`` when ``center`` else ``T``. Differentiable.
    """
    default_window = window is None
    window = _stft_checks(x, n_fft, hop, window, center, output)
    if _resolve("stft_patches", impl, x.device) == "torch":
        return _stft_reference(x, n_fft, hop, window, center, output)
    if window.requires_grad and torch.is_grad_enabled():
        raise NeurosigError(
            "window requires grad, but stft_patches(impl='triton') gives the window no gradient; "
            "pass window.detach() (a fixed window) or use impl='torch' to learn the window."
        )
    from neurosig.kernels.triton.stft import stft_patches_triton

    return stft_patches_triton(x, n_fft, hop, window, center, output, default_window=default_window)


# ----------------------------------------------------------------------------------------------
# RVQ search
# ----------------------------------------------------------------------------------------------
def _rvq_checks(x, codebooks) -> None:
    _check_tensor(x, "x", ndim=2)
    _check_tensor(codebooks, "codebooks", ndim=3)
    if codebooks.shape[-1] != x.shape[-1]:
        raise NeurosigError(
            f"codebooks have dimension D={codebooks.shape[-1]} but x has D={x.shape[-1]}; "
            "x must be (N, D) and codebooks (L, K, D) with the same D."
        )
    if codebooks.shape[0] < 1 or codebooks.shape[1] < 1:
        raise NeurosigError(f"codebooks must be (L, K, D) with L >= 1 and K >= 1, got shape {tuple(codebooks.shape)}.")
    if codebooks.device != x.device:
        raise NeurosigError(f"codebooks are on {codebooks.device} but x is on {x.device}; move them to the same device.")


_INF = float("inf")


def _rvq_reference(x, codebooks, chunk: int = 4096):
    """The unfused quantizer: per level, distances by matmul, argmin, gather, subtract."""
    N, D = x.shape
    L, K, _ = codebooks.shape
    cb = codebooks.detach().float()  # (L, K, D)
    residual = x.detach().float().clone()  # (N, D)
    quantized = torch.zeros_like(residual)
    codes = torch.empty(N, L, dtype=torch.int64, device=x.device)
    norms = (cb * cb).sum(-1)  # (L, K)
    for lvl in range(L):
        for s in range(0, N, chunk):  # bounded memory: chunk × K distances at a time
            r = residual[s : s + chunk]  # (n, D)
            # ||r - c||^2 up to the per-row constant ||r||^2 (does not change the argmin)
            # in place (same bits as norms - 2 * (r @ c^T), fewer passes and allocations); then a
            # NaN distance counts as +inf, as in the kernel (argmin would pick a NaN first)
            dist = (r @ cb[lvl].T).mul_(-2.0).add_(norms[lvl][None, :])  # (n, K)
            dist.nan_to_num_(nan=_INF, posinf=_INF, neginf=-_INF)
            codes[s : s + chunk, lvl] = dist.argmin(dim=1)
        chosen = cb[lvl][codes[:, lvl]]  # (N, D)
        quantized += chosen
        residual -= chosen
    return codes, quantized.to(x.dtype)


def rvq_search(x: torch.Tensor, codebooks: torch.Tensor, impl: str = "auto"):
    """Residual vector quantization: nearest entry per level on the residual of the previous levels.

    x (N, D), codebooks (L, K, D) -> ``codes (N, L) int64`` and ``quantized (N, D)`` (sum over
    levels of the chosen entries, dtype of ``x``). Not differentiable (the straight-through
    estimator and commitment losses belong to the tokenizer); outputs carry no gradient.

    Non-finite values are not checked (this runs once per level per training step; a check
    would cost a host sync): a NaN distance counts as +inf in the kernel and the reference alike,
    so an entry with a NaN is never chosen, and a vector with a NaN gets code 0 at every level
    (all its distances are NaN) while its residual stays NaN (the tokenizer's commitment loss
    turns NaN, which is where the bad input shows).
    """
    _rvq_checks(x, codebooks)
    with torch.no_grad():
        if _resolve("rvq_search", impl, x.device) == "torch":
            return _rvq_reference(x, codebooks)
        from neurosig.kernels.triton.rvq import rvq_search_triton

        return rvq_search_triton(x, codebooks)


def codebook_stats(codes: torch.Tensor, x: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-entry usage for EMA codebook updates: ``counts (K,)`` (bincount) and ``sums (K, D)``.

    codes (N,) int64 in [0, K), x (N, D) -> counts float32 (K,), sums float32 (K, D) with
    ``sums[k] = x[codes == k].sum(0)`` (index_add; no one-hot is built).
    """
    if not isinstance(codes, torch.Tensor) or codes.ndim != 1 or codes.dtype not in (torch.int64, torch.int32):
        raise NeurosigError(f"codes must be an integer tensor of shape (N,), got {getattr(codes, 'shape', type(codes))}.")
    _check_tensor(x, "x", ndim=2)
    if x.shape[0] != codes.shape[0]:
        raise NeurosigError(f"codes has N={codes.shape[0]} entries but x has N={x.shape[0]} rows; pass matching codes and x.")
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise NeurosigError(f"K must be a positive integer (codebook size), got {K!r}.")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= K):
        raise NeurosigError(f"codes must lie in [0, K={K}), got values in [{int(codes.min())}, {int(codes.max())}].")
    codes = codes.long()
    counts = torch.bincount(codes, minlength=K).to(torch.float32)  # (K,)
    sums = torch.zeros(K, x.shape[1], dtype=torch.float32, device=x.device)
    sums.index_add_(0, codes, x.detach().float())  # (K, D)
    return counts, sums


@torch.no_grad()
def ema_update(
    codebook: torch.Tensor,
    ema_counts: torch.Tensor,
    ema_sums: torch.Tensor,
    codes: torch.Tensor,
    x: torch.Tensor,
    decay: float = 0.99,
    eps: float = 1e-5,
) -> None:
    """One in-place EMA codebook step (VQ-VAE-2 style, Laplace-smoothed counts).

    codebook (K, D), ema_counts (K,), ema_sums (K, D) are updated in place from the batch's
    ``codes (N,)`` and vectors ``x (N, D)``. An empty batch (N = 0) observes nothing and changes
    nothing (with zero EMA statistics the update would divide 0 by 0).
    """
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
        raise NeurosigError(f"decay must be a number in [0, 1), got {decay!r}; e.g. decay=0.99.")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise NeurosigError(f"eps must be a positive number (Laplace smoothing of the counts), got {eps!r}; e.g. eps=1e-5.")
    _check_tensor(codebook, "codebook", ndim=2)
    K, D = codebook.shape
    _check_tensor(ema_counts, "ema_counts", ndim=1)
    _check_tensor(ema_sums, "ema_sums", ndim=2)
    if tuple(ema_counts.shape) != (K,):
        raise NeurosigError(f"ema_counts must have shape (K,) = ({K},) like codebook (K, D), got {tuple(ema_counts.shape)}.")
    if tuple(ema_sums.shape) != (K, D):
        raise NeurosigError(f"ema_sums must have shape (K, D) = ({K}, {D}) like codebook, got {tuple(ema_sums.shape)}.")
    _check_tensor(x, "x", ndim=2)
    if x.shape[1] != D:
        raise NeurosigError(f"x has D={x.shape[1]} but codebook has D={D}; x must be (N, D) with the codebook's D.")
    for name, t in (("ema_counts", ema_counts), ("ema_sums", ema_sums), ("x", x)):
        if t.device != codebook.device:
            raise NeurosigError(f"{name} is on {t.device} but codebook is on {codebook.device}; move it to the same device.")
    counts, sums = codebook_stats(codes, x, K)
    if codes.shape[0] == 0:  # nothing observed: codebook and EMA statistics unchanged
        return
    ema_counts.mul_(decay).add_(counts.to(ema_counts.dtype), alpha=1 - decay)
    ema_sums.mul_(decay).add_(sums.to(ema_sums.dtype), alpha=1 - decay)
    n = ema_counts.sum()
    smoothed = (ema_counts + eps) / (n + K * eps) * n  # (K,) never zero
    codebook.copy_((ema_sums / smoothed[:, None]).to(codebook.dtype))


# ----------------------------------------------------------------------------------------------
# attention
# ----------------------------------------------------------------------------------------------
def _attn_checks(q, k, v, key_padding_mask) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        _check_tensor(t, name, ndim=4)
    if not (q.shape == k.shape == v.shape):
        raise NeurosigError(
            f"q, k, v must all be (B, H, S, Dh) with the same shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}."
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise NeurosigError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}.")
    B, H, S, Dh = q.shape
    if key_padding_mask is not None:
        if not isinstance(key_padding_mask, torch.Tensor) or key_padding_mask.dtype != torch.bool:
            raise NeurosigError("key_padding_mask must be a bool tensor (B, S), True where the key is padding.")
        if tuple(key_padding_mask.shape) != (B, S):
            raise NeurosigError(
                f"key_padding_mask must have shape (B, S) = ({B}, {S}), got {tuple(key_padding_mask.shape)}."
            )
        if key_padding_mask.device != q.device:
            raise NeurosigError(f"key_padding_mask is on {key_padding_mask.device} but q is on {q.device}.")


def _attn_reference(q, k, v, key_padding_mask, causal):
    """SDPA with the padding/causal mask; rows with no visible key are set to 0 (no NaN, no gradient).

    The mask is as small as the case allows (this is also the benchmark's SDPA baseline):
    ``is_causal=True`` for causal alone (every query sees key 0, so no row is empty), a
    broadcast ``(B, 1, 1, S)`` key mask for padding alone, and a ``(B, 1, S, S)`` mask only for
    causal with padding.
    """
    B, H, S, Dh = q.shape
    if key_padding_mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    allowed = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S) True = may attend
    if causal:
        allowed = allowed & torch.ones(S, S, dtype=torch.bool, device=q.device).tril()  # (B, 1, S, S)
    row_ok = allowed.any(-1, keepdim=True)  # (B, 1, 1, 1), or (B, 1, S, 1) when causal
    # SDPA returns NaN on a row with no allowed key: let such rows see everything, then zero them.
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | ~row_ok)
    return out * row_ok.to(out.dtype)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
    causal: bool = False,
    impl: str = "auto",
) -> torch.Tensor:
    """Scaled dot-product attention for the backbone's layout.

    q, k, v (B, H, S, Dh); key_padding_mask (B, S) bool, True where the key is padding;
    ``causal`` (a bool) masks keys after the query. Returns (B, H, S, Dh). Rows with no visible
    key are 0. ``impl="triton"`` under the interpreter refuses bf16 (its bf16 ``tl.dot`` is wrong).
    """
    _attn_checks(q, k, v, key_padding_mask)
    _check_bool(causal, "causal")
    if _resolve("attention", impl, q.device) == "torch":
        return _attn_reference(q, k, v, key_padding_mask, causal)
    Dh = q.shape[-1]
    if not 16 <= Dh <= 128:
        raise NeurosigError(f"attention(impl='triton') supports head dim 16..128, got Dh={Dh}; use impl='torch'.")
    if q.dtype == torch.bfloat16 and _interpreted():
        raise NeurosigError(
            "attention(impl='triton') under the Triton interpreter (TRITON_INTERPRET=1) does not support bfloat16 "
            "q/k/v: the interpreter's bf16 tl.dot gives wrong results; cast to float16/float32 or use impl='torch'."
        )
    from neurosig.kernels.triton.attention import attention_triton

    return attention_triton(q, k, v, key_padding_mask, causal)

