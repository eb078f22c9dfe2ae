"""Completeness: every registered built-in adapter has a miniature here, lists it with labels
inside its vocabulary, and its default preprocessing config is a valid PipelineConfig."""

from __future__ import annotations

import pytest

from neurosig.config import from_dict
from neurosig.datasets.adapters import BUILTIN_ADAPTERS
from neurosig.datasets.registry import ADAPTERS, get_adapter
from neurosig.preprocessing import PipelineConfig

MINIATURE = {"tueg": "tueg_root", "tuab": "tuab_root", "tuev": "tuev_root", "tusz": "tusz_root", "tusz_types": "tusz_root",
             "chbmit": "chbmit_root", "sleepedf": "sleepedf_root", "bids": "bids_root", "folder": "folder_root"}


def test_every_builtin_is_registered_and_covered():
    assert set(BUILTIN_ADAPTERS) <= set(ADAPTERS)
    assert set(BUILTIN_ADAPTERS) == set(MINIATURE)


@pytest.mark.parametrize("name", sorted(MINIATURE))
def test_adapter_lists_its_miniature(name, request):
    root = request.getfixturevalue(MINIATURE[name])
    ad = get_adapter(name)
    specs = ad.files(root)
    assert specs and all(s.subject for s in specs)
    vocab = specs[0].extras["label_names"]
    for s in specs:
        assert s.extras["adapter"] == name
        assert s.label is None or 0 <= s.label < len(vocab)
        assert all(a[2] in vocab for a in s.annotations or []) or s.extras["label_from"] != "annotations"
    cfg = from_dict(PipelineConfig, ad.default_config())
    if ad.label_from == "annotations" and name != "bids":
        assert cfg.window.event_labels == {n: i for i, n in enumerate(ad.label_names)}


@pytest.mark.parametrize("name", ["tueg", "tuab", "tusz", "chbmit", "sleepedf", "bids", "folder"])
def test_worker_reads_are_lazy(name, request):
    """What the store builder reads (read_spec) is not loaded into memory: the pipeline then
    reads it chunk by chunk, so memory per worker does not grow with the recording length."""
    from neurosig.datasets.adapters import read_spec

    root = request.getfixturevalue(MINIATURE[name])
    rec = read_spec(get_adapter(name).files(root)[0])
    assert rec.raw is not None and not rec.raw.preload
