"""Small value types shared by the store builder, the corpus adapters and the Ray backend."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FileSpec:
    """One input file plus what the file itself cannot tell (identity, labels, extras).

    path: the recording (EDF/BDF/GDF/FIF/BrainVision/EEGLAB/NIfTI ...).
    subject: subject id; None → derived from the file name (``sub-XX`` BIDS entity or the stem).
    session, run: identity strings ("" when unknown).
    label: recording-level label given to every window (e.g. abnormal = 1); None → unlabelled
        or labels from events/annotations.
    annotations: extra ``(onset_s, duration_s, description)`` events (e.g. from a CSV beside the file).
    extras: free-form per-file options; understood keys: ``dataset`` (name in the manifest),
        ``split`` (standard split of the file), ``label_name``, ``atlas`` / ``atlas_labels``
        (NIfTI), ``positions`` (overrides the pipeline's positions for this file),
        ``line_freq`` (mains frequency of the site, Hz).
    """

    path: str
    subject: str | None = None
    session: str = ""
    run: str = ""
    label: Any = None
    annotations: list | None = None
    extras: dict = field(default_factory=dict)
    # the path ``subject`` is derived from when it is None, when that is not ``path``: build_store
    # makes ``path`` absolute before sending it to workers (a Ray worker has another working
    # directory) and keeps the path as typed here, so a relative input keeps the subject (and the
    # part key) it always had. Not part of the identity.
    subject_path: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.path = os.fspath(self.path)
        if self.subject is not None:
            self.subject = str(self.subject)
        if self.subject_path is not None:
            self.subject_path = os.fspath(self.subject_path)
        self.session = str(self.session or "")
        self.run = str(self.run or "")
        self.extras = dict(self.extras or {})
        if self.label is not None:
            try:
                ok = float(self.label) == int(self.label)
            except (TypeError, ValueError):
                ok = False
            if not ok or isinstance(self.label, bool):
                from neurosig._utils.errors import NeurosigError

                raise NeurosigError(
                    f"FileSpec({self.path!r}): label must be an integer class id or None, got {self.label!r}; "
                    "put the class name in extras['label_name']."
                )
            self.label = int(self.label)

    def identity(self) -> str:
        """A canonical string of everything in the spec that changes the output (for the cache key)."""
        d = asdict(self)
        d.pop("path")
        d.pop("subject_path")
        return json.dumps(d, sort_keys=True, default=str)


@dataclass
class PartResult:
    """What :func:`neurosig.datasets.build.process_file` returns for one input file."""

    source: str
    key: str  # cache key: hash of (pipeline hash, source hash, spec identity)
    n_windows: int
    shards: list[str]  # store-relative shard paths
    cached: bool = False  # True when the part existed already and nothing was recomputed
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BuildReport:
    """Summary of a :func:`neurosig.datasets.build_store` run."""

    out: str
    n_files: int = 0
    n_processed: int = 0
    n_cached: int = 0
    n_failed: int = 0
    n_replaced: int = 0  # files stored before under an older cache key whose old part this run removed
    n_empty: int = 0  # files processed (or cached) that gave 0 windows (e.g. no annotation matched event_labels)
    n_windows: int = 0  # windows of every file of this run that is in the store (processed now or before)
    n_windows_added: int = 0  # windows of the files processed in this run (not those already done)
    seconds: float = 0.0
    errors: list[dict] = field(default_factory=list)  # {"source", "error"} per failed file
    warnings: list[dict] = field(default_factory=list)  # {"source", "warning"}
    parts: list[PartResult] = field(default_factory=list)

    @property
    def files_per_s(self) -> float:
        """Every file of the run (processed, already done and failed) per second of the run."""
        return self.n_files / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("parts")
        d["files_per_s"] = self.files_per_s
        return d
