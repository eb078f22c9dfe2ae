"""``neurosig pretrain``: fit a foundation model on a shard store; generate continuations.

    neurosig pretrain fit --config configs/pretrain/masked.yaml --data STORE [--tokenizer DIR]
                          [--max-steps N] [--out DIR] [--resume] [--json PATH]
    neurosig pretrain generate --model DIR --data STORE --out DIR [--index I]
                          [--prompt-patches K] [--steps M] [--temperature T] [--top-k K]
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain a foundation model (masked / next-token) and generate continuations")
    ps = p.add_subparsers(dest="pretrain_cmd", metavar="SUBCOMMAND")

    f = ps.add_parser("fit", help="pretrain on a shard store")
    f.add_argument("--config", required=True, help="YAML recipe (configs/pretrain/masked.yaml, next.yaml, *.debug.yaml)")
    f.add_argument("--data", required=True, help="shard store directory (neurosig preprocess output)")
    f.add_argument("--tokenizer", help="trained tokenizer directory; without it the config's tokenizer is fitted first into OUT/tokenizer_fit (reused from there when it holds one fitted with the same tokenizer section, e.g. on --resume)")
    f.add_argument("--max-steps", type=int, help="override optim.max_steps")
    f.add_argument("--out", default="runs/pretrain", help="output directory: checkpoints/, logs/, model/, summary.json")
    f.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt if present")
    f.add_argument("--json", metavar="PATH", help="also write the run summary (losses, unigram baseline, tokens/s) here")
    f.set_defaults(func=run_fit)

    g = ps.add_parser("generate", help="continue a recording from a prompt with a next-token model; plot spectra")
    g.add_argument("--model", required=True, help="pretrained directory (save_pretrained export with tokenizer/)")
    g.add_argument("--data", required=True, help="shard store to take the prompt window from")
    g.add_argument("--out", required=True, help="output directory for generate.png and generate.json")
    g.add_argument("--index", type=int, default=None, help="store row of the prompt window (default: the longest window)")
    g.add_argument("--prompt-patches", type=int, default=None, help="patches of real signal in the prompt (default: half the window)")
    g.add_argument("--steps", type=int, default=None, help="patches to generate (default: the rest of the window)")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--json", metavar="PATH", help="also write the spectral comparison here")
    g.set_defaults(func=run_generate)
    p.set_defaults(func=lambda args: p.print_help() or 1)


def run_fit(args) -> int:
    from neurosig._utils.validation import check_path_exists
    from neurosig.training.pretrain import fit_pretrain, load_pretrain_config

    cfg = load_pretrain_config(args.config)
    out = Path(args.out)
    held = [n for n in ("model", "checkpoints/last.ckpt", "summary.json") if (out / n).exists()]
    if held and not args.resume:  # a second fit would replace them: nothing already written is lost
        from neurosig import NeurosigError

        raise NeurosigError(f"--out {args.out!r} already holds a pretraining run ({', '.join(held)}); pass --resume to "
                            "continue it, or a new --out (delete the folder to start over).")
    check_path_exists(args.data, "--data")
    if args.tokenizer:
        check_path_exists(args.tokenizer, "--tokenizer")
    if args.max_steps is not None and args.max_steps < 1:
        from neurosig import NeurosigError

        raise NeurosigError(f"--max-steps must be >= 1, got {args.max_steps}.")
    summary = fit_pretrain(cfg, args.data, args.out, tokenizer=args.tokenizer, max_steps=args.max_steps,
                           ckpt_path="last" if args.resume else None)
    from lightning.pytorch.utilities import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) != 0:  # under DDP every process returns here: one summary, one --json
        return 0
    losses = [k for k in ("val/mlm/ce", "val/next/ce") if k in summary] or \
        [k for k in ("train/mlm/ce", "train/next/ce", "train/loss") if k in summary]  # no validation split: the last training loss
    keys = losses + [k for k in ("unigram/mean", "perf/tokens_per_s") if k in summary]
    if summary.get("steps_run") == 0 and summary.get("note"):  # a resumed run with nothing left to do
        print(f"pretrain: {summary['note']}; kept {Path(args.out) / 'summary.json'} and {Path(args.out) / 'model'}")
    at = f" (validation at step {summary['val_step']})" if "val_step" in summary and losses and losses[0].startswith("val/") else ""
    print("pretrain: " + ", ".join(f"{k}={summary[k]:.4g}" for k in keys) + f"{at}; model in {Path(args.out) / 'model'}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def welch_psd(x, sfreq: float):
    """Mean Welch PSD over channels of x (C, T) -> (freqs, psd)."""
    import numpy as np
    from scipy.signal import welch

    nper = int(min(x.shape[-1], 2 * sfreq))
    f, p = welch(x, fs=sfreq, nperseg=nper, axis=-1)
    return f, np.mean(p, axis=0)


MIN_SPECTRUM_SAMPLES = 8  # shortest continuation a Welch spectrum is computed from


def spectral_comparison(real, tokenized, generated, sfreq: float) -> tuple[dict, dict]:
    """Spectra of the continuations over their common length (so every Welch spectrum has the same frequency grid)
    and ``log_psd_rmse_*`` against the real one -> (metrics, {name: (freqs, psd)}).

    The generated continuation can be longer than the real one (``--steps`` past the window's end) and a short one
    has a coarser Welch grid: pairing bins index by index compared different frequencies. Too short a common length
    gives ``{"spectra_skipped": why}`` instead of metrics."""
    import numpy as np

    n = min(real.shape[-1], generated.shape[-1])
    res: dict = {"compared_samples": int(n)}
    if n < MIN_SPECTRUM_SAMPLES:
        why = (f"the real continuation after the prompt has {real.shape[-1]} samples" if real.shape[-1] < MIN_SPECTRUM_SAMPLES
               else f"{generated.shape[-1]} samples were generated")
        res["spectra_skipped"] = (f"no spectral comparison: {why}, fewer than {MIN_SPECTRUM_SAMPLES}; use a shorter "
                                  "--prompt-patches (or more --steps)")
        return res, {}
    spectra = {name: welch_psd(sig[:, :n], sfreq) for name, sig in
               (("real", real), ("real via tokenizer", tokenized), ("generated", generated)) if sig.shape[-1] >= n}
    pr = np.log10(spectra["real"][1] + 1e-12)
    for key, name in (("log_psd_rmse_generated_vs_real", "generated"), ("log_psd_rmse_tokenizer_vs_real", "real via tokenizer")):
        if name in spectra:
            res[key] = float(np.sqrt(np.mean((np.log10(spectra[name][1] + 1e-12) - pr) ** 2)))
    return res, spectra


def run_generate(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from neurosig import NeurosigError
    from neurosig._utils.validation import check_path_exists
    from neurosig.models import FoundationModel

    try:
        from neurosig.datasets import ShardStore
    except ImportError:  # package export not landed yet
        from neurosig.datasets.store import ShardStore

    from neurosig.models.foundation import check_generate_args

    if args.steps is not None and args.steps < 1:  # 0 steps: an empty plot
        raise NeurosigError(f"--steps must be >= 1, got {args.steps} (omit it for the default).")
    check_generate_args(temperature=args.temperature, top_k=args.top_k, names={"top_k": "--top-k", "temperature": "--temperature"})
    check_path_exists(args.model, "--model")
    check_path_exists(args.data, "--data")
    model, tok = FoundationModel.load(args.model)
    if "next" not in model.config.objectives:
        raise NeurosigError(f"--model {args.model!r} was not trained with the 'next' objective; generate needs a next-token model (configs/pretrain/next.yaml).")
    store = ShardStore(args.data)
    n_times = store.manifest["n_times"].to_numpy()
    idx = int(np.argmax(n_times)) if args.index is None else int(args.index)
    if not 0 <= idx < len(store):
        raise NeurosigError(f"--index {idx} is out of range; the store has {len(store)} windows.")
    item = store[idx]
    sfreq = float(item["sfreq"])
    from neurosig.tokenizers import check_sfreq

    check_sfreq(tok, sfreq, source=f"--data {args.data!r} (window {idx})")
    P = int(tok.patch_len)
    N = -(-int(item["x"].shape[-1]) // P)
    k = args.prompt_patches if args.prompt_patches is not None else max(1, N // 2)
    steps = args.steps if args.steps is not None else max(1, N - k)
    if k < 1 or k > N:
        raise NeurosigError(f"--prompt-patches must be in 1..{N} for window {idx} ({N} patches of {P} samples), got {k}.")
    batch = {key: torch.as_tensor(np.asarray(item[key]))[None] for key in ("x", "pos", "ch_type", "ch_mask")}
    with torch.no_grad():
        codes = tok.encode(batch["x"], pos=batch["pos"], ch_type=batch["ch_type"], ch_mask=batch["ch_mask"], sfreq=sfreq)  # (1, C, N, L)
        g = torch.Generator().manual_seed(args.seed)
        gen = model.generate(codes[:, :, :k], steps, batch["pos"], batch["ch_type"], batch["ch_mask"],
                             temperature=args.temperature, top_k=args.top_k, generator=g)  # (1, C, k+steps, L)
        kw = dict(pos=batch["pos"], ch_type=batch["ch_type"], ch_mask=batch["ch_mask"])
        sig_gen = tok.decode(gen, **kw)[0, :, k * P:].numpy()  # generated continuation (C, steps*P)
        sig_tok = tok.decode(codes, **kw)[0, :, k * P:].numpy()  # real continuation through the tokenizer
    real = np.asarray(item["x"])[:, k * P:]
    real = real[np.asarray(item["ch_mask"], bool)]
    sig_gen = sig_gen[np.asarray(item["ch_mask"], bool)]
    sig_tok = sig_tok[np.asarray(item["ch_mask"], bool)][:, : real.shape[-1]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"window": idx, "prompt_patches": k, "generated_patches": steps, "sfreq": sfreq}
    metrics, spectra = spectral_comparison(real, sig_tok, sig_gen, sfreq)
    res.update(metrics)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for name, (f, p) in spectra.items():
        ax[0].semilogy(f, p + 1e-12, label=name)
    ax[0].set_xlabel("frequency (Hz)"); ax[0].set_ylabel("PSD (unit^2/Hz)"); ax[0].set_title("continuation spectra (mean over channels)")
    if spectra:
        ax[0].legend()
    t_real = np.arange(np.asarray(item["x"]).shape[-1]) / sfreq
    ax[1].plot(t_real, np.asarray(item["x"])[0], label="real", lw=0.8)
    t_gen = (k * P + np.arange(sig_gen.shape[-1])) / sfreq
    ax[1].plot(t_gen, sig_gen[0], label="generated", lw=0.8)
    ax[1].axvline(k * P / sfreq, color="k", ls="--", lw=0.8)
    ax[1].set_xlabel("time (s)"); ax[1].legend(); ax[1].set_title("channel 0: prompt | continuation")
    fig.tight_layout()
    fig.savefig(out / "generate.png", dpi=120)
    plt.close(fig)
    (out / "generate.json").write_text(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    print(f"generate: {steps} patches after a {k}-patch prompt; plot {os.fspath(out / 'generate.png')}")
    if "spectra_skipped" in res:
        print(f"generate: {res['spectra_skipped']}")
    return 0
