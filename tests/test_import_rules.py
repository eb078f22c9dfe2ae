"""DESIGN.md §2 import rules, enforced on the source (static AST scan, no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "neurosig"

# layer -> layers it may import (besides itself); everything may import _utils and config.
ALLOWED = {
    "_utils": set(),
    "config": {"_utils"},
    "kernels": {"_utils", "config"},
    "nn": {"_utils", "config", "kernels"},
    "tokenizers": {"_utils", "config", "kernels", "nn"},
    "models": {"_utils", "config", "kernels", "nn", "tokenizers"},
    "io": {"_utils", "config"},
    "preprocessing": {"_utils", "config", "io"},
    "datasets": {"_utils", "config", "io", "preprocessing"},
    "training": {"_utils", "config", "kernels", "nn", "tokenizers", "models", "io", "preprocessing", "datasets", "evaluation"},
    "evaluation": {"_utils", "config", "kernels", "nn", "tokenizers", "models", "io", "preprocessing", "datasets"},
    "probes": {"_utils", "config", "kernels", "nn", "tokenizers", "models", "io", "preprocessing", "datasets", "evaluation"},
    "cli": None,  # may import anything
}
NO_TORCH = {"io", "preprocessing", "config"}
NO_MNE = {"tokenizers", "models", "nn", "kernels"}
LIGHTNING_OK = {"training", "cli"}


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    first = rel.parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


FILES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_import_rules(path):
    layer = _layer(path)
    if layer in {"__init__", "__main__"}:
        return
    allowed = ALLOWED.get(layer)
    problems = []
    for mod, line in _imports(path):
        top = mod.split(".")[0]
        if top == "neurosig" and allowed is not None:
            parts = mod.split(".")
            if len(parts) > 1:
                target = parts[1]
                if target == "cli":
                    problems.append(f"line {line}: imports neurosig.cli (nothing imports cli)")
                elif target != layer and target not in allowed and target not in {"__version__"}:
                    problems.append(f"line {line}: {layer} may not import neurosig.{target}")
        if layer in NO_TORCH and top in {"torch", "lightning", "pytorch_lightning"}:
            problems.append(f"line {line}: {layer} must not import {top}")
        if layer in NO_MNE and top == "mne":
            problems.append(f"line {line}: {layer} must not import mne")
        if top in {"lightning", "pytorch_lightning"} and layer not in LIGHTNING_OK:
            problems.append(f"line {line}: Lightning only in training/cli, found in {layer}")
    assert not problems, f"{path.relative_to(PKG)}: " + "; ".join(problems)


def test_scan_sees_the_package():
    # Guard against the scan silently finding nothing.
    assert len(FILES) >= 5
