"""The shard store: memory-mapped float32 window arrays plus a manifest (one row per window).

Layout of a store directory::

    store.json            format marker + the parts the consolidated manifest covers
    manifest.csv          one row per window (columns: see MANIFEST_COLUMNS)
    errors.csv            files that failed, and why (written by build_store)
    .lock                 held (flock) by the build writing the store; not data
    parts/<key>.json      one per processed input file: its windows, channels, positions,
                          bad channels, warnings, provenance. Written last: it is the commit mark.
    shards/<key>-00000.npy  float32 arrays (n_windows, C, T), model units

Every file is written under a temporary name and renamed into place, so a crash never leaves a
half-written shard or part that looks complete; a part is only seen once its JSON exists.
Paths inside the manifest are store-relative and validated: one pointing outside the store
raises.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from neurosig._utils.channels import CH_TYPE_CODES
from neurosig._utils.errors import NeurosigError
from neurosig._utils.files import TMP_PREFIX, atomic_write_text  # noqa: F401 (re-exported)
from neurosig._utils.logging import get_logger

log = get_logger("datasets.store")

STORE_FORMAT = "neurosig-store"
STORE_VERSION = 1
MANIFEST_COLUMNS = [
    "window_id", "shard", "offset", "part", "source", "dataset", "subject", "session", "run",
    "label", "label_name", "split", "start_s", "n_channels", "n_times", "sfreq", "ch_names",
    "ch_types", "has_positions", "bad_channels", "n_warnings", "pipeline_hash", "source_hash",
]


# hex keys such as "1234e567..." must never be parsed as numbers
_STR_COLUMNS = ("window_id", "shard", "part", "source", "dataset", "subject", "session", "run", "label_name", "split",
                "ch_names", "ch_types", "bad_channels", "pipeline_hash", "source_hash")


# ----------------------------------------------------------------------------- atomic writes
# atomic_write_text lives in neurosig._utils.files (re-exported here for the builder)
def clean_temporaries(root: str | os.PathLike) -> int:
    """Remove ``.tmp-*`` files a killed run left behind; returns how many were removed."""
    n = 0
    for sub in ("", "shards", "parts", "hashcache"):
        d = Path(root) / sub
        if d.is_dir():
            for p in d.glob(".tmp-*"):
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
    return n


class ShardWriter:
    """Streams windows of one part into ``shards/<key>-NNNNN.npy`` (each at most ``max_windows``).

    The number of windows is known in advance (``n_total``), so each shard's ``.npy`` header is
    written first and windows are appended with plain file writes (no memory map: a day-long
    recording's output never sits in memory). Shards get their final names in :meth:`close`.
    """

    def __init__(self, root: str | os.PathLike, key: str, n_total: int, n_channels: int, n_times: int, *, max_bytes: int = 256 << 20):
        self.root = Path(root)
        (self.root / "shards").mkdir(parents=True, exist_ok=True)
        self.key = key
        self.n_total = int(n_total)
        self.shape = (int(n_channels), int(n_times))
        per = max(1, int(max_bytes) // max(1, 4 * n_channels * n_times))
        self.per_shard = per
        self.n_written = 0
        self._fh = None
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._in_shard = 0
        self._shard_size = 0
        self.done: list[tuple[str, Path, Path]] = []  # (relative final path, tmp, final)
        self.locations: list[tuple[str, int]] = []  # (shard relative path, offset) per window

    def _open_next(self) -> None:
        k = len(self.done)
        self._shard_size = min(self.per_shard, self.n_total - self.n_written)
        rel = f"shards/{self.key}-{k:05d}.npy"
        self._final = self.root / rel
        self._tmp = self.root / "shards" / f".tmp-{self.key}-{k:05d}-{os.getpid()}.npy"
        self._fh = open(self._tmp, "wb")
        header = {"descr": "<f4", "fortran_order": False, "shape": (self._shard_size, *self.shape)}
        np.lib.format.write_array_header_1_0(self._fh, header)
        self._in_shard = 0
        self._rel = rel

    def write(self, window: np.ndarray) -> None:
        """Append one ``(C, T)`` window (cast to little-endian float32)."""
        if window.shape != self.shape:
            raise NeurosigError(f"ShardWriter: window shape {window.shape} != {self.shape}.")
        if self.n_written >= self.n_total:
            raise NeurosigError(f"ShardWriter: more windows than planned ({self.n_total}).")
        if self._fh is None:
            self._open_next()
        self._fh.write(np.ascontiguousarray(window, dtype="<f4").tobytes())
        self.locations.append((self._rel, self._in_shard))
        self._in_shard += 1
        self.n_written += 1
        if self._in_shard == self._shard_size:
            self._finish_shard()

    def _finish_shard(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        self.done.append((self._rel, self._tmp, self._final))

    def close(self) -> list[str]:
        """Check the count, rename every shard into place; return their relative paths."""
        if self.n_written != self.n_total:
            self.abort()
            raise NeurosigError(f"ShardWriter: wrote {self.n_written} windows but planned {self.n_total}.")
        for _, tmp, final in self.done:
            os.replace(tmp, final)
        return [rel for rel, _, _ in self.done]

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.done.append((self._rel, self._tmp, self._final))
        for _, tmp, _ in self.done:
            if tmp.exists():
                tmp.unlink()


# ----------------------------------------------------------------------------- parts → manifest
def _safe_rel(root: Path, rel: str, what: str) -> Path:
    """Resolve a store-relative path, refusing absolute paths and any that leave the store."""
    if not isinstance(rel, str) or not rel or os.path.isabs(rel) or rel.startswith(("/", "\\")):
        raise NeurosigError(f"store {root}: {what} path {rel!r} must be relative to the store; the manifest is corrupt, rebuild the store.")
    full = (root / rel).resolve()
    if full != root.resolve() and root.resolve() not in full.parents:
        raise NeurosigError(f"store {root}: {what} path {rel!r} points outside the store; the manifest is corrupt or tampered with, rebuild the store.")
    return full


def part_rows(part: dict) -> list[dict]:
    """Manifest rows (one per window) of a part record."""
    w = part["windows"]
    n = len(w["offset"])
    rows = []
    chn = ",".join(part["ch_names"])
    cht = ",".join(part["ch_types"])
    bads = ",".join(part.get("bad_channels", []))
    for i in range(n):
        rows.append({
            "window_id": f"{part['key'][:16]}-{i:06d}",
            "shard": w["shard"][i],
            "offset": int(w["offset"][i]),
            "part": part["key"],
            "source": part["source"],
            "dataset": part.get("dataset", ""),
            "subject": w["subject"][i] if "subject" in w else part["subject"],
            "session": part.get("session", ""),
            "run": part.get("run", ""),
            "label": int(w["label"][i]),
            "label_name": w["label_name"][i],
            "split": w["split"][i] if "split" in w else part.get("split", ""),
            "start_s": float(w["start_s"][i]),
            "n_channels": len(part["ch_names"]),
            "n_times": int(part["n_times"]),
            "sfreq": float(part["sfreq"]),
            "ch_names": chn,
            "ch_types": cht,
            "has_positions": bool(part["has_positions"]),
            "bad_channels": bads,
            "n_warnings": len(part.get("warnings", [])),
            "pipeline_hash": part["pipeline_hash"],
            "source_hash": part["source_hash"],
        })
    return rows


def list_parts(root: str | os.PathLike) -> list[str]:
    d = Path(root) / "parts"
    return sorted(p.stem for p in d.glob("*.json") if not p.name.startswith(".tmp-")) if d.is_dir() else []


def read_part(root: str | os.PathLike, key: str) -> dict:
    p = Path(root) / "parts" / f"{key}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as err:
        raise NeurosigError(f"store {root}: part {p.name} is unreadable ({err}); delete it and rerun neurosig preprocess to redo that file.") from None


def remove_part(root: str | os.PathLike, key: str, part: dict | None = None) -> None:
    """Delete a part: its JSON (the commit mark) first, then its own shards, so a crash in between
    leaves unreferenced shards at worst, never a part whose windows are gone. The caller rewrites
    the manifest (:func:`consolidate`); until then readers see the parts/ change and use the parts."""
    root = Path(root)
    part = read_part(root, key) if part is None else part
    shards = sorted(set(part.get("windows", {}).get("shard", [])))
    _safe_rel(root, f"parts/{key}.json", "part").unlink()
    for rel in shards:
        if isinstance(rel, str) and rel.startswith(f"shards/{key}-"):  # only files this part wrote
            try:
                _safe_rel(root, rel, "shard").unlink()
            except FileNotFoundError:
                pass


def consolidate(root: str | os.PathLike):
    """Rebuild ``manifest.csv`` and ``store.json`` from ``parts/`` (atomically); return the DataFrame."""
    import pandas as pd

    root = Path(root)
    keys = list_parts(root)
    rows: list[dict] = []
    for k in keys:
        rows.extend(part_rows(read_part(root, k)))
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    atomic_write_text(root / "manifest.csv", df.to_csv(index=False))
    # n_windows lets a reader see a manifest that lost rows without opening every part
    atomic_write_text(root / "store.json", json.dumps({"format": STORE_FORMAT, "version": STORE_VERSION, "parts": keys,
                                                       "n_windows": len(df)}))
    return df


def _read_manifest(man: Path, keys: list[str], meta: dict, root: Path):
    """``(DataFrame, None)`` when ``manifest.csv`` parses, has every column and one row per window
    of the parts; else ``(None, why)``."""
    import pandas as pd

    try:
        df = pd.read_csv(man, keep_default_na=False, dtype={c: str for c in _STR_COLUMNS})
    except pd.errors.EmptyDataError:
        return None, "it is empty"
    except (ValueError, UnicodeDecodeError, OSError) as err:  # ParserError is a ValueError
        return None, f"it does not parse ({type(err).__name__}: {' '.join(str(err).split())[:120]})"
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        return None, f"it lacks the column(s) {', '.join(missing)}"
    for c in ("offset", "label", "sfreq", "start_s", "n_channels", "n_times"):
        if len(df) and pd.to_numeric(df[c], errors="coerce").isna().any():
            return None, f"its column {c!r} holds non-numbers"
    if not set(df["part"].tolist()) <= set(keys):
        return None, "it names parts that parts/ does not hold"
    expected = meta.get("n_windows")
    counted = not isinstance(expected, int) or isinstance(expected, bool)
    if counted:  # a store written before store.json had n_windows: count the parts (once)
        expected = sum(len(read_part(root, k)["windows"]["offset"]) for k in keys)
    if len(df) != expected:
        return None, f"it has {len(df)} window rows but the parts hold {expected}"
    if counted:
        try:
            atomic_write_text(root / "store.json", json.dumps({**meta, "n_windows": int(expected)}))
        except OSError:
            pass  # a read-only store is checked the same way next time
    return df, None


# ----------------------------------------------------------------------------- reading
class ShardStore:
    """A shard store on disk: ``len(store)``, ``store[i] -> item``, ``store.manifest``, ``store.subset``.

    An item is a dict of numpy values: ``x float32 (C, T)``, ``pos float32 (C, 3)`` (NaN where
    unknown), ``ch_type int64 (C,)``, ``ch_mask bool (C,)`` (False for channels marked bad),
    ``sfreq``, ``y`` (int, -1 unlabelled) and ``subject``.
    """

    def __init__(self, root: str | os.PathLike):
        import pandas as pd

        self.root = Path(root)
        if self.root.is_file():
            raise NeurosigError(f"store {os.fspath(root)!r} is a file, not a store folder; pass the folder given as "
                                "--out to neurosig preprocess (it holds store.json, manifest.csv, parts/, shards/).")
        if not self.root.is_dir():
            raise NeurosigError(f"store {os.fspath(root)!r} does not exist; build it with: neurosig preprocess INPUT --out {os.fspath(root)}")
        marker = self.root / "store.json"
        keys = list_parts(self.root)
        meta = None
        if marker.exists():
            try:
                meta = json.loads(marker.read_text())
            except ValueError:
                meta = None
        if meta is not None and meta.get("format") != STORE_FORMAT:
            raise NeurosigError(f"{marker} is not a neurosig store marker; point at a folder made by neurosig preprocess.")
        if not keys and meta is None:
            raise NeurosigError(f"store {os.fspath(root)!r} holds no processed files (no parts/ and no store.json); build it with: neurosig preprocess INPUT --out {os.fspath(root)}")
        man = self.root / "manifest.csv"
        df = None
        if meta is not None and man.exists() and meta.get("parts") == keys:
            df, why = _read_manifest(man, keys, meta, self.root)
            if df is None:  # derived data: the parts are the truth, so rebuild it (on disk when writable)
                try:
                    df = consolidate(self.root)
                    done = "rebuilt it from parts/"
                except OSError as err:
                    done = f"read the parts/ instead (could not rewrite it: {err.strerror or err})"
                log.warning("store %s: manifest.csv is damaged (%s); %s. Rerunning neurosig preprocess with the same "
                            "--out also repairs it.", os.fspath(root), why, done)
        if df is None:  # interrupted build or parts added: the parts are the truth
            rows: list[dict] = []
            for k in keys:
                rows.extend(part_rows(read_part(self.root, k)))
            df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
        self._init(df.reset_index(drop=True), {}, {})
        self._validate_paths()

    def _init(self, manifest, parts: dict, mmaps: dict) -> None:
        self.manifest = manifest
        self._parts = parts  # part key -> (pos, ch_type codes, bad mask)
        self._mmaps = mmaps  # shard rel path -> np.memmap
        self._shard_col = manifest["shard"].to_numpy() if len(manifest) else np.array([], dtype=object)
        self._offset_col = manifest["offset"].to_numpy(dtype=np.int64) if len(manifest) else np.zeros(0, np.int64)
        self._part_col = manifest["part"].to_numpy() if len(manifest) else np.array([], dtype=object)
        self._label_col = manifest["label"].to_numpy(dtype=np.int64) if len(manifest) else np.zeros(0, np.int64)
        self._subject_col = manifest["subject"].astype(str).to_numpy() if len(manifest) else np.array([], dtype=object)
        self._sfreq_col = manifest["sfreq"].to_numpy(dtype=np.float64) if len(manifest) else np.zeros(0)

    def __getstate__(self) -> dict:
        # DataLoader workers (spawn) get the store pickled: send paths, not the mapped shards
        state = self.__dict__.copy()
        state["_mmaps"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def _validate_paths(self) -> None:
        for rel in sorted(set(self._shard_col.tolist())):
            _safe_rel(self.root, rel, "shard")
        for key in sorted(set(self._part_col.tolist())):
            _safe_rel(self.root, f"parts/{key}.json", "part")

    def __len__(self) -> int:
        return len(self.manifest)

    def __repr__(self) -> str:
        return f"ShardStore({os.fspath(self.root)!r}, windows={len(self)}, files={len(set(self._part_col.tolist()))})"

    def _part(self, key: str):
        got = self._parts.get(key)
        if got is None:
            part = read_part(self.root, key)
            n = len(part["ch_names"])
            pos = np.asarray(part["pos"], dtype=np.float32).reshape(n, 3) if part.get("pos") is not None else np.full((n, 3), np.nan, np.float32)
            ch_type = np.array([CH_TYPE_CODES[t] for t in part["ch_types"]], dtype=np.int64)
            bad = set(part.get("bad_channels", []))
            mask = np.array([c not in bad for c in part["ch_names"]], dtype=bool)
            got = (pos, ch_type, mask)
            self._parts[key] = got
        return got

    def _mmap(self, rel: str) -> np.ndarray:
        mm = self._mmaps.get(rel)
        if mm is None:
            path = _safe_rel(self.root, rel, "shard")
            try:
                mm = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as err:
                raise NeurosigError(f"store {self.root}: shard {rel} is missing or unreadable ({err}); rerun neurosig preprocess to rebuild it.") from None
            self._mmaps[rel] = mm
        return mm

    def __getitem__(self, i: int) -> dict:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"window {i} out of range for a store of {n} windows")
        i = int(i) % n
        x = np.array(self._mmap(self._shard_col[i])[self._offset_col[i]], dtype=np.float32)  # (C, T)
        pos, ch_type, mask = self._part(self._part_col[i])
        return {
            "x": x,
            "pos": pos.copy(),
            "ch_type": ch_type.copy(),
            "ch_mask": mask.copy(),
            "sfreq": float(self._sfreq_col[i]),
            "y": int(self._label_col[i]),
            "subject": str(self._subject_col[i]),
        }

    def subset(self, indices: Sequence[int]) -> "ShardStore":
        """A view with the rows ``indices`` (in that order); shares the open shards."""
        idx = np.asarray(indices, dtype=np.int64)
        view = object.__new__(ShardStore)
        view.root = self.root
        view._init(self.manifest.iloc[idx].reset_index(drop=True), self._parts, self._mmaps)
        return view

    def part_info(self, key: str) -> dict[str, Any]:
        """The full part record (provenance, warnings, positions) of a processed file."""
        _safe_rel(self.root, f"parts/{key}.json", "part")
        return read_part(self.root, key)

    def errors(self):
        """The error manifest (files that failed) as a DataFrame (empty when none)."""
        import pandas as pd

        p = self.root / "errors.csv"
        return pd.read_csv(p, keep_default_na=False) if p.exists() else pd.DataFrame(columns=["source", "error"])
