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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from neurosig._utils.logging import set_verbosity

    set_verbosity("DEBUG" if args.verbose else "WARNING" if args.quiet else "INFO")
    try:
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
