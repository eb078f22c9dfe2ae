"""Windows → shard store → torch Dataset; corpus adapters; subject-disjoint splits.

Importing this package does not import torch: the torch views (``WindowDataset``,
``collate_windows``, ``BucketBatchSampler``) load on first access.
"""

from neurosig.datasets.build import build_store, expand_inputs, process_file
from neurosig.datasets.registry import ADAPTERS, get_adapter, register_adapter
from neurosig.datasets.spec import BuildReport, FileSpec, PartResult
from neurosig.datasets.splits import check_disjoint, subject_split
from neurosig.datasets.store import MANIFEST_COLUMNS, ShardStore

_TORCH = ("WindowDataset", "collate_windows", "BucketBatchSampler")


def __getattr__(name):
    if name in _TORCH:
        from neurosig.datasets import torch_data

        return getattr(torch_data, name)
    raise AttributeError(f"module 'neurosig.datasets' has no attribute {name!r}")


__all__ = [
    "FileSpec", "PartResult", "BuildReport", "build_store", "process_file", "expand_inputs",
    "ShardStore", "MANIFEST_COLUMNS", "subject_split", "check_disjoint",
    "ADAPTERS", "register_adapter", "get_adapter", *_TORCH,
]
