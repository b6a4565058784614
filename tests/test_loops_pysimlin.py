"""Agreement of our Loops That Matter scores with pysimlin's (Simlin's LTM engine).

pysimlin runs Euler at TIME STEP and saves every SAVEPER; we run Euler with output at every
step and compare at pysimlin's saved times.  Loops are matched by their variable sets (pysimlin
adds synthetic variables such as ``position_net_flow`` and SMOOTH modules; those are dropped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.loops import loop_dominance

simlin = pytest.importorskip("simlin")

HERE = Path(__file__).parent
SAMPLES = HERE / "test-models" / "samples"
MODELS = [
    SAMPLES / "teacup" / "teacup.mdl",
    SAMPLES / "SIR" / "SIR.mdl",
    SAMPLES / "simple_harmonic_oscillator" / "simple_harmonic_oscillator.mdl",
    SAMPLES / "Roessler_Chaos" / "roessler_chaos.mdl",
    HERE / "data" / "bass.mdl",
    HERE / "data" / "smooth_loop.mdl",
]


def _theirs(path: Path):
    model = simlin.load(str(path))
    with model.simulate(enable_ltm=True) as s:
        s.run_to_end()
        t = np.asarray(s.get_series("time"))
        loops = {lp.variables: (lp.id, np.asarray(s.get_loop_score(lp.id)),
                                np.asarray(s.get_relative_loop_score(lp.id)))
                 for lp in s.get_loops_runtime()}
    return t, loops


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_loop_scores_agree_with_pysimlin(path):
    m = sd.load(path)
    ctl = m.control
    n = int(round((ctl.final_time - ctl.initial_time) / ctl.time_step))
    sim = sd.simulate(m, method="euler",
                      t_eval=ctl.initial_time + ctl.time_step * np.arange(n + 1))
    dom = loop_dominance(sim)
    assert dom.method == "discrete"
    t, theirs = _theirs(path)
    k = np.searchsorted(sim.t, t - 1e-9)
    assert np.allclose(sim.t[k], t)
    keys = {}
    for variables, data in theirs.items():
        ours = frozenset(v for v in variables if v in m)
        keys[frozenset(m.resolve(v) for v in ours)] = data
    assert len(keys) == len(dom.loops) > 0
    for lp in dom.loops:
        lid, score, rel = keys[frozenset(lp.keys)]
        ours, ours_rel = dom.score(lp.id)[k], dom.relative(lp.id)[k]
        ok = slice(2, None)          # pysimlin reports 0 where we report "no interval yet"
        assert np.allclose(ours[ok], score[ok], rtol=1e-6, atol=1e-9), (lp.id, lid)
        both = np.isfinite(ours_rel[ok])
        assert np.allclose(ours_rel[ok][both], rel[ok][both], rtol=1e-6, atol=1e-9)
        # pysimlin reports 0 relative score where every loop of the partition is inactive
        assert np.all(rel[ok][~both] == 0)
