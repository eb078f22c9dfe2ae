"""``neurosig quickstart``: real EEG → shard store → tokenizer → pretraining → fine-tuning → report.

    neurosig quickstart [--out DIR] [--datasets NAMES] [--json PATH] [--jobs N]

Default: fetch the bundled SelfRegulationSCP1, FingerMovements and EyesOpenShut sets
(``neurosig data fetch``), preprocess them through :func:`neurosig.datasets.build_store` with
the default pipeline (200 Hz, µV; each epoch becomes one window), and write ``report.md``,
``summary.json`` and PNG figures (PSD per set, raw traces) into ``--out``. Then (unless
``--no-train``) it fits the RVQ tokenizer (``configs/tokenizer/rvq.debug.yaml``) and masked-token
pretraining (``configs/pretrain/quickstart.yaml``) on the training splits only, reports the
final model's masked-token cross-entropy per code level on held-out validation windows against
the unigram-code baseline, and fine-tunes linear probes (``configs/finetune/linear_probe.yaml``)
of the pretrained model and of the same model at its initial weights on one set's standard
split (``finetune/report.md``, ``finetune_init/report.md``), next to a logistic regression on the
same frozen features. See docs/quickstart.md.

Extending it: a step is a function ``step(ctx: QuickstartContext) -> None`` that reads what
earlier steps left on ``ctx`` (``ctx.store_path``, ``ctx.summary`` …), adds its results to
``ctx.summary[<step name>]`` and Markdown to ``ctx.sections``, and its files to ``ctx.files``.
Add it with :func:`add_step` (``before="report"`` keeps the report last)::

    from neurosig.cli.quickstart import add_step
    add_step("tokenize", my_tokenize_step, before="report")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# ---------------------------------------------------------------------------------- context


@dataclass
class QuickstartConfig:
    """What the quickstart runs on."""

    # Output folder: store/, report.md, summary.json and figures/ go here.
    out: Path = Path("neurosig-quickstart")
    # Bundled sets to use; the three small real EEG sets with standard positions by default.
    datasets: tuple[str, ...] = ("SelfRegulationSCP1", "FingerMovements", "EyesOpenShut")
    # Worker processes for preprocessing; 1 keeps it light on a 2-core machine.
    jobs: int = 1
    # Extra JSON copy of summary.json (the CLI's --json PATH); None = only out/summary.json.
    json_path: Path | None = None
    # Windows per set used for the PSD figure (the spectra settle long before that).
    max_psd_windows: int = 400
    # Train too (tokenizer → pretraining → fine-tuning); False stops after the data report.
    train: bool = True
    # Tokenizer optimiser steps (configs/tokenizer/rvq.debug.yaml); ~1 min on 2 cores.
    tokenizer_steps: int = 150
    # Masked-token pretraining steps (configs/pretrain/quickstart.yaml, tiny preset): ~30 s on 2 idle
    # cores (~3 min when they are shared with other jobs); 14 % under the unigram baseline at 600.
    pretrain_steps: int = 600
    # Fine-tuning epochs of the linear probe (configs/finetune/linear_probe.yaml).
    finetune_epochs: int = 30
    # The bundled set fine-tuned on (default: the first of ``datasets``).
    finetune_dataset: str | None = None
    # Fine-tuning seeds per backbone (mean ± sd when > 1): 3 shows the seed spread (about ±0.03 on
    # SCP1) for ~10 s on idle cores (the frozen backbone re-encodes every epoch, ~1 min on busy ones).
    finetune_seeds: int = 3

    def __post_init__(self) -> None:
        from neurosig._utils.errors import NeurosigError

        self.out = Path(self.out)
        if isinstance(self.datasets, str):
            self.datasets = tuple(d.strip() for d in self.datasets.split(",") if d.strip())
        self.datasets = tuple(self.datasets)
        if not self.datasets:
            raise NeurosigError("datasets is empty; name at least one bundled set (see: neurosig data list).")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise NeurosigError(f"jobs must be an integer >= 1, got {self.jobs!r}.")
        for name in ("tokenizer_steps", "pretrain_steps", "finetune_epochs", "finetune_seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise NeurosigError(f"{name} must be an integer >= 1, got {v!r}.")
        if self.finetune_dataset is not None and self.finetune_dataset not in self.datasets:
            raise NeurosigError(f"finetune_dataset={self.finetune_dataset!r} is not among datasets ({', '.join(self.datasets)}); pick one of them.")
        if not isinstance(self.max_psd_windows, int) or self.max_psd_windows < 1:
            raise NeurosigError(f"max_psd_windows must be an integer >= 1, got {self.max_psd_windows!r}.")


@dataclass
class QuickstartContext:
    """State passed from step to step."""

    config: QuickstartConfig
    store_path: Path | None = None
    store: Any = None  # the opened ShardStore (opened once, by the first step that needs it)
    tokenizer: Any = None  # the fitted tokenizer (step "tokenize")
    specs: list = field(default_factory=list)  # FileSpecs of the fetched sets
    summary: dict[str, Any] = field(default_factory=dict)  # JSON-able, written to summary.json
    sections: list[str] = field(default_factory=list)  # Markdown blocks of report.md
    files: list[Path] = field(default_factory=list)  # files written (figures, reports)
    timings: dict[str, float] = field(default_factory=dict)  # step name → seconds


Step = Callable[[QuickstartContext], None]

# ---------------------------------------------------------------------------------- steps


def step_fetch(ctx: QuickstartContext) -> None:
    """Download/convert the bundled sets (cached) and collect their FileSpecs."""
    from tqdm import tqdm

    from neurosig._utils.errors import NeurosigError
    from neurosig.datasets.bundled import dataset_files, fetch, get_info

    infos = [get_info(n) for n in ctx.config.datasets]
    bad = [i.name for i in infos if i.kind != "epochs"]
    if bad:
        raise NeurosigError(f"--datasets: {', '.join(bad)} are not epoched M/EEG sets; choose from: neurosig data list (modality eeg/meg).")
    ctx.specs = []
    for info in tqdm(infos, desc="fetch", unit="set", leave=False):
        fetch(info.name)
        ctx.specs.extend(dataset_files(info.name))
    ctx.summary["fetch"] = {"datasets": [i.name for i in infos], "n_files": len(ctx.specs)}


def step_preprocess(ctx: QuickstartContext) -> None:
    """build_store with the default pipeline (200 Hz, model units); one window per epoch."""
    from neurosig._utils.errors import NeurosigError
    from neurosig.datasets import build_store

    ctx.store_path = ctx.config.out / "store"
    ctx.store = None
    report = build_store(ctx.specs, ctx.store_path, jobs=ctx.config.jobs, on_error="raise")
    if report.n_failed:
        raise NeurosigError(f"preprocessing failed for {report.n_failed} file(s); see {ctx.store_path / 'errors.csv'}.")
    ctx.summary["preprocess"] = {
        "store": str(ctx.store_path), "n_files": report.n_files, "n_processed": report.n_processed,
        "n_cached": report.n_cached, "n_windows": report.n_windows, "seconds": round(report.seconds, 3),
    }


def _open_store(ctx: QuickstartContext):
    """The store written by ``preprocess`` (opened once and kept on the context)."""
    from neurosig.datasets import ShardStore

    if ctx.store is None or Path(ctx.store.root) != Path(ctx.store_path):
        ctx.store = ShardStore(ctx.store_path)
    return ctx.store


def _as_list(v) -> list[str]:
    """A manifest list cell (comma-separated string, or a list) as a list of strings."""
    if isinstance(v, str):
        return [t for t in v.split(",") if t]
    return [str(t) for t in v]


def step_summarize(ctx: QuickstartContext) -> None:
    """Per-set figures from the store manifest: windows, channels, rate, classes, subjects."""
    store = _open_store(ctx)
    m = store.manifest
    sets: dict[str, Any] = {}
    for name in ctx.config.datasets:
        rows = m[m["dataset"] == name]
        if rows.empty:
            continue
        first = rows.iloc[0]
        ch_names, ch_types = _as_list(first["ch_names"]), _as_list(first["ch_types"])
        counts = {str(k): int(v) for k, v in rows["label_name"].value_counts().sort_index().items()}
        splits = {str(k) or "(none)": int(v) for k, v in rows["split"].value_counts().sort_index().items()}
        sets[name] = {
            "n_windows": int(len(rows)),
            "n_channels": int(first["n_channels"]),
            "ch_names": ch_names,
            "ch_types": sorted(set(ch_types)),
            "sfreq": float(first["sfreq"]),
            "n_times": int(first["n_times"]),
            "window_s": float(first["n_times"]) / float(first["sfreq"]),
            "duration_s": float((rows["n_times"].astype(float) / rows["sfreq"].astype(float)).sum()),
            "class_counts": counts,
            "split_counts": splits,
            "subjects": sorted(map(str, rows["subject"].unique())),
            "has_positions": bool(rows["has_positions"].astype(bool).all()),
            "store": str(ctx.store_path),
        }
    ctx.summary["datasets"] = sets
    lines = ["## Data", "", "| set | windows | channels | sfreq (Hz) | window (s) | classes | splits | subjects | positions |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in sets.items():
        classes = ", ".join(f"{k}: {v}" for k, v in s["class_counts"].items())
        splits = ", ".join(f"{k}: {v}" for k, v in s["split_counts"].items())
        lines.append(f"| {name} | {s['n_windows']} | {s['n_channels']} | {s['sfreq']:g} | {s['window_s']:g} | "
                     f"{classes} | {splits} | {', '.join(s['subjects'])} | {'yes' if s['has_positions'] else 'no'} |")
    lines += ["", f"Store: `{ctx.store_path}` ({len(store)} windows in all; open it with "
              "`neurosig.datasets.ShardStore(path)`).", ""]
    ctx.sections.append("\n".join(lines))


def step_plots(ctx: QuickstartContext) -> None:
    """PSD per set and one raw-trace window per set, from the preprocessed store."""
    import numpy as np

    from neurosig._utils.channels import MODEL_UNITS
    from neurosig.evaluation.plots_signal import plot_psd, plot_traces

    store = _open_store(ctx)
    m = store.manifest
    psd_panels, trace_panels = [], []
    for name, s in ctx.summary.get("datasets", {}).items():
        idx = np.flatnonzero((m["dataset"] == name).to_numpy())
        step = max(1, len(idx) // ctx.config.max_psd_windows)
        pick = idx[::step][: ctx.config.max_psd_windows]
        x = np.stack([store[int(i)]["x"] for i in pick])  # (N, C, T) model units
        unit = "/".join(sorted({MODEL_UNITS.get(t, ("a.u.", 1.0))[0] for t in s["ch_types"]})) or "a.u."
        psd_panels.append((name, x, s["sfreq"], s["ch_names"], unit))
        trace_panels.append((name, x[0], s["sfreq"], s["ch_names"], unit))
    figs = ctx.config.out / "figures"
    psd = plot_psd(psd_panels, figs / "psd.png")
    traces = plot_traces(trace_panels, figs / "raw_traces.png")
    ctx.files += [psd, traces]
    ctx.summary["plots"] = {"psd": str(psd), "raw_traces": str(traces)}
    ctx.sections.append(
        "## Signals\n\nPower spectra after preprocessing (Welch, mean over windows; thin lines = channels, "
        "black = median):\n\n![PSD](figures/psd.png)\n\nOne preprocessed window per set:\n\n"
        "![raw traces](figures/raw_traces.png)\n"
    )


def step_tokenize(ctx: QuickstartContext) -> None:
    """Fit the RVQ tokenizer (debug recipe) on the training splits; judge it on the test splits."""
    from neurosig.training.tokenizer import fit_tokenizer, held_out_rows, load_fit_config, reconstruction_report, store_batches

    out = ctx.config.out / "tokenizer"
    fit = load_fit_config("tokenizer/rvq.debug.yaml")
    # StoreDataModule leaves every `test` row out: the tokenizer never sees a test split
    ctx.tokenizer = fit_tokenizer(fit.kind, fit.tokenizer, data=ctx.store_path, out_dir=out, optim=fit.optim,
                                  data_spec=fit.data, trainer=fit.trainer, max_steps=ctx.config.tokenizer_steps)
    store = _open_store(ctx)
    rows, which = held_out_rows(store)
    rep = reconstruction_report(ctx.tokenizer, store_batches(store, rows), figures=out / "figures")
    keep = ("pcc", "nmse", "spec_pcc", "codebook_usage", "perplexity", "dead_codes", "n_windows")
    ctx.summary["tokenize"] = {"held_out": which, "model_dir": str(out), **{k: rep[k] for k in keep if k in rep},
                               "baseline_nmse": rep.get("baseline/nmse")}
    t = ctx.summary["tokenize"]
    figs = sorted((out / "figures").glob("*.png"))
    ctx.files += figs
    ctx.sections.append(
        "## Tokenizer (RVQ, debug recipe)\n\n"
        f"Fitted for {ctx.config.tokenizer_steps} steps on the training splits; reconstruction on the {which} windows "
        f"({t.get('n_windows')}): Pearson r {t.get('pcc', float('nan')):.3f}, normalised MSE {t.get('nmse', float('nan')):.3f} "
        f"(per-channel-mean baseline {t.get('baseline_nmse') or float('nan'):.3f}), codebook usage {t.get('codebook_usage', float('nan')):.2f}.\n\n"
        + "".join(f"![{f.stem}](tokenizer/figures/{f.name})\n" for f in figs)
    )


def _val_interval(steps: int) -> int:
    """Validate about 5 times and always at the last step (a divisor of ``steps``)."""
    k = next(k for k in (5, 4, 3, 2, 1) if steps % k == 0)
    return steps // k


def _loss_curve(log_dir: Path) -> dict[str, list]:
    """Train/val masked-token CE per step from the pretraining CSV log (empty when absent)."""
    import csv

    curve: dict[str, list] = {"train_step": [], "train": [], "val_step": [], "val": []}
    files = sorted(log_dir.glob("logs/version_*/metrics.csv"))
    if not files:
        return curve
    with open(files[-1], newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(row["step"]) + 1  # Lightning logs the 0-based step of the batch just done
            for key, col in (("train", "train/mlm/ce"), ("val", "val/mlm/ce")):
                if row.get(col):
                    curve[f"{key}_step"].append(step)
                    curve[key].append(float(row[col]))
    return curve


def _plot_loss_curve(curve: dict[str, list], unigram: float | None, path: Path) -> Path | None:
    """Masked-token CE against steps with the unigram baseline as a line."""
    if not curve["train"] and not curve["val"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve["train_step"], curve["train"], color="0.6", lw=1, label="train (one batch)")
    ax.plot(curve["val_step"], curve["val"], "o-", color="C0", label="validation (mean over batches)")
    if unigram is not None:
        ax.axhline(unigram, color="C3", ls="--", label=f"unigram baseline ({unigram:.2f})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("masked-token CE (nats)")
    ax.legend(frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _per_level_ce(model_dir: Path, store_path: Path, cfg) -> dict[str, list[float] | int]:
    """Masked-token CE per code level on the validation windows of the pretraining run,
    token-weighted, with both complementary masks (every real token is a target once, as every
    token counts once in the unigram baseline); masks drawn from fixed seeds."""
    import torch
    import torch.nn.functional as F

    from neurosig.models.foundation import FoundationModel, tokenize_batch
    from neurosig.models.objectives import block_time_mask
    from neurosig.training.data import StoreDataModule

    model, tok = FoundationModel.load(model_dir)
    model.eval()
    d = cfg.data
    dm = StoreDataModule(store_path, d.batch_size, exclude_splits=tuple(d.exclude_splits), datasets=d.datasets,
                         val_fraction=d.val_fraction, seed=cfg.trainer.seed, num_workers=0)
    dm.setup("fit")
    n_levels = len(tok.codebook_sizes)
    total, n = torch.zeros(n_levels, dtype=torch.float64), 0
    if len(dm.indices.get("val", [])) == 0:
        return {"ce": [], "n_tokens": 0}
    need_emb = model.config.backbone.input == "embedding"
    with torch.no_grad():
        for i, batch in enumerate(dm.val_dataloader()):
            codes, tokens = tokenize_batch(batch, tok, need_emb)  # (B, C, N, L)
            real = batch["ch_mask"].to(torch.bool)[:, :, None].expand(codes.shape[:3])  # (B, C, N)
            m = block_time_mask(real, model.config.mask_ratio, model.config.mask_block, torch.Generator().manual_seed(i))
            for mm in (m, real & ~m):
                if not mm.any():
                    continue
                h = model.backbone(tokens if need_emb else codes, batch.get("pos"), batch.get("ch_type"), batch["ch_mask"], mask=mm)
                logits = model.heads["masked"](h)  # L × (B, C, N, K_l)
                for lvl in range(n_levels):
                    total[lvl] += F.cross_entropy(logits[lvl][mm].float(), codes[..., lvl][mm], reduction="sum").double()
                n += int(mm.sum())
    return {"ce": (total / max(n, 1)).tolist(), "n_tokens": n}


def step_pretrain(ctx: QuickstartContext) -> None:
    """Masked-token pretraining (configs/pretrain/quickstart.yaml) on the pooled training splits."""
    import dataclasses

    from neurosig.training.pretrain import build_model, fit_pretrain, load_pretrain_config

    out = ctx.config.out / "pretrain"
    steps = ctx.config.pretrain_steps
    cfg = load_pretrain_config("pretrain/quickstart.yaml")
    # the lr schedule spans exactly this run, and validation falls on its last step
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, max_steps=steps, warmup_steps=min(cfg.optim.warmup_steps, max(steps // 5, 1))),
                              trainer=dataclasses.replace(cfg.trainer, val_every_n_steps=_val_interval(steps)))
    s = fit_pretrain(cfg, ctx.store_path, out, tokenizer=ctx.tokenizer, max_steps=steps, enable_progress_bar=False)
    # the same architecture at its initial weights (same seed, before any step): the probe baseline
    init = build_model(cfg.model, ctx.tokenizer, seed=cfg.trainer.seed)
    # its record is the pretrained model's: the backbone saw nothing, but the shared tokenizer was fitted on those rows
    from neurosig.models.foundation import read_pretrain_subjects

    seen = read_pretrain_subjects(out / "model")
    init.save_pretrained(out / "init_model", tokenizer=ctx.tokenizer, extra={"note": "initial weights of the quickstart model (no pretraining)"},
                         pretrain_subjects=None if seen is None else {**seen, "note": "backbone at its initial weights; the tokenizer "
                                                                      "(shared with ../model) was fitted on these subjects' training rows"})
    curve = _loss_curve(out)
    uni = s.get("unigram/mean")
    fig = _plot_loss_curve(curve, uni, out / "figures" / "loss.png")
    levels = _per_level_ce(out / "model", ctx.store_path, cfg)
    uni_levels = [s[k] for k in sorted((k for k in s if k.startswith("unigram/level")), key=lambda k: int(k[len("unigram/level"):]))]
    val = sum(levels["ce"]) / len(levels["ce"]) if levels["ce"] else s.get("val/loss")
    ctx.summary["pretrain"] = {
        "model_dir": str(out / "model"), "init_model_dir": str(out / "init_model"), "steps": s.get("steps"),
        "preset": cfg.model.preset, "lr": cfg.optim.lr, "batch_size": cfg.data.batch_size,
        "loss": val, "loss_per_level": levels["ce"], "val_tokens": levels["n_tokens"],
        "unigram_baseline": uni, "unigram_per_level": uni_levels, "uniform": s.get("unigram/uniform"),
        "val_loss_logged": s.get("val/loss"), "train_loss_last": s.get("train/loss"),
        "n_parameters": s.get("n_parameters"), "curve": curve,
    }
    if fig is not None:
        ctx.files.append(fig)
    rel = ""
    if val is not None and uni:
        rel = f" ({100 * abs(uni - val) / uni:.1f} % {'below' if val < uni else 'above'} it)"
    lines = [
        "## Pretraining (masked-token, quickstart recipe)", "",
        f"`{cfg.model.preset}` backbone ({(s.get('n_parameters') or 0) / 1e6:.2f} M parameters), {s.get('steps')} steps of batch "
        f"{cfg.data.batch_size} at peak lr {cfg.optim.lr:g} on the pooled training splits (test splits excluded). "
        f"Masked-token cross-entropy of the final model on the {levels['n_tokens']} tokens of the held-out validation windows "
        f"(mean over the tokenizer's {len(levels['ce'])} code levels): **{'n/a' if val is None else f'{val:.3f}'} nats**, against the "
        f"unigram-code baseline {'n/a' if uni is None else f'{uni:.3f}'} nats{rel}; uniform guessing: {s.get('unigram/uniform', float('nan')):.3f}. "
        "The unigram baseline (entropy of the training tokens' code frequencies) is the best a model that ignores the "
        "context can do; both weight every token alike. The curve below is the training log's validation loss, a mean "
        "over batches that weights every window alike (windows of 1-4 tokens count as much as 28-token ones)"
        + (f": {s['val/loss']:.3f} at the last step." if s.get("val/loss") is not None else "."), "",
    ]
    if levels["ce"] and len(uni_levels) == len(levels["ce"]):
        lines += ["| code level | " + " | ".join(str(i) for i in range(len(uni_levels))) + " |",
                  "|---|" + "---|" * len(uni_levels),
                  "| validation CE | " + " | ".join(f"{v:.2f}" for v in levels["ce"]) + " |",
                  "| unigram | " + " | ".join(f"{v:.2f}" for v in uni_levels) + " |",
                  "| below unigram | " + " | ".join(f"{100 * (u - v) / u:.0f} %" if u else "n/a" for v, u in zip(levels["ce"], uni_levels)) + " |", ""]
    if fig is not None:
        lines += ["![pretraining loss](pretrain/figures/loss.png)", ""]
    lines += [f"Model: `{out / 'model'}`.", ""]
    ctx.sections.append("\n".join(lines))


def _pooled_features(model_dir: Path, store, rows) -> "np.ndarray":
    """Mean-pooled (channels × patches) embeddings of ``rows`` from a saved FoundationModel."""
    import numpy as np
    import torch

    from neurosig.datasets.torch_data import collate_windows
    from neurosig.models.foundation import FoundationModel

    model, tok = FoundationModel.load(model_dir)
    model.eval()
    feats = []
    with torch.no_grad():
        for i in range(0, len(rows), 64):
            batch = collate_windows([store[int(j)] for j in rows[i:i + 64]])
            h, m = model.embed(batch, tok)  # (B, C, N, d), (B, C, N)
            feats.append(((h * m[..., None]).sum((1, 2)) / m.sum((1, 2))[:, None]).numpy())  # (B, d)
    return np.concatenate(feats)


def _logreg_reference(model_dir: Path, store, split: dict) -> float:
    """Balanced accuracy of a standardised logistic regression on the frozen mean-pooled features
    (fitted on train + val, scored on test): the yardstick the gradient-trained probe should reach."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import numpy as np

    y = store.manifest["label"].to_numpy()
    tr = np.concatenate([split["train"], split["val"]])
    ftr, fte = _pooled_features(model_dir, store, tr), _pooled_features(model_dir, store, split["test"])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(ftr, y[tr])
    return float(balanced_accuracy_score(y[split["test"]], clf.predict(fte)))


def step_finetune(ctx: QuickstartContext) -> None:
    """Linear probes of the pretrained model and of its initial weights on one set's standard split,
    each with a scikit-learn logistic regression on the same frozen features as the yardstick."""
    import numpy as np

    from neurosig.training.finetune import WindowTable, finetune_and_report, load_finetune_config, make_split

    name = ctx.config.finetune_dataset or ctx.config.datasets[0]
    store = _open_store(ctx)
    rows = np.flatnonzero(store.manifest["dataset"].astype(str).to_numpy() == name)
    sub = store.subset(rows)
    cfg = load_finetune_config("finetune/linear_probe.yaml")
    seeds = tuple(range(ctx.config.finetune_seeds))
    pre_dir = ctx.config.out / "pretrain"
    backbones = [("pretrained", pre_dir / "model", ctx.config.out / "finetune"),
                 ("initial weights (no pretraining)", pre_dir / "init_model", ctx.config.out / "finetune_init")]
    split = make_split(WindowTable.from_store(sub), cfg, seeds[0])  # the split of the first seed (as the report's)
    results = {}
    for label, model_dir, out in backbones:
        m = finetune_and_report(sub, cfg, model_dir=model_dir, seeds=seeds, out_dir=out, epochs=ctx.config.finetune_epochs, progress=False)
        keep = ("balanced_accuracy", "balanced_accuracy_std", "cohen_kappa", "auroc", "auroc_std")
        r = {"report": str(out / "report.md"), **{k: m[k] for k in keep if k in m}}
        r["logreg_balanced_accuracy"] = _logreg_reference(model_dir, sub, split)
        results[label] = r
        ctx.files += [out / "report.md", out / "metrics.json"]
    pre = results["pretrained"]
    ctx.summary["finetune"] = {"dataset": name, "seeds": list(seeds), "n_test": int(len(split["test"])),
                               "report": pre["report"], **{k: v for k, v in pre.items() if k != "report"},
                               "init": results["initial weights (no pretraining)"]}
    n_classes = int(np.unique(sub.manifest["label"][sub.manifest["label"] >= 0]).size)
    lines = [f"## Fine-tuning (linear probe on {name})", "",
             f"Frozen backbone, mean pooling, a linear layer on standardised features trained by `neurosig finetune` "
             f"(configs/finetune/linear_probe.yaml), {len(seeds)} seed(s); balanced accuracy on the standard test split "
             f"({len(split['test'])} windows, chance {1 / max(n_classes, 2):.2f}). The last column is a logistic regression "
             "(scikit-learn, standardised features, fitted on train + validation windows) on the same frozen mean-pooled "
             "embeddings: the yardstick for the probe, and deterministic, so it is the cleaner pretrained-vs-initial comparison"
             + (" (one probe seed varies by about ±0.03; `--finetune-seeds 3` shows the spread)." if len(seeds) == 1 else "."), "",
             "| backbone | balanced accuracy | AUROC | Cohen's kappa | logistic regression (same features) |",
             "|---|---|---|---|---|"]
    for label, r in results.items():
        ba, sd = r.get("balanced_accuracy", float("nan")), r.get("balanced_accuracy_std", 0.0)
        ba_txt = f"{ba:.3f} ± {sd:.3f}" if len(seeds) > 1 else f"{ba:.3f}"
        lines.append(f"| {label} | {ba_txt} | {r.get('auroc', float('nan')):.3f} | "
                     f"{r.get('cohen_kappa', float('nan')):.3f} | {r['logreg_balanced_accuracy']:.3f} |")
    lines += ["", "Full reports with confusion matrix, ROC and calibration: [finetune/report.md](finetune/report.md) "
              "(pretrained), [finetune_init/report.md](finetune_init/report.md) (initial weights).", ""]
    ctx.sections.append("\n".join(lines))


def step_report(ctx: QuickstartContext) -> None:
    """Write report.md and summary.json (and the --json copy)."""
    import json

    from neurosig import __version__

    out = ctx.config.out
    ctx.summary["timings_s"] = {k: round(v, 3) for k, v in ctx.timings.items()}
    ctx.summary["neurosig_version"] = __version__
    head = [f"# neurosig quickstart report", "", f"neurosig {__version__}; data sets: {', '.join(ctx.config.datasets)}.", "",
            "Steps: " + ", ".join(f"{k} ({v:.1f} s)" for k, v in ctx.timings.items()) + ".", ""]
    report = out / "report.md"
    report.write_text("\n".join(head + ctx.sections) + "\n")
    text = json.dumps(ctx.summary, indent=2, default=str)
    (out / "summary.json").write_text(text)
    ctx.files += [report, out / "summary.json"]
    if ctx.config.json_path is not None:
        Path(ctx.config.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(ctx.config.json_path).write_text(text)
        ctx.files.append(Path(ctx.config.json_path))


STEPS: list[tuple[str, Step]] = [
    ("fetch", step_fetch),
    ("preprocess", step_preprocess),
    ("summarize", step_summarize),
    ("plots", step_plots),
    ("tokenize", step_tokenize),
    ("pretrain", step_pretrain),
    ("finetune", step_finetune),
    ("report", step_report),
]
TRAIN_STEPS = ("tokenize", "pretrain", "finetune")


def add_step(name: str, func: Step, *, before: str | None = "report") -> None:
    """Insert a named step (before ``before``, or at the end when None); names are unique."""
    from neurosig._utils.errors import NeurosigError

    names = [n for n, _ in STEPS]
    if name in names:
        raise NeurosigError(f"quickstart step {name!r} exists already; pick another name.")
    if before is None:
        STEPS.append((name, func))
        return
    if before not in names:
        raise NeurosigError(f"before={before!r} is not a quickstart step; choose one of {', '.join(names)}.")
    STEPS.insert(names.index(before), (name, func))


def run_quickstart(config: QuickstartConfig, *, steps: list[tuple[str, Step]] | None = None,
                   echo: Callable[[str], None] = print) -> QuickstartContext:
    """Run the steps in order, printing progress per step; return the context."""
    steps = list(STEPS if steps is None else steps)
    if not config.train:
        steps = [(n, f) for n, f in steps if n not in TRAIN_STEPS]
    config.out.mkdir(parents=True, exist_ok=True)
    ctx = QuickstartContext(config=config)
    total = time.perf_counter()
    for i, (name, func) in enumerate(steps, 1):
        echo(f"[{i}/{len(steps)}] {name} …")
        t0 = time.perf_counter()
        try:
            func(ctx)
        except Exception as err:  # a late failure keeps what the earlier steps made: a partial report, then the error
            report = dict(steps).get("report")
            if report is None or name == "report":
                raise
            ctx.summary["failed_step"] = {"step": name, "error": f"{type(err).__name__}: {err}"}
            ctx.sections += [f"## Stopped at step `{name}`", "", f"`{type(err).__name__}: {err}`", "",
                             "The sections above come from the steps that finished.", ""]
            report(ctx)
            echo(f"[{i}/{len(steps)}] {name} failed; partial report → {config.out / 'report.md'}")
            raise
        ctx.timings[name] = time.perf_counter() - t0
        echo(f"[{i}/{len(steps)}] {name} done in {ctx.timings[name]:.1f} s")
        if name == "report":  # rewrite with the report's own time included
            ctx.summary["timings_s"] = {k: round(v, 3) for k, v in ctx.timings.items()}
    echo(f"quickstart finished in {time.perf_counter() - total:.1f} s → {config.out / 'report.md'}")
    return ctx


# ---------------------------------------------------------------------------------- CLI


def register(sub) -> None:
    p = sub.add_parser("quickstart", help="bundled real EEG → store → tokenizer → pretraining → fine-tuning, with a report")
    p.add_argument("--out", default="neurosig-quickstart", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--datasets", default=",".join(QuickstartConfig.datasets), metavar="NAMES",
                   help="comma-separated bundled sets (default: %(default)s; see: neurosig data list)")
    p.add_argument("--json", metavar="PATH", help="also write summary.json to PATH")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="preprocessing processes (default: 1)")
    p.add_argument("--no-train", action="store_true", help="stop after the data report (no tokenizer, pretraining, fine-tuning)")
    p.add_argument("--tokenizer-steps", type=int, default=QuickstartConfig.tokenizer_steps, metavar="N",
                   help="RVQ tokenizer training steps (default: %(default)s)")
    p.add_argument("--pretrain-steps", type=int, default=QuickstartConfig.pretrain_steps, metavar="N",
                   help="masked-token pretraining steps (default: %(default)s)")
    p.add_argument("--finetune-epochs", type=int, default=QuickstartConfig.finetune_epochs, metavar="N",
                   help="epochs of each linear probe (default: %(default)s)")
    p.add_argument("--finetune-dataset", default=None, metavar="NAME", help="set to fine-tune on (default: the first of --datasets)")
    p.add_argument("--finetune-seeds", type=int, default=QuickstartConfig.finetune_seeds, metavar="N",
                   help="fine-tuning seeds per backbone, reported as mean ± sd (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    config = QuickstartConfig(out=Path(args.out), datasets=args.datasets, jobs=args.jobs,
                              json_path=Path(args.json) if args.json else None, train=not args.no_train,
                              tokenizer_steps=args.tokenizer_steps, pretrain_steps=args.pretrain_steps,
                              finetune_epochs=args.finetune_epochs, finetune_dataset=args.finetune_dataset,
                              finetune_seeds=args.finetune_seeds)
    run_quickstart(config)
    return 0
