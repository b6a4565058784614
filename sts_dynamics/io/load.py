"""``load()``: read a Vensim or XMILE file (or a bundled model) into a :class:`Model`."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelFileError, ModelSyntaxError, UnknownNameError, close_matches
from ..model import Model
from .bundled import bundled_dir, bundled_models
from .pysd_builder import build_model

__all__ = ["load", "load_contexts"]

_VENSIM = (".mdl",)
_XMILE = (".xmile", ".xml", ".stmx")


def load(path_or_name: str | Path, *, context: str | None = None) -> Model:
    """Load a model file or a bundled model.

    Parameters
    ----------
    path_or_name : str or path
        A ``.mdl`` (Vensim) or ``.xmile`` / ``.stmx`` (XMILE) file, or the name of a bundled
        model such as ``"sts_core"`` (see ``python -m sts_dynamics models``).
    context : str, optional
        A service-context preset from ``models/contexts.toml`` (for example ``"soc"``),
        applied as new default values of the model's constants.

    Returns
    -------
    Model
        The frozen model, ready for :func:`sts_dynamics.simulate`.

    Raises
    ------
    ModelFileError
        The file does not exist or has an extension that is not Vensim or XMILE.
    ModelSyntaxError, UnsupportedFeatureError, UndefinedReferenceError, AlgebraicLoopError
        The file cannot be turned into a model; the message names the variable.

    Examples
    --------
    >>> import sts_dynamics as sd
    >>> model = sd.load("operator_skill")
    >>> model["Operator Skill"].kind
    'stock'
    """
    path = _resolve(path_or_name)
    suffix = path.suffix.lower()
    metadata = _metadata(path)
    am = _parse(path, suffix)
    model = build_model(am, path, name=path.stem, metadata=metadata)
    if context is not None:
        model = apply_context(model, context)
    return model


def _resolve(path_or_name: str | Path) -> Path:
    p = Path(path_or_name)
    if p.is_file():
        if p.suffix.lower() not in _VENSIM + _XMILE:
            raise ModelFileError(
                f"{str(p)!r} has the extension {p.suffix!r}; expected a Vensim .mdl or an "
                "XMILE .xmile/.stmx file."
            )
        return p
    name = str(path_or_name)
    bundled = bundled_models()
    if name in bundled:
        return bundled[name]
    if p.suffix or "/" in name or "\\" in name:
        if p.suffix and p.suffix.lower() not in _VENSIM + _XMILE:
            raise ModelFileError(
                f"{name!r}: unknown model file extension {p.suffix!r}; expected .mdl, .xmile "
                "or .stmx."
            )
        raise ModelFileError(f"model file {name!r} does not exist.")
    raise UnknownNameError(
        f"{name!r} is neither a model file nor a bundled model. Bundled models: "
        f"{', '.join(bundled) or '(none)'}.{close_matches(name, bundled)}"
    )


def _parse(path: Path, suffix: str) -> Any:
    with warnings.catch_warnings():
        # PySD's translators are noisy about things we check ourselves.
        warnings.simplefilter("ignore")
        try:
            if suffix in _VENSIM:
                from pysd.translators.vensim.vensim_file import VensimFile

                f = VensimFile(path)
            else:
                from pysd.translators.xmile.xmile_file import XmileFile

                f = XmileFile(path)
            f.parse()
            return f.get_abstract_model()
        except (ModelSyntaxError, ModelFileError):
            raise
        except Exception as exc:  # PySD raises bare exceptions on syntax errors
            msg = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in msg[:6] if line.strip())
            raise ModelSyntaxError(
                f"cannot parse {path.name}: {detail or type(exc).__name__}. Check the equation "
                "named above in Vensim or Stella."
            ) from exc


def _metadata(path: Path) -> dict:
    meta = path.with_name(path.stem + ".meta.toml")
    if not meta.is_file():
        return {}
    try:
        return tomllib.loads(meta.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{meta}: {exc}") from None


def load_contexts(path: str | Path | None = None) -> dict[str, dict]:
    """The service-context presets: ``{id: {"label": ..., "overrides": {...}, ...}}``."""
    p = Path(path) if path is not None else bundled_dir("models") / "contexts.toml"
    if not p.is_file():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    contexts = data.get("contexts", data)
    return {k: v for k, v in contexts.items() if isinstance(v, dict)}


def apply_context(model: Model, context: str) -> Model:
    contexts = load_contexts()
    if context not in contexts:
        raise UnknownNameError(
            f"unknown context {context!r}; available: {', '.join(contexts) or '(none)'}."
            f"{close_matches(context, contexts)}"
        )
    entry = contexts[context]
    overrides = entry.get("overrides") or entry.get("params") or entry.get("constants") or {}
    return model.with_constants(overrides, what=f"context {context!r}")
