"""subject_split: deterministic, subject-disjoint, sized by fractions; check_disjoint raises."""

from __future__ import annotations

import numpy as np
import pytest

from neurosig import NeurosigError
from neurosig.datasets import check_disjoint, subject_split


def test_disjoint_complete_and_deterministic():
    subjects = np.repeat([f"s{i:02d}" for i in range(20)], 7)
    sp = subject_split(subjects, seed=0)
    assert set(sp) == {"train", "val", "test"}
    allidx = np.sort(np.concatenate(list(sp.values())))
    np.testing.assert_array_equal(allidx, np.arange(subjects.size))
    subs = {k: set(subjects[v]) for k, v in sp.items()}
    check_disjoint(**subs)
    assert [len(subs[k]) for k in ("train", "val", "test")] == [16, 2, 2]
    again = subject_split(list(subjects), seed=0)
    assert all(np.array_equal(sp[k], again[k]) for k in sp)
    other = subject_split(subjects, seed=1)
    assert any(not np.array_equal(sp[k], other[k]) for k in sp)


def test_independent_of_order():
    subjects = np.array([f"s{i}" for i in range(10)])
    a = subject_split(subjects)
    perm = np.random.default_rng(0).permutation(10)
    b = subject_split(subjects[perm])
    for k in a:
        assert set(subjects[a[k]]) == set(subjects[perm][b[k]])


def test_small_counts_get_every_split():
    sp = subject_split(["a", "b", "c"], fractions=(0.8, 0.1, 0.1))
    assert [len(sp[k]) for k in ("train", "val", "test")] == [1, 1, 1]


def test_errors():
    with pytest.raises(NeurosigError, match="sum to 1"):
        subject_split(["a"], fractions=(0.5, 0.1, 0.1))
    with pytest.raises(NeurosigError, match="one fraction per split name"):
        subject_split(["a"], fractions=(0.5, 0.5))
    with pytest.raises(NeurosigError, match=r"splits 'train' and 'test' share 1 subject\(s\): s2"):
        check_disjoint(train=["s1", "s2"], test=["s2", "s3"])


def test_too_few_subjects_for_the_splits_warns():
    """Two subjects for three splits used to put every window in train without a word (README's snippet)."""
    subjects = np.repeat(["a", "b"], 5)
    with pytest.warns(UserWarning, match=r"2 subject\(s\) for 3 splits with a non-zero fraction, so 'val', 'test' get no windows"):
        sp = subject_split(subjects, fractions=(0.8, 0.1, 0.1))
    assert [len(sp[k]) for k in ("train", "val", "test")] == [10, 0, 0]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        subject_split(subjects, fractions=(0.5, 0.5, 0.0))  # every non-zero split has a subject: no warning
