"""Exception types of sts_dynamics.

Every error a user can cause has its own type, and every message says what was
expected, what was found and how to fix it.  User errors derive from
:class:`StsDynamicsError` so that the command line can turn them into a one-line
message and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "StsDynamicsError",
    "ModelFileError",
    "ModelSyntaxError",
    "UnsupportedFeatureError",
    "UndefinedReferenceError",
    "AlgebraicLoopError",
    "UnknownNameError",
    "ParameterShapeError",
    "SimulationError",
    "DataError",
    "ConfigError",
    "CalibrationError",
    "DataWarning",
    "CalibrationWarning",
    "close_matches",
    "check_keys",
]


class StsDynamicsError(Exception):
    """Base class of every error sts_dynamics raises on bad input."""


class ModelFileError(StsDynamicsError, FileNotFoundError):
    """A model file is missing or has an extension we cannot read."""


class ModelSyntaxError(StsDynamicsError, ValueError):
    """An equation in a model file cannot be parsed."""


class UnsupportedFeatureError(StsDynamicsError, NotImplementedError):
    """The model uses a function or construct outside the supported subset."""


class UndefinedReferenceError(StsDynamicsError, NameError):
    """An equation refers to a variable that the model does not define."""


class AlgebraicLoopError(StsDynamicsError, ValueError):
    """Auxiliaries depend on each other in a cycle with no stock to break it."""


class UnknownNameError(StsDynamicsError, KeyError):
    """A name (variable, parameter, model, column ...) is not known.

    ``KeyError`` quotes its message; we override ``__str__`` so that the message
    reads as a sentence.
    """

    def __str__(self) -> str:  # pragma: no cover - trivial
        return str(self.args[0]) if self.args else ""


class ParameterShapeError(StsDynamicsError, ValueError):
    """Parameter values have a shape that does not fit the ensemble."""


class SimulationError(StsDynamicsError, RuntimeError):
    """A solve failed: non-finite values or a solver failure.

    Attributes
    ----------
    time : float
        The simulation time reached.
    variable : str or None
        The first variable that became non-finite, if any.
    runs : tuple of int
        The ensemble runs that failed (empty when unknown).
    """

    def __init__(self, message: str, *, time: float = float("nan"),
                 variable: str | None = None, runs: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.time = time
        self.variable = variable
        self.runs = runs


class DataError(StsDynamicsError, ValueError):
    """Input data (incident tables, series) are missing, malformed or empty."""


class ConfigError(StsDynamicsError, ValueError):
    """A configuration file (experiment, calibration spec, preset) is invalid."""


class CalibrationError(StsDynamicsError, ValueError):
    """A calibration set-up is invalid: parameters, bounds, observation models, priors."""


class DataWarning(UserWarning):
    """Rows of input data were excluded or reinterpreted; the data's report says which."""


class CalibrationWarning(UserWarning):
    """A calibration result needs attention, for example a parameter ended at a bound."""


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean ...?' hint, or an empty string.

    Examples
    --------
    >>> close_matches("Characteristc Time", ["Characteristic Time", "Room Temperature"])
    " Did you mean 'Characteristic Time'?"
    """
    cands = list(candidates)
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not hits:
        return ""
    quoted = " or ".join(repr(lowered[h]) for h in hits)
    return f" Did you mean {quoted}?"


def check_keys(table: Any, allowed: Sequence[str], where: str) -> dict:
    """Check that ``table`` is a mapping whose keys are all ``allowed``; return it as a dict.

    Raises :class:`ConfigError` naming ``where``, the unknown key and close matches.

    Examples
    --------
    >>> check_keys({"horizon": 3}, ("horizon", "seed"), "[experiment]")
    {'horizon': 3}
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}.")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}.{close_matches(str(key), allowed)}"
                              f" Allowed keys: {', '.join(allowed)}.")
    return dict(table)
