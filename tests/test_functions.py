"""SD built-ins: values from Vensim's documentation and hand computation."""

import math

import numpy as np
import pytest

from sts_dynamics import functions as F

XS, YS = (0.0, 1.0, 2.0), (0.0, 10.0, 5.0)
XA, YA = np.array(XS), np.array(YS)


@pytest.mark.parametrize("x,mode,expected", [
    (0.5, "hold", 5.0), (-1.0, "hold", 0.0), (3.0, "hold", 5.0),
    (-1.0, "extrapolate", -10.0), (3.0, "extrapolate", 0.0), (1.5, "extrapolate", 7.5),
    (1.5, "backward", 10.0), (1.0, "backward", 10.0), (5.0, "backward", 5.0),
    (0.5, "forward", 10.0), (1.0, "forward", 10.0), (-3.0, "forward", 0.0),
])
def test_lookup_modes_scalar_and_vector_agree(x, mode, expected):
    assert F.lookup(x, XS, YS, mode, XA, YA) == pytest.approx(expected)
    vec = F.lookup(np.array([x, x]), XS, YS, mode, XA, YA)
    np.testing.assert_allclose(vec, [expected, expected])


def test_xidz_zidz_quantum_modulo_integer():
    assert F.xidz(1.0, 0.0, 7.0) == 7.0 and F.xidz(1.0, 4.0, 7.0) == 0.25
    assert F.zidz(3.0, 1e-9) == 0.0
    np.testing.assert_allclose(F.zidz(np.array([1.0, 1.0]), np.array([0.0, 2.0])), [0, 0.5])
    assert F.quantum(7.5, 2.0) == 6.0 and F.quantum(-7.5, 2.0) == -6.0
    assert F.modulo(7.5, 2.0) == 1.5
    assert F.integer(-2.7) == -2.0 and F.integer(2.7) == 2.0


def test_division_and_domain_errors_give_ieee_values():
    assert F.div(1.0, 0.0) == math.inf and F.div(-1.0, 0.0) == -math.inf
    assert math.isnan(F.div(0.0, 0.0))
    assert math.isnan(F.UNARY["ln"](-1.0)) and F.UNARY["ln"](0.0) == -math.inf
    assert math.isnan(F.power(-8.0, 1 / 3))
    assert F.UNARY["exp"](1e4) == math.inf


def test_log_with_base():
    assert F.log(8.0, 2.0) == pytest.approx(3.0)
    assert F.log(1000.0) == pytest.approx(3.0)


def test_step_follows_vensim_half_step_convention():
    dt = 0.25
    # at t = 4.75 with dt = 0.25: 4.75 + 0.125 < 5 -> 0; at t = 5: active
    assert F.step(4.75, dt, None, 2.0, 5.0) == 0.0
    assert F.step(5.0, dt, None, 2.0, 5.0) == 2.0
    # inside an adaptive segment the condition uses the segment midpoint
    assert F.step(5.0, dt, 4.9, 2.0, 5.0) == 0.0


def test_ramp_and_pulse_train():
    assert F.ramp(3.0, 1.0, None, 2.0, 1.0, 2.5) == pytest.approx(3.0)
    assert F.ramp(0.5, 1.0, None, 2.0, 1.0) == 0.0
    # PULSE TRAIN(start=1, width=0.5, interval=2, end=6) is on at 1, 3, 5
    on = [F.pulse_train(t, 0.25, None, 1.0, 2.0, 0.5, 6.0) for t in (1.0, 1.25, 1.5, 3.0, 5.25,
                                                                      6.0)]
    assert on == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert F.pulse(2.0, 0.25, None, 2.0, 0.0) == 1.0  # width 0 means one time step
    assert F.pulse(2.25, 0.25, None, 2.0, 0.0) == 0.0
