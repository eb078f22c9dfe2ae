"""``neurosig bench real``: the whole pipeline on bundled real sets against the MiniRocket peer.

For each seed: tokenizer fit and masked-token pretraining on the pooled unlabeled data (training
splits of the evaluated sets + every split of the bundled sets not under evaluation: never a
test split of an evaluated set, checked by provenance and content hash), then fine-tuning on each
evaluated set's training split (pretrained-token features — contextual embeddings, quantized token
vectors, bag of tokenizer codes — and signal features on the tokenizer's grid — sub-patch means of
the signal and of its running integral, STFT log power, tangent-space covariance — each block into
a cross-validated logistic head, block probabilities averaged; which head is used is ONE choice for
all sets, made on validation folds carved from the training data in recording order), test on the
standard test split;
MiniRocket on the same split in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: `bench real` (bundled real EEG/MEG sets vs MiniRocket)")
    s = p.add_subparsers(dest="bench_cmd", metavar="BENCH")
    r = s.add_parser("real", help="pipeline (preprocess, tokenize, pretrain, fine-tune) vs MiniRocket on bundled sets")
    r.add_argument("--datasets", default="SelfRegulationSCP1,FingerMovements,EyesOpenShut", help="comma-separated bundled set names")
    r.add_argument("--extra", default="SelfRegulationSCP2,HandMovementDirection,Blink,KDD_Example",
                   help="bundled sets pooled (all splits) for pretraining when not evaluated ('' for none)")
    r.add_argument("--seeds", default="3", help="number of seeds (N) or a list (0,1,2)")
    r.add_argument("--json", metavar="PATH", help="write the results as JSON")
    r.add_argument("--out", default="runs/bench_real", help="folder for models and the report")
    r.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, metavar="KIND",
                   help="bench tokenizer: rvq (default, chosen on validation) or tf (time-frequency)")
    r.add_argument("--tokenizer-steps", type=int, default=300, help="tokenizer training steps")
    r.add_argument("--pretrain-steps", type=int, default=1000, help="pretraining steps")
    r.add_argument("--pretrain-per-seed", action=argparse.BooleanOptionalAction, default=True,
                   help="fit tokenizer + pretraining once per seed (default); --no-pretrain-per-seed fits them once "
                        "(seed 0): the blocked fine-tuning folds are then the same for every seed, only the peer varies")
    r.add_argument("--no-peer", action="store_true", help="skip MiniRocket (ratios are then null)")
    r.set_defaults(func=run)
    rp = s.add_parser("report", help="write report.md + ratios.png from a saved `bench real` JSON")
    rp.add_argument("json_path", metavar="JSON", help="the JSON that `neurosig bench real --json` (or --out) wrote")
    rp.add_argument("--out", default=None, help="folder for the report (default: the JSON's folder)")
    rp.set_defaults(func=run_report)
    p.set_defaults(func=lambda a: (p.print_help(), 1)[1])


# ------------------------------------------------------------------------------ pipeline pieces
# The tokenizers `bench real` can use (`--tokenizer`). EMA codebooks with the library defaults (decay 0.99
# with warm-up, relative dead-code rule; docs/tokenizers.md "Codebook health"). Session-1 runs used decay
# 0.8 / dead_threshold 1.0 as a workaround for the old collapse; validation did not prefer it once the
# defaults were fixed. The default was chosen on validation (scripts/explore_bench_real.py, docs/finetune.md):
# the time-resolved ensemble scores 0.731 with the residual-VQ tokenizer vs 0.713 with the time-frequency one
# (mean of two pretraining seeds each; session 3).
BENCH_TOKENIZERS = {
    "rvq": {"kind": "rvq", "config": {"patch_len": 50, "n_levels": 2, "codebook_size": 256, "code_dim": 32,
                                      "branch_channels": 16, "hidden": 128, "kmeans_iters": 5,
                                      "sensors": {"name_free": True}}},
    "tf": {"kind": "tf", "config": {"patch_len": 50, "n_fft": 50, "hop": 25, "bin_group": 3, "freq_dim": 32,
                                    "freq_layers": 1, "freq_heads": 4, "time_channels": 16, "code_dim": 32,
                                    "codebook_size": 256, "hidden": 128, "kmeans_iters": 5,
                                    "sensors": {"name_free": True}}},
}
DEFAULT_TOKENIZER = "rvq"


BENCH_CONFIG = {
    "model_rate_hz": 200.0,  # the tokenizer's rate: every set is resampled to it
    "tokenizer": BENCH_TOKENIZERS[DEFAULT_TOKENIZER],  # `--tokenizer` picks another (bench_config)
    "model": {"preset": "tiny", "backbone": {"d_model": 64, "n_layers": 2, "n_heads": 4}, "objectives": ["masked"]},
    "crop_patches": 4,  # pool windows are cut into crops of 4 patches (1 s) for pretraining
    "batch_size": 16,  # small batches: many cheap steps on 2 CPU cores
    "lr": 1e-3,
    "val_folds": 3,  # stratified folds carved from each training split (each 1/3 once validation) to choose the head
    # fold order for the head choice AND each block's C (evaluation.benchmark.validation_folds): "blocked" keeps
    # recording order (contiguous runs per class), because neighbouring trials of a session are correlated
    # (session 4: on EyesOpenShut shuffled folds scored 0.69 where the later-recorded test split gave 0.52)
    "fold_order": "blocked",
    # feature blocks (see neurosig.evaluation.benchmark.signal_features): slow = 0.125 s means, slow12 = 0.06 s means,
    # cum / cum12 = the same means of the running integral (drift trajectory: smooth weights over time),
    # spec = log power per bin of the tokenizer STFT (n_fft 50), rspec = spec minus its per-channel mean, ts = tangent-space channel covariance,
    # nspec = log power per bin at the set's own rate over 0.25 s windows (the recorded band exactly: native_spectrum),
    # patch = tokenizer-patch mean + band power, emb = pooled contextual embeddings, tokv = pooled
    # quantized token vectors, codes = bag of tokenizer codes per channel; emb_t / tokv_t = the same
    # pooled over TIME_SEGMENTS consecutive segments of the trial (time-resolved).
    # Each head is a list of blocks; a block concatenates its features into one CV-logistic head; the
    # heads' class probabilities are averaged. ONE head is chosen for all sets by mean validation accuracy.
    "heads": {
        "patch": [["patch"]],
        "hand": [["slow", "spec", "ts"]],
        "tokens": [["emb"], ["tokv"], ["codes"]],
        "tokens_t": [["emb_t"], ["tokv_t"], ["codes"]],
        "ensemble": [["slow"], ["slow12"], ["rspec"], ["ts"], ["tokv"], ["codes"]],
        "ensemble_t": [["slow"], ["slow12"], ["rspec"], ["ts"], ["tokv_t"], ["codes"]],
        "ensemble_c": [["cum"], ["cum12"], ["slow"], ["slow12"], ["rspec"], ["ts"], ["tokv_t"], ["codes"]],
        "ensemble_n": [["cum"], ["cum12"], ["slow"], ["slow12"], ["rspec"], ["ts"], ["tokv_t"], ["codes"], ["nspec"]],
        "ensemble_n_cv2": [["cum"], ["cum12"], ["slow"], ["slow12"], ["rspec"], ["ts"], ["tokv_t"], ["codes"], ["nspec"]],
    },
    # FeatureHead weighting per head ("mean" where not named): cv2 weights each block by the square of its
    # cross-validated balanced accuracy above chance, so a few decisive blocks are not averaged away by the
    # rest (session 8: KDD_Example's validation 0.821 → 0.921 on the signal blocks; EyesOpenShut 0.682 → 0.625)
    "head_weighting": {"ensemble_n_cv2": "cv2"},
    # ablations: scored on test for the report only, NEVER candidates of the validation choice
    "ablation_heads": {
        "ensemble-without-tokens": [["slow"], ["slow12"], ["rspec"], ["ts"]],  # hand blocks of `ensemble` alone
        "ensemble_c-without-tokens": [["cum"], ["cum12"], ["slow"], ["slow12"], ["rspec"], ["ts"]],
        "ensemble_n-without-tokens": [["cum"], ["cum12"], ["slow"], ["slow12"], ["rspec"], ["ts"], ["nspec"]],
    },
}


def bench_config(tokenizer: str = DEFAULT_TOKENIZER) -> dict:
    """A deep copy of :data:`BENCH_CONFIG` with the named tokenizer (a key of :data:`BENCH_TOKENIZERS`)."""
    import copy

    from neurosig._utils.errors import NeurosigError

    if tokenizer not in BENCH_TOKENIZERS:
        raise NeurosigError(f"--tokenizer {tokenizer!r} is not a bench tokenizer; use one of {', '.join(BENCH_TOKENIZERS)}.")
    cfg = copy.deepcopy(BENCH_CONFIG)
    cfg["tokenizer"] = copy.deepcopy(BENCH_TOKENIZERS[tokenizer])
    return cfg


def _seeds(text: str) -> list[int]:
    from neurosig._utils.errors import NeurosigError

    try:
        seeds = [int(s) for s in text.split(",") if s.strip()] if "," in text else list(range(int(text)))
    except ValueError:
        raise NeurosigError(f"--seeds {text!r} must be a count (3) or a list (0,1,2).") from None
    if not seeds:
        raise NeurosigError(f"--seeds {text!r} names no seed; give a count of at least 1 (3) or a list (0,1,2; one seed: '0,').")
    from neurosig._utils.rng import check_seeds

    return check_seeds(seeds, text)


def _demean(x):
    return x - x.mean(-1, keepdims=True)


def _pool_items(pool, rate: float, crop: int, patch_len: int):
    """Pool windows → model-rate items, cropped to ``crop`` patches (shorter windows kept whole)."""
    from neurosig.evaluation.benchmark import crop_items, to_model_rate

    items = []
    for w, sf, ct, pos in zip(pool.windows, pool.sfreq, pool.ch_types, pool.pos):
        items += crop_items(_demean(to_model_rate(w[None], sf, rate)[0]), pos, ct, rate, crop * patch_len)
    return items


def _fit_tokenizer(items, steps: int, seed: int, cfg: dict, progress: bool):
    import torch
    from tqdm import tqdm

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.evaluation.benchmark import bucket_batches
    from neurosig.tokenizers import build_tokenizer

    tcfg = {**cfg["tokenizer"]["config"], "seed": seed, "sfreq": cfg["model_rate_hz"]}
    # the tokenizer's own generators (codebooks, k-means, masks) are seeded by its config; the network
    # weights' init (and dropout, if any) draw from torch's global generator: seed it for this fit only,
    # so the same seed gives the same tokenizer (the caller's generator state is restored afterwards)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tok = build_tokenizer(cfg["tokenizer"]["kind"], tcfg)
        opt = torch.optim.AdamW([p for p in tok.parameters() if p.requires_grad], lr=cfg["lr"])
        tok.train()
        step, epoch = 0, 0
        bar = tqdm(total=steps, desc=f"tokenizer (seed {seed})", disable=not progress, leave=False)
        while step < steps:
            for b in bucket_batches(items, cfg["batch_size"], seed + 1000 * epoch, True):
                out = tok(collate_windows([items[i] for i in b]))
                loss = sum(tok.loss_weights.get(k, 1.0) * v for k, v in out.losses.items())
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=float(loss.detach()))
                if step >= steps:
                    break
            epoch += 1
        bar.close()
    tok.eval()
    return tok


def _pretrain(items, tok, steps: int, seed: int, cfg: dict, out_dir: Path, progress: bool):
    import lightning as L
    from torch.utils.data import DataLoader

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.evaluation.benchmark import bucket_batches
    from neurosig.training.pretrain import DataSpec, ModelSpec, OptimSpec, PretrainConfig, TrainerSpec, fit_pretrain

    n_val = max(1, len(items) // 20)
    import numpy as np

    perm = np.random.default_rng(seed).permutation(len(items))
    val_items, train_items = [items[i] for i in perm[:n_val]], [items[i] for i in perm[n_val:]]

    class DM(L.LightningDataModule):
        def train_dataloader(self):
            return DataLoader(train_items, batch_sampler=bucket_batches(train_items, cfg["batch_size"], seed, True), collate_fn=collate_windows)

        def val_dataloader(self):
            return DataLoader(val_items, batch_sampler=bucket_batches(val_items, cfg["batch_size"], seed, False), collate_fn=collate_windows)

    m = cfg["model"]
    pc = PretrainConfig(model=ModelSpec(preset=m["preset"], backbone=dict(m["backbone"]), objectives=list(m["objectives"])),
                        data=DataSpec(batch_size=cfg["batch_size"]),
                        optim=OptimSpec(lr=cfg["lr"], max_steps=steps, warmup_steps=min(50, steps // 5)),
                        trainer=TrainerSpec(seed=seed, loggers=[], val_every_n_steps=0, unigram_batches=0))
    fit_pretrain(pc, DM(), out_dir, tokenizer=tok, max_steps=steps, enable_progress_bar=progress,
                 trainer_overrides={"max_epochs": -1})
    from neurosig.models.foundation import FoundationModel

    model, tok2 = FoundationModel.load(out_dir / "model")
    return model.eval(), tok2.eval()


TIME_SEGMENTS = 4  # segments of the trial for the time-resolved token blocks (emb_t, tokv_t)


def _embed(model, tok, s, x, rate: float, batch_size: int = 64) -> dict:
    """Pretrained-token features per trial (channels kept apart, concatenated):

    ``emb`` (n, C * d) time-mean of the backbone's contextual embeddings; ``tokv`` (n, C * D)
    time-mean of the tokenizer's quantized token vectors; ``codes`` (n, C * K) bag of tokenizer codes.
    """
    import numpy as np
    import torch

    from neurosig.evaluation.benchmark import code_histogram, segment_means, to_model_rate

    xr = _demean(to_model_rate(x, s.sfreq, rate))
    emb, tokv, codes = [], [], []
    with torch.no_grad():
        for k in range(0, len(xr), batch_size):
            xb = torch.from_numpy(xr[k:k + batch_size])
            B, C, _ = xb.shape
            batch = {"x": xb, "pos": torch.from_numpy(np.broadcast_to(s.pos, (B, C, 3)).copy()),
                     "ch_type": torch.from_numpy(np.broadcast_to(s.ch_types, (B, C)).copy()).long(),
                     "ch_mask": torch.ones(B, C, dtype=torch.bool), "sfreq": torch.full((B,), rate)}
            h, _ = model.embed(batch, tok)  # (B, C, N, d)
            emb.append(h.numpy())
            kw = dict(pos=batch["pos"], ch_type=batch["ch_type"], ch_mask=batch["ch_mask"], sfreq=batch["sfreq"])
            tokv.append(tok.embed(xb, **kw).numpy())  # (B, C, N, D)
            codes.append(tok.encode(xb, **kw).numpy())  # (B, C, N, L)
    ks = list(getattr(tok, "codebook_sizes", None) or [int(np.concatenate(codes).max()) + 1])
    h, q = np.concatenate(emb), np.concatenate(tokv)  # (n, C, N, d), (n, C, N, D)
    n = len(h)
    return {"emb": h.mean(2).reshape(n, -1), "tokv": q.mean(2).reshape(n, -1),
            "codes": code_histogram(np.concatenate(codes), ks),
            # time-resolved: the trajectory over the trial in TIME_SEGMENTS segments (the signal blocks that
            # work — slow potentials — are time-resolved; the time means above discard that)
            "emb_t": segment_means(h, TIME_SEGMENTS).reshape(n, -1), "tokv_t": segment_means(q, TIME_SEGMENTS).reshape(n, -1)}


def run(args) -> int:
    import numpy as np
    import torch
    from sklearn.metrics import balanced_accuracy_score

    from neurosig._utils.errors import NeurosigError
    from neurosig._utils.logging import get_logger
    from neurosig.datasets import bundled
    from neurosig.evaluation.benchmark import (
        FeatureHead,
        bootstrap_mean_ratio,
        head_weighting,
        load_bench_set,
        peer_predictions,
        pretraining_pool,
        signal_features,
        validation_accuracies,
    )
    from neurosig.evaluation.reports import every_head_on_test, write_bench_report, write_json

    log = get_logger("bench")
    t0 = time.time()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    if not names:
        raise NeurosigError("--datasets is empty; name at least one bundled set (neurosig data list).")
    extra_names = [n.strip() for n in (args.extra or "").split(",") if n.strip() and n.strip() not in names]
    seeds = _seeds(str(args.seeds))
    cfg = bench_config(args.tokenizer)
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    for n in names + extra_names:
        if not bundled.is_fetched(n):
            log.info("fetching %s", n)
            bundled.fetch(n)
    sets = [load_bench_set(n) for n in names]
    extra = [load_bench_set(n) for n in extra_names]
    pool = pretraining_pool(sets, extra)  # raises on any test-split leak
    items = _pool_items(pool, rate, cfg["crop_patches"], P)
    log.info("pretraining pool: %d windows (%d crops) from %s", len(pool.windows), len(items),
             ", ".join(sorted({f'{d}/{s}' for d, s in pool.source})))

    heads = cfg["heads"]
    results = {s.name: {"ours": [], "peer": [], "pred": [], "peer_pred": [], "val": {k: [] for k in heads}, "test_all_heads": {k: [] for k in {**heads, **cfg["ablation_heads"]}}} for s in sets}
    chosen = []
    pretrained, feats = None, None
    for seed in seeds:
        if pretrained is None or args.pretrain_per_seed:
            t1 = time.time()
            tok = _fit_tokenizer(items, args.tokenizer_steps, seed, cfg, progress=True)
            log.info("seed %d: tokenizer fitted (%.0f s)", seed, time.time() - t1)
            t1 = time.time()
            pretrained = _pretrain(items, tok, args.pretrain_steps, seed, cfg, out / f"seed{seed}", progress=True)
            log.info("seed %d: pretrained (%.0f s)", seed, time.time() - t1)
        model, tok = pretrained
        t1 = time.time()
        if feats is None or args.pretrain_per_seed:  # features depend only on the pretrained model
            feats = {}
            for s in sets:
                f = {}
                for split, x in (("train", s.x_train), ("test", s.x_test)):
                    f[split] = {**_embed(model, tok, s, x, rate), **signal_features(x, s.sfreq, rate, P)}
                feats[s.name] = f
        log.info("seed %d: features (%.0f s)", seed, time.time() - t1)
        t1 = time.time()
        # ONE head for all sets: best mean validation balanced accuracy (folds carved from training)
        from tqdm.auto import tqdm

        per_set = {s.name: validation_accuracies(feats[s.name]["train"], s.y_train, heads, cfg["val_folds"], seed,
                                                 cfg["head_weighting"], order=cfg["fold_order"])
                   for s in tqdm(sets, desc=f"head choice (seed {seed})", unit="set", leave=False)}
        val_scores = {}
        for kind in heads:
            for s in sets:
                results[s.name]["val"][kind].append(per_set[s.name][kind])
            val_scores[kind] = float(np.mean([per_set[s.name][kind] for s in sets]))
        names_h = list(heads)
        kind = max(names_h, key=lambda k: (val_scores[k], -names_h.index(k)))
        chosen.append(kind)
        log.info("seed %d: validation %s → head %r", seed, {k: round(v, 3) for k, v in val_scores.items()}, kind)
        log.info("seed %d: head choice (%.0f s)", seed, time.time() - t1)
        for s in sets:
            t1 = time.time()
            f, cache = feats[s.name], {}
            for k2, blocks in {**heads, **cfg["ablation_heads"]}.items():  # every head's test figure, for the disclosed ablation (never used to choose)
                h2 = FeatureHead(blocks, seed, head_weighting(cfg["head_weighting"], k2),
                                 order=cfg["fold_order"]).fit(f["train"], s.y_train, cache=cache)
                pred = h2.predict(f["test"])
                results[s.name]["test_all_heads"][k2].append(float(balanced_accuracy_score(s.y_test, pred)))
                if k2 == kind:
                    results[s.name]["pred"].append(pred)
            acc = results[s.name]["test_all_heads"][kind][-1]
            results[s.name]["ours"].append(float(acc))
            if not args.no_peer:
                results[s.name]["peer_pred"].append(peer_predictions(s, seed))
                results[s.name]["peer"].append(float(balanced_accuracy_score(s.y_test, results[s.name]["peer_pred"][-1])))
            log.info("seed %d %s: ours %.3f peer %s (%.0f s)", seed, s.name, acc,
                     f"{results[s.name]['peer'][-1]:.3f}" if results[s.name]["peer"] else "-", time.time() - t1)

    def _ms(v):
        if not v:
            return None, None
        return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0

    doc = {"datasets": {}}
    ratios = []
    for s in sets:
        r = results[s.name]
        m, sd = _ms(r["ours"])
        pm, psd = _ms(r["peer"])
        ratio = m / pm if pm else None
        if ratio is not None:
            ratios.append(ratio)
        doc["datasets"][s.name] = {"balanced_accuracy": m, "balanced_accuracy_std": sd, "peer_balanced_accuracy": pm,
                                   "peer_balanced_accuracy_std": psd, "ratio": ratio,
                                   "n_train": int(len(s.y_train)), "n_test": int(len(s.y_test))}
    doc["mean_ratio"] = float(np.mean(ratios)) if ratios else None
    # how sure: paired bootstrap over test trials (seeds averaged inside each draw); None without the peer
    doc["test_bootstrap"] = (bootstrap_mean_ratio([s.y_test for s in sets], [np.stack(results[s.name]["pred"]) for s in sets],
                                                  [np.stack(results[s.name]["peer_pred"]) for s in sets], n_boot=2000, seed=0)
                             if ratios else None)
    doc["config"] = {**cfg, "seeds": seeds, "tokenizer_steps": args.tokenizer_steps, "pretrain_per_seed": bool(args.pretrain_per_seed), "pretrain_steps": args.pretrain_steps,
                     "pretraining_pool": sorted({f"{d}/{sp}" for d, sp in pool.source}), "n_pool_windows": len(pool.windows),
                     "train_trials_equal_to_test": dict(pool.dropped),
                     "chosen_head": chosen, "peer": "aeon MiniRocketClassifier (raw trials, original rate)",
                     "validation": {n: results[n]["val"] for n in results},
                     "test_all_heads": {n: results[n]["test_all_heads"] for n in results}}
    doc["seconds"] = float(time.time() - t0)
    print(f"{'dataset':<22} {'ours':>14} {'MiniRocket':>14} {'ratio':>7}")
    for n, d in doc["datasets"].items():
        peer = f"{d['peer_balanced_accuracy']:.3f}±{d['peer_balanced_accuracy_std']:.3f}" if d["peer_balanced_accuracy"] is not None else "-"
        print(f"{n:<22} {d['balanced_accuracy']:.3f}±{d['balanced_accuracy_std']:.3f} {peer:>14} "
              f"{d['ratio'] if d['ratio'] is None else round(d['ratio'], 3)!s:>7}")
    print(f"mean ratio {doc['mean_ratio']}  ({doc['seconds']:.0f} s); chosen head per seed: {chosen}")
    if doc["test_bootstrap"]:
        b = doc["test_bootstrap"]
        print(f"  95% interval over test trials (paired bootstrap, {b['n_boot']} draws): "
              f"[{b['ci'][0]:.3f}, {b['ci'][1]:.3f}]; share of draws above 1: {b['p_above_1']:.2f}")
    print("every head on test (disclosure/ablation, not used for the choice):")
    for k, (accs, mr) in every_head_on_test(doc).items():
        print(f"  {k:<24} " + " ".join(f"{a:.3f}" for a in accs) + (f"  mean ratio {mr:.3f}" if mr is not None else ""))
    if args.json:
        write_json(args.json, doc)
    write_json(out / "bench_real.json", doc)
    print(f"report: {write_bench_report(doc, out)}")
    return 0


def run_report(args) -> int:
    """``neurosig bench report JSON``: the Markdown report (+ forest plot) of a saved ``bench real`` result."""
    import json

    from neurosig._utils.errors import NeurosigError
    from neurosig.evaluation.reports import write_bench_report

    path = Path(args.json_path)
    if path.is_dir() and (path / "bench_real.json").is_file():  # the --out folder of `bench real`
        path = path / "bench_real.json"
    elif path.is_dir():
        raise NeurosigError(f"{path} is a folder without bench_real.json; pass the JSON that `neurosig bench real --json PATH` wrote, or its --out folder.")
    if not path.is_file():
        raise NeurosigError(f"{path}: no such file; pass the JSON that `neurosig bench real --json PATH` wrote.")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NeurosigError(f"{path}: not valid JSON ({e.__class__.__name__}: {e}); pass the file `neurosig bench real` wrote.") from None
    print(f"report: {write_bench_report(doc, args.out or path.parent, source=str(path))}")
    return 0
