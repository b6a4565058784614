"""sts_dynamics: system dynamics for sociotechnical systems in technology service delivery."""

from . import dashboard
from .calibrate import CalibrationResult, calibrate, check_recovery
from .compile import TimeSeries, compile_model
from .data import read_incidents
from .errors import (
    AlgebraicLoopError,
    ModelFileError,
    ModelSyntaxError,
    ParameterShapeError,
    SimulationError,
    StsDynamicsError,
    UndefinedReferenceError,
    UnknownNameError,
    UnsupportedFeatureError,
)
from .experiments import (
    ExperimentResult,
    Policy,
    Scenario,
    monte_carlo,
    run_experiment,
    sensitivity,
)
from .io import bundled_models, load, load_contexts
from .loops import LoopAnalysis, LoopSet, find_loops, loop_dominance
from .model import Model, Variable
from .result import Simulation
from .series import read_series
from .simulate import METHODS, simulate
from .sociotech import PolicyOptimum, VarianceMatrix, optimize_policy, variance_matrix

__version__ = "0.1.0"

__all__ = [
    "load", "simulate", "compile_model", "bundled_models", "load_contexts",
    "Model", "Variable", "Simulation", "TimeSeries", "METHODS",
    "StsDynamicsError", "ModelFileError", "ModelSyntaxError", "UnsupportedFeatureError",
    "UndefinedReferenceError", "AlgebraicLoopError", "UnknownNameError", "ParameterShapeError",
    "SimulationError", "__version__",
]
__all__ += ["find_loops", "loop_dominance", "LoopSet", "LoopAnalysis"]
__all__ += ["Scenario", "Policy", "run_experiment", "monte_carlo", "sensitivity",
            "ExperimentResult"]
__all__ += ["dashboard"]
__all__ += ["calibrate", "check_recovery", "CalibrationResult", "read_incidents", "read_series"]
__all__ += ["variance_matrix", "optimize_policy", "VarianceMatrix", "PolicyOptimum"]
