"""Policy experiments: scenarios and policies, Monte Carlo, global sensitivity, scale-out."""

from .core import monte_carlo, run_experiment
from .distributions import (
    Distribution,
    LogNormal,
    Normal,
    Posterior,
    Triangular,
    Uncertainty,
    Uniform,
)
from .kpis import KPI
from .policy import Policy, Scenario
from .result import ExperimentResult
from .sensitivity_analysis import SensitivityResult, sensitivity

__all__ = [
    "Policy", "Scenario", "run_experiment", "monte_carlo", "sensitivity", "ExperimentResult",
    "SensitivityResult", "KPI",
    "Distribution", "Uniform", "Normal", "LogNormal", "Triangular", "Posterior", "Uncertainty",
]
