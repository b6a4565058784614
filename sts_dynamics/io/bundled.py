"""Bundled files (models, presets, calibration data), found after a plain ``pip install``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_dir", "bundled_models", "bundled_model_path", "bundled_files"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def bundled_dir(kind: str = "models") -> Path:
    """Folder of bundled ``kind`` files (``"models"`` or ``"calibration"``).

    In an installed wheel the files live in ``sts_dynamics/_bundled/``; in a source
    checkout (editable install) they are read from the repository.
    """
    try:
        packaged = Path(str(resources.files("sts_dynamics") / "_bundled" / kind))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        packaged = None
    if packaged is not None and packaged.is_dir():
        return packaged
    return _REPO_ROOT / kind


def bundled_models() -> dict[str, Path]:
    """``{name: path}`` of the bundled model files."""
    folder = bundled_dir("models")
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".mdl", ".xmile", ".stmx"):
            out.setdefault(p.stem, p)
    return out


def bundled_model_path(name: str) -> Path | None:
    return bundled_models().get(name)


def bundled_files(folder: str, kind: str = "models", suffix: str = ".toml") -> dict[str, Path]:
    """``{name: path}`` of the bundled ``*suffix`` files in ``kind/folder`` (``""``: kind)."""
    root = bundled_dir(kind) / folder if folder else bundled_dir(kind)
    if not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob(f"*{suffix}"))}
