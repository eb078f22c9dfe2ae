"""The preprocessing pipeline: pick → positions → reference → units → NaN/bad marks → notch +
band-pass → resample → clip → windows, run chunk by chunk so a day-long file never sits in memory.

``Pipeline(config).apply(recording)`` returns the whole processed recording (model units);
``Pipeline.iter_blocks`` streams it; ``Pipeline.iter_windows`` cuts the stream into windows
(what the shard store builder uses). No torch here.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import scipy.signal as ss

from neurosig._utils.channels import MODEL_UNITS
from neurosig._utils.errors import NeurosigError
from neurosig.io.positions import ALIASES, clean_name
from neurosig.io.recording import Recording
from neurosig.preprocessing import filters as F
from neurosig.preprocessing.config import PipelineConfig
from neurosig.preprocessing.windows import Window, plan_windows

# TUH "TCP" double banana (22 derivations): temporal chains, A1/A2 links, parasagittal chains.
TCP_PAIRS = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("A1", "T3"), ("T3", "C3"), ("C3", "CZ"), ("CZ", "C4"), ("C4", "T4"), ("T4", "A2"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)
_EEG_LIKE = ("eeg", "seeg", "ecog", "eog", "ecg", "emg")


@dataclass
class Plan:
    """Everything decided before the data is touched (the provenance of one output)."""

    source: str
    sfreq_in: float
    n_in: int
    M: np.ndarray  # (C_out, C_in) reference ∘ unit scaling
    dep: np.ndarray  # (C_out, C_in) bool: which inputs an output depends on (bad-mark propagation)
    scale_in: np.ndarray  # (C_in,) SI → model unit factor of each input (0 for inputs not picked)
    names: list[str]
    types: list[str]
    pos: np.ndarray  # (C_out, 3)
    units: list[str]
    taps: np.ndarray | None = None
    sos: np.ndarray | None = None
    half: int = 0  # samples the filter eats on each side of a chunk
    up: int = 1
    down: int = 1
    ctx: int = 0  # resampler context (input samples, multiple of down)
    sfreq_out: float = 0.0
    n_out: int = 0
    clip: np.ndarray | None = None  # (C_out,) limits (inf = none)
    demean: bool = False  # epochs too short for the high-pass: subtract each epoch's mean
    kind: str = "continuous"  # continuous | epochs | fmri
    steps: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class BadStats:
    """Streaming per-channel statistics for flat / NaN / saturated marks (exact over the file)."""

    def __init__(self, n: int):
        self.mn = np.full(n, np.inf)
        self.mx = np.full(n, -np.inf)
        self.cmn = np.zeros(n, np.int64)
        self.cmx = np.zeros(n, np.int64)
        self.nonfinite = np.zeros(n, np.int64)
        self.n = 0

    def update(self, x: np.ndarray, finite: np.ndarray) -> None:
        """``x (C, n)`` in model units with non-finite values already zeroed; ``finite`` its mask."""
        if x.shape[1] == 0:
            return
        self.nonfinite += (~finite).sum(axis=1)
        mn, mx = x.min(axis=1), x.max(axis=1)
        cmn = (x == mn[:, None]).sum(axis=1)
        cmx = (x == mx[:, None]).sum(axis=1)
        lo, eq = mn < self.mn, mn == self.mn
        self.cmn = np.where(lo, cmn, np.where(eq, self.cmn + cmn, self.cmn))
        self.mn = np.minimum(self.mn, mn)
        hi, eq = mx > self.mx, mx == self.mx
        self.cmx = np.where(hi, cmx, np.where(eq, self.cmx + cmx, self.cmx))
        self.mx = np.maximum(self.mx, mx)
        self.n += x.shape[1]

    def reasons(self, flat_ptp: float, sat_frac: float) -> list[str]:
        out = []
        for i in range(self.mn.size):
            r = []
            if self.nonfinite[i]:
                r.append("nan")
            ptp = self.mx[i] - self.mn[i]
            if self.n and ptp <= flat_ptp:
                r.append("flat")
            elif self.n and (self.cmn[i] + self.cmx[i]) / self.n > sat_frac:
                r.append("saturated")
            out.append("+".join(r))
        return out


def _versions() -> dict[str, str]:
    import mne
    import scipy

    from neurosig import __version__

    return {"neurosig": __version__, "mne": mne.__version__, "numpy": np.__version__, "scipy": scipy.__version__, "python": platform.python_version()}


class Pipeline:
    """A configured preprocessing pipeline (see :class:`PipelineConfig` for the steps)."""

    def __init__(self, config: PipelineConfig | dict | None = None):
        if config is None:
            config = PipelineConfig()
        elif isinstance(config, dict):
            from neurosig.config import from_dict

            config = from_dict(PipelineConfig, config, where="pipeline config")
        if not isinstance(config, PipelineConfig):
            raise NeurosigError(f"Pipeline: config must be a PipelineConfig or dict, got {type(config).__name__}.")
        self.config = config

    @property
    def hash(self) -> str:
        return self.config.hash

    def __repr__(self) -> str:
        return f"Pipeline(hash={self.hash})"

    # ------------------------------------------------------------------ reading
    def read(self, path: str | os.PathLike, *, positions: str | None = None, **kwargs) -> Recording:
        """``read_recording`` with this pipeline's channel pick and positions."""
        from neurosig.io.readers import read_recording

        c = self.config
        return read_recording(path, positions=positions or c.positions, ch_types=None if c.include else c.ch_types,
                              include=c.include, exclude=c.exclude, **kwargs)

    # ------------------------------------------------------------------ planning
    def _pick(self, rec: Recording) -> list[int]:
        c = self.config
        inc = {n.lower() for n in c.include} if c.include else None
        exc = {n.lower() for n in c.exclude}
        keep = []
        for i, (n, t) in enumerate(zip(rec.ch_names, rec.ch_types)):
            keys = {n.lower(), clean_name(n).lower()}
            if keys & exc:
                continue
            if inc is not None:
                if keys & inc:
                    keep.append(i)
            elif t in c.ch_types:
                keep.append(i)
        if not keep:
            raise NeurosigError(f"{rec.source}: no channel left after the pick (ch_types {c.ch_types}, include {c.include}, exclude {c.exclude}); channels: {', '.join(rec.ch_names[:30])}.")
        return keep

    def _reference(self, rec: Recording, keep: list[int], warns: list[str]):
        """Rows of the reference matrix over the picked inputs, plus output names/types/pos."""
        c = self.config
        names = [rec.ch_names[i] for i in keep]
        types = [rec.ch_types[i] for i in keep]
        pos = rec.pos[keep]
        n = len(keep)
        if c.reference == "none":
            return np.eye(n), np.eye(n, dtype=bool), names, types, pos
        if c.reference == "average":
            eeg = np.array([t == "eeg" for t in types])
            if eeg.sum() < 2:
                raise NeurosigError(f"{rec.source}: reference=average needs at least 2 EEG channels, found {int(eeg.sum())}; use reference: none.")
            # channels the file declares bad (BIDS channels.tsv, FIF info["bads"]) and channels a scan of the file
            # finds flat / saturated / NaN (the marks the store gets) are left out of the average and left as they
            # are (masked in the store), as MNE's set_eeg_reference does with info["bads"]
            bad = {str(b) for b in (rec.info.get("bads") or [])} | self._scan_bads(rec, keep)
            good = eeg & np.array([nm not in bad for nm in names])
            if good.sum() < 2:
                good = eeg
                if bad & set(names):
                    warns.append(f"fewer than 2 EEG channels are good (not declared bad, flat or saturated); the average reference uses all {int(eeg.sum())}")
            R = np.eye(n)
            R[np.ix_(good, good)] -= 1.0 / good.sum()
            return R, np.eye(n, dtype=bool), names, types, pos
        # bipolar TCP
        index: dict[str, int] = {}
        for j, nm in enumerate(names):
            k = clean_name(nm).upper()
            index.setdefault(k, j)
        for k, v in list(index.items()):
            alias = ALIASES.get(k.lower())
            if alias:
                index.setdefault(alias.upper(), v)
        rows, out_names, out_pos, missing = [], [], [], []
        for a, b in TCP_PAIRS:
            if a in index and b in index:
                r = np.zeros(n)
                r[index[a]], r[index[b]] = 1.0, -1.0
                rows.append(r)
                out_names.append(f"{a}-{b}")
                out_pos.append((pos[index[a]] + pos[index[b]]) / 2.0)
            else:
                missing.append(f"{a}-{b}")
        if not rows:
            raise NeurosigError(f"{rec.source}: reference=bipolar_tcp needs 10-20 names (FP1, F7, T3 ...), found none of the pairs; use reference: average or none.")
        if missing:
            warns.append(f"bipolar TCP: {len(missing)} derivation(s) skipped for missing electrodes: {', '.join(missing)}")
        R = np.array(rows)
        return R, R != 0, out_names, ["eeg"] * len(rows), np.array(out_pos)

    def plan(self, rec: Recording) -> Plan:
        c = self.config
        warns: list[str] = list(rec.info.get("warnings", []))
        keep = self._pick(rec)
        R, dep_r, names, types, pos = self._reference(rec, keep, warns)
        in_types = [rec.ch_types[i] for i in keep]
        scale = np.array([MODEL_UNITS[t][1] if c.scale_units else 1.0 for t in in_types])
        M = np.zeros((R.shape[0], rec.n_channels))
        M[:, keep] = R * scale[None, :]
        dep = np.zeros((R.shape[0], rec.n_channels), dtype=bool)
        dep[:, keep] = dep_r
        units = [MODEL_UNITS[t][0] if c.scale_units else "SI" for t in types]
        kind = "fmri" if all(t == "fmri" for t in types) else "epochs" if "epoch_len" in rec.info else "continuous"
        clip = np.array([float(c.clip.get(t, np.inf)) for t in types])
        scale_in = np.zeros(rec.n_channels)
        scale_in[keep] = scale
        p = Plan(source=rec.source, sfreq_in=rec.sfreq, n_in=rec.n_times, M=M, dep=dep, scale_in=scale_in, names=names, types=types,
                 pos=np.asarray(pos, dtype=float).reshape(len(names), 3), units=units, clip=clip, kind=kind, warnings=warns)
        steps = {"pick": names if c.reference == "none" else [rec.ch_names[i] for i in keep], "reference": c.reference,
                 "units": sorted(set(units)), "positions": rec.info.get("positions", "")}
        if kind == "fmri":
            p.sfreq_out, p.n_out = rec.sfreq, rec.n_times
            steps.update({"zscore": True, "filter": None, "resample": None})
            p.steps = steps
            return p
        sf = rec.sfreq
        target = c.resample_sfreq
        up, down = F.resample_factors(sf, target)
        sf_out = sf * up / down
        # band edges clipped below both Nyquist frequencies (input and output)
        nyq = min(sf, sf_out) / 2.0
        l_f, h_f = c.l_freq, c.h_freq
        if h_f is not None and h_f > 0.8 * nyq:
            warns.append(f"h_freq {h_f:g} Hz clipped to {0.8 * nyq:g} Hz (0.8 x Nyquist of {2 * nyq:g} Hz)")
            h_f = 0.8 * nyq
        if l_f is not None and h_f is not None and l_f >= h_f:
            warns.append(f"l_freq {l_f:g} Hz >= clipped h_freq; high-pass dropped")
            l_f = None
        line = c.notch
        if line == "auto":
            line = rec.info.get("line_freq") or None
            if line is None:
                line = 50.0
                warns.append("mains frequency unknown (no line_freq in the file): notch at 50 Hz; set notch: 60 for recordings from the Americas")
        notch = []
        if line is not None:
            upper = None
            if h_f is not None:
                upper = h_f + min(max(0.25 * h_f, 2.0), sf / 2.0 - h_f)  # MNE's low-pass transition
            notch = F.notch_freqs(float(line), sf, upper, c.notch_harmonics)
        n_in_epoch = rec.info.get("epoch_len", rec.n_times)
        if kind == "epochs":
            self._plan_epoch_filter(p, sf, l_f, h_f, notch, n_in_epoch, warns)
        elif c.filter_method == "fir":
            p.taps = F.fir_taps(sf, l_f, h_f, notch)
            p.half = 0 if p.taps is None else (p.taps.size - 1) // 2
        else:
            p.sos = F.iir_sos(sf, l_f, h_f, notch)
            p.half = 0 if p.sos is None else F.iir_settle(sf, l_f, h_f)
        p.up, p.down = up, down
        rh = F.resample_half(up, down)
        p.ctx = int(np.ceil(rh / down)) * down + (down if rh else 0)
        p.sfreq_out = sf_out
        p.n_out = int(np.ceil(rec.n_times * up / down)) if kind != "epochs" else int(np.ceil(n_in_epoch * up / down)) * rec.info["n_epochs"]
        steps.update({"l_freq": l_f, "h_freq": h_f, "notch": notch, "filter": "fir" if p.taps is not None else "iir" if p.sos is not None else None,
                      "filter_length": int(p.taps.size) if p.taps is not None else None, "resample": [up, down], "sfreq_out": sf_out,
                      "demean": p.demean, "clip": dict(c.clip)})
        p.steps = steps
        return p

    def _plan_epoch_filter(self, p: Plan, sf, l_f, h_f, notch, T, warns) -> None:
        c = self.config
        if c.filter_method == "fir":
            taps = F.fir_taps(sf, l_f, h_f, notch)
            if taps is None or taps.size <= T:
                p.taps = taps
                p.half = 0 if taps is None else (taps.size - 1) // 2
                return
        dur = T / sf
        if l_f is not None and l_f * dur < 3.0:
            warns.append(f"epochs of {dur:.2f} s are too short for a {l_f:g} Hz high-pass (fewer than 3 cycles): high-pass skipped, each epoch demeaned instead")
            l_f = None
            p.demean = True
        if c.filter_method == "fir":
            taps = F.fir_taps(sf, l_f, h_f, notch)
            if taps is None or taps.size <= T:
                p.taps = taps
                p.half = 0 if taps is None else (taps.size - 1) // 2
                return
            warns.append(f"epochs of {T} samples are shorter than the FIR filter ({taps.size} taps): IIR (Butterworth, forward-backward) used instead")
        p.sos = F.iir_sos(sf, l_f, h_f, notch)

    # ------------------------------------------------------------------ running
    def _scan_bads(self, rec: Recording, keep: list[int]) -> set[str]:
        """Names of the picked channels the store will mark flat / saturated / NaN, found by one pass over the
        file before the processing pass (the same statistics, :class:`BadStats`, in model units)."""
        c = self.config
        scale = np.array([MODEL_UNITS[rec.ch_types[i]][1] if c.scale_units else 1.0 for i in keep])
        stats = BadStats(len(keep))
        L = max(1, int(c.chunk_s * rec.sfreq))
        for s in range(0, rec.n_times, L):
            raw = self._read_block(rec, s, min(s + L, rec.n_times))[keep]
            finite = np.isfinite(raw)
            stats.update(np.where(finite, raw, 0.0) * scale[:, None], finite)
        reasons = stats.reasons(c.flat_ptp, c.saturation_fraction)
        return {rec.ch_names[i] for i, r in zip(keep, reasons) if r}

    def _read_block(self, rec: Recording, a: int, b: int) -> np.ndarray:
        if rec.raw is not None:
            return rec.raw.get_data(start=a, stop=b)
        return np.asarray(rec.data[:, a:b], dtype=np.float64)

    def _finish(self, p: Plan, y: np.ndarray, clipped: np.ndarray) -> np.ndarray:
        if np.isfinite(p.clip).any():
            lim = p.clip[:, None].astype(y.dtype)
            over = np.abs(y) > lim
            clipped += over.sum(axis=-1).reshape(-1, p.clip.size).sum(axis=0) if y.ndim == 3 else over.sum(axis=1)
            np.clip(y, -lim, lim, out=y)
        return y

    def iter_blocks(self, rec: Recording, plan: Plan | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first output sample, block (C_out, n) float32)`` covering the whole recording.

        After the iterator is exhausted, ``plan.steps`` holds the bad-channel marks and clip counts.
        """
        p = plan or self.plan(rec)
        c = self.config
        stats = BadStats(rec.n_channels)
        clipped = np.zeros(len(p.names), np.int64)
        if p.kind == "fmri":
            x = self._read_block(rec, 0, rec.n_times)
            finite = np.isfinite(x)
            x = np.where(finite, x, 0.0)
            stats.update(x, finite)
            y = p.M @ x
            sd = y.std(axis=1, keepdims=True)
            y = ((y - y.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
            y = self._finish(p, y, clipped)
            self._close(p, stats, clipped, rec)
            yield 0, y
            return
        if p.kind == "epochs":
            yield from self._iter_epochs(rec, p, stats, clipped)
            return
        down, up = p.down, p.up
        H = p.half + p.ctx
        L = max(down, int(round(c.chunk_s * p.sfreq_in / down)) * down)
        n = rec.n_times
        for s in range(0, n, L):
            e = min(s + L, n)
            a, b = max(0, s - H), min(n, e + H)
            raw = self._read_block(rec, a, b)  # (C_in, b - a) SI units, float64
            finite = np.isfinite(raw)
            if not finite.all():
                raw = np.where(finite, raw, 0.0)
            scale = p.scale_in  # per-input unit factor (the bad statistics are in model units)
            core = slice(s - a, e - a)
            stats.update(raw[:, core] * scale[:, None], finite[:, core])
            x = (p.M @ raw).astype(np.float32)  # (C_out, b - a) model units
            del raw
            x = F.odd_pad(x, H - (s - a), (e + H) - b)  # (C_out, e - s + 2H), covers [s - H, e + H)
            if p.taps is not None:
                y = F.apply_fir_valid(x, p.taps)  # covers [s - ctx, e + ctx)
            elif p.sos is not None:
                y = ss.sosfiltfilt(p.sos, x, axis=-1, padtype=None).astype(np.float32)
                y = y[:, p.half : y.shape[1] - p.half] if p.half else y
            else:
                y = x
            del x
            out_s = s * up // down
            out_e = p.n_out if e == n else e * up // down
            if up != down:
                # y covers [s - ctx, e + ctx); at the file edges keep only real samples and let the
                # resampler reflect them (what MNE's polyphase resample does on the whole file)
                lo = p.ctx if s == 0 else 0
                hi = y.shape[1] - (p.ctx if e == n else 0)
                y = ss.resample_poly(y[:, lo:hi], up, down, axis=-1, padtype="reflect")
                k0 = 0 if s == 0 else p.ctx * up // down
            else:
                k0 = p.ctx
            y = np.ascontiguousarray(y[:, k0 : k0 + (out_e - out_s)], dtype=np.float32)
            y = self._finish(p, y, clipped)
            yield out_s, y
        self._close(p, stats, clipped, rec)

    def _iter_epochs(self, rec: Recording, p: Plan, stats: BadStats, clipped: np.ndarray):
        E, T = rec.info["n_epochs"], rec.info["epoch_len"]
        raw = np.asarray(rec.data, dtype=np.float64)
        finite = np.isfinite(raw)
        raw = np.where(finite, raw, 0.0)
        scale = p.scale_in
        stats.update(raw * scale[:, None], finite)
        x = (p.M @ raw).astype(np.float32).reshape(len(p.names), E, T).transpose(1, 0, 2)  # (E, C, T)
        if p.demean:
            x = x - x.mean(axis=-1, keepdims=True)
        if p.taps is not None:
            x = F.apply_fir_valid(F.odd_pad(x, p.half, p.half), p.taps)
        elif p.sos is not None:
            padlen = min(3 * (2 * p.sos.shape[0] + 1), T - 1)
            x = ss.sosfiltfilt(p.sos, x, axis=-1, padlen=padlen).astype(np.float32)
        if p.up != p.down:
            x = ss.resample_poly(x, p.up, p.down, axis=-1, padtype="reflect")
        x = np.ascontiguousarray(x, dtype=np.float32)  # (E, C, T_out)
        x = self._finish(p, x, clipped)
        self._close(p, stats, clipped, rec)
        To = x.shape[-1]
        for k in range(E):
            yield k * To, x[k]

    def _close(self, p: Plan, stats: BadStats, clipped: np.ndarray, rec: Recording) -> None:
        c = self.config
        reasons_in = stats.reasons(c.flat_ptp, c.saturation_fraction)
        # channels the file itself declares bad (BIDS channels.tsv status=bad, FIF info["bads"])
        declared = {str(b) for b in (rec.info.get("bads") or [])}
        reasons_in = [("+".join(filter(None, [r, "declared"])) if n in declared else r) for n, r in zip(rec.ch_names, reasons_in)]
        bads = {}
        for o, name in enumerate(p.names):
            why = sorted({r for i in np.flatnonzero(p.dep[o]) for r in reasons_in[i].split("+") if r})
            if why:
                bads[name] = "+".join(why)
        nonfinite = int(stats.nonfinite.sum())
        if nonfinite:
            p.warnings.append(f"{nonfinite} NaN/Inf sample(s) replaced by 0")
        if bads:
            p.warnings.append("bad channels: " + ", ".join(f"{k} ({v})" for k, v in bads.items()))
        p.steps["bad_channels"] = bads
        n_total = max(1, p.n_out)
        p.steps["clipped_fraction"] = {nm: float(clipped[i]) / n_total for i, nm in enumerate(p.names) if clipped[i]}

    def apply(self, rec: Recording) -> Recording:
        """The whole processed recording in model units (``data (C, T) float32``)."""
        p = self.plan(rec)
        blocks = [b for _, b in self.iter_blocks(rec, p)]
        data = np.concatenate(blocks, axis=-1) if blocks else np.zeros((len(p.names), 0), np.float32)
        info = {k: v for k, v in rec.info.items() if k != "epochs"}
        info.update(self.provenance(p, source_sha256=None))
        info["warnings"] = list(p.warnings)
        if p.kind == "epochs":
            info["epoch_len"] = data.shape[1] // rec.info["n_epochs"]
        return Recording(sfreq=p.sfreq_out, ch_names=p.names, ch_types=p.types, pos=p.pos, subject=rec.subject, source=rec.source,
                         data=data, session=rec.session, run=rec.run, annotations=list(rec.annotations), label=rec.label, info=info)

    def provenance(self, p: Plan, source_sha256: str | None) -> dict:
        return {
            "pipeline_hash": self.hash,
            "pipeline": self.config.hash_dict(),
            "steps": p.steps,
            "versions": _versions(),
            "source_sha256": source_sha256,
            "bad_channels": p.steps.get("bad_channels", {}),
            "units": p.units,
        }

    def iter_windows(self, rec: Recording, plan: Plan | None = None, *, label: int | None = None, label_name: str = ""):
        """``(plan, windows, generator of (Window, array (C, T)))`` in window order."""
        p = plan or self.plan(rec)
        if p.kind == "epochs":
            E = rec.info["n_epochs"]
            To = p.n_out // E
            labs, names = rec.info["epoch_labels"], rec.info["epoch_label_names"]
            wins = [Window(k * To, (k + 1) * To, int(labs[k]), str(names[k])) for k in range(E)]
        else:
            ann = rec.annotations
            wins = plan_windows(self.config.window, p.n_out, p.sfreq_out, ann, label=label, label_name=label_name,
                                source=rec.source, warnings=p.warnings)

        def gen():
            if not wins:
                for _ in self.iter_blocks(rec, p):
                    pass
                return
            buf = np.zeros((len(p.names), 0), np.float32)
            buf0 = 0  # output sample of buf[:, 0]
            k = 0
            for s, block in self.iter_blocks(rec, p):
                if k >= len(wins):
                    continue  # drain (bad-channel statistics need the whole file)
                if buf.shape[1]:
                    buf = np.concatenate([buf, block], axis=1)
                else:
                    buf, buf0 = block, s
                end = buf0 + buf.shape[1]
                while k < len(wins) and wins[k].stop <= end:
                    w = wins[k]
                    yield w, buf[:, w.start - buf0 : w.stop - buf0]
                    k += 1
                keep_from = wins[k].start if k < len(wins) else end
                drop = max(0, min(keep_from, end) - buf0)
                if drop:
                    buf = buf[:, drop:]
                    buf0 += drop
            if k < len(wins):
                raise NeurosigError(f"{rec.source}: the data ended before window {k} of {len(wins)}; the file may be truncated.")

        return p, wins, gen()
