"""The `neurosig probe` commands end to end on a tiny random model saved to disk (offline)."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "probes"))
from conftest import _import_real_hf_tokenizers, build_tiny  # noqa: E402  (tests/probes/conftest.py)

_import_real_hf_tokenizers()

from neurosig.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("tiny")
    model, tok = build_tiny("llama")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("the dog chased cats\na girl sang songs\nmy father reads books\nold men drink tea\nher brother plays chess\n")
    return p


def test_tagging_cli(tiny_dir, corpus, tmp_path):
    out = tmp_path / "tag.json"
    rc = main(["probe", "tagging", "--model", str(tiny_dir), "--corpus", str(corpus), "--n-shuffles", "2", "--n-sentences", "3", "--n-perm", "10", "--json", str(out), "--device", "cpu"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["rate_hz"] == 4.0 and set(d["conditions"]) == {"structured", "control", "random"}
    lay = d["conditions"]["structured"]["layers"]
    assert [l["layer"] for l in lay] == [0, 1, 2]
    assert {"layer", "n_neurons", "sentence", "phrase", "both"} <= set(lay[0])
    assert (tmp_path / "tag_spectra.png").exists() and (tmp_path / "tag_layers.png").exists()


def test_tagging_cli_brain_epochs(tmp_path, rng):
    sf, T = 100.0, 400
    x = rng.standard_normal((20, 3, T))
    x[:, 0] += np.sin(2 * np.pi * np.arange(T) / sf)
    np.save(tmp_path / "ep.npy", x)
    out = tmp_path / "b.json"
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "ep.npy"), "--sfreq", "100", "--n-perm", "50", "--json", str(out)]) == 0
    ch = json.loads(out.read_text())["channels"]
    assert ch[0]["sentence"] and not ch[2]["sentence"]
    # plots beside --json, as for the model branch (a missing folder is created)
    out2 = tmp_path / "new" / "b.json"
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "ep.npy"), "--sfreq", "100", "--n-perm", "20", "--json", str(out2)]) == 0
    plots = json.loads(out2.read_text())["plots"]
    assert plots == [str(tmp_path / "new" / "b_spectra.png"), str(tmp_path / "new" / "b_itpc.png")]
    assert all(os.path.getsize(p) > 0 for p in plots)
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "ep.npy"), "--json", str(out)]) == 2  # no --sfreq


def test_tagging_cli_brain_epochs_bad_input(tmp_path, rng, capsys):
    x = rng.standard_normal((6, 3, 200))
    x[2, 0, 10] = np.nan
    np.save(tmp_path / "ep_nan.npy", x)
    out = tmp_path / "b.json"
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "ep_nan.npy"), "--sfreq", "100", "--n-perm", "5", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ep_nan.npy" in err and "1 non-finite" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    np.save(tmp_path / "ep.npy", np.nan_to_num(x))
    for sf in ("-5", "0"):
        assert main(["probe", "tagging", "--epochs", str(tmp_path / "ep.npy"), "--sfreq", sf, "--json", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--sfreq must be a positive" in err and "Nyquist" not in err


def test_tagging_cli_errors(tmp_path, corpus, capsys):
    assert main(["probe", "tagging", "--json", str(tmp_path / "x.json")]) == 2
    assert "pass --model" in capsys.readouterr().err
    assert main(["probe", "tagging", "--model", "/no/such/model", "--json", str(tmp_path / "x.json")]) == 2
    assert "neither a bundled model" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("tagging:\n  n_perms: 3\n")
    assert main(["probe", "tagging", "--model", "x", "--config", str(bad), "--json", str(tmp_path / "x.json")]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_encoding_cli_array_target(tiny_dir, corpus, tmp_path, rng):
    Y = rng.standard_normal((60, 5))
    np.save(tmp_path / "y.npy", Y)
    out = tmp_path / "enc.json"
    rc = main(["probe", "encoding", "--model", str(tiny_dir), "--text", str(corpus), "--brain", str(tmp_path / "y.npy"), "--tr", "2.0",
               "--config", "configs/probe/debug.yaml", "--layers", "0,2", "--json", str(out), "--device", "cpu"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert [l["layer"] for l in d["layers"]] == [0, 2] and len(d["layers"][0]["r"]) == 5
    assert (tmp_path / "enc_encoding.png").exists()
    assert main(["probe", "encoding", "--model", str(tiny_dir), "--brain", str(tmp_path / "y.npy"), "--json", str(out)]) == 2  # needs --tr


def test_axes_cli_npz(tiny_dir, tmp_path, rng):
    pytest.importorskip("wordfreq")
    words = ["dog", "cat", "tea", "girl", "songs", "books", "men", "chess"] * 2
    x = rng.standard_normal((len(words), 4, 200))
    np.savez(tmp_path / "ep.npz", epochs=x, words=np.array(words), sfreq=np.array(100.0))
    out = tmp_path / "axes.json"
    rc = main(["probe", "axes", "--model", str(tiny_dir), "--epochs", str(tmp_path / "ep.npz"), "--config", "configs/probe/debug.yaml",
               "--layer", "1", "--json", str(out), "--device", "cpu"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["n_words"] == 8 and d["layer"] == 1
    assert {"axis0", "axis1", "random0", "random1"} == set(d["steering"]["directions"])
    np.savez(tmp_path / "bad.npz", x=x)
    assert main(["probe", "axes", "--model", str(tiny_dir), "--epochs", str(tmp_path / "bad.npz"), "--json", str(out)]) == 2


def test_tagging_epochs_from_shard_store(tmp_path, monkeypatch, rng):
    """A store folder is read item by item (the store itself is tested by the datasets tests)."""
    import neurosig.datasets as ds

    x = rng.standard_normal((12, 2, 300)).astype(np.float32)
    x[:, 0] += np.sin(2 * np.pi * np.arange(300) / 100.0).astype(np.float32)

    class FakeStore(list):
        def __init__(self, root):
            super().__init__({"x": x[i], "sfreq": 100.0} for i in range(len(x)))

    monkeypatch.setattr(ds, "ShardStore", FakeStore)
    (tmp_path / "store").mkdir()
    out = tmp_path / "s.json"
    # with one true effect among 4 tests BH needs p <= 0.0125: at least 80 permutations
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "store"), "--n-perm", "200", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["sfreq"] == 100.0 and d["channels"][0]["sentence"]

    class Mixed(list):
        def __init__(self, root):
            super().__init__([{"x": x[0], "sfreq": 100.0}, {"x": x[1, :, :200], "sfreq": 100.0}])

    monkeypatch.setattr(ds, "ShardStore", Mixed)
    assert main(["probe", "tagging", "--epochs", str(tmp_path / "store"), "--json", str(out)]) == 2


def test_encoding_cli_runs_and_repeats(tiny_dir, corpus, tmp_path, rng):
    Y = rng.standard_normal((60, 3))
    reps = Y[None] + 0.5 * rng.standard_normal((4, 60, 3))
    np.savez(tmp_path / "y.npz", Y=Y, runs=np.repeat([0, 1, 2], 20), repeats=reps)
    cfg = tmp_path / "run.yaml"
    cfg.write_text("encoding:\n  fold_kind: run\n  inner_folds: 2\n  pca_dims: 8\n")
    out = tmp_path / "e.json"
    rc = main(["probe", "encoding", "--model", str(tiny_dir), "--text", str(corpus), "--brain", str(tmp_path / "y.npz"), "--tr", "2.0",
               "--config", str(cfg), "--layers", "1", "--json", str(out), "--device", "cpu"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["folds"] == "run" and len(d["noise_ceiling"]) == 3
    assert all(0.8 < c <= 1 for c in d["noise_ceiling"])  # sqrt(1 / (1 + 0.25 / 4)) = 0.97
    np.savez(tmp_path / "norun.npz", Y=Y)
    assert main(["probe", "encoding", "--model", str(tiny_dir), "--text", str(corpus), "--brain", str(tmp_path / "norun.npz"), "--tr", "2.0",
                 "--config", str(cfg), "--json", str(out), "--device", "cpu"]) == 2


def test_probe_flag_errors_name_the_flag_before_extraction(tiny_dir, corpus, tmp_path, capsys, monkeypatch):
    """--n-shuffles 0, --layers out of range and a non-finite --brain fail with one line naming the flag/file, before any extraction."""
    from neurosig.probes.llm import LLMProbe

    def no_extract(*a, **k):
        raise AssertionError("features must not be extracted before the inputs are checked")

    monkeypatch.setattr(LLMProbe, "extract", no_extract)
    out = str(tmp_path / "x.json")
    Y = rng_nan = np.random.default_rng(0).standard_normal((60, 3))
    rng_nan[5, 1] = np.nan
    np.save(tmp_path / "nan.npy", Y)
    cases = [
        (["probe", "tagging", "--model", str(tiny_dir), "--n-shuffles", "0"], "--n-shuffles must be a positive integer, got 0"),
        (["probe", "tagging", "--model", str(tiny_dir), "--n-perm", "-1"], "--n-perm must be a positive integer"),
        (["probe", "tagging", "--model", str(tiny_dir), "--corpus", str(corpus), "--layers", "1,99"], "--layers 99 is out of range"),
        (["probe", "encoding", "--model", str(tiny_dir), "--text", str(corpus), "--brain", str(tmp_path / "nan.npy"), "--tr", "2"],
         "nan.npy' holds 1 non-finite"),
        (["probe", "encoding", "--model", str(tiny_dir), "--text", str(corpus), "--brain", str(tmp_path / "nan.npy").replace("nan", "ok"),
          "--tr", "2", "--layers", "99"], "--layers 99 is out of range"),
    ]
    np.save(tmp_path / "ok.npy", np.nan_to_num(Y))
    for argv, msg in cases:
        assert main(argv + ["--json", out, "--device", "cpu"]) == 2, argv
        err = [l for l in capsys.readouterr().err.splitlines() if "error" in l.lower()]  # (weight-loading progress bars aside)
        assert len(err) == 1 and msg in err[0], err
        assert "tagging.n_trials" not in err[0]


def test_axes_cli_records_resolved_layer(tiny_dir, tmp_path, rng, capsys):
    """axes.layer -1 (middle layer) is recorded as the layer actually used; an out-of-range --layer fails up front."""
    pytest.importorskip("wordfreq")
    words = ["dog", "cat", "tea", "girl", "songs", "books", "men", "chess"] * 2
    np.savez(tmp_path / "ep.npz", epochs=rng.standard_normal((len(words), 4, 200)), words=np.array(words), sfreq=np.array(100.0))
    out = tmp_path / "axes.json"
    argv = ["probe", "axes", "--model", str(tiny_dir), "--epochs", str(tmp_path / "ep.npz"), "--config", "configs/probe/debug.yaml",
            "--json", str(out), "--device", "cpu"]
    assert main(argv) == 0
    d = json.loads(out.read_text())
    assert d["layer"] == 1 and d["config"]["layer"] == 1 and d["config"]["layer_requested"] == -1  # 3 layers -> middle 1
    capsys.readouterr()
    assert main(argv + ["--layer", "7"]) == 2
    assert "--layer 7 is out of range" in capsys.readouterr().err


def test_debug_recipe_timing_claims_are_the_measured_ones():
    """debug.yaml took minutes for axes on SmolLM2 (2 min 15 s on 2 cores): neither it nor the docs may promise 'seconds'."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = (root / "configs" / "probe" / "debug.yaml").read_text()
    docs = (root / "docs" / "probes.md").read_text()
    assert "seconds on a laptop" not in cfg and "2 min 15 s" in cfg
    assert "is a seconds-long smoke recipe" not in docs and "2 min 15 s" in docs
