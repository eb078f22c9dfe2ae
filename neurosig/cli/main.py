"""Entry point of the ``neurosig`` command.

Each sub-command module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed namespace, returns an exit code or None).
Modules import heavy libraries inside their handlers, so ``neurosig --help`` stays fast.
A :class:`~neurosig.NeurosigError` is printed as one line (``neurosig: error: ...``) with exit
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from neurosig import __version__
from neurosig._utils.errors import NeurosigError

COMMAND_MODULES = (
    "quickstart",
    "data",
    "preprocess",
    "tokenizer",
    "pretrain",
    "finetune",
    "bench",
    "probe",
    "sysinfo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurosig",
        description="Foundation-model pipeline for neural signals (EEG, MEG, sEEG/ECoG, fMRI).",
    )
    parser.add_argument("--version", action="version", version=f"neurosig {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"neurosig.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"neurosig.cli.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    return parser


def _check_output_paths(args) -> None:
    """Before any work: every command's ``--out`` is a folder and ``--json`` a file. A file given as ``--out`` or a
    folder given as ``--json`` is a one-line error; ``--json``'s folder is created, so a long run does not end in a
    traceback when it writes its result."""
    import os
    from pathlib import Path

    out = getattr(args, "out", None)
    if isinstance(out, (str, os.PathLike)) and Path(out).exists() and not Path(out).is_dir():
        raise NeurosigError(f"--out {os.fspath(out)!r} is a file; pass a folder (it is created if missing).")
    js = getattr(args, "json", None)
    if isinstance(js, (str, os.PathLike)) and js:
        if Path(js).is_dir():
            raise NeurosigError(f"--json {os.fspath(js)!r} is a folder; pass a file path such as {os.path.join(os.fspath(js), 'result.json')!r}.")
        parent = Path(js).parent
        if parent.exists() and not parent.is_dir():
            raise NeurosigError(f"--json {os.fspath(js)!r}: {os.fspath(parent)!r} is a file, not a folder.")
        parent.mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from neurosig._utils.logging import quiet_third_party, set_verbosity

    set_verbosity("DEBUG" if args.verbose else "WARNING" if args.quiet else "INFO")
    if not args.verbose:
        quiet_third_party()
    try:
        _check_output_paths(args)
        rc = args.func(args)
    except NeurosigError as err:
        if args.debug:
            raise
        print(f"neurosig: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurosig: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
