"""Atomic file output: write to a temporary file in the target folder, then rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..errors import ConfigError

__all__ = ["check_targets", "write_frame", "write_text", "FORMATS"]

FORMATS = ("csv", "parquet", "json")


def check_targets(paths: Iterable[str | os.PathLike], *, force: bool) -> list[Path]:
    """Check that every path's folder exists and that none exists unless ``force``."""
    out = []
    for path in paths:
        p = Path(path)
        folder = p.parent
        if str(folder) and not folder.is_dir():
            raise ConfigError(f"the folder {str(folder)!r} of output {str(p)!r} does not "
                              "exist; create it first.")
        if p.exists() and not force:
            raise FileExistsError(f"{str(p)!r} exists; pass force=True (--force) to overwrite "
                                  "it.")
        out.append(p)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], None], *, force: bool) -> Path:
    (p,) = check_targets([path], force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        if p.exists() and not force:
            raise FileExistsError(f"{str(p)!r} exists; pass force=True (--force) to overwrite "
                                  "it.")
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes the file private (0600)
        os.replace(tmp_path, p)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return p


def write_frame(df: pd.DataFrame, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``df`` (without its index) as CSV, Parquet or JSON records, by extension."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"output {str(p)!r}: use a .csv, .parquet or .json file name.")

    def write(tmp: Path) -> None:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", indent=1)
    return _atomic(p, write, force=force)


def write_text(text: str, path: str | os.PathLike, *, force: bool = False) -> Path:
    return _atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"), force=force)
