"""Cross-corpus subject guards: keep evaluation subjects out of pretraining and out of each other.

Subjects are compared by a *global* id, :func:`global_subject`, because the same person can
appear under several corpora: TUAB, TUEV and TUSZ are subsets of TUH EEG (TUEG), and their
patient ids are TUH EEG patient ids (``aaaaaaav``), so ``tuab:aaaaaaav`` and ``tueg:aaaaaaav``
are one person; CHB-MIT case ``chb21`` is ``chb01`` recorded 1.5 years later. Everything else
is scoped by its dataset name (``bids:01`` of one dataset is not ``bids:01`` of another unless
they share the dataset name).

- :func:`exclude_subjects` drops from a list of FileSpecs (e.g. a TUEG pretraining corpus) every
  file whose subject is in the named evaluation stores/specs and reports what it dropped.
- :func:`check_no_overlap` raises when two named sets (pretraining vs evaluation, or
  train/val/test of one store) share a global subject.
- :func:`check_store_splits` checks the ``split`` column of a store's manifest.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from neurosig._utils.errors import NeurosigError

# corpora whose subject ids live in one namespace (the same person has the same id)
SUBJECT_NAMESPACES: dict[str, str] = {
    "tueg": "tuh", "tuh": "tuh", "tuab": "tuh", "tuev": "tuh", "tusz": "tuh", "tusz_types": "tuh",
    "tuar": "tuh", "tuep": "tuh", "tusl": "tuh",
    "chbmit": "chbmit",
    "sleepedf": "sleepedf",
}
# known aliases inside a namespace: (namespace, subject) → canonical subject
SUBJECT_ALIASES: dict[tuple[str, str], str] = {("chbmit", "chb21"): "chb01"}


def global_subject(dataset: str, subject: str) -> str:
    """The id under which ``subject`` of ``dataset`` is compared across corpora (``tuh:aaaaaaav``)."""
    ns = SUBJECT_NAMESPACES.get(str(dataset).lower(), str(dataset).lower() or "unknown")
    subject = str(subject)
    subject = SUBJECT_ALIASES.get((ns, subject), subject)
    return f"{ns}:{subject}"


def _pairs_from(source: Any, dataset: str | None = None) -> set[str]:
    """Global subject ids of a store path, ShardStore, manifest DataFrame, FileSpec list or
    iterable of ``(dataset, subject)`` / ``"ns:subject"`` strings."""
    if isinstance(source, (str, os.PathLike)):
        from neurosig.datasets.store import ShardStore

        if not os.path.isdir(source):
            raise NeurosigError(
                f"evaluation store {os.fspath(source)!r} does not exist; build it first with "
                "`neurosig preprocess ... --out DIR` or pass its manifest."
            )
        source = ShardStore(source)
    manifest = getattr(source, "manifest", None)
    if manifest is None and hasattr(source, "columns"):
        manifest = source
    if manifest is not None:
        if "subject" not in manifest.columns:
            raise NeurosigError("manifest has no 'subject' column; it was not written by neurosig.datasets.build_store.")
        ds = manifest["dataset"] if "dataset" in manifest.columns else [dataset or ""] * len(manifest)
        return {global_subject(d, s) for d, s in zip(ds, manifest["subject"])}
    out = set()
    for item in source:
        if hasattr(item, "path") and hasattr(item, "extras"):  # FileSpec
            d = (item.extras or {}).get("dataset", dataset or "")
            out.add(global_subject(d, item.subject))
        elif isinstance(item, tuple):
            out.add(global_subject(*item))
        elif isinstance(item, str) and ":" in item:
            out.add(item)
        else:
            if dataset is None:
                raise NeurosigError(
                    f"subject {item!r} has no dataset; pass dataset=... or '(dataset, subject)' pairs."
                )
            out.add(global_subject(dataset, item))
    return out


def subjects_of(source: Any, dataset: str | None = None) -> set[str]:
    """Public form of the global-subject extraction (see :func:`_pairs_from`)."""
    return _pairs_from(source, dataset)


def exclude_subjects(specs: list, evaluation: Mapping[str, Any] | Iterable[Any]) -> tuple[list, dict[str, list[str]]]:
    """Drop the FileSpecs whose global subject belongs to any evaluation source.

    ``evaluation``: ``{name: store path | ShardStore | manifest | FileSpecs}`` (or a list of
    them, named by position). Returns ``(kept specs, {eval name: [excluded file paths]})``.
    """
    named = dict(evaluation) if isinstance(evaluation, Mapping) else {
        f"eval{i}": e for i, e in enumerate(evaluation)
    }
    held = {name: _pairs_from(src) for name, src in named.items()}
    kept, dropped = [], {name: [] for name in named}
    for spec in specs:
        g = global_subject((spec.extras or {}).get("dataset", ""), spec.subject)
        hits = [name for name, subs in held.items() if g in subs]
        if hits:
            for name in hits:
                dropped[name].append(spec.path)
        else:
            kept.append(spec)
    return kept, dropped


def check_no_overlap(**named: Any) -> None:
    """Raise if any two named sources share a global subject, e.g.
    ``check_no_overlap(pretrain=tueg_specs, tuab_eval="stores/tuab")``."""
    if len(named) < 2:
        raise NeurosigError("check_no_overlap needs at least two named sources (e.g. pretrain=..., evaluation=...).")
    sets = {name: _pairs_from(src) for name, src in named.items()}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = sorted(sets[a] & sets[b])
            if common:
                shown = ", ".join(common[:5]) + (" ..." if len(common) > 5 else "")
                raise NeurosigError(
                    f"subject leakage: {a!r} and {b!r} share {len(common)} subjects ({shown}); "
                    f"exclude them with neurosig.datasets.leakage.exclude_subjects or --exclude-subjects-of."
                )


def check_store_splits(store: Any) -> dict[str, int]:
    """Raise if the ``split`` column of a store's manifest puts one subject in two splits;
    return ``{split: n subjects}``."""
    manifest = getattr(store, "manifest", store)
    if isinstance(store, (str, os.PathLike)):
        from neurosig.datasets.store import ShardStore

        manifest = ShardStore(store).manifest
    if "split" not in manifest.columns:
        raise NeurosigError("manifest has no 'split' column; assign splits with subject_split first.")
    parts = {}
    ds = manifest["dataset"] if "dataset" in manifest.columns else [""] * len(manifest)
    for split, d, s in zip(manifest["split"], ds, manifest["subject"]):
        if split:
            parts.setdefault(str(split), set()).add(global_subject(d, s))
    if len(parts) >= 2:
        check_no_overlap(**parts)
    return {k: len(v) for k, v in parts.items()}


def exclude_from_inputs(inputs: Any, evaluation: Iterable[Any], *, adapter: Any = None,
                        dataset: str = "", rename: str | None = None) -> tuple[list, dict[str, list[str]]]:
    """List ``inputs`` (with ``adapter`` when given) as FileSpecs and drop the subjects of the
    ``evaluation`` stores (paths); used by ``neurosig preprocess --exclude-subjects-of STORE``.
    Specs without a dataset name get ``dataset``; ``rename`` (``--dataset``) replaces the names
    the adapter gave (:func:`neurosig.datasets.build.set_dataset`)."""
    from neurosig.datasets.build import expand_inputs
    from neurosig.datasets.spec import FileSpec

    if adapter is not None:
        from neurosig.datasets.registry import get_adapter

        ad = get_adapter(adapter)
        roots = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        specs = [s for r in roots for s in ad.files(os.fspath(r))]
    else:
        specs = expand_inputs(inputs)
    specs = [s if isinstance(s, FileSpec) else FileSpec(os.fspath(s)) for s in specs]
    if rename:
        from neurosig.datasets.build import set_dataset

        specs = set_dataset(specs, rename)
    for s in specs:
        if not s.extras.get("dataset") and dataset:
            s.extras["dataset"] = dataset
        if s.subject is None:
            from neurosig.io.readers import default_subject

            s.subject = default_subject(s.path)
    named = {os.path.basename(os.path.normpath(os.fspath(e))) or os.fspath(e): e for e in evaluation}
    return exclude_subjects(specs, named)
