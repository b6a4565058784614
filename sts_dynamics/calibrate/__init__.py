"""Calibration of models to observed series.

:func:`calibrate` (:mod:`.fit`) with its :class:`CalibrationResult` (:mod:`.result`);
observation models (:mod:`.observation`), priors (:mod:`.priors`), parameters with bounds
and transforms (:mod:`.parameters`), the objective (:mod:`.problem`), optimizers
(:mod:`.optimize`, :mod:`.lm`), uncertainty (:mod:`.uncertainty`, :mod:`.mcmc`),
identifiability and recovery (:mod:`.identifiability`, :mod:`.recovery`) and fit diagnostics
(:mod:`.diagnostics`). This module only re-exports.
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
from .figure import calibration_figure
from .fit import UNCERTAINTY, calibrate
from .identifiability import Identifiability, identifiability
from .mcmc import Posterior, split_rhat
from .observation import (
    MU_FLOOR,
    Gaussian,
    LogNormal,
    NegativeBinomial,
    ObservationModel,
    Poisson,
    interval_counts,
)
from .optimize import METHODS
from .parameters import TRANSFORMS, Parameter, ParameterSet, make_parameters
from .priors import HalfNormalPrior, LogNormalPrior, NormalPrior, Prior, UniformPrior
from .problem import INFEASIBLE_RESIDUAL, FailedSet
from .recovery import RecoveryResult, check_recovery, simulate_series
from .result import INTERVAL_METHODS, CalibrationResult
from .setup import NOISE_MODELS
from .spec import CalibrationSpec, bundled_calibrations, load_calibration

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
    # fitting
    "calibrate", "CalibrationResult", "METHODS", "UNCERTAINTY", "INTERVAL_METHODS",
    "NOISE_MODELS", "INFEASIBLE_RESIDUAL", "FailedSet", "Posterior", "split_rhat",
    "Identifiability", "identifiability", "check_recovery", "RecoveryResult",
    "simulate_series", "CalibrationSpec", "load_calibration", "bundled_calibrations",
    "calibration_figure",
]
