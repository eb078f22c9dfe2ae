import json

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.evaluation import (
    check_disjoint_subjects,
    load_split,
    save_split,
    subject_disjoint_split,
    write_json,
    write_report,
)


def test_split_deterministic_disjoint_and_order_free(tmp_path):
    subjects = np.repeat([f"s{i:02d}" for i in range(20)], 5)
    a = subject_disjoint_split(subjects, seed=3)
    b = subject_disjoint_split(subjects, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert sum(len(v) for v in a.values()) == len(subjects)
    check_disjoint_subjects(subjects, a)
    # permuting the input moves indices but not which subjects go where
    perm = np.random.default_rng(0).permutation(len(subjects))
    c = subject_disjoint_split(subjects[perm], seed=3)
    for k in a:
        assert set(subjects[a[k]]) == set(subjects[perm][c[k]])
    p = save_split(tmp_path / "split.json", a, subjects, seed=3)
    back = load_split(p)
    assert all(np.array_equal(a[k], back[k]) for k in a)
    assert json.loads(p.read_text())["meta"]["seed"] == 3


def test_split_fingerprint_refuses_another_store(tmp_path):
    from neurosig.evaluation.splits import window_fingerprint

    subjects = np.repeat([f"s{i:02d}" for i in range(10)], 4)
    ids = [f"w{i:03d}" for i in range(40)]
    split = subject_disjoint_split(subjects, seed=0)
    p = save_split(tmp_path / "split.json", split, subjects, windows=window_fingerprint(ids), seed=0, model="scratch")
    back, meta = load_split(p, windows=window_fingerprint(ids), data="st", with_meta=True)
    assert all(np.array_equal(split[k], back[k]) for k in split) and meta["model"] == "scratch"
    # same number of rows, other windows: the row numbers would silently score the wrong windows
    with pytest.raises(NeurosigError, match=r"indexes another store \(40 windows\) than --data 'other' \(40 windows, the same count but other windows\)") as e:
        load_split(p, windows=window_fingerprint(ids[::-1]), data="other")
    assert "split.json" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(NeurosigError, match="another store"):
        load_split(p, windows=window_fingerprint(ids[:30]), data="other")


def test_split_without_fingerprint_is_checked_by_range_and_subjects(tmp_path, caplog):
    from neurosig.evaluation.splits import window_fingerprint

    subjects = np.repeat([f"s{i:02d}" for i in range(10)], 4)
    split = subject_disjoint_split(subjects, seed=0)
    p = save_split(tmp_path / "split.json", split, subjects, seed=0)  # as written before fingerprints
    fp = window_fingerprint(range(40))
    with caplog.at_level("WARNING"):
        load_split(p, windows=fp, subjects=subjects, data="st")
    assert "predates store fingerprints" in caplog.text
    with pytest.raises(NeurosigError, match="indexes window 39 but --data 'small' has 20 windows"):
        load_split(p, windows=window_fingerprint(range(20)), data="small")
    with pytest.raises(NeurosigError, match="made on another store: its '.*' rows hold subjects"):
        load_split(p, windows=fp, subjects=np.repeat([f"x{i:02d}" for i in range(10)], 4), data="other")


@pytest.mark.parametrize("text, expect", [('{"indices": {"train": [1, 2', "is damaged \\(not valid JSON"),
                                          ("\xff\xfe", "is damaged"), ('{"meta": {}}', "no valid 'indices'"),
                                          ("[1, 2]", "no valid 'indices'"), ('{"indices": {"train": ["a"]}}', "no valid 'indices'")])
def test_damaged_split_file_is_one_line(tmp_path, text, expect):
    p = tmp_path / "split.json"
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(NeurosigError, match=expect) as e:
        load_split(p)
    assert "split.json" in str(e.value) and "finetune fit" in str(e.value)


def test_overlap_detected():
    subjects = np.array(["a", "a", "b"])
    with pytest.raises(NeurosigError, match="subject-disjoint"):
        check_disjoint_subjects(subjects, {"train": np.array([0]), "test": np.array([1, 2])})
    with pytest.raises(NeurosigError, match="sum to 1"):
        subject_disjoint_split(subjects, fractions=(0.5, 0.2, 0.1))


def test_report_files(tmp_path, rng):
    y = rng.integers(0, 3, 60)
    p = rng.random((60, 3))
    p /= p.sum(1, keepdims=True)
    md = write_report(tmp_path, {"balanced_accuracy": 0.5, "balanced_accuracy_std": 0.1}, y, p, ["a", "b", "c"])
    text = md.read_text()
    assert "| balanced_accuracy | 0.5000 | 0.1000 |" in text
    for f in ("confusion.png", "roc.png", "calibration.png"):
        assert (tmp_path / f).stat().st_size > 1000
    j = write_json(tmp_path / "m.json", {"auroc": float("nan"), "x": np.float32(1.5)})
    assert json.loads(j.read_text()) == {"auroc": None, "x": 1.5}


def test_report_names_unnamed_classes_and_refuses_too_many_names(tmp_path):
    import numpy as np
    import pytest

    from neurosig import NeurosigError
    from neurosig.evaluation.reports import write_report

    y = np.array([0, 1, 2, 2, 0, 1])
    prob = np.eye(3)[y] * 0.9 + 0.03
    write_report(tmp_path, {"balanced_accuracy": 1.0}, y, prob, ["a", "b"])  # the third class was an IndexError
    assert (tmp_path / "roc.png").is_file()
    with pytest.raises(NeurosigError, match="4 class names for 3 probability columns"):
        write_report(tmp_path, {"balanced_accuracy": 1.0}, y, prob, ["a", "b", "c", "d"])
