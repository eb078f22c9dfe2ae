"""Every command's --out is a folder and --json a file: checked before any work, one line, nothing written."""

import json

import pytest

from neurosig.cli.main import main


def test_json_into_a_missing_folder_is_written(tmp_path):
    """A missing folder used to end a finished run with a FileNotFoundError traceback when the JSON was written."""
    path = tmp_path / "new" / "deeper" / "info.json"
    assert main(["-q", "sys-info", "--json", str(path)]) == 0
    assert "torch" in json.dumps(json.loads(path.read_text()))


@pytest.mark.parametrize("argv", [
    ["tokenizer", "encode", "--model", "M", "--data", "D", "--out", "{file}"],
    ["pretrain", "fit", "--config", "C", "--data", "D", "--out", "{file}"],
    ["finetune", "fit", "--config", "C", "--scratch", "--data", "D", "--out", "{file}"],
])
def test_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys, argv):
    f = tmp_path / "afile"
    f.write_text("keep me")
    rc = main(["-q", *[a.format(file=f) for a in argv]])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert f"--out {str(f)!r} is a file; pass a folder" in err
    assert f.read_text() == "keep me"


def test_json_naming_a_folder_is_refused(tmp_path, capsys):
    assert main(["-q", "sys-info", "--json", str(tmp_path)]) == 2
    assert "is a folder; pass a file path" in capsys.readouterr().err


def test_pretrain_fit_does_not_replace_a_finished_run(tmp_path, capsys):
    """Without --resume a second fit into the same --out used to replace model/, last.ckpt and summary.json."""
    out = tmp_path / "run"
    (out / "model").mkdir(parents=True)
    (out / "summary.json").write_text('{"steps": 3}')
    argv = ["-q", "pretrain", "fit", "--config", "configs/pretrain/masked.debug.yaml", "--data", str(tmp_path / "none"),
            "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already holds a pretraining run (model, summary.json); pass --resume to continue it, or a new --out" in err
    assert (out / "summary.json").read_text() == '{"steps": 3}'
    assert main(argv + ["--resume"]) == 2  # with --resume it goes on, to the next check (the missing store)
    assert "--data" in capsys.readouterr().err
