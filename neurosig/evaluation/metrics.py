"""Classification metrics through torchmetrics, with group and multi-seed aggregation.

``bootstrap_metrics`` gives their percentile intervals over test subjects (cluster bootstrap) or windows.
``classification_metrics`` returns the five headline figures of the clinical EEG literature
(ANCHORS.md): balanced accuracy (macro recall, binary or multi-class), Cohen's kappa, weighted
F1, AUROC and AUPRC (binary, or one-vs-rest macro for several classes). Scores are class
probabilities ``(n, K)`` (or ``(n,)`` positive-class scores for binary tasks); hard labels are
accepted too, in which case the ranking metrics are NaN (no ranking is available).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from neurosig._utils.errors import NeurosigError

METRIC_KEYS = ("balanced_accuracy", "cohen_kappa", "weighted_f1", "auroc", "auprc")


def _as_scores(y_score, n_classes: int) -> tuple[np.ndarray | None, np.ndarray]:
    """Return ``(probabilities (n, K) or None, predictions (n,))``."""
    arr = np.asarray(y_score)
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        return None, arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        if n_classes != 2:
            raise NeurosigError(
                f"y_score is 1-D float (binary scores) but n_classes={n_classes}; pass (n, {n_classes}) class scores."
            )
        arr = np.stack([1.0 - arr, arr], axis=1)
    if arr.ndim != 2 or arr.shape[1] != n_classes:
        raise NeurosigError(
            f"y_score must have shape (n,) or (n, {n_classes}), got {arr.shape}; pass one score column per class."
        )
    return arr, arr.argmax(1)


def classification_metrics(y_true, y_score, n_classes: int | None = None) -> dict[str, float]:
    """Balanced accuracy, Cohen's kappa, weighted F1, AUROC and AUPRC of one set of predictions.

    ``y_true`` (n,) int labels in ``[0, n_classes)``; ``y_score`` either class scores
    ``(n, K)`` / positive-class scores ``(n,)`` (floats) or predicted labels (ints).
    AUROC/AUPRC are NaN when only hard labels are given or only one class is present; Cohen's kappa is
    NaN when labels and predictions are all one class (undefined, as in scikit-learn), never 0.
    """
    from torchmetrics.functional.classification import (
        binary_auroc,
        binary_average_precision,
        multiclass_accuracy,
        multiclass_auroc,
        multiclass_average_precision,
        multiclass_cohen_kappa,
        multiclass_f1_score,
    )

    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    if n_classes is None:
        arr = np.asarray(y_score)
        n_classes = int(arr.shape[1]) if arr.ndim == 2 else int(max(y.max(initial=0), arr.max(initial=0) if arr.dtype.kind == "i" else 1) + 1)
        n_classes = max(n_classes, 2)
    if n_classes < 2:
        raise NeurosigError(f"n_classes must be >= 2, got {n_classes}.")
    if len(y) == 0:
        raise NeurosigError("y_true is empty; metrics need at least one labelled window.")
    if y.min() < 0 or y.max() >= n_classes:
        raise NeurosigError(f"y_true holds labels outside [0, {n_classes}); drop unlabelled (-1) windows first.")
    prob, pred = _as_scores(y_score, n_classes)
    if len(pred) != len(y):
        raise NeurosigError(f"y_true has {len(y)} entries but y_score has {len(pred)}; they must match.")
    yt, pt = torch.from_numpy(y), torch.from_numpy(pred)
    present = np.unique(y)
    # torchmetrics' macro recall averages over all K classes; a class absent from y_true would
    # count as recall 0 there. scikit-learn averages over the classes present: do the same.
    recall = multiclass_accuracy(pt, yt, num_classes=n_classes, average="none")
    out = {
        "balanced_accuracy": float(recall[torch.from_numpy(present)].mean()),
        "cohen_kappa": float(multiclass_cohen_kappa(pt, yt, num_classes=n_classes)),
        "weighted_f1": float(multiclass_f1_score(pt, yt, num_classes=n_classes, average="weighted")),
        "auroc": math.nan,
        "auprc": math.nan,
    }
    if prob is not None and len(present) >= 2:
        p = torch.from_numpy(prob)
        if n_classes == 2:
            out["auroc"] = float(binary_auroc(p[:, 1], yt))
            out["auprc"] = float(binary_average_precision(p[:, 1], yt))
        else:
            # one-vs-rest macro over the classes present in y_true (as scikit-learn does)
            import warnings

            with warnings.catch_warnings():  # classes absent from y_true are computed, warned about, then left out below
                warnings.filterwarnings("ignore", message=".*(No positive samples|No negative samples).*")
                au = multiclass_auroc(p, yt, num_classes=n_classes, average="none")
                ap = multiclass_average_precision(p, yt, num_classes=n_classes, average="none")
            idx = torch.from_numpy(present)
            out["auroc"] = float(au[idx].mean())
            out["auprc"] = float(ap[idx].mean())
    # all labels and predictions one class: chance agreement is 1 and kappa is 0/0, undefined. torchmetrics gives
    # NaN here, as scikit-learn does; it stays NaN (JSON null) and group means / bootstrap draws leave it out
    return out


def grouped_metrics(y_true, y_score, groups: Sequence, n_classes: int) -> dict[str, float]:
    """Per-group aggregation: the metrics of each group (subject, recording), averaged.

    Each key is the mean over groups of that group's metric (NaN groups, e.g. AUROC of a group
    with one class, or kappa of a group whose labels and predictions are all one class, are skipped).
    Also returns ``n_groups``.
    """
    g = np.asarray(groups)
    y = np.asarray(y_true)
    s = np.asarray(y_score)
    if len(g) != len(y):
        raise NeurosigError(f"groups has {len(g)} entries but y_true has {len(y)}; pass one group id per window.")
    per = [classification_metrics(y[g == k], s[g == k], n_classes) for k in np.unique(g)]
    out = {}
    for key in METRIC_KEYS:
        vals = [m[key] for m in per if not math.isnan(m[key])]
        out[key] = float(np.mean(vals)) if vals else math.nan
    out["n_groups"] = len(per)
    return out


def recording_level_metrics(y_true, y_score, recordings: Sequence, n_classes: int) -> dict[str, float]:
    """Metrics across recordings for labels given per recording (TUAB normal/abnormal): each recording's class
    probabilities are the mean of its windows', its label the one label of its windows, and the METRIC_KEYS are
    computed over the recordings (the usual TUAB protocol). Per-recording means are meaningless there: each
    recording holds one class. Also returns ``n_recordings``. A recording whose windows carry two labels raises."""
    r = np.asarray(recordings)
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    s = np.asarray(y_score, dtype=np.float64)
    if len(r) != len(y) or len(s) != len(y):
        raise NeurosigError(f"recordings ({len(r)}), y_true ({len(y)}) and y_score ({len(s)}) must have one entry per window.")
    if s.ndim == 1:
        if n_classes != 2:
            raise NeurosigError(f"y_score is 1-D (binary scores) but n_classes={n_classes}; pass (n, {n_classes}) class probabilities.")
        s = np.stack([1.0 - s, s], axis=1)
    ids, inv = np.unique(r, return_inverse=True)
    labels = np.full(len(ids), -1, dtype=np.int64)
    prob = np.zeros((len(ids), s.shape[1]))
    for k in range(len(ids)):
        m = inv == k
        ys = np.unique(y[m])
        if len(ys) != 1:
            raise NeurosigError(f"recording {str(ids[k])!r} holds windows of labels {ys.tolist()}; recording-level metrics need "
                                "one label per recording (labels given per recording, as TUAB's).")
        labels[k], prob[k] = ys[0], s[m].mean(0)
    out = classification_metrics(labels, prob, n_classes)
    out["n_recordings"] = int(len(ids))
    return out


def percentile_interval(values, level: float) -> list[float]:
    """The central ``level`` percentile interval ``[lo, hi]`` of bootstrap draws (NaN, NaN when there are none)."""
    if not len(values):
        return [math.nan, math.nan]
    return [float(v) for v in np.percentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])]


def check_bootstrap_args(n_boot, level, what: str) -> None:
    """One-line error unless ``n_boot`` >= 1 and 0 < ``level`` < 1."""
    if not (0 < level < 1) or int(n_boot) < 1:
        raise NeurosigError(f"{what} needs 0 < level < 1 and n_boot >= 1, got level={level!r}, n_boot={n_boot!r}.")


def bootstrap_metrics(y_true, y_score, n_classes: int, groups: Sequence | None = None, n_boot: int = 1000,
                      seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap intervals of :func:`classification_metrics` over the TEST UNITS.

    With ``groups`` (one subject id per window) it is a cluster bootstrap: each draw takes subjects with
    replacement and keeps all of their windows, because windows of one subject are correlated and resampling
    them one by one would understate the uncertainty. Without ``groups``, or with a single group (a warning is
    recorded), windows are resampled. Draws where a metric is undefined (e.g. AUROC with one class drawn) are
    left out of that metric's interval.

    Returns ``{key: [lo, hi] for METRIC_KEYS, "unit": "subjects" | "windows", "n_units", "n_boot", "level"}``."""
    import warnings

    y = np.asarray(y_true).reshape(-1)
    s = np.asarray(y_score)
    if len(s) != len(y):
        raise NeurosigError(f"y_true has {len(y)} entries but y_score has {len(s)}; they must match.")
    check_bootstrap_args(n_boot, level, "bootstrap_metrics")
    unit, members = "windows", None  # windows: each its own unit
    if groups is not None:
        g = np.asarray(groups)
        if len(g) != len(y):
            raise NeurosigError(f"groups has {len(g)} entries but y_true has {len(y)}; pass one group id per window.")
        ids = np.unique(g)
        if len(ids) > 1:
            unit, members = "subjects", [np.flatnonzero(g == k) for k in ids]
        else:
            warnings.warn(f"bootstrap_metrics: one test subject ({ids[0]!r}); the interval resamples its windows, "
                          "which are correlated, so it is too narrow. Test on more subjects for an honest interval.",
                          RuntimeWarning, stacklevel=2)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in METRIC_KEYS}
    n_units = len(members) if members is not None else len(y)
    for _ in range(int(n_boot)):
        pick = rng.integers(0, n_units, n_units)
        idx = np.concatenate([members[j] for j in pick]) if members is not None else pick
        with warnings.catch_warnings():  # a draw may lack a class: its undefined metrics are left out below
            warnings.simplefilter("ignore", UserWarning)
            m = classification_metrics(y[idx], s[idx], n_classes)
        for k in METRIC_KEYS:
            if not math.isnan(m[k]):
                draws[k].append(m[k])
    out: dict = {k: percentile_interval(d, level) for k, d in draws.items()}
    out.update(unit=unit, n_units=n_units, n_boot=int(n_boot), level=float(level))
    return out


def aggregate_seeds(runs: Iterable[Mapping[str, float]], keys: Sequence[str] | None = None) -> dict[str, float]:
    """Mean ± sd over seeds: ``{key: mean, key_std: sd}`` (sample sd, ddof=1; 0 for one run)."""
    runs = list(runs)
    if not runs:
        raise NeurosigError("aggregate_seeds got no runs; pass at least one metrics dict.")
    keys = list(keys) if keys is not None else [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out: dict[str, float] = {}
    for key in keys:
        vals = np.array([float(r[key]) for r in runs], dtype=np.float64)
        finite = vals[~np.isnan(vals)]
        out[key] = float(finite.mean()) if len(finite) else math.nan
        out[f"{key}_std"] = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
    out["n_seeds"] = len(runs)
    return out


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted class (torchmetrics)."""
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    cm = multiclass_confusion_matrix(
        torch.as_tensor(np.asarray(y_pred), dtype=torch.long),
        torch.as_tensor(np.asarray(y_true), dtype=torch.long),
        num_classes=n_classes,
    )
    return cm.numpy()
