"""The sociotechnical lens: layers, the variance matrix and joint optimization.

>>> import sts_dynamics as sd
>>> m = sd.load("sts_core")
>>> m.layers["Operator Skill"]
'social'
>>> vm = sd.variance_matrix(m)                 # doctest: +SKIP
>>> jo = sd.optimize_policy(m, levers={"automation level": (0.2, 0.95),
...                                    "training hours": (0, 8)})   # doctest: +SKIP
>>> jo.compare()                               # doctest: +SKIP
"""

from .expression import Expression, parse_expression
from .layers import ADJACENT, adjacent_layers, control_by, near_origin
from .levers import Lever
from .matrix import VarianceMatrix, VarianceTrace, variance_matrix
from .optimize import optimize_policy
from .optimum import PolicyOptimum, Strategy
from .variances import Variance, declared_variances

__all__ = [
    "variance_matrix", "VarianceMatrix", "VarianceTrace", "Variance", "declared_variances",
    "ADJACENT", "adjacent_layers", "control_by", "near_origin",
    "optimize_policy", "PolicyOptimum", "Strategy", "Lever", "Expression", "parse_expression",
]
