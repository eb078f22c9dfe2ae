"""Fine-tuning for clinical tasks: window classification, sleep staging, seizure detection.

The LightningModule (:class:`FinetuneModule`) is thin: encoder → head → cross-entropy (with
class weights). Everything else is plain functions:

* :class:`FinetuneConfig` — the recipe (``configs/finetune/*.yaml``);
* :class:`WindowTable` — the windows of a task with their labels, subjects, recordings, starts
  (from a :class:`~neurosig.datasets.ShardStore` or from in-memory items);
* :func:`make_encoder` — a pretrained ``FoundationModel`` directory, or a small encoder from
  scratch (:class:`~neurosig.models.heads.PatchEncoder`) for comparison;
* :func:`fit_one_seed` / :func:`run_seeds` — subject-disjoint split (saved as ``split.json``),
  training with early stopping on validation balanced accuracy, test metrics per window,
  per subject and per recording (and event-level metrics for seizure detection), mean ± sd.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger, log_once
from neurosig.evaluation.events import EventConfig, event_metrics, labels_to_events, scores_to_events
from neurosig.evaluation.metrics import (
    METRIC_KEYS,
    aggregate_seeds,
    bootstrap_metrics,
    classification_metrics,
    grouped_metrics,
    recording_level_metrics,
)
from neurosig.evaluation.splits import check_disjoint_subjects, save_split, subject_disjoint_split, window_fingerprint
from neurosig.training.callbacks import frozen_parts_in_eval
from neurosig.models.heads import POOLINGS, ClassificationHead, PatchEncoder, SleepContextHead

log = get_logger("training.finetune")

TASKS = ("classification", "sleep", "seizure")
MODES = ("linear", "full", "llrd")


@dataclass
class ScratchEncoderConfig:
    """The from-scratch encoder (used with ``--scratch`` and in tests)."""

    d_model: int = 64  # small enough to train on CPU in minutes
    n_layers: int = 2  # two transformer layers: a baseline, not a foundation model
    n_heads: int = 4  # head dim 16 at d_model 64
    patch_len: int = 50  # samples per token (0.25 s at 200 Hz; 1 s at 50 Hz)


@dataclass
class FinetuneConfig:
    # classification (binary/multi-class windows), sleep (30 s epochs + neighbours), seizure (windows → events)
    task: str = "classification"
    # attention pooling learns which tokens matter (abnormal EEG is local); mean pooling is the cheap baseline
    pooling: str = "attention"
    # linear = frozen backbone (linear probe), full = everything trains at lr, llrd = layer-wise lr decay
    mode: str = "llrd"
    # peak learning rate of the head (and of the top layer in llrd/full)
    lr: float = 1e-3
    # each layer below the top gets lr * layer_decay^depth (0.65-0.75 in BEiT/LaBraM fine-tuning)
    layer_decay: float = 0.75
    # AdamW weight decay (0.05 is the usual fine-tuning value for transformers)
    weight_decay: float = 0.05
    # passes over the training split; early stopping on validation usually ends sooner
    epochs: int = 30
    # stop when validation balanced accuracy has not improved for this many epochs
    patience: int = 8
    # windows per batch; small clinical sets favour small batches
    batch_size: int = 32
    # weight the loss by inverse class frequency (seizure and abnormal sets are imbalanced)
    class_weighting: bool = True
    # linear mode only: standardise the pooled features per dimension across windows (a BatchNorm
    # without affine parameters before the linear layer, MAE's linear-probe recipe). Frozen
    # features vary little from window to window next to their common offset; without it a linear
    # layer at a fine-tuning lr barely uses that spread (what StandardScaler does for sklearn)
    standardize_features: bool = True
    # fractions of subjects for (train, val, test) when the store has no standard split
    fractions: tuple = (0.7, 0.15, 0.15)
    # fraction of training subjects carved out for validation when the store has a train/test split
    val_fraction: float = 0.15
    # neighbouring epochs on each side for sleep staging (2 → 5 epochs = 2.5 min of context)
    context: int = 2
    # seizure detection: window → event policy and event matching
    events: EventConfig = field(default_factory=EventConfig)
    # encoder built for --scratch
    scratch: ScratchEncoderConfig = field(default_factory=ScratchEncoderConfig)
    # data loader workers (0 = main process; CPU runs are faster without worker start-up)
    num_workers: int = 0
    # --model pretrained on test subjects (its pretrain_subjects.json): an error by default, since the test would
    # score subjects the backbone has seen; true reports the overlap in metrics.json and report.md instead
    allow_pretrain_overlap: bool = False

    def __post_init__(self):
        if self.task not in TASKS:
            raise NeurosigError(f"finetune.task={self.task!r} is not supported; choose one of {', '.join(TASKS)}.")
        if self.pooling not in POOLINGS:
            raise NeurosigError(f"finetune.pooling={self.pooling!r} is not supported; choose one of {', '.join(POOLINGS)}.")
        if self.mode not in MODES:
            raise NeurosigError(f"finetune.mode={self.mode!r} is not supported; choose one of {', '.join(MODES)}.")
        if isinstance(self.events, dict):
            self.events = EventConfig(**self.events)
        if isinstance(self.scratch, dict):
            self.scratch = ScratchEncoderConfig(**self.scratch)
        self.fractions = tuple(float(f) for f in self.fractions)
        if len(self.fractions) != 3 or abs(sum(self.fractions) - 1) > 1e-6:
            raise NeurosigError(f"finetune.fractions must be 3 numbers (train, val, test) summing to 1, got {self.fractions}.")
        for name in ("lr", "epochs", "batch_size"):
            if not getattr(self, name) > 0:
                raise NeurosigError(f"finetune.{name} must be > 0, got {getattr(self, name)!r}.")
        if not 0 < self.layer_decay <= 1:
            raise NeurosigError(f"finetune.layer_decay must be in (0, 1], got {self.layer_decay!r}.")
        if not 0 < self.val_fraction < 1:
            raise NeurosigError(f"finetune.val_fraction must be in (0, 1), got {self.val_fraction!r}.")


def load_finetune_config(path) -> FinetuneConfig:
    from neurosig.config import from_dict, load_yaml

    data = load_yaml(path)
    if "finetune" in data and len(data) > 1:  # the keys beside the block would be ignored without a word
        others = sorted(k for k in data if k != "finetune")
        raise NeurosigError(f"{os.fspath(path)}: top-level key(s) {', '.join(others)} beside the 'finetune:' block would be "
                            "ignored; move them inside it (or drop the block and keep every key at the top level).")
    return from_dict(FinetuneConfig, data.get("finetune", data), where=os.fspath(path))


# ------------------------------------------------------------------------------------------ data
@dataclass
class WindowTable:
    """Windows of one task: ``dataset[i]`` is a store item; arrays give each window's metadata."""

    dataset: Dataset
    y: np.ndarray  # (n,) int labels, -1 = unlabelled
    subject: np.ndarray  # (n,) str
    recording: np.ndarray  # (n,) str, source file / recording id
    start: np.ndarray  # (n,) float seconds from the recording start (sleep context, seizure events)
    window_s: float  # seconds per window
    split: np.ndarray  # (n,) str, standard split ("train"/"test") or ""
    class_names: list[str] = field(default_factory=list)
    window_id: np.ndarray | None = None  # (n,) str, the store's window ids (what saved split indices refer to)
    dataset_name: np.ndarray | None = None  # (n,) str, the store's dataset per window (global subject ids; None = unknown)
    recording_hash: np.ndarray | None = None  # (n,) str, content hash of each window's source file (None = unknown)
    # seizure truth: {recording: [(onset_s, offset_s), ...]} of the annotated (non-background) events, given in memory;
    # from a store they are read from its part records (``store`` and ``part``, the part key per window) when kept
    events: dict | None = None
    store: object | None = None
    part: np.ndarray | None = None

    def labels_per_recording(self) -> bool:
        """True when every recording's labelled windows share one label (labels given per recording, as TUAB's), in a
        table of at least two recordings: per-recording means then compare each recording with itself."""
        lab = self.y >= 0
        if not lab.any():
            return False
        rec, y = self.recording[lab], self.y[lab]
        pairs = set(zip(rec.tolist(), y.tolist()))
        return len(pairs) == len(set(rec.tolist())) >= 2

    def true_events(self, recording: str) -> list[tuple[float, float]] | None:
        """Annotated non-background events (label >= 1) of ``recording`` as ``[(onset_s, offset_s)]``, or None when
        the data keeps no annotation intervals (then only the window labels tell where seizures are)."""
        if self.events is not None:
            return [(float(a), float(b)) for a, b in self.events.get(str(recording), [])]
        if self.store is None or self.part is None:
            return None
        keys = sorted(set(self.part[self.recording == recording].tolist()))
        out: list[tuple[float, float]] = []
        for key in keys:
            info = self.store.part_info(str(key))
            ann = info.get("annotations")
            if ann is None:
                return None
            window = ((info.get("provenance") or {}).get("pipeline") or {}).get("window") or {}
            table = {str(k): int(v) for k, v in (window.get("event_labels") or {}).items()}
            from neurosig.preprocessing.windows import match_event_labels

            names = match_event_labels((a[2] for a in ann), table, str(key)) if table else {}
            out += [(float(on), float(on) + float(dur)) for on, dur, desc in ann if desc in names and table[names[desc]] >= 1]
        return sorted(out)

    def global_subjects(self) -> np.ndarray:
        """Subject ids comparable across stores (:func:`neurosig.datasets.leakage.global_subject`: ``tuh:aaaaaaav``)."""
        from neurosig.datasets.leakage import global_subject

        ds = self.dataset_name if self.dataset_name is not None else [""] * len(self.subject)
        return np.array([global_subject(d, s) for d, s in zip(ds, self.subject)], dtype=object)

    def fingerprint(self) -> dict:
        """:func:`~neurosig.evaluation.splits.window_fingerprint` of the rows (window ids; for in-memory
        items, subject/recording/start/label per row), saved with each split and checked by ``finetune test``."""
        ids = self.window_id if self.window_id is not None else [
            f"{s}|{r}|{t!r}|{y}" for s, r, t, y in zip(self.subject, self.recording, self.start.tolist(), self.y.tolist())]
        return window_fingerprint(ids)

    @classmethod
    def from_items(cls, items: Sequence[dict], *, recording=None, start=None, split=None, class_names=None,
                   events: dict | None = None) -> "WindowTable":
        """``events``: annotated seizure intervals per recording (``{recording: [(onset_s, offset_s)]}``), the truth of
        the seizure task; without them true events are rebuilt from the window labels."""
        n = len(items)
        if n == 0:
            raise NeurosigError("no windows given; the task needs at least one labelled window.")
        y = np.array([int(it["y"]) for it in items])
        subj = np.array([str(it["subject"]) for it in items])
        T = items[0]["x"].shape[-1]
        return cls(
            dataset=_ListDataset(list(items)), y=y, subject=subj,
            recording=np.asarray(recording if recording is not None else subj).astype(str),
            start=np.asarray(start if start is not None else np.zeros(n), dtype=np.float64),
            window_s=float(T / float(items[0]["sfreq"])),
            split=np.asarray(split if split is not None else [""] * n).astype(str),
            class_names=list(class_names or []), events=events,
        )

    @classmethod
    def from_store(cls, store) -> "WindowTable":
        from neurosig.datasets.torch_data import WindowDataset

        m = store.manifest
        if len(m) == 0:
            raise NeurosigError(f"store {getattr(store, 'root', '')!s} is empty; build it with `neurosig preprocess`.")
        rec = m["source"].astype(str).to_numpy() if "source" in m else m["subject"].astype(str).to_numpy()
        start_col = "start_s" if "start_s" in m else "start" if "start" in m else None
        start = m[start_col].to_numpy(dtype=np.float64) if start_col else m.groupby(rec).cumcount().to_numpy() * (m["n_times"] / m["sfreq"]).to_numpy()
        names = store_class_names(store)
        return cls(
            dataset=WindowDataset(store), y=m["label"].to_numpy(dtype=np.int64), subject=m["subject"].astype(str).to_numpy(),
            recording=rec, start=np.asarray(start, dtype=np.float64),
            window_s=float((m["n_times"] / m["sfreq"]).iloc[0]),
            split=m["split"].fillna("").astype(str).to_numpy() if "split" in m else np.array([""] * len(m)), class_names=names,
            window_id=m["window_id"].astype(str).to_numpy() if "window_id" in m else None,
            dataset_name=m["dataset"].fillna("").astype(str).to_numpy() if "dataset" in m else None,
            store=store if hasattr(store, "part_info") else None,
            part=m["part"].astype(str).to_numpy() if "part" in m else None,
            recording_hash=m["source_hash"].astype(str).to_numpy() if "source_hash" in m else None,
        )

    @property
    def n_classes(self) -> int:
        lab = self.y[self.y >= 0]
        return max(2, int(lab.max()) + 1 if len(lab) else 2, len(self.class_names))


def store_class_names(store) -> list[str]:
    """Class names by label index: the store's full vocabulary, not only the labels present. Index k is named by the
    manifest (``label_name`` of rows labelled k) or else by the ``window.event_labels`` of the pipelines that built the
    store (its part records); an index named nowhere below the highest one is ``"class k"``. A store without any names
    gives ``[]``."""
    m = store.manifest
    names: dict[int, str] = {}
    if "label_name" in m:
        pairs = m[m["label"] >= 0][["label", "label_name"]].drop_duplicates()
        for k, n in zip(pairs["label"].astype(int), pairs["label_name"].fillna("").astype(str)):
            if n and k not in names:
                names[k] = n
    if "part" in m and "pipeline_hash" in m and hasattr(store, "part_info"):
        # one part per pipeline: window.event_labels belongs to the pipeline (its hash), the labels absent from the
        # manifest (a stage no subject of this store reached) are only there
        for key in m.drop_duplicates("pipeline_hash")["part"].astype(str):
            try:
                window = (store.part_info(key).get("provenance") or {}).get("pipeline", {}).get("window") or {}
            except (NeurosigError, OSError, ValueError, AttributeError):
                continue
            for n, k in (window.get("event_labels") or {}).items():
                names.setdefault(int(k), str(n))
    if not names:
        return []
    top = max(max(names), int(m["label"].max()) if len(m) else -1)
    return [names.get(k, f"class {k}") for k in range(top + 1)]


class _ListDataset(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(items: Sequence[dict]) -> dict:
    """Window batch (``neurosig.datasets.collate_windows``) plus sleep context when present."""
    from neurosig.datasets.torch_data import collate_windows

    if "ctx_x" not in items[0]:
        return collate_windows(items)
    # sleep context: flatten (B, E) epochs into B*E windows, remember the layout
    E = len(items[0]["ctx_x"])
    flat = [{**it, "x": it["ctx_x"][e]} for it in items for e in range(E)]
    batch = collate_windows(flat)
    batch["y"] = torch.tensor([int(it["y"]) for it in items])
    batch["subject"] = [str(it["subject"]) for it in items]
    batch["ctx_mask"] = torch.as_tensor(np.stack([it["ctx_mask"] for it in items]))  # (B, E)
    batch["n_context"] = E
    return batch


class ContextDataset(Dataset):
    """Sleep staging: item i carries the epochs at ``start ± k × window_s`` of the same recording, k = 1..context.

    Neighbours are looked up by time, not by position in the table: epochs dropped from the store (``Movement time``,
    ``Sleep stage ?``) leave holes, and the epoch beside a hole is not the neighbour. A neighbour that is not in the
    table (a hole or a recording edge) is zeros with ``ctx_mask`` False."""

    def __init__(self, table: WindowTable, indices: np.ndarray, context: int):
        self.table, self.indices, self.k = table, np.asarray(indices), context
        self.step = float(table.window_s)
        # (recording, start in ms) → row; ms keys absorb float noise in start times
        self.at = {(str(r), int(round(t * 1000))): j for j, (r, t) in enumerate(zip(table.recording, table.start.tolist()))}

    def __len__(self):
        return len(self.indices)

    def neighbours(self, j: int) -> list[int | None]:
        """Rows of the epochs at offsets -k..k of row ``j`` (None where the recording has no such epoch)."""
        r, t = str(self.table.recording[j]), float(self.table.start[j])
        return [self.at.get((r, int(round((t + off * self.step) * 1000)))) for off in range(-self.k, self.k + 1)]

    def __getitem__(self, i):
        j = int(self.indices[i])
        item = dict(self.table.dataset[j])
        xs, mask = [], []
        for q in self.neighbours(j):
            ok = q is not None
            xs.append(np.asarray(item["x"]) if q == j else np.asarray(self.table.dataset[q]["x"]) if ok
                      else np.zeros_like(np.asarray(item["x"])))
            mask.append(ok)
        item["ctx_x"] = xs
        item["ctx_mask"] = np.array(mask)
        return item


class _Subset(Dataset):
    def __init__(self, base, idx):
        self.base, self.idx = base, np.asarray(idx)

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, i):
        return self.base[int(self.idx[i])]


# --------------------------------------------------------------------------------------- encoders
class FoundationEncoder(nn.Module):
    """A pretrained ``FoundationModel`` + tokenizer as ``batch -> (hidden, token_mask)``."""

    def __init__(self, model, tokenizer):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)  # the tokenizer's codes are fixed targets, never fine-tuned
        self.d_model = model.config.backbone.d_model

    def forward(self, batch):
        return self.model.embed(batch, self.tokenizer)


def make_encoder(model_dir: str | os.PathLike | None, config: FinetuneConfig) -> nn.Module:
    """Encoder from a pretrained directory, or :class:`PatchEncoder` from scratch (``model_dir=None``)."""
    if model_dir is None:
        s = config.scratch
        enc = PatchEncoder(d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, patch_len=s.patch_len)
        return enc
    from neurosig.models.foundation import FoundationModel

    if not Path(model_dir).is_dir():
        raise NeurosigError(f"--model {os.fspath(model_dir)!r} is not a directory; pass the folder written by `neurosig pretrain` (or --scratch).")
    model, tok = FoundationModel.load(model_dir)
    return FoundationEncoder(model, tok)


def _layer_id(name: str, n_layers: int) -> int:
    """Depth of a parameter: 0 = input embeddings, i+1 = block i, n_layers+1 = top (norm)."""
    m = re.search(r"(?:blocks|layers)\.(\d+)\.", name)
    if m:
        return int(m.group(1)) + 1
    if re.search(r"(^|\.)norm\.", name) and "blocks" not in name and "layers" not in name:
        return n_layers + 1
    return 0


def param_groups(encoder: nn.Module, head: nn.Module, config: FinetuneConfig) -> list[dict]:
    """AdamW groups: head at ``lr``; encoder frozen (linear), at ``lr`` (full), or decayed per layer (llrd)."""
    groups = [{"params": [p for p in head.parameters() if p.requires_grad], "lr": config.lr}]
    if config.mode == "linear":
        for p in encoder.parameters():
            p.requires_grad_(False)
        return groups
    named = [(n, p) for n, p in encoder.named_parameters() if p.requires_grad]
    ids = [int(m.group(1)) for n, _ in named for m in [re.search(r"(?:blocks|layers)\.(\d+)\.", n)] if m]
    n_layers = max(ids) + 1 if ids else 0
    by_depth: dict[int, list] = {}
    for n, p in named:
        by_depth.setdefault(_layer_id(n, n_layers), []).append(p)
    for depth, ps in sorted(by_depth.items()):
        scale = 1.0 if config.mode == "full" else config.layer_decay ** (n_layers + 1 - depth)
        groups.append({"params": ps, "lr": config.lr * scale})
    return groups


# --------------------------------------------------------------------------------- Lightning module
class FinetuneModule(L.LightningModule):
    """Encoder + task head; cross-entropy with optional class weights."""

    def __init__(self, encoder: nn.Module, n_classes: int, config: FinetuneConfig, class_weights: torch.Tensor | None = None):
        super().__init__()
        self.encoder, self.cfg = encoder, config
        d = getattr(encoder, "d_model")
        self.head = ClassificationHead(d, n_classes, config.pooling)
        self.context_head = SleepContextHead(d, n_classes, config.context) if config.task == "sleep" else None
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(n_classes))
        # per-dimension standardisation of the pooled features (frozen-backbone probes only)
        use_bn = config.mode == "linear" and config.standardize_features and self.context_head is None
        # momentum=None: cumulative statistics, exact for features that do not change (frozen backbone)
        self.feature_norm = nn.BatchNorm1d(d, affine=False, momentum=None) if use_bn else None
        if use_bn:  # the head's LayerNorm affine is redundant before it, and training it would move the
            self.head.norm.requires_grad_(False)  # features away from the running statistics
        self.val_scores: list = []

    def train(self, mode: bool = True):
        """Train mode for what is trained; the tokenizer (its codes are fixed) and, for a linear probe, the whole
        frozen encoder stay in eval mode: no dropout in features that must not change, no codebook updates. A
        pretrained encoder is loaded in eval mode, so without this full fine-tuning would run without dropout."""
        super().train(mode)
        if self.cfg.mode == "linear":
            self.encoder.eval()
        elif isinstance(getattr(self.encoder, "tokenizer", None), nn.Module):
            self.encoder.tokenizer.eval()
        return self

    def forward(self, batch: dict) -> torch.Tensor:
        hidden, tmask = self.encoder(batch)  # (B', C, N, d), (B', C, N)
        if self.context_head is None:
            if self.feature_norm is None:
                return self.head(hidden, tmask)  # (B, K)
            z = self.head.pooled(hidden, tmask)  # (B, d)
            bn = self.feature_norm
            # a one-window training batch has no spread to standardise by: use the running statistics
            z = bn(z) if not (self.training and z.shape[0] < 2) else nn.functional.batch_norm(z, bn.running_mean, bn.running_var, eps=bn.eps)
            return self.head.out(self.head.drop(z))  # (B, K)
        E = batch["n_context"]
        pooled = self.head.pooled(hidden, tmask).reshape(-1, E, hidden.shape[-1])  # (B, E, d)
        return self.context_head(pooled, batch["ctx_mask"])  # (B, K)

    def training_step(self, batch, _):
        logits = self(batch)
        loss = nn.functional.cross_entropy(logits, batch["y"], weight=self.class_weights)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["y"]))
        return loss

    def validation_step(self, batch, _):
        self.val_scores.append((batch["y"].cpu(), self(batch).softmax(-1).float().cpu()))

    def on_validation_epoch_end(self):
        if not self.val_scores:
            return
        y = torch.cat([a for a, _ in self.val_scores]).numpy()
        p = torch.cat([b for _, b in self.val_scores]).numpy()
        self.val_scores = []
        self.log("val/balanced_accuracy", classification_metrics(y, p, p.shape[1])["balanced_accuracy"])

    def configure_optimizers(self):
        return torch.optim.AdamW(param_groups(self.encoder, self.head if self.context_head is None else nn.ModuleList([self.head, self.context_head]), self.cfg),
                                 weight_decay=self.cfg.weight_decay)


# -------------------------------------------------------------------------------------- running
def make_split(table: WindowTable, config: FinetuneConfig, seed: int) -> dict[str, np.ndarray]:
    """Labelled windows → train/val/test indices, subject-disjoint, deterministic.

    With a standard split (``split`` column has "test") the test set is that split and
    validation is carved from training subjects; otherwise (train, val, test) by ``fractions``.
    If the training part holds a single subject, validation is carved by a seeded window hash
    (logged), since no subject-disjoint carve exists.
    """
    from neurosig._utils.rng import stable_hash_int

    lab = np.flatnonzero(table.y >= 0)
    if len(lab) == 0:
        raise NeurosigError("no labelled windows (label >= 0) in the data; fine-tuning needs labels.")
    if (table.split[lab] == "test").any():
        test = lab[table.split[lab] == "test"]
        train_all = lab[table.split[lab] != "test"]
        subj = table.subject[train_all]
        n_subjects = len(set(subj.tolist()))
        check_standard_test_split(table, train_all, test)
        if n_subjects >= 3:
            inner = subject_disjoint_split(subj, (1 - config.val_fraction, config.val_fraction), seed=seed, names=("train", "val"))
            train, val = train_all[inner["train"]], train_all[inner["val"]]
        else:
            log_once(log, logging.INFO, "%d training subject(s), fewer than 3: validation carved by window hash, not by subject",
                     n_subjects)
            h = np.array([stable_hash_int("val", seed, int(i)) % 10_000 for i in train_all]) / 10_000
            is_val = h < config.val_fraction
            if not is_val.any() and len(train_all) >= 2:  # tiny sets: the lowest hash goes to val
                is_val[np.argmin(h)] = True
            train, val = train_all[~is_val], train_all[is_val]
        split = {"train": train, "val": val, "test": test}
    elif len(set(table.subject[lab].tolist())) >= 3:
        inner = subject_disjoint_split(table.subject[lab], config.fractions, seed=seed)
        split = {k: lab[v] for k, v in inner.items()}
        check_disjoint_subjects(table.subject, split)
    else:
        # one or two subjects (e.g. a single long-term monitoring patient): recording-disjoint instead
        log.warning("fewer than 3 labelled subjects: the split is recording-disjoint, not subject-disjoint")
        inner = subject_disjoint_split(table.recording[lab], config.fractions, seed=seed)
        split = {k: lab[v] for k, v in inner.items()}
    for k, v in split.items():
        if len(v) == 0:
            raise NeurosigError(f"split {k!r} is empty ({len(set(table.subject[lab].tolist()))} labelled subjects); add subjects or change finetune.fractions.")
    return split


def check_standard_test_split(table: WindowTable, train_all: np.ndarray, test: np.ndarray) -> None:
    """A store's own ``test`` split must not hold subjects of its other (training/validation) rows.

    Shared subjects raise, naming them and the fix, unless the store has fewer than 3 labelled subjects: a
    one-subject set (e.g. a BCI competition session split) has no subject-disjoint test, and its split is by
    session/recording (logged as a warning, as the recording-disjoint split of stores without a test split is)."""
    shared = sorted(set(table.subject[train_all].tolist()) & set(table.subject[test].tolist()))
    if not shared:
        return
    n_lab = len(set(table.subject[table.y >= 0].tolist()))
    if n_lab < 3:
        log_once(log, logging.WARNING, "the store's 'test' split shares subject(s) %s with its training rows and the store has "
                 "%d labelled subject(s): the test is within-subject (session/recording-disjoint), not subject-disjoint",
                 ", ".join(shared), n_lab)
        return
    more = f" ... ({len(shared)} in all)" if len(shared) > 10 else ""
    raise NeurosigError(
        f"the store's 'test' split shares {len(shared)} subject(s) with its train/val rows ({', '.join(shared[:10])}{more}): "
        "its test figures would score subjects the model trained on; rebuild the store with each subject in one split "
        "(e.g. the 'split' column of labels.csv for the folder adapter) or leave those subjects' rows out of it.")


def _loader(table, idx, config, shuffle, seed):
    ds = ContextDataset(table, idx, config.context) if config.task == "sleep" else _Subset(table.dataset, idx)
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=config.batch_size, shuffle=shuffle, collate_fn=collate, num_workers=config.num_workers, generator=g)


@torch.no_grad()
def predict(module: FinetuneModule, loader) -> np.ndarray:
    module.eval()
    return torch.cat([module(b).softmax(-1).float() for b in loader]).numpy()


def fit_one_seed(table: WindowTable, config: FinetuneConfig, *, model_dir=None, seed: int = 0, out_dir=None,
                 split: dict | None = None, progress: bool = True) -> dict:
    """Train on one seed; returns ``{"metrics", "per_subject", "per_recording", "events"?, "y", "prob", "history"}``."""
    L.seed_everything(seed, workers=True, verbose=False)
    split = split or make_split(table, config, seed)
    overlap = pretrain_overlap(model_dir, table, split, config, seed)
    if out_dir is not None:
        save_split(Path(out_dir) / f"split_seed{seed}.json", split, table.subject, windows=table.fingerprint(), seed=seed,
                   task=config.task, model="scratch" if model_dir is None else os.fspath(model_dir))
    K = table.n_classes
    ytr = table.y[split["train"]]
    counts = np.bincount(ytr, minlength=K).astype(np.float64)
    weights = None
    if config.class_weighting:
        weights = torch.tensor(np.where(counts > 0, counts.sum() / (K * np.maximum(counts, 1)), 0.0), dtype=torch.float32)
    encoder = make_encoder(model_dir, config)
    module = FinetuneModule(encoder, K, config, weights)
    train_dl = _loader(table, split["train"], config, True, seed)
    val_dl = _loader(table, split["val"], config, False, seed)
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    ckpt_dir = Path(out_dir) / f"ckpt_seed{seed}" if out_dir is not None else None
    ckpt = ModelCheckpoint(dirpath=ckpt_dir, monitor="val/balanced_accuracy", mode="max", save_top_k=1) if ckpt_dir else None
    cbs = [EarlyStopping("val/balanced_accuracy", mode="max", patience=config.patience)] + ([ckpt] if ckpt else [])
    trainer = L.Trainer(max_epochs=config.epochs, accelerator="auto", devices=1, logger=False, callbacks=cbs,
                        enable_checkpointing=bool(ckpt), enable_progress_bar=progress, enable_model_summary=False,
                        num_sanity_val_steps=0, deterministic=False)
    losses: list[float] = []

    class _Hist(L.Callback):
        def on_train_epoch_end(self, tr, pl):
            losses.append(float(tr.callback_metrics.get("train/loss", math.nan)))

    trainer.callbacks.append(_Hist())
    module.train()  # Lightning keeps each module's mode: set ours (FinetuneModule.train) before fitting
    with frozen_parts_in_eval():
        trainer.fit(module, train_dl, val_dl)
    if ckpt is not None and ckpt.best_model_path:
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    prob = predict(module, _loader(table, split["test"], config, False, seed))
    out = evaluate_test(table, split["test"], prob, config)
    out.update(history=losses, split=split, module=module)
    if overlap:
        out["pretrain_overlap"] = overlap
    return out


def pretrain_overlap(model_dir, table: WindowTable, split: dict, config: FinetuneConfig, seed: int) -> dict:
    """Test subjects of ``split`` that the pretrained ``model_dir`` trained on (its ``pretrain_subjects.json``).

    Returns ``{}`` for ``--scratch``; ``{"checked": False}`` (and a warning) for a model without the record;
    otherwise ``{"checked": True, "subjects": [...], "n_subjects", "n_test_subjects"}``. An overlap raises a one-line
    error naming the subjects and the fixes, unless ``config.allow_pretrain_overlap`` (then it is only reported) or
    the fine-tuning split trains on those subjects itself (a within-subject store) and pretraining saw none of the
    test recordings (reported, with a warning)."""
    if model_dir is None:
        return {}
    from neurosig.models.foundation import PRETRAIN_SUBJECTS, read_pretrain_subjects

    where = os.fspath(model_dir)
    rec = read_pretrain_subjects(model_dir)
    if rec is None:
        log_once(log, logging.WARNING, "--model %s has no %s (older exports, or models not pretrained by `neurosig pretrain` on a store): "
                 "cannot check whether the test subjects were seen in pretraining", where, PRETRAIN_SUBJECTS)
        return {"checked": False}
    gsub = table.global_subjects()
    test = np.asarray(split["test"])
    test_subjects = set(gsub[test].tolist())
    seen = sorted(test_subjects & {str(x) for x in rec["subjects"]})
    out = {"checked": True, "subjects": seen, "n_subjects": len(seen), "n_test_subjects": len(test_subjects)}
    if not seen:
        return out
    key = rec.get("recording_key")
    mine = table.recording_hash if key == "source_hash" else table.recording if key == "source" else None
    seen_recs = sorted(set(mine[test].tolist()) & {str(x) for x in rec.get("recordings", [])}) if mine is not None else []
    within = set(seen) <= set(gsub[np.asarray(split["train"])].tolist())
    shown = ", ".join(seen[:10]) + (f" ... ({len(seen)} in all)" if len(seen) > 10 else "")
    if config.allow_pretrain_overlap:
        log_once(log, logging.WARNING, "--model %s was pretrained on %d of the %d test subject(s) of seed %d (%s); reported in "
                 "metrics.json (finetune.allow_pretrain_overlap is set)", where, len(seen), len(test_subjects), seed, shown)
        return out
    if within and not seen_recs:  # no new leak: fine-tuning trains on these subjects too; said once, not per seed
        log_once(log, logging.INFO, "--model %s was pretrained on other recordings of test subject(s) %s, which the "
                 "fine-tuning split trains on too (a within-subject store); reported in metrics.json", where, shown)
        return out
    recs = f", {len(seen_recs)} of its test recordings included" if seen_recs else ""
    raise NeurosigError(
        f"--model {where} was pretrained on {len(seen)} of the {len(test_subjects)} test subject(s) of seed {seed} ({shown}{recs}): "
        "its test figures would score subjects the backbone has seen; give the store a 'test' split when preprocessing "
        "(pretraining leaves a store's test split out), or pretrain on another store or with these subjects excluded "
        "(`neurosig preprocess --exclude-subjects-of`), or set finetune.allow_pretrain_overlap: true "
        "(--allow-pretrain-overlap) to report the overlap in metrics.json instead.")


def evaluate_test(table: WindowTable, idx: np.ndarray, prob: np.ndarray, config: FinetuneConfig) -> dict:
    """Everything measured on one seed's test predictions ``prob`` (rows ``idx`` of ``table``): ``metrics`` (per
    window), ``per_subject``, ``per_recording``, for seizures ``events``; also ``y`` and ``prob``.

    The one definition behind :func:`fit_one_seed` and ``neurosig finetune test``, so both report the same keys."""
    idx = np.asarray(idx)
    K = table.n_classes
    y = table.y[idx]
    out = {
        "metrics": classification_metrics(y, prob, K),
        "per_subject": grouped_metrics(y, prob, table.subject[idx], K),
        "per_recording": grouped_metrics(y, prob, table.recording[idx], K),
        "y": y, "prob": prob,
    }
    if config.task == "classification" and table.labels_per_recording():
        out["recording_level"] = recording_level_metrics(y, prob, table.recording[idx], K)
    if config.task == "seizure":
        out["events"] = seizure_event_metrics(table, idx, seizure_scores(prob, table.class_names), config.events)
    return out


BACKGROUND_NAMES = ("bckg", "background", "bg", "normal", "none", "interictal", "non-seizure", "nonseizure", "0")


def seizure_scores(prob: np.ndarray, class_names: Sequence[str] = ()) -> np.ndarray:
    """Ictal score per window: 1 - P(background), with class 0 the background (``bckg`` in the TUSZ and CHB-MIT
    adapters) and every other class a seizure (type). ``prob[:, 1]`` scored only the first seizure type of a
    multi-class store (``tusz_types``) while every label >= 1 is a true event. A class 0 whose name does not read as
    background is logged once."""
    if class_names and str(class_names[0]).strip().lower() not in BACKGROUND_NAMES:
        log_once(log, logging.WARNING, "seizure task: class 0 is %r, scored as background (every other class is ictal); "
                 "relabel the store so that background is class 0 if it is not", str(class_names[0]))
    return 1.0 - np.asarray(prob, dtype=np.float64)[:, 0]




def seizure_event_metrics(table: WindowTable, idx: np.ndarray, scores: np.ndarray, cfg: EventConfig) -> dict:
    """Event metrics pooled over the test recordings (events per recording, durations summed). ``scores``: the
    ictal score per window (:func:`seizure_scores`).

    True events are the annotated seizure intervals (:meth:`WindowTable.true_events`) overlapping the windowed part of
    each recording. Where the data keeps none, they are rebuilt from the window labels >= 1 (any seizure class): a
    window is labelled by the annotation at its centre, so a seizure shorter than a window that falls between two
    centres is missed and the sensitivity is overstated (a warning says so; ``true_events_from`` records which)."""
    tot = {"detected": 0.0, "n_true": 0.0, "hits": 0.0, "n_pred": 0.0, "fa": 0.0, "dur": 0.0}
    sources = set()
    for rec in np.unique(table.recording[idx]):
        m = table.recording[idx] == rec
        starts = table.start[idx][m]
        order = np.argsort(starts)
        starts, s, y = starts[order], scores[m][order], table.y[idx][m][order]
        lo, hi = float(starts.min()), float(starts.max() + table.window_s)
        dur = hi - lo
        annotated = table.true_events(rec)
        if annotated is None:
            sources.add("window_labels")
            true = labels_to_events((y >= 1).astype(np.int64), starts, table.window_s)  # every non-background class
        else:
            sources.add("annotations")
            true = [(max(a, lo), min(b, hi)) for a, b in annotated if b > lo and a < hi]
        pred = scores_to_events(s, starts, table.window_s, cfg)
        em = event_metrics(true, pred, dur, cfg)
        tot["detected"] += 0 if math.isnan(em["event_sensitivity"]) else em["event_sensitivity"] * len(true)
        tot["n_true"] += len(true)
        tot["hits"] += len(pred) - em["false_alarms"]
        tot["n_pred"] += len(pred)
        tot["fa"] += em["false_alarms"]
        tot["dur"] += dur
    if "window_labels" in sources:
        log_once(log, logging.WARNING, "seizure events: the data keeps no annotated event intervals, so true events are rebuilt "
                 "from window labels (the label at each window's centre): a seizure shorter than a window that falls between "
                 "two centres is missed and event sensitivity is overstated")
    return {
        "event_sensitivity": tot["detected"] / tot["n_true"] if tot["n_true"] else math.nan,
        "event_precision": tot["hits"] / tot["n_pred"] if tot["n_pred"] else math.nan,
        "false_alarms_per_24h": tot["fa"] / (tot["dur"] / 3600) * 24 if tot["dur"] else math.nan,
        "n_true_events": tot["n_true"],
        "true_events_from": "+".join(sorted(sources)),
    }


def run_seeds(table: WindowTable, config: FinetuneConfig, seeds: Sequence[int], *, model_dir=None, out_dir=None, progress=True) -> dict:
    """Fit each seed; summary = mean ± sd of the test metrics (+ per-subject/recording, events)."""
    splits = {s: make_split(table, config, s) for s in seeds}
    for s in seeds:  # every seed's test subjects against the pretraining record before any training
        pretrain_overlap(model_dir, table, splits[s], config, s)
    runs = [fit_one_seed(table, config, model_dir=model_dir, seed=s, out_dir=out_dir, split=splits[s], progress=progress)
            for s in seeds]
    if out_dir is not None:  # the split of the first seed is "the" split of the run
        save_split(Path(out_dir) / "split.json", runs[0]["split"], table.subject, windows=table.fingerprint(), seed=seeds[0],
                   task=config.task, model="scratch" if model_dir is None else os.fspath(model_dir))
    return {"summary": summarize_runs(runs, table, config, seeds), "runs": runs}


GROUPS = ("per_subject", "per_recording", "recording_level", "events")  # the summary's metric tables (flat ``group/key``)
COUNT_KEYS = ("n_groups", "n_recordings")  # the unit counts of per_subject/per_recording and recording_level
REPORTED = GROUPS + ("pretrain_overlap",)  # every sub-table of the summary in metrics.json and report.md


def summarize_runs(runs: Sequence[dict], table: WindowTable, config: FinetuneConfig, seeds: Sequence[int]) -> dict:
    """Mean ± sd over seeds of :func:`evaluate_test` results (each run also holds its ``split``), the first seed's
    95 % bootstrap intervals, seeds, task and config: what ``finetune fit`` and ``finetune test`` both report."""
    summary = aggregate_seeds([r["metrics"] for r in runs], METRIC_KEYS)
    for group in GROUPS:
        if all(group in r for r in runs):
            summary[group] = aggregate_seeds([r[group] for r in runs], None if group == "events" else METRIC_KEYS)
            # text entries (events/true_events_from) are the same for every seed: kept as they are
            summary[group].update({k: v for k, v in runs[0][group].items() if isinstance(v, str)})
            for k in COUNT_KEYS:  # how many test subjects/recordings the means are over: kept, not averaged away
                if all(k in r[group] for r in runs):
                    counts = [int(r[group][k]) for r in runs]
                    summary[group][k] = counts[0] if len(set(counts)) == 1 else float(np.mean(counts))
    if any(r.get("pretrain_overlap") for r in runs):  # --model: test subjects seen in pretraining, over all seeds
        ov = [r.get("pretrain_overlap") or {"checked": False} for r in runs]
        seen = sorted({x for o in ov for x in o.get("subjects", [])})
        summary["pretrain_overlap"] = {"checked": all(o["checked"] for o in ov), "n_subjects": len(seen), "subjects": seen}
    summary["seeds"] = list(seeds)
    summary["task"] = config.task
    summary["config"] = dataclasses.asdict(config)
    first = runs[0]
    summary["ci95"] = metric_intervals(first["y"], first["prob"], table.subject[first["split"]["test"]], table.n_classes, seeds[0])
    return summary


def metric_intervals(y: np.ndarray, prob: np.ndarray, subjects: np.ndarray, n_classes: int, seed: int) -> dict:
    """95 % bootstrap intervals of the test metrics of one seed's model on its split (``split.json`` is the first
    seed's): over test subjects (cluster bootstrap), or windows when the test split holds one subject."""
    out = bootstrap_metrics(y, prob, n_classes, groups=subjects, n_boot=1000, seed=0)
    out["seed"] = int(seed)
    return out


def finetune_and_report(data, config="configs/finetune/classification.yaml", *, model_dir=None, seeds=(0,),
                        out_dir="runs/finetune", json_path=None, epochs: int | None = None, progress: bool = True) -> dict:
    """Fit on a store (path or ShardStore), write ``report.md`` (+ PNGs), ``metrics.json`` and the
    weights into ``out_dir``; returns the flat metrics dict (what ``neurosig finetune fit`` does).

    ``model_dir=None`` trains the scratch encoder. For ``neurosig quickstart`` and scripts.
    """
    from neurosig.datasets.store import ShardStore

    cfg = config if isinstance(config, FinetuneConfig) else load_finetune_config(config)
    if epochs is not None:  # 0 is not "use the config's": FinetuneConfig rejects it in one line
        cfg = dataclasses.replace(cfg, epochs=int(epochs))
    store = data if hasattr(data, "manifest") else ShardStore(data)
    table = WindowTable.from_store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = run_seeds(table, cfg, list(seeds), model_dir=model_dir, out_dir=out, progress=progress)
    for r, s in zip(res["runs"], seeds):
        torch.save(r["module"].state_dict(), out / f"finetuned_seed{s}.pt")
    return write_outputs(out, res["summary"], res["runs"][0], table, cfg, model_dir=model_dir, json_path=json_path)


def write_outputs(out_dir, summary: dict, first: dict, table: WindowTable, config: FinetuneConfig, *, model_dir=None,
                  json_path=None) -> dict:
    """``report.md`` (+ PNGs from the first seed's predictions ``first``) and ``metrics.json`` (and ``json_path``) in
    ``out_dir`` from a :func:`summarize_runs` summary; returns the flat metrics. Shared by ``finetune fit`` and ``test``."""
    from neurosig.evaluation.reports import write_json, write_report

    out = Path(out_dir)
    flat = flat_summary(summary)
    extra = {k: summary[k] for k in REPORTED if k in summary}
    write_report(out, summary, first["y"], first["prob"], table.class_names or None,
                 title=f"neurosig fine-tuning: {config.task} ({'scratch' if model_dir is None else model_dir})", extra=extra)
    write_json(out / "metrics.json", flat)
    if json_path:
        write_json(json_path, flat)
    return flat


def flat_summary(summary: dict) -> dict:
    """Flat JSON: the METRIC_KEYS (+ _std) at top level; per-subject/recording/event under prefixes."""
    out = {k: summary[k] for k in summary if k.split("_std")[0] in METRIC_KEYS}
    for group in REPORTED:
        for k, v in summary.get(group, {}).items():
            out[f"{group}/{k}"] = v
    ci = summary.get("ci95")
    if ci:
        out.update({f"{k}_ci95": ci[k] for k in METRIC_KEYS if k in ci})
        out.update({f"ci95_{k}": ci[k] for k in ("unit", "n_units", "n_boot", "seed")})
    out["n_seeds"] = len(summary["seeds"])
    out["task"] = summary["task"]
    return out
