"""Reports: flat JSON + Markdown with confusion matrix, ROC curve and calibration plot PNGs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig.evaluation.metrics import METRIC_KEYS, confusion_matrix


def write_json(path: str | os.PathLike, data: Mapping) -> Path:
    """Write ``data`` as JSON (NaN → null), atomically."""
    def clean(v):
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            return None
        if isinstance(v, (np.floating, np.integer)):
            return clean(v.item())
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(clean(dict(data)), indent=2))
    tmp.replace(p)
    return p


def _roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    y = y[order]
    tps = np.concatenate([[0], np.cumsum(y)])
    fps = np.concatenate([[0], np.cumsum(1 - y)])
    return fps / max(fps[-1], 1), tps / max(tps[-1], 1)


def plot_confusion(cm: np.ndarray, class_names: Sequence[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3 + 0.4 * len(cm), 3 + 0.4 * len(cm)))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_roc(y_true: np.ndarray, prob: np.ndarray, class_names: Sequence[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ks = [1] if prob.shape[1] == 2 else range(prob.shape[1])
    for k in ks:
        yk = (y_true == k).astype(int)
        if 0 < yk.sum() < len(yk):
            fpr, tpr = _roc_curve(yk, prob[:, k])
            ax.plot(fpr, tpr, label=f"{class_names[k]} vs rest" if prob.shape[1] > 2 else class_names[k])
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:  # no class has both positives and negatives in y_true: no curve can be drawn
        ax.set_title("no ROC: the test labels hold one class", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def calibration_bins(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 10):
    """Reliability of the top-class confidence: (bin confidence, bin accuracy, bin count)."""
    conf = prob.max(1)
    correct = (prob.argmax(1) == y_true).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    cb, ab, nb = [], [], []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            cb.append(conf[m].mean())
            ab.append(correct[m].mean())
            nb.append(int(m.sum()))
    return np.array(cb), np.array(ab), np.array(nb)


def plot_calibration(y_true: np.ndarray, prob: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cb, ab, _ = calibration_bins(y_true, prob)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.plot(cb, ab, "o-")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(
    out_dir: str | os.PathLike,
    summary: Mapping[str, float],
    y_true=None,
    prob=None,
    class_names: Sequence[str] | None = None,
    title: str = "neurosig fine-tuning report",
    extra: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """Write ``report.md`` (+ ``confusion.png``, ``roc.png``, ``calibration.png``) in ``out_dir``.

    ``summary`` holds the metric means and ``_std`` companions (and optionally ``ci95``, from
    :func:`neurosig.evaluation.metrics.bootstrap_metrics`, shown as a column); ``y_true``/``prob`` (pooled
    test predictions, e.g. of the first seed) drive the plots; ``extra`` adds tables
    (per-subject / per-recording aggregation, event metrics).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ci = summary.get("ci95") or {}
    lines = [f"# {title}", "", "| metric | mean | sd | 95 % interval |", "|---|---|---|---|"]
    for k in METRIC_KEYS:
        if k in summary:
            iv = f"[{ci[k][0]:.4f}, {ci[k][1]:.4f}]" if k in ci else "-"
            lines.append(f"| {k} | {summary[k]:.4f} | {summary.get(k + '_std', float('nan')):.4f} | {iv} |")
    if ci:
        lines += ["", f"Mean and sd over seeds; the interval is a {ci.get('n_boot')}-draw bootstrap of seed {ci.get('seed')}'s "
                  f"test metrics over its {ci.get('n_units')} test {ci.get('unit')}"
                  + (" (subjects drawn with all their windows)." if ci.get("unit") == "subjects" else " (one test subject: too narrow).")]
    for name, table in (extra or {}).items():
        lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
        for k, v in table.items():
            lines.append(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |")
    if y_true is not None and prob is not None:
        y = np.asarray(y_true).astype(int)
        p = np.asarray(prob, dtype=np.float64)
        names = [str(n) for n in class_names] if class_names else [str(k) for k in range(p.shape[1])]
        if len(names) > p.shape[1]:
            raise NeurosigError(f"write_report: {len(names)} class names for {p.shape[1]} probability columns; pass one name "
                                "per class, in label order.")
        names += [f"class {k}" for k in range(len(names), p.shape[1])]  # unnamed classes above the last name
        cm = confusion_matrix(y, p.argmax(1), p.shape[1])
        plot_confusion(cm, names, out / "confusion.png")
        plot_roc(y, p, names, out / "roc.png")
        plot_calibration(y, p, out / "calibration.png")
        lines += ["", "## Confusion matrix", "", "![confusion](confusion.png)", "",
                  "## ROC curve", "", "![roc](roc.png)", "", "## Calibration", "", "![calibration](calibration.png)"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ benchmark report
def plot_ratio_intervals(names: Sequence[str], ratios: Sequence[float], cis: Sequence[Sequence[float]] | None,
                         mean: float, mean_ci: Sequence[float] | None, path: Path) -> Path:
    """Forest plot of per-set ratios (ours / peer) with their intervals, the mean below them, a line at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.45 * (n + 1)))
    ys = np.arange(n, 0, -1, dtype=float)
    for y, r, ci in zip(ys, ratios, cis or [None] * n):
        if ci is not None:
            ax.plot(ci, [y, y], color="tab:blue", lw=1.5)
        ax.plot([r], [y], "o", color="tab:blue")
    if mean_ci is not None:
        ax.plot(mean_ci, [0, 0], color="black", lw=2.0)
    ax.plot([mean], [0], "D", color="black")
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_yticks(list(ys) + [0.0], list(names) + ["mean"])
    ax.set_xlabel("balanced accuracy ratio, neurosig / peer")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(v, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def _ci(ci) -> str:
    return "-" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def every_head_on_test(doc: Mapping) -> dict[str, tuple[list[float], float | None]]:
    """``{head: (test balanced accuracy per set (mean over seeds), mean ratio to the peer or None)}`` of a
    ``bench real`` result: every candidate and ablation head (``config.test_all_heads``; disclosure only)."""
    sets, test = doc["datasets"], (doc.get("config") or {}).get("test_all_heads") or {}
    if not test:
        return {}
    peer = [sets[n].get("peer_balanced_accuracy") for n in sets]
    out = {}
    for h in next(iter(test.values())):
        accs = [float(np.mean(test[n][h])) for n in sets]
        rs = [a / p for a, p in zip(accs, peer) if p]
        out[h] = (accs, float(np.mean(rs)) if rs else None)
    return out


def write_bench_report(doc: Mapping, out_dir: str | os.PathLike, source: str = "neurosig bench real") -> Path:
    """``report.md`` (+ ``ratios.png`` when the peer ran) in ``out_dir`` from a ``neurosig bench real`` result
    ``doc`` (the dict it writes as JSON): ours vs the peer per set with the test-trial intervals, the head chosen
    on validation and every head's validation figures, every head on test (disclosure), the configuration."""
    sets = doc.get("datasets") if isinstance(doc, Mapping) else None
    if not isinstance(sets, Mapping) or not sets:
        raise NeurosigError(f"{source}: not a `neurosig bench real` result (no 'datasets' table); pass the JSON that "
                            "`neurosig bench real --json PATH` wrote.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = doc.get("config") or {}
    boot = doc.get("test_bootstrap") or None
    per_set_ci = {n: b["ci"] for n, b in zip(sets, boot["per_set"])} if boot else {}
    names = list(sets)
    seeds = cfg.get("seeds") or []
    lines = ["# neurosig bench real", "",
             f"{len(names)} set(s), {len(seeds)} seed(s), {_fmt(doc.get('seconds'), '.0f')} s. "
             f"Peer: {cfg.get('peer', 'MiniRocket')} on the same split in the same run. Balanced accuracy, mean ± sd over seeds.",
             "", "| dataset | n_train / n_test | neurosig | peer | ratio | 95 % interval (test trials) |", "|---|---|---|---|---|---|"]
    for n, d in sets.items():
        ours = f"{_fmt(d.get('balanced_accuracy'))} ± {_fmt(d.get('balanced_accuracy_std'))}"
        peer = "-" if d.get("peer_balanced_accuracy") is None else \
            f"{_fmt(d.get('peer_balanced_accuracy'))} ± {_fmt(d.get('peer_balanced_accuracy_std'))}"
        lines.append(f"| {n} | {d.get('n_train')} / {d.get('n_test')} | {ours} | {peer} | {_fmt(d.get('ratio'))} | "
                     f"{_ci(per_set_ci.get(n))} |")
    mean = doc.get("mean_ratio")
    if mean is not None:
        share = f", {100 * boot['p_above_1']:.0f} % of draws above 1" if boot else ""
        lines.append(f"| **mean** | | | | **{mean:.3f}** | {_ci(boot['ci'] if boot else None)}{share} |")
        if boot:
            lines += ["", f"Intervals: paired bootstrap over test trials ({boot['n_boot']} draws, resampled within class, the "
                      "same trials for both sides, seeds averaged in each draw)."]
        ratios = [sets[n].get("ratio") for n in names]
        if all(r is not None for r in ratios):
            plot_ratio_intervals(names, ratios, [per_set_ci[n] for n in names] if boot else None, mean,
                                 boot["ci"] if boot else None, out / "ratios.png")
            lines += ["", "![ratios](ratios.png)"]
    else:
        lines += ["", "The peer was not run (`--no-peer`): no ratios."]
    val = cfg.get("validation") or {}
    if val:
        heads = list(next(iter(val.values())))
        lines += ["", "## Head choice (validation folds of the training splits; never test)", "",
                  f"Chosen head per seed: {', '.join(cfg.get('chosen_head') or []) or '-'}. "
                  f"Folds: {cfg.get('val_folds', '?')}, {cfg.get('fold_order', '?')}. Mean over seeds:", "",
                  "| head | " + " | ".join(names) + " | mean |", "|---|" + "---|" * (len(names) + 1)]
        for h in heads:
            v = [float(np.mean(val[n][h])) for n in names]
            lines.append(f"| {h} | " + " | ".join(f"{a:.3f}" for a in v) + f" | {np.mean(v):.3f} |")
    on_test = every_head_on_test(doc)
    if on_test:
        lines += ["", "## Every head on test (disclosure and ablations; not used for the choice)", "",
                  "| head | " + " | ".join(names) + " | mean ratio |", "|---|" + "---|" * (len(names) + 1)]
        for h, (accs, mr) in on_test.items():
            lines.append(f"| {h} | " + " | ".join(f"{x:.3f}" for x in accs) + f" | {_fmt(mr)} |")
    lines += ["", "## Configuration", "",
              f"- tokenizer: {(cfg.get('tokenizer') or {}).get('kind', '?')}, {cfg.get('tokenizer_steps', '?')} steps; "
              f"pretraining {cfg.get('pretrain_steps', '?')} steps, per seed: {cfg.get('pretrain_per_seed', '?')}",
              f"- pretraining pool ({cfg.get('n_pool_windows', '?')} windows): {', '.join(cfg.get('pretraining_pool') or []) or '-'}",
              f"- seeds: {', '.join(str(s) for s in seeds) or '-'}"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
