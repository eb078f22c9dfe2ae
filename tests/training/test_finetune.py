"""Tiny end-to-end fine-tuning on synthetic windows (classification, sleep staging, seizures)."""

import numpy as np
import pytest
import torch

from neurosig import NeurosigError
from neurosig.training.finetune import (
    FinetuneConfig,
    WindowTable,
    fit_one_seed,
    flat_summary,
    make_split,
    param_groups,
    run_seeds,
)
from neurosig.models.heads import PatchEncoder, ClassificationHead


def _items(n_subjects=6, per=16, C=3, T=100, sfreq=50.0, seed=0, n_classes=2):
    """Class k adds a k*3 Hz-ish sinusoid; subjects differ in amplitude."""
    rng = np.random.default_rng(seed)
    items, rec, start = [], [], []
    t = np.arange(T) / sfreq
    for s in range(n_subjects):
        for i in range(per):
            y = int(rng.integers(0, n_classes))
            x = rng.normal(0, 1, (C, T)) + 3.0 * y * np.sin(2 * np.pi * 5 * t)[None]
            items.append(dict(x=x.astype(np.float32), pos=np.full((C, 3), np.nan, np.float32), ch_type=np.zeros(C, np.int64),
                              ch_mask=np.ones(C, bool), sfreq=sfreq, y=y, subject=f"sub{s}"))
            rec.append(f"rec{s}")
            start.append(i * T / sfreq)
    return items, rec, start


def _cfg(**kw):
    base = dict(epochs=6, patience=10, batch_size=16, lr=3e-3, mode="full", pooling="mean",
                scratch=dict(d_model=16, n_layers=1, n_heads=2, patch_len=25))
    base.update(kw)
    return FinetuneConfig(**base)


def test_classification_loss_falls_and_beats_chance(tmp_path):
    items, rec, start = _items()
    table = WindowTable.from_items(items, recording=rec, start=start)
    out = fit_one_seed(table, _cfg(), seed=0, out_dir=tmp_path, progress=False)
    assert out["history"][-1] < out["history"][0]
    assert out["metrics"]["balanced_accuracy"] > 0.7
    assert (tmp_path / "split_seed0.json").exists()
    assert set(table.subject[out["split"]["train"]]).isdisjoint(table.subject[out["split"]["test"]])


def test_run_seeds_summary_and_split_deterministic(tmp_path):
    items, rec, start = _items(n_subjects=12, per=8)  # several test subjects, for the interval over subjects
    table = WindowTable.from_items(items, recording=rec, start=start)
    cfg = _cfg(epochs=2, pooling="attention", mode="llrd")
    a, b = make_split(table, cfg, 1), make_split(table, cfg, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    res = run_seeds(table, cfg, [0, 1], out_dir=tmp_path, progress=False)
    s = res["summary"]
    for k in ("balanced_accuracy", "cohen_kappa", "weighted_f1", "auroc", "auprc"):
        assert k in s and k + "_std" in s
    assert (tmp_path / "split.json").exists()
    # the first seed's interval over its test subjects, in the summary, the flat JSON and the report
    ci, first = s["ci95"], res["runs"][0]
    assert ci["unit"] == "subjects" and ci["n_units"] == len(set(table.subject[first["split"]["test"]])) >= 2
    lo, hi = ci["balanced_accuracy"]
    assert 0.0 <= lo <= first["metrics"]["balanced_accuracy"] <= hi <= 1.0
    flat = flat_summary(s)
    assert flat["balanced_accuracy_ci95"] == [lo, hi] and flat["ci95_unit"] == "subjects"
    from neurosig.evaluation.reports import write_report

    text = write_report(tmp_path, s, first["y"], first["prob"]).read_text()
    assert f"[{lo:.4f}, {hi:.4f}]" in text and "test subjects" in text


def test_sleep_staging_context_path():
    items, rec, start = _items(n_subjects=5, per=10, n_classes=5, seed=1)
    table = WindowTable.from_items(items, recording=rec, start=start)
    out = fit_one_seed(table, _cfg(task="sleep", context=1, epochs=2), seed=0, progress=False)
    assert out["prob"].shape[1] == 5
    assert np.allclose(out["prob"].sum(1), 1, atol=1e-5)


def test_seizure_path_reports_events():
    items, rec, start = _items(n_subjects=5, per=20, seed=2)
    table = WindowTable.from_items(items, recording=rec, start=start)
    out = fit_one_seed(table, _cfg(task="seizure", epochs=4, events=dict(tolerance_s=0.0, merge_gap_s=0.0)), seed=0, progress=False)
    ev = out["events"]
    assert 0.0 <= ev["event_sensitivity"] <= 1.0 and ev["false_alarms_per_24h"] >= 0


def test_linear_probe_freezes_and_llrd_decays():
    enc = PatchEncoder(d_model=16, n_layers=3, n_heads=2, patch_len=10)
    head = ClassificationHead(16, 2, "mean")
    g = param_groups(enc, head, FinetuneConfig(mode="llrd", lr=1.0, layer_decay=0.5))
    lrs = sorted({grp["lr"] for grp in g})
    assert lrs[0] == pytest.approx(0.5 ** 4) and lrs[-1] == 1.0
    g = param_groups(enc, head, FinetuneConfig(mode="linear"))
    assert len(g) == 1 and not any(p.requires_grad for p in enc.parameters())


def test_config_errors():
    with pytest.raises(NeurosigError, match="finetune.task"):
        FinetuneConfig(task="nope")
    with pytest.raises(NeurosigError, match="finetune.mode"):
        FinetuneConfig(mode="half")
    with pytest.raises(NeurosigError, match="fractions"):
        FinetuneConfig(fractions=(0.5, 0.5, 0.5))


def test_epochs_zero_is_refused_not_ignored(tmp_path):
    # `if epochs:` ran the config's epochs for epochs=0
    from neurosig.training.finetune import finetune_and_report

    with pytest.raises(NeurosigError, match="finetune.epochs must be > 0, got 0"):
        finetune_and_report(tmp_path / "no_store", "configs/finetune/debug.yaml", epochs=0, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_split_files_carry_the_window_fingerprint(tmp_path):
    import json

    items, rec, start = _items(per=10, T=100)
    table = WindowTable.from_items(items, recording=rec, start=start)
    fit_one_seed(table, _cfg(epochs=1), seed=0, out_dir=tmp_path, progress=False)
    doc = json.loads((tmp_path / "split_seed0.json").read_text())
    assert doc["windows"] == table.fingerprint() and doc["windows"]["n_windows"] == len(items)
    assert doc["meta"]["model"] == "scratch"
    other = WindowTable.from_items(items[::-1], recording=rec[::-1], start=start[::-1])
    assert other.fingerprint() != table.fingerprint()


def test_from_pretrained_dir_linear_probe_keeps_backbone(tmp_path):
    """--model DIR path: FoundationModel.load + embed; a linear probe leaves the backbone untouched."""
    from neurosig.models import FoundationModel, foundation_config
    from neurosig.models._testing import ToyTokenizer

    tok = ToyTokenizer()
    model = FoundationModel(foundation_config("tiny", codebook_sizes=tok.codebook_sizes))
    model.save_pretrained(tmp_path / "pre", tokenizer=tok)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    items, rec, start = _items(per=10, T=100)
    table = WindowTable.from_items(items, recording=rec, start=start)
    out = fit_one_seed(table, _cfg(mode="linear", epochs=2), model_dir=tmp_path / "pre", seed=0, progress=False)
    after = out["module"].encoder.model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in out["module"].encoder.parameters())
    assert all(p.requires_grad for p in out["module"].head.out.parameters())
    # standardised features: the head's LayerNorm affine is redundant before the BatchNorm and stays fixed
    assert not any(p.requires_grad for p in out["module"].head.norm.parameters())
    with pytest.raises(NeurosigError, match="is not a directory"):
        fit_one_seed(table, _cfg(), model_dir=tmp_path / "missing", seed=0, progress=False)


class _OffsetFeatureEncoder(torch.nn.Module):
    """Frozen features like a pretrained backbone's: a large common offset per dimension plus a
    small class-bearing spread (a fixed random projection of the channel means)."""

    def __init__(self, C=3, d=16, spread=0.02, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("offset", 5.0 * torch.randn(d, generator=g))
        self.proj = torch.nn.Parameter(spread * torch.randn(C, d, generator=g))  # frozen by mode=linear
        self.d_model = d

    def forward(self, batch):
        x = batch["x"]  # (B, C, T)
        h = self.offset + x.mean(-1) @ self.proj  # (B, d)
        h = h[:, None, None, :]  # (B, 1, 1, d): one token per window
        return h, torch.ones(h.shape[:3], dtype=torch.bool)


def _separable_items(n_subjects=6, per=20, C=3, T=50, seed=0):
    """Class 1 shifts channel 0 by +1 (noise sd 0.3 after averaging over time): separable."""
    rng = np.random.default_rng(seed)
    items = []
    for s in range(n_subjects):
        for _ in range(per):
            y = int(rng.integers(0, 2))
            x = rng.normal(0, 2.0, (C, T)).astype(np.float32)
            x[0] += 2.0 * y - 1.0
            items.append(dict(x=x, pos=np.full((C, 3), np.nan, np.float32), ch_type=np.zeros(C, np.int64),
                              ch_mask=np.ones(C, bool), sfreq=50.0, y=y, subject=f"sub{s}"))
    return items


@pytest.mark.parametrize("standardize", [True, False])
def test_linear_probe_reaches_logistic_regression_on_frozen_features(monkeypatch, standardize):
    """mode=linear on frozen, linearly separable features with a small spread next to a large
    offset: with standardised features the probe matches a standardised logistic regression on
    the same features; without, it is allowed to lag (the failure the option fixes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import neurosig.training.finetune as ft

    enc = _OffsetFeatureEncoder()
    before = enc.proj.detach().clone()
    monkeypatch.setattr(ft, "make_encoder", lambda model_dir, config: enc)
    table = WindowTable.from_items(_separable_items())
    cfg = _cfg(mode="linear", pooling="mean", lr=1e-2, epochs=15, patience=15, standardize_features=standardize)
    out = fit_one_seed(table, cfg, seed=0, progress=False)
    assert torch.equal(enc.proj, before)  # the backbone stayed frozen

    sp = out["split"]
    tr = np.concatenate([sp["train"], sp["val"]])
    with torch.no_grad():
        feats = lambda idx: enc({"x": torch.as_tensor(np.stack([table.dataset[int(i)]["x"] for i in idx]))})[0][:, 0, 0].numpy()  # noqa: E731
        ftr, fte = feats(tr), feats(sp["test"])
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(ftr, table.y[tr])
    ref_acc = balanced_accuracy_score(table.y[sp["test"]], ref.predict(fte))
    assert ref_acc > 0.9  # the features are separable
    acc = out["metrics"]["balanced_accuracy"]
    if standardize:
        assert acc >= ref_acc - 0.05 and acc > 0.85
        assert out["module"].feature_norm is not None
    else:
        assert out["module"].feature_norm is None


def test_standardised_probe_handles_one_window_batches():
    """A last training batch of one window must not break the BatchNorm standardisation."""
    from neurosig.training.finetune import FinetuneModule

    module = FinetuneModule(_OffsetFeatureEncoder(), 2, FinetuneConfig(mode="linear", pooling="mean"))
    module.train()
    x = torch.randn(1, 3, 50)
    logits = module({"x": x})
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()


def test_tiny_single_subject_split_keeps_one_validation_window():
    """A standard split with a handful of training windows of one subject still gets a val window."""
    items = _separable_items(n_subjects=1, per=7)
    split = ["train"] * 4 + ["test"] * 3
    table = WindowTable.from_items(items, split=split)
    for seed in range(6):
        sp = make_split(table, FinetuneConfig(val_fraction=0.15), seed)
        assert len(sp["val"]) >= 1 and len(sp["train"]) >= 1 and len(sp["test"]) == 3
        assert set(sp["train"]).isdisjoint(sp["val"]) and set(sp["train"]) | set(sp["val"]) == {0, 1, 2, 3}


def test_single_subject_carve_is_said_once_per_process():
    """The window-hash carve holds for every seed of a run: the log says it once, not once per seed."""
    import logging

    from neurosig._utils import logging as nlog

    items = _separable_items(n_subjects=1, per=7)
    table = WindowTable.from_items(items, split=["train"] * 4 + ["test"] * 3)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("neurosig.training.finetune")
    logger.addHandler(handler)
    key = "1 training subject(s), fewer than 3: validation carved by window hash, not by subject"
    nlog._LOGGED_ONCE.discard(("neurosig.training.finetune", logging.INFO, key))  # fresh, whatever ran before
    try:
        for seed in range(4):
            make_split(table, FinetuneConfig(val_fraction=0.15), seed)
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records if r.levelno == logging.INFO] == [key]
    # another text (another count) is a new fact: said too
    log = logging.getLogger("neurosig.test_log_once")
    assert nlog.log_once(log, logging.INFO, "x %d", 1) and not nlog.log_once(log, logging.INFO, "x %d", 1)
    assert nlog.log_once(log, logging.INFO, "x %d", 2) and nlog.log_once(log, logging.WARNING, "x %d", 1)


def test_standardised_probe_state_round_trips(monkeypatch):
    """`neurosig finetune test` reloads finetuned_seed*.pt into a fresh module: the feature
    statistics travel with the weights and the reloaded probe predicts the same probabilities."""
    import neurosig.training.finetune as ft
    from neurosig.training.finetune import FinetuneModule, predict

    enc = _OffsetFeatureEncoder()
    monkeypatch.setattr(ft, "make_encoder", lambda model_dir, config: enc)
    table = WindowTable.from_items(_separable_items(per=10))
    cfg = _cfg(mode="linear", pooling="mean", lr=1e-2, epochs=3)
    out = fit_one_seed(table, cfg, seed=0, progress=False)
    state = out["module"].state_dict()
    assert int(state["feature_norm.num_batches_tracked"]) > 0
    fresh = FinetuneModule(_OffsetFeatureEncoder(), table.n_classes, cfg)
    fresh.load_state_dict(state)
    loader = ft._loader(table, out["split"]["test"], cfg, False, 0)
    assert np.allclose(predict(fresh, loader), out["prob"], atol=1e-6)


@pytest.mark.parametrize("mode", ["full", "linear"])
def test_training_modes_from_pretrained_dir(tmp_path, monkeypatch, mode):
    """A pretrained directory loads in eval mode. Full fine-tuning must still train the backbone in train mode
    (dropout on), while the tokenizer (EMA codebooks: its codes are fixed targets) stays in eval mode and unchanged;
    a linear probe keeps the whole frozen encoder in eval mode. Lightning keeps each module's mode as found."""
    from neurosig.models import FoundationModel, foundation_config
    from neurosig.tokenizers import build_tokenizer
    from neurosig.training.finetune import FinetuneModule

    tok = build_tokenizer("rvq", {"patch_len": 25, "n_levels": 2, "codebook_size": 16, "code_dim": 8,
                                  "branch_channels": 4, "hidden": 16, "sfreq": 50.0, "sensors": {"name_free": True}})
    model = FoundationModel(foundation_config("tiny", codebook_sizes=tok.codebook_sizes))
    model.save_pretrained(tmp_path / "pre", tokenizer=tok.eval())
    before = {k: v.clone() for k, v in FoundationModel.load(tmp_path / "pre")[1].state_dict().items()}
    seen = []
    step = FinetuneModule.training_step

    def spy(self, batch, i):
        seen.append((self.encoder.tokenizer.training, self.encoder.model.training, self.head.training))
        return step(self, batch, i)

    monkeypatch.setattr(FinetuneModule, "training_step", spy)
    items, rec, start = _items(per=10, T=100)
    table = WindowTable.from_items(items, recording=rec, start=start)
    out = fit_one_seed(table, _cfg(mode=mode, epochs=2), model_dir=tmp_path / "pre", seed=0, progress=False)
    assert set(seen) == {(False, mode == "full", True)}  # every training step, after validation epochs too
    after = out["module"].encoder.tokenizer.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_standard_test_split_sharing_subjects_with_train_is_refused():
    """A store's own test split was never checked: subjects in both train and test were scored as unseen."""
    items, rec, start = _items(n_subjects=6, per=4)
    subj = np.array([it["subject"] for it in items])
    split = np.where(np.isin(subj, ["sub4", "sub5"]), "test", "train")
    split[(subj == "sub0") & (np.arange(len(subj)) % 4 == 0)] = "test"  # sub0 and sub2 leak one window each
    split[(subj == "sub2") & (np.arange(len(subj)) % 4 == 1)] = "test"
    table = WindowTable.from_items(items, recording=rec, start=start, split=split)
    with pytest.raises(NeurosigError, match=r"'test' split shares 2 subject\(s\) with its train/val rows \(sub0, sub2\).*rebuild the store"):
        make_split(table, FinetuneConfig(), 0)
    clean = WindowTable.from_items(items, recording=rec, start=start, split=np.where(np.isin(subj, ["sub4", "sub5"]), "test", "train"))
    sp = make_split(clean, FinetuneConfig(), 0)
    assert set(clean.subject[sp["test"]]) == {"sub4", "sub5"}


def test_one_subject_standard_split_is_within_subject_with_a_warning(caplog):
    """A one-subject set (BCI competition session split) has no subject-disjoint test: kept, with a warning."""
    items = _separable_items(n_subjects=1, per=7)
    table = WindowTable.from_items(items, split=["train"] * 4 + ["test"] * 3)
    from neurosig._utils import logging as nlog

    nlog._LOGGED_ONCE.clear()
    with caplog.at_level("WARNING", logger="neurosig.training.finetune"):
        sp = make_split(table, FinetuneConfig(val_fraction=0.15), 0)
    assert len(sp["test"]) == 3 and "within-subject" in caplog.text


def _pretrained_dir(path, subjects=None, recordings=()):
    """A tiny FoundationModel export; ``subjects`` given → its pretrain_subjects.json record."""
    from neurosig.models import FoundationModel, foundation_config
    from neurosig.models._testing import ToyTokenizer

    tok = ToyTokenizer()
    model = FoundationModel(foundation_config("tiny", codebook_sizes=tok.codebook_sizes))
    rec = None if subjects is None else {"format": 1, "subjects": sorted(subjects), "recording_key": "source",
                                         "recordings": sorted(recordings)}
    model.save_pretrained(path, tokenizer=tok, pretrain_subjects=rec)
    return path


def test_model_pretrained_on_test_subjects_is_refused_before_training(tmp_path, monkeypatch):
    """A store without a test split: pretraining took every subject, finetune picked test subjects by its own hash."""
    from neurosig.training import finetune as ft

    items, rec, start = _items(n_subjects=6, per=4)
    table = WindowTable.from_items(items, recording=rec, start=start)
    test = sorted(set(table.subject[make_split(table, _cfg(), 0)["test"]]))
    model = _pretrained_dir(tmp_path / "pre", subjects=[f"unknown:sub{i}" for i in range(6)])
    trained = []
    monkeypatch.setattr(ft, "make_encoder", lambda *a, **k: trained.append(1))  # nothing may be built or trained
    with pytest.raises(NeurosigError, match=rf"pretrained on {len(test)} of the {len(test)} test subject\(s\) of seed 0 "
                       rf"\(unknown:{test[0]}.*exclude-subjects-of.*allow_pretrain_overlap"):
        run_seeds(table, _cfg(), [0, 1], model_dir=model)
    with pytest.raises(NeurosigError, match="pretrained on"):
        fit_one_seed(table, _cfg(), model_dir=model, seed=0, progress=False)
    assert not trained
    # a model pretrained on other subjects passes the check and says so
    clean = _pretrained_dir(tmp_path / "clean", subjects=["unknown:someone-else", "tuh:aaaaaaav"])
    assert ft.pretrain_overlap(clean, table, make_split(table, _cfg(), 0), _cfg(), 0) == {
        "checked": True, "subjects": [], "n_subjects": 0, "n_test_subjects": len(test)}


def test_allowed_pretrain_overlap_is_reported_in_metrics_and_report(tmp_path):
    from neurosig.training.finetune import write_outputs

    items, rec, start = _items(n_subjects=6, per=4)
    table = WindowTable.from_items(items, recording=rec, start=start)
    test = sorted(set(table.subject[make_split(table, _cfg(), 0)["test"]]))
    model = _pretrained_dir(tmp_path / "pre", subjects=[f"unknown:sub{i}" for i in range(6)])
    cfg = _cfg(epochs=1, mode="linear", allow_pretrain_overlap=True)
    res = run_seeds(table, cfg, [0], model_dir=model, progress=False)
    assert res["summary"]["pretrain_overlap"] == {"checked": True, "n_subjects": len(test), "subjects": [f"unknown:{s}" for s in test]}
    flat = write_outputs(tmp_path / "run", res["summary"], res["runs"][0], table, cfg, model_dir=model)
    assert flat["pretrain_overlap/subjects"] == [f"unknown:{s}" for s in test] and flat["pretrain_overlap/checked"] is True
    assert "## pretrain_overlap" in (tmp_path / "run" / "report.md").read_text()


def test_model_without_record_warns_that_overlap_cannot_be_checked(tmp_path, caplog):
    from neurosig._utils import logging as nlog
    from neurosig.training.finetune import pretrain_overlap

    items, rec, start = _items(n_subjects=6, per=4)
    table = WindowTable.from_items(items, recording=rec, start=start)
    old = _pretrained_dir(tmp_path / "old")  # exported without a record (older models)
    nlog._LOGGED_ONCE.clear()
    with caplog.at_level("WARNING", logger="neurosig.training.finetune"):
        assert pretrain_overlap(old, table, make_split(table, _cfg(), 0), _cfg(), 0) == {"checked": False}
    assert "has no pretrain_subjects.json" in caplog.text and "cannot check" in caplog.text
    (old / "pretrain_subjects.json").write_text("{not json")
    with pytest.raises(NeurosigError, match="pretrain_subjects.json' is damaged"):
        pretrain_overlap(old, table, make_split(table, _cfg(), 0), _cfg(), 0)
    assert pretrain_overlap(None, table, make_split(table, _cfg(), 0), _cfg(), 0) == {}  # --scratch: nothing to check


def test_within_subject_store_reports_pretrain_overlap_unless_test_recordings_were_seen(tmp_path):
    """One-subject set split by session (quickstart): fine-tuning trains on the test subject anyway; pretraining on
    its training session adds no new leak, pretraining on its test recordings does."""
    from neurosig.training.finetune import pretrain_overlap

    items = _separable_items(n_subjects=1, per=8)
    table = WindowTable.from_items(items, recording=["train-sess"] * 4 + ["test-sess"] * 4, split=["train"] * 4 + ["test"] * 4)
    split = make_split(table, _cfg(), 0)
    ok = _pretrained_dir(tmp_path / "ok", subjects=["unknown:sub0"], recordings=["train-sess"])
    assert pretrain_overlap(ok, table, split, _cfg(), 0)["subjects"] == ["unknown:sub0"]
    seen = _pretrained_dir(tmp_path / "seen", subjects=["unknown:sub0"], recordings=["train-sess", "test-sess"])
    with pytest.raises(NeurosigError, match="1 of its test recordings included"):
        pretrain_overlap(seen, table, split, _cfg(), 0)


def test_seizure_events_on_a_multiclass_store_score_every_seizure_type():
    """tusz_types-like store: a perfect 3-class model (bckg, fnsz, gnsz) got event sensitivity 0.5 from prob[:, 1]."""
    from neurosig.training.finetune import evaluate_test, seizure_scores

    y = np.zeros(100, int)
    y[10:14] = 1  # fnsz, 100-140 s
    y[50:54] = 2  # gnsz, 500-540 s
    items = [dict(x=np.zeros((1, 10), np.float32), sfreq=1.0, y=int(v), subject="s") for v in y]
    table = WindowTable.from_items(items, recording=["r"] * 100, start=np.arange(100) * 10.0, class_names=["bckg", "fnsz", "gnsz"])
    prob = np.eye(3)[y]
    ev = evaluate_test(table, np.arange(100), prob, FinetuneConfig(task="seizure"))["events"]
    assert ev["event_sensitivity"] == 1.0 and ev["event_precision"] == 1.0 and ev["false_alarms_per_24h"] == 0.0
    assert ev["n_true_events"] == 2
    np.testing.assert_allclose(seizure_scores(prob), (y > 0).astype(float))
    binary = np.array([[0.7, 0.3], [0.2, 0.8]])
    np.testing.assert_allclose(seizure_scores(binary), binary[:, 1])  # binary stores: unchanged


def test_sleep_context_neighbours_are_looked_up_by_time_not_position():
    """Epochs dropped from a night (Movement time, '?') leave holes: the epoch at 120 s had the one at 60 s as its -1."""
    from neurosig.training.finetune import ContextDataset

    starts = [0.0, 30.0, 60.0, 120.0, 150.0, 0.0, 30.0]  # 90 s dropped; a second recording starts over
    recs = ["a"] * 5 + ["b"] * 2
    items = [dict(x=np.full((1, 30), float(i), np.float32), sfreq=1.0, y=0, subject="s") for i in range(len(starts))]
    table = WindowTable.from_items(items, recording=recs, start=starts)
    ds = ContextDataset(table, np.arange(len(items)), 2)
    it = ds[3]  # a at 120 s: -2 = 60 s (row 2), -1 = 90 s (dropped), +1 = 150 s (row 4), +2 = 180 s (none)
    assert it["ctx_mask"].tolist() == [True, False, True, True, False]
    assert [float(x[0, 0]) for x in it["ctx_x"]] == [2.0, 0.0, 3.0, 4.0, 0.0]
    it = ds[5]  # b at 0 s: never a's epochs
    assert it["ctx_mask"].tolist() == [False, False, True, True, False]
    assert [float(x[0, 0]) for x in it["ctx_x"]] == [0.0, 0.0, 5.0, 6.0, 0.0]


def test_short_seizure_between_window_centres_is_scored_against_its_annotation(caplog):
    """An 8 s seizure at 96-104 s covers no 10 s window's centre (95 s, 105 s): every window is labelled background,
    the seizure vanished from the truth and a detector that never fires there lost nothing."""
    from neurosig._utils import logging as nlog
    from neurosig.evaluation.events import EventConfig
    from neurosig.training.finetune import seizure_event_metrics

    starts = np.arange(20) * 10.0
    items = [dict(x=np.zeros((1, 10), np.float32), sfreq=1.0, y=0, subject="s") for _ in starts]
    silent = np.zeros(20)  # never fires
    table = WindowTable.from_items(items, recording=["r"] * 20, start=starts, events={"r": [(96.0, 104.0)]})
    ev = seizure_event_metrics(table, np.arange(20), silent, EventConfig(tolerance_s=0.0))
    assert ev["n_true_events"] == 1 and ev["event_sensitivity"] == 0.0 and ev["true_events_from"] == "annotations"
    hit = silent.copy()
    hit[9] = 0.9  # the window 90-100 s overlaps the seizure
    assert seizure_event_metrics(table, np.arange(20), hit, EventConfig(tolerance_s=0.0))["event_sensitivity"] == 1.0
    # without annotation intervals the truth comes from the window labels, and a warning says what that misses
    bare = WindowTable.from_items(items, recording=["r"] * 20, start=starts)
    nlog._LOGGED_ONCE.clear()
    with caplog.at_level("WARNING", logger="neurosig.training.finetune"):
        ev = seizure_event_metrics(bare, np.arange(20), silent, EventConfig(tolerance_s=0.0))
    assert ev["n_true_events"] == 0 and ev["true_events_from"] == "window_labels"
    assert "rebuilt from window labels" in caplog.text and "overstated" in caplog.text


def test_recording_labels_get_recording_level_metrics_in_the_summary():
    from neurosig.training.finetune import evaluate_test, summarize_runs

    items, rec, start = _items(n_subjects=6, per=4)
    for i, it in enumerate(items):
        it["y"] = int(rec[i][-1]) % 2  # one label per recording (TUAB)
    table = WindowTable.from_items(items, recording=rec, start=start)
    assert table.labels_per_recording()
    idx = np.arange(len(items))
    prob = np.eye(2)[table.y] * 0.8 + 0.1
    out = evaluate_test(table, idx, prob, _cfg())
    assert out["recording_level"]["auroc"] == 1.0 and out["recording_level"]["n_recordings"] == 6
    summary = summarize_runs([{**out, "split": {"test": idx}}], table, _cfg(), [0])
    flat = flat_summary(summary)
    assert flat["recording_level/balanced_accuracy"] == 1.0 and flat["recording_level/auroc"] == 1.0
    # window labels that vary within a recording (sleep, seizures): no recording-level table
    mixed = WindowTable.from_items(_items(n_subjects=6, per=4)[0], recording=rec, start=start)
    assert not mixed.labels_per_recording()
    assert "recording_level" not in evaluate_test(mixed, idx, np.eye(2)[mixed.y], _cfg())


def test_group_counts_are_kept_in_metrics_and_report(tmp_path):
    """per_subject/n_groups was dropped by the seed aggregation: metrics.json and report.md did not say over how many
    test subjects/recordings the means were taken."""
    from neurosig.training.finetune import evaluate_test, summarize_runs, write_outputs

    items, rec, start = _items(n_subjects=6, per=4)
    table = WindowTable.from_items(items, recording=rec, start=start)
    idx = np.arange(12)  # three subjects
    prob = np.eye(2)[table.y[idx]] * 0.8 + 0.1
    runs = [{**evaluate_test(table, idx, prob, _cfg()), "split": {"test": idx}} for _ in range(2)]
    summary = summarize_runs(runs, table, _cfg(), [0, 1])
    flat = write_outputs(tmp_path, summary, runs[0], table, _cfg())
    assert flat["per_subject/n_groups"] == 3 and flat["per_recording/n_groups"] == 3
    report = (tmp_path / "report.md").read_text()
    assert report.split("## per_subject")[1].split("##")[0].count("| n_groups | 3 |") == 1
