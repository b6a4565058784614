"""Calibration parameters: transforms, bounds, sets, Latin hypercube starts, bound warnings."""

import doctest
import importlib
import math

import numpy as np
import pytest

from sts_dynamics.calibrate import (
    NormalPrior,
    Parameter,
    ParameterSet,
    UniformPrior,
    make_parameters,
)
from sts_dynamics.errors import CalibrationError, CalibrationWarning, UnknownNameError


@pytest.mark.parametrize("kwargs,transform", [
    ({"min": 0.0, "max": 1.0}, "logit"),
    ({"min": 0.0}, "log"),
    ({"min": 2.0}, "log"),
    ({"max": 5.0}, "none"),
    ({"min": -1.0}, "none"),
    ({}, "none"),
    ({"min": 0.0, "max": 1.0, "transform": "none"}, "none"),
    ({"min": 0.1, "max": 10.0, "transform": "log"}, "log"),
])
def test_auto_transform(kwargs, transform):
    assert Parameter("p", 0.5 if "max" in kwargs else 3.0, **kwargs).transform == transform


@pytest.mark.parametrize("p", [
    Parameter("fraction", 0.3, min=0.0, max=1.0),
    Parameter("rate", 2.0, min=0.0),
    Parameter("bounded rate", 2.0, min=0.1, max=10.0, transform="log"),
    Parameter("shifted", -3.0, min=-5.0, max=5.0),
    Parameter("free", 7.0),
])
def test_round_trip_is_vectorized(p):
    x = np.linspace(p.min if math.isfinite(p.min) else -9, p.max if math.isfinite(p.max) else 9,
                    12)[1:-1]
    u = p.to_internal(x)
    assert u.shape == x.shape
    np.testing.assert_allclose(p.from_internal(u), x, rtol=1e-12)
    u2 = p.to_internal(x.reshape(2, 5))
    assert u2.shape == (2, 5)
    assert isinstance(p.to_internal(p.value), float)


def test_transform_formulas_and_jacobian():
    p = Parameter("f", 0.25, min=0.0, max=2.0)
    assert p.to_internal(0.5) == pytest.approx(math.log(0.25 / 0.75))
    assert p.internal_bounds == (-math.inf, math.inf)
    q = Parameter("k", 1.0, min=0.1, max=10.0, transform="log")
    assert q.to_internal(math.e) == pytest.approx(1.0)
    assert q.internal_bounds == pytest.approx((math.log(0.1), math.log(10.0)))
    assert Parameter("r", 1.0, min=0.0).internal_bounds == (-math.inf, math.inf)
    assert Parameter("n", 1.0, min=-2.0, max=3.0, transform="none").internal_bounds == (-2, 3)
    for par in (p, q, Parameter("n", 1.0)):
        u = np.array([-1.3, 0.2, 0.9])
        h = 1e-6
        numeric = (par.from_internal(u + h) - par.from_internal(u - h)) / (2 * h)
        np.testing.assert_allclose(par.log_jacobian(u), np.log(numeric), rtol=1e-6, atol=1e-9)


def test_from_internal_stays_within_bounds():
    p = Parameter("f", 0.5, min=0.0, max=1.0)
    x = p.from_internal(np.array([-800.0, 800.0]))
    assert x.tolist() == [0.0, 1.0]
    assert Parameter("n", 1.0, min=0.0, max=2.0, transform="none").from_internal(5.0) == 2.0


def test_at_bound():
    p = Parameter("f", 0.5, min=0.0, max=1.0)
    assert p.at_bound(0.0005) == "min"
    assert p.at_bound(0.9995) == "max"
    assert p.at_bound(0.5) is None
    assert p.at_bound(0.99, rtol=0.02) == "max"
    r = Parameter("r", 5.0, min=1.0)
    assert r.at_bound(1.0005) == "min"
    assert r.at_bound(1.1) is None
    assert Parameter("free", 1.0).at_bound(1e12) is None
    assert Parameter("f", 1.0, min=0.0, max=1.0, vary=False, transform="none").at_bound() == "max"


def test_parameter_errors():
    with pytest.raises(CalibrationError, match=r"parameter 'skill decay rate': `min` must be less "
                                               r"than `max`, got min=0.05 and max=0.005"):
        Parameter("skill decay rate", 0.01, min=0.05, max=0.005)
    with pytest.raises(CalibrationError, match=r"parameter 'k': `min` must be less than `max`, "
                                               r"got min=1 and max=1"):
        Parameter("k", 1.0, min=1.0, max=1.0)
    with pytest.raises(CalibrationError, match=r"parameter 'k': `value` must lie within \[min, "
                                               r"max\] = \[0, 1\], got 2"):
        Parameter("k", 2.0, min=0.0, max=1.0)
    with pytest.raises(CalibrationError, match=r"parameter 'k': `transform` must be one of 'auto', "
                                               r"'none', 'log', 'logit', got 'sqrt'"):
        Parameter("k", 1.0, transform="sqrt")
    with pytest.raises(CalibrationError, match=r"parameter 'k': transform 'log' needs min >= 0, "
                                               r"got min=-1"):
        Parameter("k", 1.0, min=-1.0, transform="log")
    with pytest.raises(CalibrationError, match=r"parameter 'k': transform 'logit' needs finite "
                                               r"min and max, got \[0, inf\]"):
        Parameter("k", 1.0, min=0.0, transform="logit")
    with pytest.raises(CalibrationError, match=r"parameter 'k': `value` 0 is on a bound, where the "
                                               r"logit transform is infinite"):
        Parameter("k", 0.0, min=0.0, max=1.0)
    with pytest.raises(CalibrationError, match=r"parameter 'k': `value` must be a number, got "
                                               r"'abc'"):
        Parameter("k", "abc")
    with pytest.raises(CalibrationError, match=r"parameter 'k': `min` must be a number, got nan"):
        Parameter("k", 1.0, min=float("nan"))
    with pytest.raises(CalibrationError, match=r"a parameter's `name` must be a non-empty string, "
                                               r"got ''"):
        Parameter("", 1.0)
    with pytest.raises(CalibrationError, match=r"parameter 'k': `prior` must be a Prior, got "
                                               r"tuple"):
        Parameter("k", 1.0, prior=(0, 1))
    # a fixed parameter may sit on a bound
    assert Parameter("k", 0.0, min=0.0, max=1.0, vary=False).value == 0.0


def _set():
    return ParameterSet([
        Parameter("skill decay rate", 0.02, min=0.005, max=0.05),
        Parameter("base fault rate", 1.0, min=0.1, max=10.0, transform="log"),
        Parameter("staff", 12.0, vary=False),
    ])


def test_parameter_set_vectors():
    ps = _set()
    assert ps.names == ("skill decay rate", "base fault rate", "staff")
    assert ps.free == ("skill decay rate", "base fault rate")
    assert len(ps) == 3 and [p.name for p in ps] == list(ps.names)
    np.testing.assert_allclose(ps.from_internal(ps.x0)["base fault rate"], 1.0)
    lo, hi = ps.bounds
    np.testing.assert_allclose(lo, [-np.inf, math.log(0.1)])
    np.testing.assert_allclose(hi, [np.inf, math.log(10.0)])
    u = np.column_stack([ps.x0, ps.x0 + 0.5, ps.x0 - 0.5])  # (n_free, n_runs)
    vals = ps.from_internal(u)
    assert vals["staff"] == 12.0
    assert vals["base fault rate"].shape == (3,)
    np.testing.assert_allclose(vals["base fault rate"], np.exp([0.0, 0.5, -0.5]))
    np.testing.assert_allclose(ps.to_internal(vals), u)
    assert ps.values() == {"skill decay rate": 0.02, "base fault rate": 1.0, "staff": 12.0}
    assert ps.with_values({"staff": 3}).values()["staff"] == 3.0


def test_parameter_set_errors():
    with pytest.raises(CalibrationError, match=r"parameter names must be unique; repeated: 'a'"):
        ParameterSet([Parameter("a", 1.0), Parameter("a", 2.0)])
    with pytest.raises(CalibrationError, match=r"a ParameterSet needs at least one parameter"):
        ParameterSet([])
    with pytest.raises(CalibrationError, match=r"ParameterSet items must be Parameter, got dict"):
        ParameterSet([{"name": "a"}])
    ps = _set()
    with pytest.raises(UnknownNameError, match=r"no parameter named 'skill decay'; the "
                                               r"parameters are .* Did you mean 'skill decay "
                                               r"rate'\?"):
        ps["skill decay"]
    with pytest.raises(UnknownNameError, match=r"no parameter named 'base rate'"):
        ps.with_values({"base rate": 1.0})
    with pytest.raises(CalibrationError, match=r"internal parameters must have shape \(2,\) or "
                                               r"\(2, n_runs\) for the free parameters"):
        ps.from_internal([0.0, 1.0, 2.0])
    with pytest.raises(CalibrationError, match=r"values missing for free parameter\(s\) 'base "
                                               r"fault rate'"):
        ps.to_internal({"skill decay rate": 0.02})


def test_latin_hypercube_is_stratified_in_the_natural_scale():
    ps = _set()
    n = 8
    u = ps.latin_hypercube(n, np.random.default_rng(123))
    assert u.shape == (2, n)
    vals = ps.from_internal(u)
    frac = (vals["skill decay rate"] - 0.005) / 0.045
    assert sorted(np.floor(frac * n).astype(int).tolist()) == list(range(n))
    logfrac = (np.log(vals["base fault rate"]) - math.log(0.1)) / math.log(100)
    assert sorted(np.floor(logfrac * n).astype(int).tolist()) == list(range(n))
    again = ps.latin_hypercube(n, np.random.default_rng(123))
    np.testing.assert_array_equal(u, again)


def test_latin_hypercube_errors():
    with pytest.raises(CalibrationError, match=r"a Latin hypercube needs finite bounds; give min "
                                               r"and max for 'r'"):
        ParameterSet([Parameter("r", 1.0, min=0.0)]).latin_hypercube(4, np.random.default_rng(0))
    with pytest.raises(CalibrationError, match=r"`n` must be at least 1, got 0"):
        _set().latin_hypercube(0, np.random.default_rng(0))
    with pytest.raises(CalibrationError, match=r"no free parameters to sample"):
        ParameterSet([Parameter("c", 1.0, vary=False)]).latin_hypercube(
            2, np.random.default_rng(0))


def test_warn_at_bounds():
    ps = _set()
    with pytest.warns(CalibrationWarning, match=r"fit ended at a bound: 'base fault rate' = "
                                                r"9.999 at its max \(10\)"):
        hits = ps.warn_at_bounds({"skill decay rate": 0.02, "base fault rate": 9.999,
                                  "staff": 12.0})
    assert hits == {"base fault rate": "max"}
    assert ps.at_bounds() == {}


def test_log_prior():
    ps = ParameterSet([Parameter("a", 1.0, min=0.0, max=2.0, prior=UniformPrior(0.0, 2.0)),
                       Parameter("b", 0.5, prior=NormalPrior(0.0, 1.0)),
                       Parameter("c", 3.0, min=0.0)])
    u = ps.to_internal({"a": 1.0, "b": 0.5, "c": 3.0})
    want = math.log(0.5) + (-0.5 * 0.25 - 0.5 * math.log(2 * math.pi))
    assert ps.log_prior(u) == pytest.approx(want)
    assert ps.log_prior(np.column_stack([u, u])).shape == (2,)


def test_make_parameters():
    ps = make_parameters({"skill decay rate": (0.005, 0.05), "base fault rate": (0.1, 10),
                          "fraction": (0.2, 0.6), "staff": 12,
                          "k": (0.0, math.inf, 2.0), "m": {"value": 1.0, "min": 0.0},
                          "given": Parameter("other", 0.3, min=0.0, max=1.0)},
                         defaults={"fraction": 0.5, "skill decay rate": 0.9})
    assert ps["skill decay rate"].value == pytest.approx(math.sqrt(0.005 * 0.05))  # default out
    assert ps["base fault rate"].value == pytest.approx(1.0)
    assert ps["fraction"].value == 0.5
    assert ps["staff"].vary is False and ps["staff"].value == 12.0
    assert ps["k"].transform == "log" and ps["k"].value == 2.0
    assert ps["m"].transform == "log"
    assert ps["given"].max == 1.0
    assert make_parameters([Parameter("a", 1.0)]).names == ("a",)
    assert make_parameters({"x": (-1.0, 3.0)})["x"].value == 1.0


def test_make_parameters_errors():
    with pytest.raises(CalibrationError, match=r"parameter 'k': give \(min, max\) or \(min, max, "
                                               r"value\), got \(1,\)"):
        make_parameters({"k": (1,)})
    with pytest.raises(CalibrationError, match=r"parameter 'k': bounds \(0, inf\) are not finite, "
                                               r"so give a start"):
        make_parameters({"k": (0.0, math.inf)})
    with pytest.raises(CalibrationError, match=r"parameter 'k': `min` must be less than `max`, "
                                               r"got min=10 and max=0.1"):
        make_parameters({"k": (10, 0.1)})
    with pytest.raises(CalibrationError, match=r"parameter 'k': `value` must be a number, got "
                                               r"'high'"):
        make_parameters({"k": "high"})


@pytest.mark.parametrize("module", ["sts_dynamics.calibrate.parameters"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
