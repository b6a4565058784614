"""The single-run RK45 path against SciPy's ``solve_ivp`` RK45 on every conformance model.

Both integrate the same compiled right-hand side with error control; they differ in the step
sequence (the lean path carries the step size over breakpoints) and in rounding.  At
rtol 1e-9 their results must agree far inside the conformance tolerance (1e-5): a mistake
in the lean path's handling of breakpoints, lookups, time functions or output times would
show here on one of the 60 models.
"""

import sys

import numpy as np
import pytest

import sts_dynamics as sd

from conformance import read_manifest

SIM = sys.modules["sts_dynamics.simulate"]
CASES = [c for c in read_manifest()[0] if c.expected == "pass" and c.kind == "mdl"
         and "chaos" not in c.id.lower()]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_lean_rk45_agrees_with_solve_ivp(case, monkeypatch):
    model = sd.load(case.path)
    kw = dict(method="RK45", rtol=1e-9, atol=1e-9)
    lean = sd.simulate(model, **kw)
    with monkeypatch.context() as mp:
        mp.setattr(SIM._lean_rk, "METHODS", {})  # route the single run through solve_ivp
        mp.setattr(SIM, "_lean_single", None)   # (and make sure it does not come here)
        ref = sd.simulate(model, **kw)
    for key in ref.values:
        a, b = np.asarray(lean.values[key]), np.asarray(ref.values[key])
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(b).max()),
                                   err_msg=f"{case.id}: {key}")
