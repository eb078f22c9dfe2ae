"""Corpus adapters: one module per public source, registered in ``neurosig.datasets.registry``.

=============  ==================================================================  =====================
name           corpus                                                              labels
=============  ==================================================================  =====================
``tueg``       TUH EEG Corpus v2, unlabelled pretraining corpus (``tuh.py``)       none
``tuab``       TUH Abnormal EEG v3 (``tuh.py``)                                    normal / abnormal
``tuev``       TUH EEG Events v2 (``tuh.py``)                                      spsw gped pled eyem artf bckg
``tusz``       TUH EEG Seizure v2, term-based ``.csv_bi`` (``tuh.py``)             bckg / seiz
``tusz_types`` TUH EEG Seizure v2, seizure types from ``.csv`` (``tuh.py``)        bckg fnsz gnsz ...
``chbmit``     CHB-MIT Scalp EEG (``chbmit.py``)                                   bckg / seizure
``sleepedf``   Sleep-EDF Expanded (``sleepedf.py``)                                W N1 N2 N3 REM
``bids``       any BIDS EEG/MEG/iEEG dataset via mne-bids (``bids.py``)            events / participants column
``folder``     folder of recordings + ``labels.csv`` (``folder.py``)               CSV column
=============  ==================================================================  =====================

``read_spec(spec)`` reads one FileSpec with the fixes of the adapter that listed it (the
per-file worker calls it, in a process pool or on Ray).
"""

from __future__ import annotations

from neurosig.datasets.adapters.base import Adapter, apply_channel_fixes, window_labels
from neurosig.datasets.adapters.bids import BIDSAdapter
from neurosig.datasets.adapters.chbmit import CHBMITAdapter
from neurosig.datasets.adapters.folder import FolderAdapter
from neurosig.datasets.adapters.sleepedf import SleepEDFAdapter
from neurosig.datasets.adapters.tuh import TUABAdapter, TUEGAdapter, TUEVAdapter, TUSZAdapter
from neurosig.datasets.registry import ADAPTERS, register_adapter


class TUSZTypesAdapter(TUSZAdapter):
    """TUSZ with seizure-type labels from the channel-based ``.csv`` files."""

    name = "tusz_types"
    dataset = "tusz"

    def __init__(self):
        super().__init__(labels="types")


BUILTIN_ADAPTERS: dict[str, type[Adapter]] = {
    "tueg": TUEGAdapter,
    "tuab": TUABAdapter,
    "tuev": TUEVAdapter,
    "tusz": TUSZAdapter,
    "tusz_types": TUSZTypesAdapter,
    "chbmit": CHBMITAdapter,
    "sleepedf": SleepEDFAdapter,
    "bids": BIDSAdapter,
    "folder": FolderAdapter,
}
for _name, _cls in BUILTIN_ADAPTERS.items():
    if ADAPTERS.get(_name) is not _cls:
        register_adapter(_name)(_cls)


def read_spec(spec, *, positions: str = "auto", derive: bool = False):
    """Read one FileSpec into a Recording, with the corpus fixes of the adapter named in
    ``spec.extras["adapter"]`` (renames, duplicate channels, picks, BIDS sidecars). Bipolar
    montages are left to the pipeline's ``reference`` unless ``derive=True`` (see
    :meth:`Adapter.read`). Specs without an adapter are read plainly with ``read_recording``."""
    name = (spec.extras or {}).get("adapter")
    if name in BUILTIN_ADAPTERS:
        adapter = BUILTIN_ADAPTERS[name].__new__(BUILTIN_ADAPTERS[name])  # options are in the spec
        return adapter.read(spec, positions=positions, derive=derive)
    from neurosig.io import read_recording

    return read_recording(spec.path, positions=positions, subject=spec.subject)


__all__ = [
    "Adapter",
    "BIDSAdapter",
    "BUILTIN_ADAPTERS",
    "CHBMITAdapter",
    "FolderAdapter",
    "SleepEDFAdapter",
    "TUABAdapter",
    "TUEGAdapter",
    "TUEVAdapter",
    "TUSZAdapter",
    "TUSZTypesAdapter",
    "apply_channel_fixes",
    "read_spec",
    "window_labels",
]
