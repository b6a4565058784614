"""The command line: ``python -m sts_dynamics <verb> ...``.

Each verb lives in its own module of this package with two functions,
``add_subcommand(subparsers)`` and ``run(args) -> int``; :func:`main` wires them up.
User errors (:class:`~sts_dynamics.errors.StsDynamicsError`, bad values) print one line to
standard error and return exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from ..errors import StsDynamicsError

__all__ = ["main", "get_parser", "VERBS"]

#: Subcommand modules, in the order ``--help`` lists them.  A verb whose module is missing
#: is skipped, so verbs can land one at a time.
VERBS = ("models", "run", "experiment", "sensitivity", "calibrate", "loops", "dashboard",
         "variances", "optimize")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _modules():
    for verb in VERBS:
        try:
            yield verb, importlib.import_module(f".{verb}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{verb}":
                raise


def get_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sts_dynamics",
                     description="System dynamics for sociotechnical systems in technology "
                                 "service delivery.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"sts_dynamics {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    for _verb, mod in _modules():
        mod.add_subcommand(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pysd")
            return int(args.func(args) or 0)
    except (StsDynamicsError, ValueError, FileExistsError, FileNotFoundError,
            NotADirectoryError, PermissionError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            return 130
        msg = str(exc).strip().splitlines()
        print(f"error: {msg[0] if msg else type(exc).__name__}", file=sys.stderr)
        return 2
