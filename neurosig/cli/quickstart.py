"""``neurosig quickstart``: real EEG → shard store → tokenizer → pretraining → fine-tuning → report.

    neurosig quickstart [--out DIR] [--datasets NAMES] [--json PATH] [--jobs N]

Default: fetch the bundled SelfRegulationSCP1, FingerMovements and EyesOpenShut sets
(``neurosig data fetch``), preprocess them through :func:`neurosig.datasets.build_store` with
the default pipeline (200 Hz, µV; each epoch becomes one window), and write ``report.md``,
``summary.json`` and PNG figures (PSD per set, raw traces) into ``--out``. Then (unless
``--no-train``) it fits the RVQ tokenizer and masked-token pretraining (the CPU ``debug``
recipes) on the training splits only, and fine-tunes a linear probe of the pretrained model on
one set's standard split (``finetune/report.md``).

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
    # Masked-token pretraining steps (configs/pretrain/masked.debug.yaml); ~2 min on 2 cores.
    pretrain_steps: int = 150
    # Fine-tuning epochs of the linear probe (configs/finetune/linear_probe.yaml).
    finetune_epochs: int = 30
    # The bundled set fine-tuned on (default: the first of ``datasets``).
    finetune_dataset: str | None = None

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
        for name in ("tokenizer_steps", "pretrain_steps", "finetune_epochs"):
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


def step_pretrain(ctx: QuickstartContext) -> None:
    """Masked-token pretraining (debug recipe) on the pooled training splits, with that tokenizer."""
    from neurosig.training.pretrain import fit_pretrain, load_pretrain_config

    out = ctx.config.out / "pretrain"
    cfg = load_pretrain_config("pretrain/masked.debug.yaml")
    s = fit_pretrain(cfg, ctx.store_path, out, tokenizer=ctx.tokenizer, max_steps=ctx.config.pretrain_steps)
    loss = s.get("val/loss", s.get("train/loss"))
    uni = s.get("unigram/mean")
    ctx.summary["pretrain"] = {"model_dir": str(out / "model"), "steps": s.get("steps"), "loss": loss, "unigram_baseline": uni,
                               "n_parameters": s.get("n_parameters")}
    ctx.sections.append(
        "## Pretraining (masked-token, debug recipe)\n\n"
        f"{s.get('steps')} steps on the pooled training splits (test splits excluded); masked-token loss "
        f"{loss if loss is None else f'{loss:.3f}'} nats against the unigram-code baseline "
        f"{uni if uni is None else f'{uni:.3f}'} nats. Model: `{out / 'model'}`.\n"
    )


def step_finetune(ctx: QuickstartContext) -> None:
    """Linear probe of the pretrained model on one set's standard train/test split, with its report."""
    import numpy as np

    from neurosig.training.finetune import finetune_and_report, load_finetune_config

    name = ctx.config.finetune_dataset or ctx.config.datasets[0]
    store = _open_store(ctx)
    rows = np.flatnonzero(store.manifest["dataset"].astype(str).to_numpy() == name)
    out = ctx.config.out / "finetune"
    cfg = load_finetune_config("finetune/linear_probe.yaml")
    m = finetune_and_report(store.subset(rows), cfg, model_dir=ctx.config.out / "pretrain" / "model", seeds=(0,),
                            out_dir=out, epochs=ctx.config.finetune_epochs, progress=False)
    keep = ("balanced_accuracy", "cohen_kappa", "weighted_f1", "auroc", "auprc")
    ctx.summary["finetune"] = {"dataset": name, "report": str(out / "report.md"), **{k: m[k] for k in keep if k in m}}
    ctx.files += [out / "report.md", out / "metrics.json"]
    f = ctx.summary["finetune"]
    ctx.sections.append(
        f"## Fine-tuning (linear probe on {name})\n\n"
        f"Standard test split: balanced accuracy {f.get('balanced_accuracy', float('nan')):.3f}, "
        f"Cohen's kappa {f.get('cohen_kappa', float('nan')):.3f}, AUROC {f.get('auroc', float('nan')):.3f}. "
        f"Full report with confusion matrix, ROC and calibration: [finetune/report.md](finetune/report.md).\n"
    )


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
        func(ctx)
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
    p.add_argument("--tokenizer-steps", type=int, default=QuickstartConfig.tokenizer_steps, metavar="N")
    p.add_argument("--pretrain-steps", type=int, default=QuickstartConfig.pretrain_steps, metavar="N")
    p.add_argument("--finetune-epochs", type=int, default=QuickstartConfig.finetune_epochs, metavar="N")
    p.add_argument("--finetune-dataset", default=None, metavar="NAME", help="set to fine-tune on (default: the first of --datasets)")
    p.set_defaults(func=run)


def run(args) -> int:
    config = QuickstartConfig(out=Path(args.out), datasets=args.datasets, jobs=args.jobs,
                              json_path=Path(args.json) if args.json else None, train=not args.no_train,
                              tokenizer_steps=args.tokenizer_steps, pretrain_steps=args.pretrain_steps,
                              finetune_epochs=args.finetune_epochs, finetune_dataset=args.finetune_dataset)
    run_quickstart(config)
    return 0
