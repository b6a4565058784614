"""Helpers shared by the subcommands: parsing ``--set``, atomic output, tables."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .. import output
from ..errors import StsDynamicsError

__all__ = ["parse_assignments", "atomic_write", "check_output", "print_table", "UsageError",
           "progress_enabled", "add_table_options", "check_table_outputs"]


class UsageError(StsDynamicsError, ValueError):
    """A command-line argument is invalid."""


def parse_assignments(items: list[str] | None, option: str = "--set") -> dict[str, float]:
    """Parse ``["name=value", ...]`` into a dict; names may contain spaces."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} expects NAME=VALUE, got {item!r}.")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"{option} {item!r}: {value!r} is not a number.") from None
    return out


def check_output(path: str | Path, *, force: bool, is_dir: bool = False) -> Path:
    """Validate an output path before any work is done (folder exists; no overwrite)."""
    p = Path(path)
    parent = p if is_dir else p.parent
    if is_dir:
        if p.exists() and not p.is_dir():
            raise UsageError(f"output folder {str(p)!r} is a file.")
        if not p.parent.exists():
            raise UsageError(f"the folder {str(p.parent)!r} of {str(p)!r} does not exist; "
                             "create it first.")
        return p
    if str(parent) and not parent.exists():
        raise UsageError(f"the folder {str(parent)!r} of output {str(p)!r} does not exist; "
                         "create it first.")
    if p.exists() and not force:
        raise UsageError(f"{str(p)!r} exists; pass --force to overwrite it.")
    return p


def add_table_options(p, table: str, section: str) -> None:
    """Add ``--out`` (a table), ``--dashboard`` (a briefing), ``--force`` and ``--quiet``."""
    p.add_argument("--out", metavar="FILE", help=f"write the {table} (.csv/.parquet/.json)")
    p.add_argument("--dashboard", metavar="FILE.html",
                   help=f"also write a briefing with the section '{section}'")
    p.add_argument("--force", action="store_true", help="overwrite output files")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def check_table_outputs(args) -> None:
    """Check ``--out`` and ``--dashboard`` before any work is done."""
    for path in (args.out, args.dashboard):
        if path:
            check_output(path, force=args.force)
    if args.dashboard and not args.dashboard.lower().endswith((".html", ".htm")):
        raise UsageError(f"--dashboard {args.dashboard!r}: use an .html file name.")


def atomic_write(path: str | Path, write: Callable[[Path], None], *, force: bool) -> Path:
    """Check ``path`` with the command line's wording, then write it atomically."""
    return output.atomic_write(check_output(path, force=force), write, force=force)


def write_frame(df: pd.DataFrame, path: str | Path, *, force: bool, index: bool = True) -> Path:
    """Write a frame as CSV, Parquet or JSON (by extension), atomically."""
    if Path(path).suffix.lower().lstrip(".") not in output.FORMATS:
        raise UsageError(f"output {str(path)!r}: use a .csv, .parquet or .json file name.")
    return output.write_frame(df, check_output(path, force=force), force=force, index=index)


def print_table(df: pd.DataFrame, *, file=None, floatfmt: str = "{:.4g}") -> None:
    """Print a frame as a plain aligned table."""
    file = file or sys.stdout
    with pd.option_context("display.max_rows", 200, "display.max_columns", 50,
                           "display.width", 120):
        print(df.to_string(float_format=lambda x: floatfmt.format(x)), file=file)


def progress_enabled(args) -> bool:
    """Progress bars only on a terminal and without ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()
