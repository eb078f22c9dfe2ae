"""A ``sitecustomize`` for worker processes (spawned pool workers, Ray workers): with
``NEUROSIG_TEST_CRASH=1`` in their environment, ``process_file`` dies hard (``os._exit(137)``,
as an OOM kill looks from the parent) on a file whose name contains ``crash``, and sleeps
``NEUROSIG_TEST_SLOW`` seconds on one whose name contains ``slow``. The test process itself is
never affected (sitecustomize runs only at interpreter start)."""

from __future__ import annotations

import os
from pathlib import Path

SITECUSTOMIZE = '''
import os, sys
if os.environ.get("NEUROSIG_TEST_CRASH"):
    import importlib.abc, importlib.util

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "neurosig.datasets.build":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            orig = spec.loader.exec_module

            def exec_module(mod):
                orig(mod)
                pf = mod.process_file

                def process_file(spec_, cfg, out):
                    base = os.path.basename(getattr(spec_, "path", str(spec_)))
                    if "crash" in base:
                        os._exit(137)
                    if "slow" in base:
                        import time
                        time.sleep(float(os.environ.get("NEUROSIG_TEST_SLOW", "2")))
                    return pf(spec_, cfg, out)

                mod.process_file = process_file

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Hook())
'''


def install(folder: Path) -> dict[str, str]:
    """Write the hook into ``folder``; return the environment variables that turn it on."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {"PYTHONPATH": path, "NEUROSIG_TEST_CRASH": "1"}
