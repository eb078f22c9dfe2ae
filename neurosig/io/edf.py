"""A small EDF/BDF header parser used to catch broken files before MNE reads them.

It checks what MNE either crashes on deep inside or silently "fixes": truncated data, a
physical range of zero, channels at different sampling rates, duplicate labels and dates
that cannot be stored. Returns what the reader should exclude and the warnings to record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from neurosig._utils.errors import NeurosigError


@dataclass
class EDFHeader:
    path: str
    bdf: bool
    header_bytes: int
    n_records: int
    record_s: float
    labels: list[str]
    phys_min: list[float]
    phys_max: list[float]
    samples_per_record: list[int]
    startdate: str
    starttime: str
    exclude: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    date_ok: bool = True
    recording_field: str = ""  # EDF+ "Startdate dd-MMM-yyyy ..." (bytes 88:168)


def _num(field_bytes: bytes, what: str, path: str) -> float:
    s = field_bytes.decode("latin-1").strip()
    try:
        return float(s)
    except ValueError:
        raise NeurosigError(f"{path}: EDF header field {what} is {s!r}, not a number; the header is corrupt, re-export the file.") from None


def check_edf(path: str) -> EDFHeader:
    """Parse and sanity-check an EDF/BDF header; raise one-line errors for files MNE cannot read."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise NeurosigError(f"{path}: truncated EDF: {size} bytes, shorter than the 256-byte header; the file is cut off, copy it again or re-export it.")
        bdf = head[:1] == b"\xff"
        header_bytes = int(_num(head[184:192], "header bytes", path))
        n_records = int(_num(head[236:244], "number of data records", path))
        record_s = _num(head[244:252], "record duration", path)
        ns = int(_num(head[252:256], "number of signals", path))
        if ns <= 0:
            raise NeurosigError(f"{path}: EDF header lists {ns} signals; the file holds no channels, check the export.")
        rest = fh.read(ns * 256)
    if len(rest) < ns * 256 or header_bytes != 256 * (ns + 1):
        raise NeurosigError(f"{path}: truncated EDF header (expected {256 * (ns + 1)} header bytes for {ns} signals); the file is cut off, copy it again or re-export it.")

    def fields(offset: int, width: int) -> list[bytes]:
        return [rest[offset + i * width : offset + (i + 1) * width] for i in range(ns)]

    o = 0
    labels = [b.decode("latin-1").strip() for b in fields(o, 16)]
    o += 16 * ns + 80 * ns + 8 * ns
    pmin = [_num(b, f"physical minimum of {labels[i]!r}", path) for i, b in enumerate(fields(o, 8))]
    o += 8 * ns
    pmax = [_num(b, f"physical maximum of {labels[i]!r}", path) for i, b in enumerate(fields(o, 8))]
    o += 8 * ns + 8 * ns + 8 * ns + 80 * ns
    spr = [int(_num(b, f"samples per record of {labels[i]!r}", path)) for i, b in enumerate(fields(o, 8))]
    hdr = EDFHeader(path, bdf, header_bytes, n_records, record_s, labels, pmin, pmax, spr,
                    head[168:176].decode("latin-1"), head[176:184].decode("latin-1"),
                    recording_field=head[88:168].decode("latin-1"))

    bps = 3 if bdf else 2
    record_bytes = sum(spr) * bps
    if record_bytes <= 0:
        raise NeurosigError(f"{path}: EDF header gives 0 samples per record; the header is corrupt, re-export the file.")
    complete = (size - header_bytes) // record_bytes
    if n_records < 0:
        hdr.warnings.append(f"header record count is -1 (recording not closed); using the {complete} complete records in the file")
        hdr.n_records = complete
    elif complete < n_records:
        raise NeurosigError(
            f"{path}: truncated EDF: the header announces {n_records} data records but the file holds only {complete} complete "
            f"records; copy the file again, or set the header's record count to {complete} to keep what is there."
        )
    if complete == 0:
        raise NeurosigError(f"{path}: EDF file holds no data records; the recording is empty, re-export it.")

    is_annot = [lab.upper() in ("EDF ANNOTATIONS", "BDF ANNOTATIONS") for lab in labels]
    sig = [i for i in range(ns) if not is_annot[i]]
    # physical min == max: the scaling is undefined (division by zero in every reader)
    zero_range = [labels[i] for i in sig if pmax[i] == pmin[i]]
    if zero_range:
        if len(zero_range) == len(sig):
            raise NeurosigError(f"{path}: every channel has physical minimum == maximum in the EDF header, so no signal can be scaled; fix the header's physical range.")
        hdr.exclude.extend(zero_range)
        hdr.warnings.append(f"channels {', '.join(zero_range)} have physical minimum == maximum in the header (no scaling possible); dropped")
    sig_ok = [i for i in sig if labels[i] not in zero_range]
    rates = [spr[i] for i in sig_ok]
    if len(set(rates)) > 1:
        # keep the rate of the EEG channels (labels like "EEG Fpz-Cz"), then the rate most
        # channels share, then the highest: in PSGs (Sleep-EDF) slow 1 Hz channels outnumber EEG
        eeg_like = [spr[i] for i in sig_ok if "EEG" in labels[i].upper()]
        best = max(set(rates), key=lambda r: (eeg_like.count(r), rates.count(r), r))
        other = [labels[i] for i in sig_ok if spr[i] != best]
        hdr.exclude.extend(other)
        hdr.warnings.append(
            f"channels {', '.join(other)} are sampled at another rate than the other {rates.count(best)} channels "
            f"({best / record_s if record_s else best:g} Hz); dropped instead of resampled"
        )
    seen: dict[str, int] = {}
    for lab in (labels[i] for i in sig):
        seen[lab] = seen.get(lab, 0) + 1
    dups = sorted(k for k, v in seen.items() if v > 1)
    if dups:
        hdr.warnings.append(f"duplicate channel names {', '.join(dups)}; renamed with a running number (NAME-0, NAME-1)")
    # start date dd.mm.yy / time hh.mm.ss: anything unreadable is recorded, not fatal
    try:
        d, m, y = (int(v) for v in hdr.startdate.split("."))
        hh, mm, ss = (int(v) for v in hdr.starttime.split("."))
        import datetime

        datetime.datetime(1985 + y if y >= 85 else 2000 + y, m, d, hh, mm, ss)
    except (ValueError, TypeError):
        hdr.date_ok = False
        plus = edfplus_startdate(hdr.recording_field)
        if plus is not None:  # MNE reads the EDF+ recording field's date first: say that it is used
            hdr.warnings.append(f"start date/time {hdr.startdate!r} {hdr.starttime!r} in the header cannot be read; "
                                f"meas_date taken from the EDF+ recording field (Startdate {plus.isoformat()})")
        else:
            hdr.warnings.append(f"start date/time {hdr.startdate!r} {hdr.starttime!r} cannot be read or stored; meas_date set to unknown")
    return hdr


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def edfplus_startdate(recording_field: str):
    """The date of an EDF+ recording field (``Startdate 04-MAR-2010 ...``), or None.

    MNE takes the measurement date from this field before the ``dd.mm.yy`` header date, so a
    file whose header date is corrupt (de-identified TUH files) can still have a known date."""
    import datetime

    parts = recording_field.split()
    if len(parts) < 2 or parts[0] != "Startdate":
        return None
    try:
        d, m, y = parts[1].split("-")
        return datetime.date(int(y), _MONTHS.index(m.upper()) + 1, int(d))
    except ValueError:
        return None


UNKNOWN_DATE_WARNING = "the file holds no start date: meas_date left empty"


def agree_meas_date(meas, warnings: list[str]) -> str:
    """``meas_date`` as stored (ISO string, ``""`` when unknown), with ``warnings`` made to agree:
    an empty date always comes with a warning, and no warning claims "unknown" for a date that was
    read (MNE can take it from the EDF+ recording field when the header date is corrupt)."""
    iso = ""
    if meas is not None:
        try:
            iso = meas.isoformat()
        except (AttributeError, ValueError):
            iso = ""
    if iso:
        for i, w in enumerate(warnings):
            if "meas_date set to unknown" in w:
                warnings[i] = w.replace("cannot be read or stored; meas_date set to unknown",
                                        f"cannot be read; the reader's date {iso} is kept")
    elif not any("meas_date" in w for w in warnings):
        warnings.append(UNKNOWN_DATE_WARNING)
    return iso
