"""``neurosig tokenizer``: fit, encode and report.

    neurosig tokenizer fit --config configs/tokenizer/rvq.yaml --data STORE [--max-steps N] [--out DIR]
    neurosig tokenizer encode --model DIR --data STORE --out CODES
    neurosig tokenizer report --model DIR --data STORE --json PATH [--figures DIR]
"""

from __future__ import annotations

import json
import os


def register(sub) -> None:
    p = sub.add_parser("tokenizer", help="train, apply and evaluate signal tokenizers")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")

    f = tsub.add_parser("fit", help="train a tokenizer on a shard store and export it")
    f.add_argument("--config", required=True, help="YAML recipe (configs/tokenizer/{tf,rvq,vq}[.debug].yaml)")
    f.add_argument("--data", required=True, help="shard store directory (neurosig preprocess output)")
    f.add_argument("--max-steps", type=int, default=None, help="override optim.max_steps")
    f.add_argument("--out", default=None, help="output directory (default runs/tokenizer-<kind>)")
    f.add_argument("--json", default=None, metavar="PATH", help="write the fit summary (loss first/last) as JSON")
    f.set_defaults(func=run_fit)

    e = tsub.add_parser("encode", help="write the codes of every window of a store")
    e.add_argument("--model", required=True, help="tokenizer directory (save_pretrained output)")
    e.add_argument("--data", required=True, help="shard store directory")
    e.add_argument("--out", required=True, help="output directory for codes.npy + manifest.csv")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=run_encode)

    r = tsub.add_parser("report", help="reconstruction quality on held-out windows")
    r.add_argument("--model", required=True, help="tokenizer directory (save_pretrained output)")
    r.add_argument("--data", required=True, help="shard store directory")
    r.add_argument("--json", default=None, metavar="PATH", help="write the metrics as JSON (flat keys)")
    r.add_argument("--figures", default=None, metavar="DIR",
                   help="directory for the PNGs (default: figures/ in the folder of --json; none without either)")
    r.add_argument("--split", choices=("auto", "test", "val", "all"), default="auto",
                   help="auto: the store's test split, else the fit's validation rows")
    r.add_argument("--max-windows", type=int, default=2000)
    r.add_argument("--batch-size", type=int, default=32)
    r.add_argument("--seed", type=int, default=None,
                   help="seed of the validation split (default: the one the fit recorded in the tokenizer's config.json)")
    r.set_defaults(func=run_report)
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])


def _positive(value: int, flag: str) -> None:
    from neurosig._utils.errors import NeurosigError

    if value < 1:
        raise NeurosigError(f"{flag} must be a positive integer, got {value}.")


def _store(path):
    from neurosig._utils.validation import check_path_exists

    check_path_exists(path, "--data")
    try:
        from neurosig.datasets import ShardStore
    except ImportError:  # the package root may not re-export it
        from neurosig.datasets.store import ShardStore
    return ShardStore(path)


def run_fit(args) -> int:
    from dataclasses import asdict

    from neurosig.training.tokenizer import fit_tokenizer, load_fit_config

    from neurosig._utils.errors import NeurosigError

    if args.max_steps is not None and args.max_steps < 1:
        raise NeurosigError(f"--max-steps must be a positive integer, got {args.max_steps}.")
    cfg = load_fit_config(args.config)
    if args.max_steps is not None:  # the JSON's config records what ran
        cfg.optim.max_steps = args.max_steps
    out = args.out or os.path.join("runs", f"tokenizer-{cfg.kind}")
    fit_tokenizer(cfg.kind, cfg.tokenizer, _store(args.data), out, optim=cfg.optim, data_spec=cfg.data,
                  trainer=cfg.trainer, max_steps=args.max_steps)
    summary = json.loads(open(os.path.join(out, "fit_summary.json")).read())
    mb = summary.get("micro_batches", summary["steps"])
    acc = f" ({mb} micro-batches)" if mb != summary["steps"] else ""
    print(f"tokenizer {cfg.kind}: {summary['steps']} optimizer steps{acc}, loss {summary['loss_first']:.4f} -> {summary['loss_last']:.4f}; saved to {out}")
    if args.json:
        s = {k: v for k, v in summary.items() if k != "loss_curve"}
        s["out"] = out
        s["config"] = asdict(cfg)
        with open(args.json, "w") as fh:
            json.dump(s, fh, indent=2)
    return 0


def run_encode(args) -> int:
    from neurosig.tokenizers import load_tokenizer
    from neurosig.training.tokenizer import encode_store

    _positive(args.batch_size, "--batch-size")
    tok = load_tokenizer(args.model)
    out = encode_store(tok, _store(args.data), args.out, batch_size=args.batch_size)
    print(f"codes written to {out}")
    return 0


def run_report(args) -> int:
    import numpy as np

    from neurosig._utils.errors import NeurosigError
    from neurosig.tokenizers import load_tokenizer
    from neurosig._utils.logging import get_logger
    from neurosig.training.tokenizer import fit_split_settings, held_out_rows, reconstruction_report, store_batches, val_rows

    _positive(args.batch_size, "--batch-size")
    _positive(args.max_windows, "--max-windows")
    tok = load_tokenizer(args.model)
    store = _store(args.data)
    fit, why = fit_split_settings(args.model)  # the split the fit ran with (extra.fit.split of config.json)
    if args.seed is not None:
        fit["seed"] = args.seed
    kw = {k: fit[k] for k in ("seed", "val_fraction", "exclude_splits", "datasets")}
    if args.split == "auto":
        rows, split = held_out_rows(store, **kw)
    elif args.split == "all":
        rows, split = np.arange(len(store)), "all"
    elif args.split == "test":
        rows, split = np.flatnonzero((store.manifest["split"] == "test").to_numpy()) if "split" in store.manifest.columns else np.arange(0), "test"
        if "test" not in fit["exclude_splits"]:
            get_logger("cli.tokenizer").warning("--split test: the fit did not exclude the store's test split "
                                                "(exclude_splits %s), so these windows may have been trained on.", fit["exclude_splits"])
    else:
        rows, split = val_rows(store, **kw), "val"
    if split == "val":
        if why is not None:
            get_logger("cli.tokenizer").warning(
                "the fit's held-out rows cannot be reconstructed: %s; the 'val' rows below (val_fraction %g, seed %d) may include "
                "windows the tokenizer trained on; refit the tokenizer, or use a store with a test split.", why, kw["val_fraction"], kw["seed"])
        elif fit.get("n_windows") not in (None, len(store)):
            get_logger("cli.tokenizer").warning(
                "the tokenizer was fitted on a store of %d windows, --data %s has %d: its validation rows are not this store's; "
                "the 'val' rows below may include windows the tokenizer trained on.", fit["n_windows"], args.data, len(store))
    if len(rows) == 0:
        raise NeurosigError(f"--split {args.split}: the store {args.data!r} has no such windows; choose another split.")
    figures = args.figures or (os.path.join(os.path.dirname(os.path.abspath(args.json)), "figures") if args.json else None)
    res = reconstruction_report(tok, store_batches(store, rows, args.batch_size), max_windows=args.max_windows, figures=figures,
                                n_windows=len(rows))
    res["split"] = split
    if split == "val":
        res["val_fraction"], res["split_seed"] = float(kw["val_fraction"]), int(kw["seed"])
    res["model"] = os.fspath(args.model)
    res["model_type"] = tok.model_type
    keys = ["pcc", "nmse", "baseline/pcc", "baseline/nmse", "codebook_usage", "perplexity", "dead_codes"]
    for k in keys:
        print(f"{k:<16} {res[k]:.4f}" if isinstance(res[k], float) else f"{k:<16} {res[k]}")
    for b in ("delta", "theta", "alpha", "beta", "gamma"):
        if f"band_nmse/{b}" in res:
            print(f"band_nmse/{b:<7} {res[f'band_nmse/{b}']:.4f}  (baseline {res[f'baseline/band_nmse/{b}']:.4f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    if figures is not None:
        print(f"figures (traces.png, spectra.png, code_usage.png) in {figures}")
    return 0
