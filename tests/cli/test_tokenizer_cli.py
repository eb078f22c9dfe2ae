"""`neurosig tokenizer fit|encode|report` end to end on a tiny store, and its user errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import yaml

from neurosig.cli.main import main


def _config(tmp_path):
    cfg = {
        "kind": "rvq",
        "tokenizer": {"kernel_sizes": [5, 25], "branch_channels": 8, "code_dim": 16, "n_levels": 2, "codebook_size": 32,
                      "hidden": 64, "sensors": {"name_free": True}},
        "data": {"batch_size": 4, "val_fraction": 0.0},
        "optim": {"lr": 3e-3, "warmup_steps": 1, "max_steps": 3},
        "trainer": {"val_every_n_steps": 0, "save_top_k": 0, "loggers": []},
    }
    p = tmp_path / "rvq.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_fit_encode_report_end_to_end(mini_store, tmp_path, capsys):
    store = mini_store
    out = tmp_path / "tok"
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logging.getLogger("neurosig").addHandler(handler)
    try:
        assert main(["tokenizer", "fit", "--config", str(_config(tmp_path)), "--data", str(store), "--max-steps", "4",
                     "--out", str(out), "--json", str(tmp_path / "fit.json")]) == 0
    finally:
        logging.getLogger("neurosig").removeHandler(handler)
    said = capsys.readouterr().out.splitlines() + records
    assert len([line for line in said if str(out) in line]) == 1, said  # the result is said once (was a log line + a print)
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["steps"] == 4 and np.isfinite(fit["loss_last"])
    assert fit["config"]["optim"]["max_steps"] == 4  # --max-steps 4 overrode the recipe's 3: the record says what ran
    assert json.loads((out / "config.json").read_text())["extra"]["fit"]["optim"]["max_steps"] == 4
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert main(["tokenizer", "encode", "--model", str(out), "--data", str(store), "--out", str(tmp_path / "codes")]) == 0
    from neurosig.datasets.store import ShardStore
    from neurosig.tokenizers import load_tokenizer
    from neurosig.training.tokenizer import read_codes

    st = ShardStore(store)
    tok = load_tokenizer(out)
    item = st[0]
    import torch

    want = tok.encode(torch.from_numpy(item["x"])[None], torch.from_numpy(item["pos"])[None],
                      torch.from_numpy(item["ch_type"])[None]).numpy()[0]
    np.testing.assert_array_equal(read_codes(tmp_path / "codes", 0), want)
    assert main(["tokenizer", "report", "--model", str(out), "--data", str(store), "--split", "all",
                 "--json", str(tmp_path / "rep" / "r.json")]) == 0 if (tmp_path / "rep").mkdir() is None else False
    rep = json.loads((tmp_path / "rep" / "r.json").read_text())
    for k in ("pcc", "nmse", "band_nmse/alpha", "codebook_usage", "perplexity", "dead_codes", "baseline/nmse"):
        assert k in rep
    assert (tmp_path / "rep" / "figures" / "traces.png").is_file()
    # docs/tokenizers.md: the PNGs go to figures/ beside the JSON, and the command says where
    assert f"code_usage.png) in {tmp_path / 'rep' / 'figures'}" in capsys.readouterr().out
    assert rep["figures"] == str(tmp_path / "rep" / "figures")
    assert main(["tokenizer", "report", "--model", str(out), "--data", str(store), "--split", "all",
                 "--figures", str(tmp_path / "figs"), "--max-windows", "1", "--batch-size", "2",
                 "--json", str(tmp_path / "figs.json")]) == 0
    assert (tmp_path / "figs" / "spectra.png").is_file() and f"in {tmp_path / 'figs'}" in capsys.readouterr().out
    assert rep["n_windows"] > 1 and json.loads((tmp_path / "figs.json").read_text())["n_windows"] == 1  # --max-windows is a cap


def test_user_errors_are_one_line(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["tokenizer", "fit", "--config", str(cfg), "--data", str(tmp_path / "nope")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["tokenizer", "fit", "--config", str(tmp_path / "missing.yaml"), "--data", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["tokenizer", "fit", "--config", str(cfg), "--data", str(tmp_path), "--max-steps", "0"]) == 2
    assert "--max-steps" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"kind": "rvq", "tokenizer": {"kernel_size": [3]}}))
    assert main(["tokenizer", "fit", "--config", str(bad), "--data", str(tmp_path)]) == 2
    assert "unknown key(s) kernel_size" in capsys.readouterr().err
    assert main(["tokenizer", "report", "--model", str(tmp_path / "nomodel"), "--data", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err
    for cmd, flag in (("encode", "--batch-size"), ("report", "--batch-size"), ("report", "--max-windows")):
        extra = ["--out", str(tmp_path / "codes")] if cmd == "encode" else []
        assert main(["tokenizer", cmd, "--model", str(tmp_path / "nomodel"), "--data", str(tmp_path), *extra, flag, "0"]) == 2
        err = capsys.readouterr().err
        assert f"{flag} must be a positive integer, got 0" in err and "BucketBatchSampler" not in err, err
