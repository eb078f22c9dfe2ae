"""`neurosig finetune fit|test` on a TUAB-layout miniature store: JSON keys, report, split file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
miniatures = pytest.importorskip("miniatures")

from neurosig.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from neurosig.datasets import build_store
    from neurosig.datasets.registry import get_adapter

    d = tmp_path_factory.mktemp("ft")
    miniatures.make_tuab(d / "tuab")
    build_store(d / "tuab", d / "store", adapter="tuab", config=get_adapter("tuab").default_config(), progress=False)
    return d / "store"


def test_fit_then_test(store, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("finetune:\n  epochs: 1\n  batch_size: 8\n  pooling: mean\n  scratch: {d_model: 16, n_layers: 1, n_heads: 2, patch_len: 250}\n")
    out = tmp_path / "run"
    rc = main(["finetune", "fit", "--config", str(cfg), "--data", str(store), "--scratch", "--seeds", "0,1",
               "--out", str(out), "--json", str(tmp_path / "m.json")])
    assert rc == 0
    m = json.loads((tmp_path / "m.json").read_text())
    for k in ("balanced_accuracy", "cohen_kappa", "weighted_f1", "auroc", "auprc"):
        assert k in m and f"{k}_std" in m
    assert m["n_seeds"] == 2
    assert "recording_level/auroc" in m and "recording_level/balanced_accuracy" in m  # TUAB: labels per recording
    for f in ("split.json", "report.md", "confusion.png", "roc.png", "calibration.png", "finetuned_seed1.pt"):
        assert (out / f).exists(), f
    rc = main(["finetune", "test", "--config", str(cfg), "--data", str(store), "--scratch", "--seeds", "0,1",
               "--out", str(out), "--json", str(tmp_path / "t.json")])
    assert rc == 0
    t = json.loads((tmp_path / "t.json").read_text())
    # re-testing the saved models on the saved split gives the same figures
    assert t["balanced_accuracy"] == pytest.approx(m["balanced_accuracy"], abs=1e-6)


def test_user_errors(store, tmp_path, capsys):
    assert main(["finetune", "fit", "--config", "configs/finetune/debug.yaml", "--data", str(store)]) == 2
    assert "--scratch" in capsys.readouterr().err
    assert main(["finetune", "fit", "--config", "configs/finetune/debug.yaml", "--data", str(tmp_path / "nope"), "--scratch"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("finetune:\n  task: dance\n")
    assert main(["finetune", "fit", "--config", str(bad), "--data", str(store), "--scratch"]) == 2
    assert "finetune.task" in capsys.readouterr().err


# ------------------------------------------------------------------ bad input to `finetune test`
_TINY = "finetune:\n  epochs: 1\n  batch_size: 8\n  pooling: mean\n  scratch: {d_model: 16, n_layers: 1, n_heads: 2, patch_len: 250}\n"


@pytest.fixture(scope="module")
def fitted(store, tmp_path_factory):
    """A finished one-seed scratch run (copied per test, which may damage it)."""
    d = tmp_path_factory.mktemp("fitted")
    (d / "c.yaml").write_text(_TINY)
    assert main(["finetune", "fit", "--config", str(d / "c.yaml"), "--data", str(store), "--scratch", "--out", str(d / "run")]) == 0
    return d


@pytest.fixture
def run_copy(fitted, tmp_path):
    import shutil

    shutil.copytree(fitted / "run", tmp_path / "run")
    return tmp_path / "run", fitted / "c.yaml"


@pytest.fixture(scope="module")
def other_store(tmp_path_factory):
    from neurosig.datasets import build_store
    from neurosig.datasets.registry import get_adapter

    d = tmp_path_factory.mktemp("ft_other")
    miniatures.make_tuab(d / "tuab", seconds=100.0)
    build_store(d / "tuab", d / "store", adapter="tuab", config=get_adapter("tuab").default_config(), progress=False)
    return d / "store"


def _test(cfg, data, out, *extra):
    return main(["finetune", "test", "--config", str(cfg), "--data", str(data), "--scratch", "--out", str(out), *extra])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errs = [ln for ln in err if "error:" in ln]
    assert len(errs) == 1 and "Traceback" not in "\n".join(err), err
    return errs[0]


def _written(run):
    return {f: (run / f).read_bytes() for f in ("report.md", "metrics.json")}


def test_test_on_another_store_is_refused_before_writing(run_copy, other_store, capsys):
    # it scored the other store's windows with the fit's row numbers and overwrote report.md/metrics.json
    run, cfg = run_copy
    before = _written(run)
    assert _test(cfg, other_store, run) == 2
    err = _one_line_error(capsys)
    assert "split_seed0.json" in err and str(run) in err and str(other_store) in err and "another store" in err
    assert _written(run) == before


def test_test_on_the_same_store_passes_the_fingerprint(run_copy, store):
    run, cfg = run_copy
    doc = json.loads((run / "split_seed0.json").read_text())
    assert doc["windows"]["n_windows"] > 0 and len(doc["windows"]["ids_sha256"]) == 64 and doc["meta"]["model"] == "scratch"
    assert _test(cfg, store, run) == 0


def test_test_writes_the_same_keys_and_figures_as_fit(run_copy, store):
    # `test` computed only the headline metrics and overwrote metrics.json/report.md without per_subject/*, per_recording/*
    run, cfg = run_copy
    fit = json.loads((run / "metrics.json").read_text())
    assert any(k.startswith("per_subject/") for k in fit) and any(k.startswith("per_recording/") for k in fit)
    fit_report = (run / "report.md").read_text()
    assert _test(cfg, store, run) == 0
    test = json.loads((run / "metrics.json").read_text())
    assert set(test) == set(fit)
    for k, v in fit.items():
        if isinstance(v, float):
            assert test[k] == pytest.approx(v, abs=1e-6), k
    report = (run / "report.md").read_text()
    assert "## per_subject" in report and "## per_recording" in report
    assert [ln for ln in report.splitlines() if ln.startswith("## ")] == [ln for ln in fit_report.splitlines() if ln.startswith("## ")]


def test_old_split_without_fingerprint_still_works_and_is_range_checked(run_copy, store, other_store, capsys, caplog):
    run, cfg = run_copy
    p = run / "split_seed0.json"
    doc = json.loads(p.read_text())
    del doc["windows"]
    p.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        assert _test(cfg, store, run) == 0
    assert "predates store fingerprints" in caplog.text
    before = _written(run)
    doc["indices"]["test"] = doc["indices"]["test"] + [10_000]
    p.write_text(json.dumps(doc))
    assert _test(cfg, store, run) == 2
    assert "indexes window 10000" in _one_line_error(capsys)
    assert _written(run) == before


def test_damaged_weights_and_split_are_one_line(run_copy, store, capsys):
    run, cfg = run_copy
    before = _written(run)
    w = run / "finetuned_seed0.pt"
    w.write_bytes(w.read_bytes()[:1000])  # PytorchStreamReader failed reading zip archive
    assert _test(cfg, store, run) == 2
    err = _one_line_error(capsys)
    assert "finetuned_seed0.pt is damaged" in err and "--seeds 0" in err
    s = run / "split_seed0.json"
    s.write_text(s.read_text()[:15])  # JSONDecodeError in load_split
    assert _test(cfg, store, run) == 2
    err = _one_line_error(capsys)
    assert "split_seed0.json" in err and "damaged" in err and "finetune fit" in err
    s.write_text('{"meta": {}}')
    assert _test(cfg, store, run) == 2
    assert "no valid 'indices'" in _one_line_error(capsys)
    assert _written(run) == before


def test_weights_of_another_encoder_are_one_line(run_copy, store, tmp_path, capsys):
    # a --scratch run tested with another encoder: a multi-line "size mismatch for head.norm.weight"
    run, _ = run_copy
    before = _written(run)
    big = tmp_path / "big.yaml"
    big.write_text(_TINY.replace("d_model: 16", "d_model: 32"))
    assert _test(big, store, run) == 2
    err = _one_line_error(capsys)
    assert "finetuned_seed0.pt does not fit the encoder built from --scratch" in err
    assert "of another shape (e.g. " in err and "the run was fit with --scratch" in err
    assert _written(run) == before


def test_test_needs_an_existing_run_folder(store, tmp_path, capsys):
    assert _test("configs/finetune/debug.yaml", store, tmp_path / "nope") == 2
    assert "is not a folder" in _one_line_error(capsys)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("flags, expect", [(["--epochs", "0"], "--epochs must be >= 1"), (["--epochs", "-3"], "--epochs must be >= 1"),
                                           (["--seeds=-1"], "seeds must be integers from 0"), (["--seeds", "0,0"], "lists a seed twice")])
def test_fit_epochs_and_seeds_are_checked(store, tmp_path, capsys, flags, expect):
    # --epochs 0 silently ran the config's epochs; --seeds=-1 was "ValueError: -1 is not in bounds"
    rc = main(["finetune", "fit", "--config", "configs/finetune/debug.yaml", "--data", str(store), "--scratch",
               "--out", str(tmp_path / "run"), *flags])
    assert rc == 2 and expect in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_model_pretrained_on_the_test_subjects_is_refused_unless_allowed(store, tmp_path, capsys):
    # e.g. pretrained on TUEG, which holds TUAB's eval patients under the same ids: the test scored seen subjects
    from neurosig.datasets import ShardStore
    from neurosig.models import FoundationModel, foundation_config
    from neurosig.models._testing import ToyTokenizer

    m = ShardStore(store).manifest
    test_subject = sorted(set(m.loc[m["split"] == "test", "subject"].astype(str)))[0]
    tok = ToyTokenizer()
    pre = FoundationModel(foundation_config("tiny", codebook_sizes=tok.codebook_sizes))
    pre.save_pretrained(tmp_path / "pre", tokenizer=tok, pretrain_subjects={
        "format": 1, "subjects": [f"tuh:{test_subject}", "tuh:zzzzzzzz"], "recording_key": "source_hash", "recordings": []})
    cfg = tmp_path / "c.yaml"
    cfg.write_text("finetune:\n  epochs: 1\n  batch_size: 8\n  pooling: mean\n  mode: linear\n")
    run = tmp_path / "run"
    fit = ["finetune", "fit", "--config", str(cfg), "--data", str(store), "--model", str(tmp_path / "pre"), "--out", str(run)]
    assert main(fit) == 2
    err = _one_line_error(capsys)
    assert f"tuh:{test_subject}" in err and "--allow-pretrain-overlap" in err and "test' split" in err
    assert not (run / "metrics.json").exists() and not (run / "finetuned_seed0.pt").exists()
    assert main(fit + ["--allow-pretrain-overlap"]) == 0
    got = json.loads((run / "metrics.json").read_text())
    assert got["pretrain_overlap/subjects"] == [f"tuh:{test_subject}"] and got["pretrain_overlap/checked"] is True
    capsys.readouterr()
    before = _written(run)
    test = ["finetune", "test", "--config", str(cfg), "--data", str(store), "--model", str(tmp_path / "pre"), "--out", str(run)]
    assert main(test) == 2 and f"tuh:{test_subject}" in _one_line_error(capsys)
    assert _written(run) == before
    assert main(test + ["--allow-pretrain-overlap"]) == 0
    assert json.loads((run / "metrics.json").read_text())["pretrain_overlap/subjects"] == [f"tuh:{test_subject}"]
