"""Calibration of models to observed series.

Observation models (:mod:`.observation`), priors (:mod:`.priors`), parameters with bounds
and transforms (:mod:`.parameters`) and fit diagnostics (:mod:`.diagnostics`). This module
only re-exports.
"""

from .diagnostics import (
    aic,
    autocorrelation,
    bic,
    durbin_watson,
    fit_statistics,
    holdout_scores,
    ljung_box,
    mape,
    mase,
    r_squared,
    theil,
)
from .observation import (
    MU_FLOOR,
    Gaussian,
    LogNormal,
    NegativeBinomial,
    ObservationModel,
    Poisson,
    interval_counts,
)
from .parameters import TRANSFORMS, Parameter, ParameterSet, make_parameters
from .priors import HalfNormalPrior, LogNormalPrior, NormalPrior, Prior, UniformPrior

__all__ = [
    # observation models
    "ObservationModel", "Poisson", "NegativeBinomial", "LogNormal", "Gaussian",
    "interval_counts", "MU_FLOOR",
    # priors
    "Prior", "UniformPrior", "NormalPrior", "LogNormalPrior", "HalfNormalPrior",
    # parameters
    "Parameter", "ParameterSet", "make_parameters", "TRANSFORMS",
    # diagnostics
    "theil", "mape", "mase", "r_squared", "durbin_watson", "autocorrelation", "ljung_box",
    "aic", "bic", "fit_statistics", "holdout_scores",
]
