"""Bad input gets a specific exception with a message that says what to fix."""

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.errors import (
    AlgebraicLoopError,
    ModelFileError,
    ModelSyntaxError,
    ParameterShapeError,
    SimulationError,
    UndefinedReferenceError,
    UnknownNameError,
    UnsupportedFeatureError,
)

from _paths import ENGINE_DATA, TEACUP


def test_missing_file():
    with pytest.raises(ModelFileError, match=r"model file 'nowhere/model.mdl' does not exist"):
        sd.load("nowhere/model.mdl")


def test_unknown_extension(tmp_path):
    p = tmp_path / "model.txt"
    p.write_text("x")
    with pytest.raises(ModelFileError, match=r"extension '.txt'; expected a Vensim .mdl"):
        sd.load(p)


def test_unknown_bundled_name_lists_available():
    with pytest.raises(UnknownNameError, match=r"neither a model file nor a bundled model"):
        sd.load("no_such_model")


def test_syntax_error_names_file():
    with pytest.raises(ModelSyntaxError, match=r"cannot parse syntax_error.mdl"):
        sd.load(ENGINE_DATA / "syntax_error.mdl")


def test_undefined_reference_names_variable_and_file():
    with pytest.raises(UndefinedReferenceError,
                       match=r"variable 'Inflow' in undefined.mdl refers to 'undefined_thing'"):
        sd.load(ENGINE_DATA / "undefined.mdl")


def test_algebraic_loop_names_the_cycle():
    with pytest.raises(AlgebraicLoopError, match=r"algebraic loop .*'A'.*'B'|'B'.*'C'") as exc:
        sd.load(ENGINE_DATA / "algebraic_loop.mdl")
    for name in ("'A'", "'B'", "'C'"):
        assert name in str(exc.value)


def test_unsupported_function_names_function_variable_and_file():
    with pytest.raises(UnsupportedFeatureError,
                       match=r"DELAY FIXED is not supported \(variable 'Inflow' in "
                             r"unsupported.mdl\)"):
        sd.load(ENGINE_DATA / "unsupported.mdl")


def test_unknown_parameter_suggests_close_matches():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'Characteristic Time'\?"):
        sd.simulate(sd.load(TEACUP), params={"Characteristc Time": 3.0})


def test_parameter_that_is_not_a_constant():
    with pytest.raises(UnknownNameError, match=r"'Heat Loss to Room', which is a flow"):
        sd.simulate(sd.load(TEACUP), params={"Heat Loss to Room": 3.0})


def test_parameter_arrays_of_different_lengths():
    with pytest.raises(ParameterShapeError, match=r"must all have the same length"):
        sd.simulate(sd.load(TEACUP), params={"Characteristic Time": [1.0, 2.0, 3.0],
                                             "Room Temperature": [60.0, 70.0]})


def test_parameter_of_wrong_dimension():
    with pytest.raises(ParameterShapeError, match=r"must be a number or a 1-D array"):
        sd.simulate(sd.load(TEACUP), params={"Characteristic Time": np.ones((2, 2))})


def test_non_finite_result_names_time_and_variable():
    model = sd.load(ENGINE_DATA / "blowup.mdl")
    with pytest.raises(SimulationError, match=r"non-finite at time 2\.5.*'Level'") as exc:
        sd.simulate(model, method="euler")
    assert exc.value.time == pytest.approx(2.5)
    with pytest.raises(SimulationError, match=r"RK45 failed at time 2 .*'Level'") as exc:
        sd.simulate(model, method="RK45")
    assert exc.value.time == pytest.approx(2.0, abs=0.01)


def test_bad_method_and_t_span():
    model = sd.load(TEACUP)
    with pytest.raises(ValueError, match=r"`method` must be one of .*got 'RK99'"):
        sd.simulate(model, method="RK99")
    with pytest.raises(ValueError, match=r"`t_span` must be increasing"):
        sd.simulate(model, t_span=(5, 1))
    with pytest.raises(ValueError, match=r"fixed-step methods give output only on their step"):
        sd.simulate(model, method="euler", t_eval=[0.0, 0.1])


def test_unknown_variable_in_result():
    sim = sd.simulate(sd.load(TEACUP))
    with pytest.raises(UnknownNameError, match=r"no variable 'Teacup Temp'.*Did you mean"):
        sim["Teacup Temp"]


def test_context_preset_naming_a_missing_constant_fails_at_load(monkeypatch):
    import sys

    from sts_dynamics.errors import ConfigError

    loader = sys.modules["sts_dynamics.io.load"]
    monkeypatch.setattr(loader, "load_contexts",
                        lambda path=None: {"broken": {"overrides": {"Room Temprature": 60.0}}})
    with pytest.raises(ConfigError, match=r"context 'broken': .*no variable 'Room Temprature'.*"
                                          r"Did you mean 'Room Temperature'"):
        sd.load(TEACUP, context="broken")


def test_context_preset_cannot_set_a_non_constant(monkeypatch):
    import sys

    from sts_dynamics.errors import ConfigError

    loader = sys.modules["sts_dynamics.io.load"]
    monkeypatch.setattr(loader, "load_contexts",
                        lambda path=None: {"broken": {"overrides": {"Heat Loss to Room": 1.0}}})
    with pytest.raises(ConfigError, match=r"'Heat Loss to Room' is a flow, not a constant"):
        sd.load(TEACUP, context="broken")
