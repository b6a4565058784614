"""Atomic file output, shared by the library and the command line.

Every file sts_dynamics writes goes to a temporary file in the target folder first and is then
renamed into place, so a crash never leaves half a file; an existing file is only replaced with
``force=True``.  Files get ordinary permissions (``0666`` less the umask).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from .errors import ConfigError

__all__ = ["FORMATS", "check_targets", "atomic_write", "atomic_write_many", "write_frame",
           "write_text"]

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


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *,
                 force: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "x.txt", lambda p: p.write_text("hi")).read_text()
    'hi'
    """
    (p,) = atomic_write_many([path], lambda tmps: write(tmps[0]), force=force)
    return p


def atomic_write_many(paths: Iterable[str | os.PathLike],
                      write: Callable[[list[Path]], None], *, force: bool = False) -> list[Path]:
    """Call ``write(tmps)`` once on temporary files beside ``paths``, then rename each into place.

    For writers that are cheaper in one batch (a browser session for PNG figures).  Nothing is
    renamed unless ``write`` returns; no target is replaced unless ``force``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> def write(tmps):
    ...     for i, t in enumerate(tmps):
    ...         t.write_text(str(i))
    >>> [p.read_text() for p in atomic_write_many([folder / "a", folder / "b"], write)]
    ['0', '1']
    """
    targets = check_targets(paths, force=force)
    tmps: list[Path] = []
    try:
        for p in targets:
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix,
                                       dir=p.parent or ".")
            os.close(fd)
            tmps.append(Path(tmp))
        write(list(tmps))
        if not force:
            check_targets(targets, force=False)  # nobody wrote them in the meantime
        mode = 0o666 & ~_umask()
        for tmp, p in zip(tmps, targets, strict=True):
            os.chmod(tmp, mode)  # mkstemp makes the file private (0600)
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            if tmp.exists():
                tmp.unlink()
    return targets


def write_frame(df: pd.DataFrame, path: str | os.PathLike, *, force: bool = False,
                index: bool = False) -> Path:
    """Write ``df`` as CSV, Parquet or JSON (by extension), atomically."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"output {str(p)!r}: use a .csv, .parquet or .json file name.")

    def write(tmp: Path) -> None:
        if fmt == "csv":
            df.to_csv(tmp, index=index)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=index)
        else:
            df.to_json(tmp, orient="table" if index else "records", indent=1)
    return atomic_write(p, write, force=force)


def write_text(text: str, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``text`` (UTF-8), atomically."""
    return atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"),
                        force=force)
