"""Test-blind check of two head variants for ``neurosig bench real`` on the signal blocks alone.

Scores, on the benchmark's validation protocol (3 blocked folds carved from each TRAINING split, fine-tuning
seeds 0,1,2; test trials never touched), the token-free blocks of ``ensemble_c``
(cum | cum12 | slow | slow12 | rspec | ts) combined four ways:

- ``mean``: the benchmark's FeatureHead (block probabilities averaged equally);
- ``cv``: FeatureHead weighting ``cv`` (blocks weighted by their CV balanced accuracy above chance);
- ``stack@C``: stacked generalisation — each block's out-of-fold probabilities (inner blocked folds)
  feed a logistic meta-learner (inverse regularisation C), applied to the blocks refitted on all rows;
- ``+dc``: ``mean`` with one more block, the per-channel trial mean before demeaning (DC level).

    python scripts/explore_head_variants.py --json runs/explore/head_variants.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

class StackedHead:
    """Per-block FeatureHeads, combined by a logistic meta-learner fitted on their out-of-fold log-probabilities."""

    def __init__(self, blocks, seed: int, meta_c: float = 1.0, inner: int = 3):
        self.blocks, self.seed, self.meta_c, self.inner = blocks, seed, meta_c, inner

    @staticmethod
    def _z(p: np.ndarray) -> np.ndarray:
        return np.log(np.clip(p, 1e-4, 1.0)).reshape(len(p), -1)

    def fit(self, feats, y):
        from sklearn.linear_model import LogisticRegression

        from neurosig.evaluation.benchmark import FeatureHead, subset, validation_folds

        oof = np.zeros((len(y), len(self.blocks), len(np.unique(y))))
        for itr, iva in validation_folds(y, self.inner, self.seed):
            for j, b in enumerate(self.blocks):
                oof[iva, j] = FeatureHead([b], self.seed).fit(subset(feats, itr), y[itr]).predict_proba(subset(feats, iva))
        self.heads_ = [FeatureHead([b], self.seed).fit(feats, y) for b in self.blocks]
        self.meta_ = LogisticRegression(C=self.meta_c, class_weight="balanced", max_iter=1000).fit(self._z(oof), y)
        return self

    def predict(self, feats):
        return self.meta_.predict(self._z(np.stack([h.predict_proba(feats) for h in self.heads_], 1)))


def main(argv=None) -> int:
    from sklearn.metrics import balanced_accuracy_score

    from neurosig.cli.bench import _demean, bench_config
    from neurosig.evaluation.benchmark import FeatureHead, hand_features, load_bench_set, subset, to_model_rate, validation_folds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="SelfRegulationSCP1,FingerMovements,EyesOpenShut")
    ap.add_argument("--ft-seeds", default="0,1,2")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    cfg = bench_config()
    rate, P = cfg["model_rate_hz"], cfg["tokenizer"]["config"]["patch_len"]
    blocks = cfg["ablation_heads"]["ensemble_c-without-tokens"]  # the signal blocks of the default head
    names = [n for n in a.datasets.split(",") if n]
    variants = {"mean": lambda sd: FeatureHead(blocks, sd), "cv": lambda sd: FeatureHead(blocks, sd, "cv"),
                "stack@1": lambda sd: StackedHead(blocks, sd, 1.0), "stack@0.1": lambda sd: StackedHead(blocks, sd, 0.1),
                "stack@0.01": lambda sd: StackedHead(blocks, sd, 0.01), "+dc": lambda sd: FeatureHead(blocks + [["dc"]], sd)}
    table: dict[str, dict[str, float]] = {v: {} for v in variants}
    for name in names:
        s = load_bench_set(name)
        xr = to_model_rate(s.x_train, s.sfreq, rate)  # TRAINING split only
        feats = {**hand_features(_demean(xr), P), "dc": xr.mean(-1).astype(np.float32)}
        scores: dict[str, list[float]] = {v: [] for v in variants}
        for sd in (int(x) for x in a.ft_seeds.split(",")):
            for itr, iva in validation_folds(s.y_train, cfg["val_folds"], sd, cfg["fold_order"]):
                for v, make in variants.items():
                    head = make(sd).fit(subset(feats, itr), s.y_train[itr])
                    scores[v].append(balanced_accuracy_score(s.y_train[iva], head.predict(subset(feats, iva))))
        for v in variants:
            table[v][name] = float(np.mean(scores[v]))
        print(name, {v: round(table[v][name], 3) for v in variants}, flush=True)
    for v in variants:
        table[v]["val"] = float(np.mean([table[v][n] for n in names]))
        print(f"{v:<12} val {table[v]['val']:.3f}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
