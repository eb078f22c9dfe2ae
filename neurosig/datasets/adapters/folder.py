"""A folder of recordings plus a CSV of labels: the adapter for everything else.

Layout: ``ROOT/labels.csv`` (or ``csv=PATH``) with a header row and columns ``path,label``
and optionally ``subject``, ``session``, ``run``, ``split``. ``path`` is relative to ROOT (or
absolute). Labels may be integers (kept) or names (vocabulary = sorted distinct names, the
label is the index). Without a ``subject`` column the subject is the BIDS ``sub-XX`` entity of
the file name when present, else the file stem (one subject per file: say so in the CSV when
several files share a subject, or splits will not be subject-disjoint).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from neurosig._utils.errors import NeurosigError
from neurosig.datasets.adapters.base import Adapter, log, make_spec

_SUB = re.compile(r"sub-([A-Za-z0-9]+)")


class FolderAdapter(Adapter):
    """Folder of recordings (any format neurosig.io reads) + a CSV ``path,label[,subject]``."""

    name = "folder"
    label_from = "recording"
    layout = "ROOT/<recordings...> + ROOT/labels.csv (path,label[,subject,session,run,split])"

    def __init__(self, csv: str | None = None, dataset: str | None = None):
        self.csv = csv
        self.dataset = dataset
        self.label_names: tuple[str, ...] = ()

    def files(self, root):
        root = self._root(root)
        csv_path = Path(self.csv) if self.csv else root / "labels.csv"
        if not csv_path.is_absolute() and not csv_path.exists():
            csv_path = root / csv_path
        if not csv_path.exists():
            raise NeurosigError(
                f"folder: label file {str(csv_path)!r} not found; put a labels.csv (path,label[,subject]) "
                "in the folder or pass csv=PATH."
            )
        rows, lines, ordinals = self._read_csv(csv_path)
        if not rows:
            raise NeurosigError(f"{csv_path}: no rows below the header; list one recording per line.")
        labels = [r["label"] for r in rows]
        numeric = all(re.fullmatch(r"-?\d+", lab) for lab in labels if lab != "")
        self.label_names = () if numeric else tuple(sorted({lab for lab in labels if lab != ""}))
        missing = [r["path"] for r in rows if not self._resolve(root, r["path"]).exists()]
        if missing:
            raise NeurosigError(
                f"{csv_path}: {len(missing)} listed files do not exist (first: {missing[0]!r}); "
                "paths are relative to the folder; fix the CSV or the files."
            )
        keep = self._unrepeated(root, csv_path, rows, lines)
        rows, ordinals = [rows[j] for j in keep], [ordinals[j] for j in keep]
        self._warn_unlisted(root, csv_path, rows)
        dataset = self.dataset or root.name
        specs = []
        for i, r in zip(ordinals, rows):  # i (in the cache key): 2 + the row's index below the header
            path = self._resolve(root, r["path"])
            lab = r["label"]
            label = None if lab == "" else (int(lab) if numeric else self.label_names.index(lab))
            subject = r.get("subject") or (m.group(1) if (m := _SUB.search(path.name)) else path.stem)
            extras = self._extras(split=r.get("split", ""), dataset=dataset, csv_line=i)
            specs.append(
                make_spec(path, subject=subject, session=r.get("session", ""), run=r.get("run", ""),
                          label=label, annotations=[], extras=extras)
            )
        return specs

    def read(self, spec, *, positions: str = "auto", derive: bool = True):
        """No corpus fixes: the plain reader (same as a file given without an adapter)."""
        from neurosig.io import read_recording

        return read_recording(spec.path, positions=positions, subject=spec.subject, session=spec.session, run=spec.run)

    @staticmethod
    def _read_csv(csv_path: Path) -> tuple[list[dict], list[int], list[int]]:
        """Rows (stripped cells), their line numbers in the file (for messages) and their ordinals
        (2 + index among the non-empty rows, as ``csv.DictReader`` counts); every row must have
        one cell per column."""
        try:
            # utf-8-sig: Excel writes a byte-order mark before the first column name
            with open(csv_path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = next(reader, [])
                cols = [c.strip() for c in header]
                if "path" not in cols or "label" not in cols:
                    hint = "; separate the cells with commas, not semicolons" if any(";" in c for c in cols) else ""
                    raise NeurosigError(
                        f"{csv_path}: needs the columns 'path' and 'label' (optional: subject, session, run, split); "
                        f"found {cols}{hint}."
                    )
                rows, lines, ordinals = [], [], []
                ordinal = 1
                for cells in reader:
                    line = reader.line_num
                    if cells:
                        ordinal += 1
                    if not any(c.strip() for c in cells):
                        continue  # blank line
                    if len(cells) != len(cols):
                        fix = (f"give every cell, e.g. '{cells[0].strip()},LABEL' ('{cells[0].strip()},' for an unlabelled "
                               "recording)" if len(cells) < len(cols) else "quote cells that hold a comma")
                        raise NeurosigError(
                            f"{csv_path}, line {line}: {len(cells)} cell(s) but the header has {len(cols)} "
                            f"({','.join(cols)}); {fix}."
                        )
                    rows.append({k: v.strip() for k, v in zip(cols, cells) if k})
                    lines.append(line)
                    ordinals.append(ordinal)
        except UnicodeDecodeError as err:
            raise NeurosigError(
                f"{csv_path}: not UTF-8 text ({err.reason} at byte {err.start}); save the CSV as UTF-8 (Excel: CSV UTF-8)."
            ) from None
        except csv.Error as err:
            raise NeurosigError(f"{csv_path}: not a readable CSV ({err}); fix the quoting on that line.") from None
        return rows, lines, ordinals

    def _unrepeated(self, root: Path, csv_path: Path, rows: list[dict], lines: list[int]) -> list[int]:
        """Indices of the rows to keep. A recording listed twice would be stored twice: identical
        rows are kept once (with a warning), rows that disagree are an error."""
        first: dict[Path, int] = {}
        keep = []
        repeated = []
        for j, r in enumerate(rows):
            key = Path(os.path.normpath(self._resolve(root, r["path"]).resolve()))
            if key not in first:
                first[key] = j
                keep.append(j)
                continue
            k = first[key]
            a, b = ({c: v for c, v in rows[k].items() if c != "path"}, {c: v for c, v in r.items() if c != "path"})
            if a != b:
                diff = ", ".join(f"{c} {a.get(c, '')!r} vs {b.get(c, '')!r}" for c in sorted(set(a) | set(b))
                                 if a.get(c, "") != b.get(c, ""))
                raise NeurosigError(
                    f"{csv_path}: {r['path']!r} is listed twice with different values (lines {lines[k]} and {lines[j]}: "
                    f"{diff}); keep one line per recording."
                )
            repeated.append(r["path"])
        if repeated:
            log.warning("%s: %d recording(s) listed more than once with the same values (e.g. %s); each is used once",
                        csv_path, len(repeated), ", ".join(repr(p) for p in repeated[:3]))
        return keep

    def _warn_unlisted(self, root: Path, csv_path: Path, rows: list[dict]) -> None:
        """Recordings in the folder that the CSV does not list are left out: say so."""
        from neurosig.io.readers import SUPPORTED, file_extension

        listed = {os.path.normpath(self._resolve(root, r["path"]).resolve()) for r in rows}
        unlisted = []
        for q in sorted(root.rglob("*")):
            if not q.is_file() or q.name.startswith("."):
                continue
            ext = file_extension(q.name)
            if ext not in SUPPORTED or (ext == ".eeg" and q.with_suffix(".vhdr").exists()):
                continue
            if ext in (".nii", ".nii.gz") and "atlas" in q.name.lower():
                continue
            if os.path.normpath(q.resolve()) not in listed:
                unlisted.append(os.fspath(q.relative_to(root)))
        if unlisted:
            log.warning("%s: %d recording(s) in %s are not listed and are left out (e.g. %s); add them to the CSV "
                        "(an empty label for unlabelled ones) to use them", csv_path, len(unlisted), root,
                        ", ".join(repr(p) for p in unlisted[:3]))

    @staticmethod
    def _resolve(root: Path, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else root / path
