"""Codebook health of the tokenizers' EMA quantizers on bundled real EEG/MEG: old vs new defaults.

Trains each tokenizer kind with each EMA setting on 1 s crops (200 Hz) of the TRAINING splits
of bundled sets (as the benchmark's pretraining pool does: resampled, demeaned per window,
cut into crops of 4 patches of 50 samples; shorter windows kept whole), batch 16, AdamW 1e-3,
and at each checkpoint step encodes the crops of the sets' TEST splits (held out):

- ``codes``: distinct codes used on the held-out tokens (mean over levels for rvq)
- ``perplexity``: exp(entropy) of the held-out code histogram (mean over levels)
- ``nmse``: Σ (x − x̂)² / Σ x² of the eval-mode reconstruction over the held-out crops
  (crops are demeaned, so this is the usual nmse against the per-channel mean)
- ``spec_nmse`` (tf only): Σ (S − Ŝ)² / Σ (S − S̄)² of the decoder's predicted log-magnitude STFT
  patches Ŝ against their targets S (``tok.spec_targets``), S̄ the mean held-out spectrum per
  frame and bin of each set (which a decoder can reach from the sensor type alone, without
  any code information): what the tf tokenizer is trained to reconstruct (< 1 beats the mean spectrum)
- ``restarts``: dead-code restarts during training so far (all levels)

Settings: ``old`` = decay 0.99, absolute dead threshold 1e-3, constant decay (the defaults
before this change); ``new`` = the library defaults; ``bench`` = decay 0.8, absolute
threshold 1.0 (the benchmark's workaround); ``new-f0.03``, ``new-f0.3``, ``new-nowarmup``: the new
rule with dead_fraction 0.03 / 0.3, or without the decay warm-up. Ratios in the JSON are new / old at the same step.

    OMP_NUM_THREADS=1 python scripts/codebook_health.py --kinds tf,rvq,vq --steps 100,300 --json runs/codebook_health.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

SETS = ["SelfRegulationSCP2", "HandMovementDirection", "FingerMovements"]
RATE = 200.0
CROP = 4  # patches per crop: 1 s at 200 Hz
SETTINGS = {
    "old": {"decay": 0.99, "dead_threshold": 1e-3},
    "new": {},
    "bench": {"decay": 0.8, "dead_threshold": 1.0},
    # ablations of the new rule
    "new-f0.03": {"dead_fraction": 0.03},
    "new-f0.3": {"dead_fraction": 0.3},
    "new-nowarmup": {"decay_warmup": 0},  # relative dead rule with the constant decay 0.99
}
# small models at the benchmark's patch length (50 samples = 0.25 s tokens)
KINDS = {
    "tf": {"patch_len": 50, "n_fft": 50, "hop": 25, "bin_group": 3, "freq_dim": 32, "freq_layers": 1, "freq_heads": 4,
           "time_channels": 16, "code_dim": 32, "codebook_size": 256, "hidden": 128, "kmeans_iters": 5},
    "rvq": {"patch_len": 50, "kernel_sizes": [5, 25], "branch_channels": 16, "code_dim": 32, "n_levels": 4,
            "codebook_size": 256, "hidden": 128, "kmeans_iters": 5},
    "vq": {"patch_len": 50, "kernel_sizes": [5, 25], "branch_channels": 16, "code_dim": 32, "codebook_size": 256,
           "hidden": 128, "kmeans_iters": 5},
}


def _items(sets, split: str, patch_len: int):
    from neurosig.evaluation.benchmark import crop_items, to_model_rate

    out = []
    for s in sets:
        xr = to_model_rate(getattr(s, f"x_{split}"), s.sfreq, RATE)  # (n, C, T)
        for x in xr - xr.mean(-1, keepdims=True):
            out += crop_items(x, s.pos, s.ch_types, RATE, CROP * patch_len)
    return out


def _evaluate(tok, items, rng):
    import numpy as np
    import torch

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.evaluation.benchmark import bucket_batches

    tok.eval()
    hists = [np.zeros(k, np.int64) for k in tok.codebook_sizes]
    err = tot = 0.0
    spec_err, spec_stats = 0.0, {}  # tf: its predicted log-magnitude spectra; (sum, sum of squares, n) per set
    with torch.no_grad():
        for b in bucket_batches(items, 64, rng, False):
            batch = collate_windows([items[i] for i in b])
            out = tok(batch)
            m = out.token_mask  # (B, C, N)
            codes = out.codes[m].reshape(-1, tok.n_levels).numpy()
            for lv in range(tok.n_levels):
                hists[lv] += np.bincount(codes[:, lv], minlength=len(hists[lv]))
            x = batch["x"]
            cm = batch["ch_mask"][..., None].float()
            err += float((((out.reconstruction[..., : x.shape[-1]] - x) ** 2) * cm).sum())
            tot += float(((x**2) * cm).sum())
            if "spec" in out.predictions:
                tgt = tok.spec_targets(x, batch["pos"], batch["ch_type"], batch["ch_mask"])[m]  # (K, fpt, F)
                pred = out.predictions["spec"][m]
                spec_err += float(((pred - tgt) ** 2).sum())
                key = tuple(x.shape[1:])  # batches hold one set each (one (C, T) shape per set)
                s0, s1, n0 = spec_stats.get(key, (0.0, 0.0, 0))
                spec_stats[key] = (s0 + tgt.sum(0).double(), s1 + (tgt.double() ** 2).sum(0), n0 + tgt.shape[0])
    tok.train()
    used, ppl = [], []
    for h in hists:
        p = h / max(h.sum(), 1)
        used.append(int((h > 0).sum()))
        ppl.append(float(math.exp(-(p[p > 0] * np.log(p[p > 0])).sum())))
    res = {"codes": float(np.mean(used)), "perplexity": float(np.mean(ppl)), "nmse": err / max(tot, 1e-12)}
    if spec_stats:  # against each set's mean held-out spectrum (per frame and bin): < 1 beats it
        res["spec_nmse"] = spec_err / sum(float((s1 - s0**2 / n0).sum()) for s0, s1, n0 in spec_stats.values())
    return res


def run_one(kind: str, setting: str, steps: list[int], train, test, seed: int, progress: bool, batch_size: int = 16, codebook_size: int | None = None):
    import numpy as np
    import torch
    from tqdm import tqdm

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.evaluation.benchmark import bucket_batches
    from neurosig.tokenizers import build_tokenizer

    torch.manual_seed(seed)
    cfg = {**KINDS[kind], **SETTINGS[setting], "seed": seed, "sfreq": RATE, "sensors": {"name_free": True}}
    if codebook_size:
        cfg["codebook_size"] = codebook_size
    tok = build_tokenizer(kind, cfg)
    opt = torch.optim.AdamW([p for p in tok.parameters() if p.requires_grad], lr=1e-3)
    tok.train()
    rng = np.random.default_rng(seed)
    step, restarts, res = 0, 0.0, {}
    t0 = time.time()
    bar = tqdm(total=max(steps), desc=f"{kind}/{setting}", disable=not progress, leave=False)
    while step < max(steps):
        for b in bucket_batches(train, batch_size, rng, True):
            out = tok(collate_windows([train[i] for i in b]))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            restarts += sum(float(v) for k, v in out.metrics.items() if k.endswith("restarted"))
            step += 1
            bar.update(1)
            if step in steps:
                res[step] = {**_evaluate(tok, test, np.random.default_rng(0)), "restarts": restarts, "train_s": time.time() - t0}
            if step >= max(steps):
                break
    bar.close()
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kinds", default="tf,rvq,vq")
    p.add_argument("--settings", default="old,new")
    p.add_argument("--steps", default="100,300", help="checkpoint steps (the run lasts the largest)")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16, help="crops per training batch")
    p.add_argument("--codebook-size", type=int, default=None, help="override K (default 256)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    import torch

    from neurosig.evaluation.benchmark import load_bench_set

    torch.set_num_threads(1)
    sets = [load_bench_set(n) for n in args.sets.split(",")]
    steps = sorted(int(s) for s in args.steps.split(","))
    results = {}
    for kind in args.kinds.split(","):
        P = KINDS[kind]["patch_len"]
        train, test = _items(sets, "train", P), _items(sets, "test", P)
        for setting in args.settings.split(","):
            r = run_one(kind, setting, steps, train, test, args.seed, progress=True, batch_size=args.batch_size, codebook_size=args.codebook_size)
            results.setdefault(kind, {})[setting] = r
            for st, v in r.items():
                print(f"{kind:4s} {setting:5s} step {st:5d}: codes {v['codes']:6.1f}  perplexity {v['perplexity']:7.2f}  "
                      f"nmse {v['nmse']:.3f}  spec_nmse {v.get('spec_nmse', float('nan')):.3f}  restarts {v['restarts']:7.0f}  ({v['train_s']:.0f} s)", flush=True)
        if "old" in results[kind] and "new" in results[kind]:
            results[kind]["ratio_new_over_old"] = {
                st: {m: results[kind]["new"][st][m] / max(results[kind]["old"][st][m], 1e-12) for m in ("codes", "perplexity", "nmse", "spec_nmse") if m in results[kind]["new"][st]}
                for st in steps
            }
    meta = {"batch_size": args.batch_size, "codebook_size": args.codebook_size or 256, "sets": args.sets.split(","), "train_crops": len(train), "test_crops": len(test), "seed": args.seed, "steps": steps,
            "settings": {k: SETTINGS[k] for k in args.settings.split(",")}, "models": {k: KINDS[k] for k in args.kinds.split(",")}}
    if args.json:
        from pathlib import Path

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return results


if __name__ == "__main__":
    main()
