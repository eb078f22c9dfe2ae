"""Test-blind exploration for ``neurosig bench real``: validation figures only.

Fits (or reuses) the benchmark's tokenizer + pretraining on the benchmark's pool, computes the
feature blocks on the **training splits only** and scores candidate heads by the benchmark's own
validation protocol (stratified folds carved from each training split, mean balanced accuracy over
the sets and over fine-tuning seeds). Test trials are never featurised or scored here, so a
configuration chosen from this script's output is chosen on validation alone.

    python scripts/explore_bench_real.py --tag base --json runs/explore/base.json
    python scripts/explore_bench_real.py --tag more --extra SelfRegulationSCP2,HandMovementDirection,Blink,KDD_Example \
        --pretrain-steps 3000 --heads 'tokens_t=emb_t|tokv_t;ens=slow|slow12|rspec|ts|tokv_t'

``--heads`` is ``NAME[@WEIGHTING]=BLOCK|BLOCK;...`` where a block is ``feat+feat`` and WEIGHTING a
:class:`FeatureHead` weighting (mean, cv, cv2); without it the benchmark's
candidate heads (``BENCH_CONFIG["heads"]``) and its ablation heads are scored. ``--order`` picks the
fold order (default the benchmark's ``fold_order``, ``blocked``: recording order kept).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def parse_heads(text: str) -> dict[str, list[list[str]]]:
    heads = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, spec = part.partition("=")
        heads[name.strip()] = [b.split("+") for b in spec.split("|")]
    return heads


def main(argv=None) -> int:
    from neurosig.cli.bench import DEFAULT_TOKENIZER, _embed, _fit_tokenizer, _pool_items, _pretrain, bench_config
    from neurosig.evaluation.benchmark import (FOLD_ORDERS, load_bench_set, pretraining_pool, signal_features,
                                               validation_accuracies)
    from neurosig.models.foundation import FoundationModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="SelfRegulationSCP1,FingerMovements,EyesOpenShut")
    ap.add_argument("--extra", default="SelfRegulationSCP2,HandMovementDirection")
    ap.add_argument("--tag", required=True, help="run name: models/features are cached under --out/TAG")
    ap.add_argument("--out", default="runs/explore")
    ap.add_argument("--tokenizer-steps", type=int, default=300)
    ap.add_argument("--pretrain-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="tokenizer/pretraining seed")
    ap.add_argument("--ft-seeds", default="0,1,2", help="fine-tuning seeds (validation folds)")
    ap.add_argument("--heads", default="", help="NAME=feat+feat|feat;...  (default: the benchmark's candidate and ablation heads)")
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="bench tokenizer (neurosig.cli.bench.BENCH_TOKENIZERS)")
    ap.add_argument("--config", default="", help="JSON overrides merged into BENCH_CONFIG (tokenizer.config keys, model, lr, ...)")
    ap.add_argument("--order", default=None, choices=FOLD_ORDERS,
                    help="fold order for the head choice and each block's C (default: the benchmark's fold_order)")
    ap.add_argument("--json", help="write the validation table as JSON")
    a = ap.parse_args(argv)

    cfg = bench_config(a.tokenizer)
    if a.config:
        over = json.loads(a.config)
        for k, v in over.items():
            if k == "tokenizer_config":
                cfg["tokenizer"]["config"].update(v)
            elif isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k].update(v)
            else:
                cfg[k] = v
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    names = [n for n in a.datasets.split(",") if n]
    extra = [n for n in a.extra.split(",") if n and n not in names]
    run = Path(a.out) / a.tag
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    sets = [load_bench_set(n) for n in names]
    model_dir = run / "model"
    if (model_dir / "model").exists():
        model, tok = FoundationModel.load(model_dir / "model")
        model, tok = model.eval(), tok.eval()
        print(f"reusing {model_dir}")
    else:
        pool = pretraining_pool(sets, [load_bench_set(n) for n in extra])
        items = _pool_items(pool, rate, cfg["crop_patches"], P)
        print(f"pool: {len(pool.windows)} windows, {len(items)} crops")
        tok = _fit_tokenizer(items, a.tokenizer_steps, a.seed, cfg, progress=True)
        model, tok = _pretrain(items, tok, a.pretrain_steps, a.seed, cfg, model_dir, progress=True)
    t_fit = time.time() - t0
    order = a.order or cfg["fold_order"]
    feats = {}
    for s in sets:  # TRAINING split only; the pretrained features are cached, the signal features recomputed
        cache = run / f"train_features_{s.name}.npz"
        if cache.exists():
            emb = dict(np.load(cache))  # caches of earlier sessions also hold signal features: replaced below
        else:
            emb = _embed(model, tok, s, s.x_train, rate)
            np.savez(cache, **emb)
        feats[s.name] = {**emb, **signal_features(s.x_train, s.sfreq, rate, P)}
    heads = parse_heads(a.heads) if a.heads else {**cfg["heads"], **cfg["ablation_heads"]}
    ft_seeds = [int(x) for x in a.ft_seeds.split(",")]
    # each head's weighting: NAME@WEIGHTING, else the benchmark's own (BENCH_CONFIG["head_weighting"], "mean")
    weighting = {h: h.split("@")[1] if "@" in h else cfg["head_weighting"].get(h, "mean") for h in heads}
    per: dict[str, dict[str, float]] = {h: {} for h in heads}
    for s in sets:
        runs = [validation_accuracies(feats[s.name], s.y_train, heads, cfg["val_folds"], seed, weighting, order)
                for seed in ft_seeds]
        for hname in heads:
            per[hname][s.name] = float(np.mean([r[hname] for r in runs]))
    table = {}
    for hname in heads:
        table[hname] = {"val": float(np.mean(list(per[hname].values()))), **per[hname]}
        print(f"{hname:<28} val {table[hname]['val']:.3f}  " + "  ".join(f"{k[:6]} {v:.3f}" for k, v in per[hname].items()), flush=True)
    doc = {"tag": a.tag, "extra": extra, "order": order, "tokenizer_steps": a.tokenizer_steps, "pretrain_steps": a.pretrain_steps,
           "config": cfg, "fit_seconds": t_fit, "seconds": time.time() - t0, "validation": table}
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(doc, indent=1))
    (run / "validation.json").write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
