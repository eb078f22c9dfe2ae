"""Channel-type vocabulary shared by the store, tokenizers and models (no torch, no MNE).

The integer codes are part of the on-disk format (``ch_type`` in shards and batches): append
new types at the end, never reorder.
"""

from __future__ import annotations

CH_TYPES: tuple[str, ...] = (
    "eeg",   # 0
    "mag",   # 1  MEG magnetometer
    "grad",  # 2  MEG planar gradiometer
    "seeg",  # 3
    "ecog",  # 4
    "fmri",  # 5  parcel time series
    "eog",   # 6
    "ecg",   # 7
    "emg",   # 8
    "misc",  # 9
)
CH_TYPE_CODES: dict[str, int] = {name: i for i, name in enumerate(CH_TYPES)}
PAD_CH_TYPE = -1  # the ch_type of a padded (absent) channel in a batch

# The unit each type is stored in after preprocessing (the model unit) and its factor from SI.
MODEL_UNITS: dict[str, tuple[str, float]] = {
    "eeg": ("uV", 1e6),
    "seeg": ("uV", 1e6),
    "ecog": ("uV", 1e6),
    "eog": ("uV", 1e6),
    "ecg": ("uV", 1e6),
    "emg": ("uV", 1e6),
    "mag": ("fT", 1e15),
    "grad": ("fT/cm", 1e13),
    "fmri": ("z", 1.0),
    "misc": ("a.u.", 1.0),
}


def ch_type_code(name: str) -> int:
    """Integer code of a channel type name (raises a one-line error for unknown names)."""
    from neurosig._utils.errors import NeurosigError

    try:
        return CH_TYPE_CODES[name]
    except KeyError:
        raise NeurosigError(
            f"unknown channel type {name!r}; expected one of {', '.join(CH_TYPES)}."
        ) from None
