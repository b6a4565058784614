"""Feedback-loop analysis: causal graph, loops, polarity and Loops That Matter dominance.

>>> import sts_dynamics as sd
>>> sim = sd.simulate(sd.load("tests/data/bass.mdl"), method="euler")
>>> loops = sd.find_loops(sim)                 # R1 word of mouth, B1 market saturation
>>> dom = sd.loop_dominance(sim, loops)
>>> [p.loops for p in dom.periods]
[('R1',), ('B1',)]
"""

from .analysis import TIMING, DominantPeriod, LoopAnalysis
from .dominance import METHODS, loop_dominance
from .find import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_LOOPS,
    LOOP_SEARCH,
    Loop,
    LoopSet,
    LoopWarning,
    Partition,
    find_loops,
)
from .graph import CausalGraph, causal_graph

__all__ = [
    "find_loops", "loop_dominance", "causal_graph", "Loop", "LoopSet", "Partition",
    "LoopAnalysis", "DominantPeriod", "CausalGraph", "LoopWarning", "TIMING", "METHODS",
    "DEFAULT_MAX_LENGTH", "DEFAULT_MAX_LOOPS", "LOOP_SEARCH",
]
