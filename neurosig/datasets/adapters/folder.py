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
import re
from pathlib import Path

from neurosig._utils.errors import NeurosigError
from neurosig.datasets.adapters.base import Adapter, make_spec

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
        with open(csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            if "path" not in cols or "label" not in cols:
                raise NeurosigError(
                    f"{csv_path}: needs the columns 'path' and 'label' (optional: subject, session, run, split); "
                    f"found {cols}."
                )
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
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
        dataset = self.dataset or root.name
        specs = []
        for i, r in enumerate(rows, 2):
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
    def _resolve(root: Path, p: str) -> Path:
        path = Path(p)
        return path if path.is_absolute() else root / path
