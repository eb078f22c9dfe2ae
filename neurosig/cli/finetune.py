"""``neurosig finetune fit|test``: fine-tune a pretrained (or scratch) model on a labelled store."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune on a labelled store (classification, sleep staging, seizures)")
    s = p.add_subparsers(dest="finetune_cmd", metavar="ACTION")
    for name, helptext in (("fit", "train on the store's training split and report test metrics"),
                           ("test", "re-evaluate the models of a finished `fit` run on its saved split")):
        a = s.add_parser(name, help=helptext)
        a.add_argument("--config", required=True, help="YAML recipe (configs/finetune/*.yaml)")
        a.add_argument("--data", required=True, help="shard store folder (neurosig preprocess --out)")
        g = a.add_mutually_exclusive_group()
        g.add_argument("--model", help="pretrained directory (neurosig pretrain --out .../model)")
        g.add_argument("--scratch", action="store_true", help="train a small encoder from scratch instead")
        a.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2,3,4 (report mean ± sd)")
        a.add_argument("--out", default="runs/finetune", help="run folder (split.json, checkpoints, report.md)")
        a.add_argument("--json", metavar="PATH", help="write the summary metrics as JSON")
        a.add_argument("--epochs", type=int, help="override finetune.epochs")
        a.add_argument("--allow-pretrain-overlap", action="store_true",
                       help="with --model: report test subjects the model was pretrained on instead of refusing "
                            "(sets finetune.allow_pretrain_overlap)")
        a.set_defaults(func=run)
    p.set_defaults(func=lambda a: (p.print_help(), 1)[1])


def _seeds(text: str) -> list[int]:
    from neurosig._utils.errors import NeurosigError

    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise NeurosigError(f"--seeds {text!r} must be comma-separated integers, e.g. 0,1,2.")
    from neurosig._utils.rng import check_seeds

    return check_seeds(seeds, str(text))


def _load_finetuned(module, path: Path, out: Path, seed: int, meta: dict, encoder: str) -> None:
    """The weights of ``finetuned_seed<N>.pt`` into ``module``; a damaged file or one fit with another
    encoder (``--scratch`` vs ``--model``, another config) is a one-line error naming the file."""
    import torch

    from neurosig._utils.errors import NeurosigError

    refit = f"`neurosig finetune fit ... --out {out} --seeds {seed}`"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated / overwritten: zip reader, unpickler or EOF errors
        first = (str(e).strip().splitlines() or [""])[0].split(". ")[0][:200]
        raise NeurosigError(f"{path} is damaged or not a fine-tuned model ({type(e).__name__}: {first}); re-run {refit}.") from None
    if not isinstance(state, dict):
        raise NeurosigError(f"{path} holds a {type(state).__name__}, not a model's weights; re-run {refit}.")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        import re

        msg = str(e)
        keys = {"missing": [], "unexpected": [], "of another shape": re.findall(r"size mismatch for ([\w.]+)", msg)}
        for line in msg.splitlines():
            for kind, head in (("missing", "Missing key(s)"), ("unexpected", "Unexpected key(s)")):
                if head in line:
                    keys[kind] += re.findall(r'"([^"]+)"', line)
        detail = ", ".join(f"{len(v)} {k} (e.g. {v[0]})" for k, v in keys.items() if v) or (msg.splitlines() or [""])[0][:160]
        fit_with = meta.get("model")
        was = f"; the run was fit with {'--scratch' if fit_with == 'scratch' else f'--model {fit_with!r}'}" if fit_with else ""
        raise NeurosigError(f"{path} does not fit the encoder built from {encoder} ({detail}){was}; pass the --model or "
                            f"--scratch and the --config that `neurosig finetune fit --out {out}` used.") from None


def run(args) -> int:
    import dataclasses

    from neurosig._utils.errors import NeurosigError
    from neurosig.datasets.store import ShardStore
    from neurosig.evaluation.splits import load_split
    from neurosig.training.finetune import (
        FinetuneModule,
        WindowTable,
        _loader,
        finetune_and_report,
        load_finetune_config,
        make_encoder,
        predict,
        pretrain_overlap,
        summarize_runs,
        evaluate_test,
        write_outputs,
    )

    cfg = load_finetune_config(args.config)
    if args.epochs is not None:  # `if args.epochs:` ran the config's epochs for --epochs 0
        if args.epochs < 1:
            raise NeurosigError(f"--epochs must be >= 1, got {args.epochs} (omit it to use finetune.epochs={cfg.epochs} of {args.config}).")
        cfg = dataclasses.replace(cfg, epochs=int(args.epochs))
    if getattr(args, "allow_pretrain_overlap", False):
        cfg = dataclasses.replace(cfg, allow_pretrain_overlap=True)
    if not args.model and not args.scratch:
        raise NeurosigError("pass --model PRETRAINED_DIR (from `neurosig pretrain`) or --scratch.")
    if not Path(args.data).is_dir():
        raise NeurosigError(f"--data {args.data!r} is not a folder; build a store with `neurosig preprocess ... --out DIR`.")
    store = ShardStore(args.data)
    seeds = _seeds(args.seeds)
    out = Path(args.out)
    if args.finetune_cmd == "test" and not out.is_dir():
        raise NeurosigError(f"--out {args.out!r} is not a folder; pass the --out of a finished `neurosig finetune fit` run.")
    out.mkdir(parents=True, exist_ok=True)
    model_dir = None if args.scratch else args.model
    if model_dir is not None and Path(model_dir).is_dir() and len(store.manifest):  # the data's rate, before any training
        from neurosig.models import pretrained_sfreq
        from neurosig.tokenizers import check_sfreq

        check_sfreq(pretrained_sfreq(model_dir), store.manifest["sfreq"].to_numpy(), source=f"--data {args.data!r}")

    if args.finetune_cmd == "fit":
        flat = finetune_and_report(store, cfg, model_dir=model_dir, seeds=seeds, out_dir=out, json_path=args.json)
        _print_metrics(flat)
        print(f"report: {out / 'report.md'}")
        return 0
    # test: the saved models on the saved splits
    # nothing is written until every seed's split and weights have loaded and been scored
    table = WindowTable.from_store(store)
    windows = table.fingerprint()  # the split's row numbers must refer to this store's windows
    encoder = "--scratch" if args.scratch else f"--model {args.model!r}"
    runs = []
    for s in seeds:
        path = out / f"finetuned_seed{s}.pt"
        if not path.is_file():
            raise NeurosigError(f"{path} not found; run `neurosig finetune fit ... --out {out}` with --seeds {s} first.")
        split, meta = load_split(out / f"split_seed{s}.json", windows=windows, subjects=table.subject, data=args.data, with_meta=True)
        overlap = pretrain_overlap(model_dir, table, split, cfg, s)
        module = FinetuneModule(make_encoder(model_dir, cfg), table.n_classes, cfg)
        _load_finetuned(module, path, out, s, meta, encoder)
        prob = predict(module, _loader(table, split["test"], cfg, False, s))
        runs.append({**evaluate_test(table, split["test"], prob, cfg), "split": split, "pretrain_overlap": overlap})
    summary = summarize_runs(runs, table, cfg, seeds)
    flat = write_outputs(out, summary, runs[0], table, cfg, model_dir=model_dir, json_path=args.json)
    _print_metrics(flat)
    print(f"report: {out / 'report.md'}")
    return 0


def _print_metrics(flat: dict) -> None:
    """Mean ± sd over seeds, and the first seed's 95 % interval over test subjects (or windows)."""
    from neurosig.evaluation.metrics import METRIC_KEYS

    unit = flat.get("ci95_unit")
    for k in METRIC_KEYS:
        ci = flat.get(f"{k}_ci95")
        tail = f"   95% [{ci[0]:.4f}, {ci[1]:.4f}] (first seed, over its test {unit})" if ci else ""
        print(f"{k:<18} {flat[k]:.4f} ± {flat.get(k + '_std', float('nan')):.4f}{tail}")
