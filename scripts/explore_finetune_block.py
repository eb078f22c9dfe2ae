"""Test-blind check (session 11): does fine-tuning the pretrained backbone end to end add anything on the
benchmark's validation folds?

For each set (training split only: the test split is never loaded) and each of the benchmark's 3 blocked
validation folds (``validation_folds(y, 3, 0, "blocked")``, exactly the folds of ``neurosig bench real``), on the
inner-training trials:

- ``ft-pre``: the pretrained model of ``--models`` (``FoundationModel.load``) fine-tuned end to end through the
  library's :class:`~neurosig.training.finetune.FinetuneModule` (tokenizer frozen; backbone + pooling head trained
  with ``FinetuneConfig``'s defaults unless overridden: attention pooling, layer-wise LR decay 0.75, lr 1e-3,
  AdamW weight decay 0.05, inverse-frequency class weights) for a FIXED number of epochs (no early stopping:
  the only held-out data is the fold being scored);
- ``ft-scratch``: the same (same tokenizer, same backbone config, same recipe) with the backbone at random init;
- ``ensemble_n``: the benchmark's head (``FeatureHead`` over ``BENCH_CONFIG["heads"]["ensemble_n"]``) on the
  model's token blocks + the signal blocks, as :func:`neurosig.evaluation.benchmark.validation_accuracies` scores
  it (a reproduction check against ``config.validation`` of the benchmark's JSON);
- ``ensemble_n+ft-pre``: the fine-tuned model's class probabilities averaged in as one more block (equal weight:
  (9 · p_ensemble_n + p_ft) / 10);
- ``ensemble_n+ft-pre/1:1`` (diagnostic only): the two averaged half and half.

Balanced accuracy on each held-out fold, mean over the folds per set, mean over sets. The held-out fold's
accuracy after every epoch is logged as a diagnostic (``curve``); the reported figure is always the LAST epoch.

    nice python scripts/explore_finetune_block.py --models runs/s10/bench/seed0 --epochs 10 \\
        --json runs/s11/explore_ft.json 2>&1 | tee runs/s11/explore_ft.log
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def load_train_split(name: str) -> SimpleNamespace:
    """The TRAINING split of a bundled set in model units (as :func:`~neurosig.evaluation.benchmark.load_bench_set`,
    whose labels remap the union of train and test event ids; here the training ids, which are the same for these
    sets: every class occurs in training — checked below). The test split is never read."""
    from neurosig.datasets import bundled
    from neurosig.evaluation.benchmark import _epochs_arrays

    tr = bundled.load_epochs(name, "train")
    x, y, names, types, pos = _epochs_arrays(tr)
    ids = sorted(set(y.tolist()))
    if ids != sorted(tr.event_id.values()):
        raise SystemExit(f"{name}: training split lacks a class of its event_id {tr.event_id}; labels would differ from the benchmark's")
    remap = {v: i for i, v in enumerate(ids)}
    return SimpleNamespace(name=name, x_train=x, y_train=np.array([remap[v] for v in y]), sfreq=float(tr.info["sfreq"]),
                           ch_names=names, ch_types=types, pos=pos)


def window_items(s, rate: float) -> list[dict]:
    """Training trials as window items at the model rate, demeaned per trial and channel (as ``_embed`` feeds them)."""
    from neurosig.cli.bench import _demean
    from neurosig.evaluation.benchmark import to_model_rate

    xr = _demean(to_model_rate(s.x_train, s.sfreq, rate)).astype(np.float32)
    C = xr.shape[1]
    return [{"x": xr[i], "pos": s.pos, "ch_type": s.ch_types.astype(np.int64), "ch_mask": np.ones(C, bool), "sfreq": rate,
             "y": int(s.y_train[i]), "subject": "0"} for i in range(len(xr))]


def finetune_fold(model_dir: Path, scratch: bool, items: list[dict], itr: np.ndarray, iva: np.ndarray, K: int, cfg,
                  seed: int) -> tuple[np.ndarray, list[float], list[float]]:
    """Fine-tune on ``items[itr]`` for ``cfg.epochs`` epochs; class probabilities of ``items[iva]`` after the last
    epoch, the mean training loss per epoch and (diagnostic) the held-out balanced accuracy per epoch."""
    import torch
    from sklearn.metrics import balanced_accuracy_score

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.models.foundation import FoundationModel
    from neurosig.training.finetune import FinetuneModule, FoundationEncoder

    torch.manual_seed(seed)  # the random backbone (scratch) and the head's init
    model, tok = FoundationModel.load(model_dir / "model")
    if scratch:
        model = FoundationModel(model.config)  # same architecture, random init; the same (frozen) tokenizer
    encoder = FoundationEncoder(model, tok)
    ytr = np.array([items[i]["y"] for i in itr])
    counts = np.bincount(ytr, minlength=K).astype(np.float64)  # inverse-frequency weights, as fit_one_seed
    weights = torch.tensor(np.where(counts > 0, counts.sum() / (K * np.maximum(counts, 1)), 0.0), dtype=torch.float32) \
        if cfg.class_weighting else None
    module = FinetuneModule(encoder, K, cfg, weights)
    opt = module.configure_optimizers()
    va_batches = [collate_windows([items[i] for i in iva[k:k + 64]]) for k in range(0, len(iva), 64)]
    yva = np.array([items[i]["y"] for i in iva])
    g = torch.Generator().manual_seed(seed)

    def predict() -> np.ndarray:
        module.eval()
        with torch.no_grad():
            return torch.cat([module(b).softmax(-1).float() for b in va_batches]).numpy()

    losses, curve = [], []
    for _ in range(cfg.epochs):
        module.train()  # FinetuneModule.train keeps the tokenizer in eval mode
        perm = itr[torch.randperm(len(itr), generator=g).numpy()]
        tot = 0.0
        for k in range(0, len(perm), cfg.batch_size):
            batch = collate_windows([items[i] for i in perm[k:k + cfg.batch_size]])
            loss = torch.nn.functional.cross_entropy(module(batch), batch["y"], weight=module.class_weights)  # = training_step
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(batch["y"])
        losses.append(tot / len(perm))
        p = predict()
        curve.append(float(balanced_accuracy_score(yva, p.argmax(1))))
    return p, losses, curve


def main(argv=None) -> int:
    import torch
    from sklearn.metrics import balanced_accuracy_score

    from neurosig.cli.bench import _embed, bench_config
    from neurosig.evaluation.benchmark import FeatureHead, signal_features, subset, validation_folds
    from neurosig.models.foundation import FoundationModel
    from neurosig.training.finetune import FinetuneConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="SelfRegulationSCP1,FingerMovements,EyesOpenShut")
    ap.add_argument("--models", default="runs/s10/bench/seed0", help="comma-separated pretrained folders (each holding model/)")
    ap.add_argument("--variants", default="ft-pre,ft-scratch", help="fine-tuned variants to run: ft-pre, ft-scratch")
    ap.add_argument("--bench-json", default="runs/s10/bench_real.json", help="the benchmark run whose validation figures row 3 reproduces")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=None, help="default: FinetuneConfig's")
    ap.add_argument("--mode", default=None, help="linear | full | llrd (default: FinetuneConfig's)")
    ap.add_argument("--pooling", default=None, help="attention | mean (default: FinetuneConfig's)")
    ap.add_argument("--seed", type=int, default=0, help="fine-tuning seed (init of head/scratch backbone, batch order)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    cfg = bench_config()
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    over = {k: v for k, v in (("lr", a.lr), ("mode", a.mode), ("pooling", a.pooling)) if v is not None}
    fcfg = FinetuneConfig(epochs=a.epochs, batch_size=a.batch_size, **over)
    blocks = cfg["heads"]["ensemble_n"]
    names = [n for n in a.datasets.split(",") if n]
    models = [Path(m) for m in a.models.split(",") if m]
    ft_variants = [v for v in a.variants.split(",") if v]
    bench_val = json.loads(Path(a.bench_json).read_text())["config"]["validation"] if Path(a.bench_json).exists() else None
    print(f"finetune config: {dataclasses.asdict(fcfg)}", flush=True)
    doc = {"settings": {"epochs": a.epochs, "batch_size": a.batch_size, "seed": a.seed, "threads": a.threads,
                        "finetune_config": {k: v for k, v in dataclasses.asdict(fcfg).items() if k not in ("events", "scratch")},
                        "folds": f"validation_folds(y, {cfg['val_folds']}, 0, {cfg['fold_order']!r})", "datasets": names},
           "models": {}}
    sets = {n: load_train_split(n) for n in names}
    for mdir in models:
        mseed = int(mdir.name.replace("seed", "")) if mdir.name.startswith("seed") else None
        model, tok = FoundationModel.load(mdir / "model")
        model, tok = model.eval(), tok.eval()
        res: dict = {"per_set": {}, "table": {}}
        for name in names:
            s = sets[name]
            t1 = time.time()
            y = s.y_train
            K = int(y.max()) + 1
            feats = {**_embed(model, tok, s, s.x_train, rate), **signal_features(s.x_train, s.sfreq, rate, P)}
            items = window_items(s, rate)
            folds = validation_folds(y, cfg["val_folds"], 0, cfg["fold_order"])
            acc: dict[str, list[float]] = {}
            detail: dict[str, list] = {}
            for f, (itr, iva) in enumerate(folds):
                p_ens = FeatureHead(blocks, 0, "mean", cfg["fold_order"]).fit(subset(feats, itr), y[itr]).predict_proba(subset(feats, iva))
                probs = {"ensemble_n": p_ens}
                for v in ft_variants:
                    t2 = time.time()
                    p, losses, curve = finetune_fold(mdir, v == "ft-scratch", items, itr, iva, K, fcfg, a.seed)
                    probs[v] = p
                    detail.setdefault(v, []).append({"fold": f, "train_loss": [round(x, 4) for x in losses],
                                                      "curve": [round(x, 4) for x in curve], "seconds": round(time.time() - t2, 1)})
                    print(f"  {mdir.name} {name} fold {f} {v}: bacc {curve[-1]:.3f}  loss {losses[0]:.3f}->{losses[-1]:.3f}  "
                          f"curve {' '.join(f'{c:.2f}' for c in curve)}  ({time.time() - t2:.0f} s)", flush=True)
                if "ft-pre" in probs:
                    probs["ensemble_n+ft-pre"] = (len(blocks) * p_ens + probs["ft-pre"]) / (len(blocks) + 1)
                    probs["ensemble_n+ft-pre/1:1"] = (p_ens + probs["ft-pre"]) / 2
                if "ft-scratch" in probs:
                    probs["ensemble_n+ft-scratch"] = (len(blocks) * p_ens + probs["ft-scratch"]) / (len(blocks) + 1)
                for k, p in probs.items():
                    acc.setdefault(k, []).append(float(balanced_accuracy_score(y[iva], p.argmax(1))))
            res["per_set"][name] = {"folds": acc, "detail": detail, "seconds": round(time.time() - t1, 1)}
            for k, v in acc.items():
                res["table"].setdefault(k, {})[name] = float(np.mean(v))
            if bench_val is not None and mseed is not None and name in bench_val:
                ref = bench_val[name]["ensemble_n"][mseed]
                res["per_set"][name]["bench_ensemble_n"] = ref
                print(f"  {mdir.name} {name}: ensemble_n {res['table']['ensemble_n'][name]:.4f} vs benchmark {ref:.4f} "
                      f"({'match' if abs(ref - res['table']['ensemble_n'][name]) < 1e-9 else 'DIFFERENT'})", flush=True)
            print(f"{mdir.name} {name}: " + "  ".join(f"{k} {res['table'][k][name]:.3f}" for k in res["table"]) +
                  f"  ({time.time() - t1:.0f} s)", flush=True)
        for k in res["table"]:
            res["table"][k]["val"] = float(np.mean([res["table"][k][n] for n in names]))
        doc["models"][str(mdir)] = res
        print(f"\n{mdir}:")
        for k, row in res["table"].items():
            print(f"  {k:<24} val {row['val']:.3f}  " + "  ".join(f"{n[:6]} {row[n]:.3f}" for n in names), flush=True)
        if a.json:  # after every model, so a cut run keeps what it has
            doc["seconds"] = round(time.time() - t0, 1)
            Path(a.json).parent.mkdir(parents=True, exist_ok=True)
            Path(a.json).write_text(json.dumps(doc, indent=1))
    print(f"total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
