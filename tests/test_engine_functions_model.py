"""Every supported built-in in one model, checked against PySD's Euler run of the same file.

The SDXorg suite does not exercise QUANTUM or POWER in a non-subscripted model, so this model
does; PySD's run is the external reference.  PySD cannot run LOOKUP EXTRAPOLATE/FORWARD/BACKWARD
on a named table (its generated code calls the table without an argument), so those are checked
against values computed by hand from the table's points.
"""

import shutil
import warnings

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.compile import compile_model

from _paths import ENGINE_DATA

pysd = pytest.importorskip("pysd")
MODEL = ENGINE_DATA / "functions.mdl"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("pysd") / "functions.mdl"
    shutil.copy(MODEL, path)  # PySD writes its translation next to the file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(path)).run()


def test_every_builtin_matches_pysd(reference):
    model = sd.load(MODEL)
    sim = sd.simulate(model, method="euler")
    assert np.allclose(sim.t, reference.index.to_numpy())
    checked = 0
    for col in reference.columns:
        if col not in model or model[col].kind in ("lookup", "control"):
            continue
        ours, theirs = sim[col], reference[col].to_numpy(dtype=float)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, err_msg=col)
        checked += 1
    assert checked >= 17


def test_names_and_identifiers_both_resolve():
    model = sd.load(MODEL)
    assert model["modulo value"] is model["modulo_value"] is model["Modulo Value"]
    assert model["Sum of All"].identifier == "sum_of_all"
    assert model["Sum of All"].inflows  # the INTEG rate was split into flows


def test_one_equation_is_callable_with_given_inputs():
    model = sd.load(MODEL)
    f = compile_model(model).equation("guarded")
    x = np.array([0.0, 1.0, 3.0])
    out = f({"x": x}, t=2.0)
    # XIDZ(1, x-1, -5) + ZIDZ(2, x) + MIN(x, 1) + MAX(x, -0.5) + INTEGER(2.5 x)
    expected = (np.where(np.abs(x - 1) < 1e-6, -5.0, 1 / np.where(x == 1, 1, x - 1))
                + np.where(x == 0, 0.0, 2 / np.where(x == 0, 1, x))
                + np.minimum(x, 1) + np.maximum(x, -0.5) + np.trunc(2.5 * x))
    np.testing.assert_allclose(out, expected)
    assert set(f.inputs) == {"x"}


def test_lookup_modes_against_hand_computed_values():
    sim = sd.simulate(sd.load(ENGINE_DATA / "lookups.mdl"), method="euler")
    xs = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
    ys = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    arg = 3 * (sim.t / 2 - 1)  # from -3 to 12
    held = np.interp(arg, xs, ys)
    np.testing.assert_allclose(sim["held"], held)
    # linear extrapolation with the end segments' slopes: 1 below 0, -0.5 above 8
    extra = np.where(arg < 0, 1 + 1.0 * arg, np.where(arg > 8, 4 - 0.5 * (arg - 8), held))
    np.testing.assert_allclose(sim["extrapolated"], extra)
    # backward: the value of the last point at or before the argument
    back = ys[np.clip(np.searchsorted(xs, arg, side="right") - 1, 0, 4)]
    np.testing.assert_allclose(sim["backward"], back)
    # forward: the value of the first point at or after the argument
    fwd = ys[np.clip(np.searchsorted(xs, arg, side="left"), 0, 4)]
    np.testing.assert_allclose(sim["forward"], fwd)
