"""window.event_labels against prefixed annotation descriptions (BrainVision ``Comment/zero``,
``Stimulus/S  1``) and the visibility of files that give no windows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.preprocessing.config import WindowConfig
from neurosig.preprocessing.windows import match_event_labels, plan_windows

CFG = dict(l_freq=1.0, h_freq=40.0, notch=None, resample_sfreq=100.0, chunk_s=10.0)


def _brainvision(d: Path, markers: list[tuple[str, str, int]], sfreq: float = 250.0, seconds: float = 20.0) -> Path:
    """A minimal BrainVision triplet; markers: (type, description, 1-based sample)."""
    from neurosig.io.synthetic import write_brainvision

    x = np.random.default_rng(0).normal(0, 10, (3, int(sfreq * seconds)))  # µV
    return Path(write_brainvision(d, x, sfreq, ("Cz", "Pz", "Oz"), markers))


def test_match_exact_or_after_last_slash():
    table = {"zero": 0, "S  1": 1, "Comment/odd": 2, "odd": 3}
    got = match_event_labels(["Comment/zero", "Stimulus/S  1", "Comment/odd", "Other/odd", "New Segment/", "zeros"], table)
    # exact wins: 'Comment/odd' is its own key; 'Other/odd' falls back to the key 'odd'
    assert got == {"Comment/zero": "zero", "Stimulus/S  1": "S  1", "Comment/odd": "Comment/odd", "Other/odd": "odd"}
    # a key present verbatim in the file takes no prefixed descriptions
    assert match_event_labels(["zero", "Comment/zero"], {"zero": 0}) == {"zero": "zero"}
    with pytest.raises(NeurosigError, match=r"f\.vhdr: window\.event_labels key 'zero' matches 2 .*'Comment/zero'.*'Stimulus/zero'"):
        match_event_labels(["Comment/zero", "Stimulus/zero"], {"zero": 0}, "f.vhdr")


def test_plan_windows_events_with_prefixed_descriptions():
    cfg = WindowConfig(mode="events", length_s=1.0, event_labels={"zero": 0, "tiny": 1})
    ann = [(1.0, 0.0, "Comment/zero"), (5.0, 0.0, "Comment/tiny"), (8.0, 0.0, "New Segment/")]
    w = plan_windows(cfg, 1000, 100.0, ann)
    assert [(x.start, x.label, x.label_name) for x in w] == [(100, 0, "zero"), (500, 1, "tiny")]
    warns: list[str] = []
    assert plan_windows(cfg, 1000, 100.0, [(1.0, 0.0, "Stimulus/S  1")], source="r.vhdr", warnings=warns) == []
    assert any("no windows" in m and "'Stimulus/S  1'" in m for m in warns), warns


def test_label_from_annotations_with_prefixed_descriptions():
    cfg = WindowConfig(mode="fixed", length_s=1.0, label_from_annotations=True, event_labels={"W": 0, "N1": 1})
    w = plan_windows(cfg, 400, 100.0, [(0.0, 2.0, "Sleep stage/W"), (2.0, 2.0, "Sleep stage/N1")])
    assert [x.label for x in w] == [0, 0, 1, 1]


def _capture():
    seen: list[str] = []
    h = logging.Handler(logging.WARNING)
    h.emit = lambda rec: seen.append(rec.getMessage())
    logging.getLogger("neurosig").addHandler(h)  # the package logger does not propagate to caplog
    return seen, h


def test_build_brainvision_events_by_bare_name_and_zero_windows_is_visible(tmp_path):
    from neurosig.datasets import ShardStore, build_store

    (tmp_path / "a").mkdir()
    f = _brainvision(tmp_path / "a", [("Comment", "zero", 501), ("Stimulus", "S  1", 1501), ("Comment", "zero", 2501)])
    cfg = {**CFG, "window": {"mode": "events", "length_s": 2.0, "event_labels": {"zero": 0, "S  1": 1}}}
    r = build_store([f], tmp_path / "st", config=cfg, progress=False)
    assert (r.n_windows, r.n_empty) == (3, 0)
    m = ShardStore(tmp_path / "st").manifest.sort_values("start_s")
    assert m.label.tolist() == [0, 1, 0] and m.label_name.tolist() == ["zero", "S  1", "zero"]
    # a file none of whose annotations match: stored with 0 windows, but logged and counted
    cfg2 = {**CFG, "window": {"mode": "events", "length_s": 2.0, "event_labels": {"one": 1}}}
    seen, h = _capture()
    try:
        r = build_store([f], tmp_path / "st2", config=cfg2, progress=False)
    finally:
        logging.getLogger("neurosig").removeHandler(h)
    assert (r.n_windows, r.n_empty) == (0, 1)
    assert any("rec.vhdr: 0 windows" in s and "'Comment/zero'" in s and "'Stimulus/S  1'" in s for s in seen), seen


def test_preprocess_command_says_how_many_files_gave_no_window(tmp_path, capsys):
    import yaml

    from neurosig.cli.main import main

    (tmp_path / "a").mkdir()
    f = _brainvision(tmp_path / "a", [("Comment", "zero", 501)])
    cfg = tmp_path / "ev.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "window": {"mode": "events", "length_s": 2.0, "event_labels": {"one": 1}}}))
    assert main(["-q", "preprocess", str(f), "--config", str(cfg), "--out", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out
    assert "1 file(s) gave 0 windows; the log above and" in out and "build_report.json say why" in out
