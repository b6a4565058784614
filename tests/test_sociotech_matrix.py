"""The variance matrix on a model whose control loop is known (tests/data/sociotech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.errors import ConfigError, UnknownNameError
from sts_dynamics.sociotech import Variance, adjacent_layers, control_by, near_origin
from sts_dynamics.sociotech import matrix as matrix_module

HERE = Path(__file__).parent
BACKLOG = HERE / "data" / "sociotech" / "backlog_control.mdl"
TEACUP = HERE / "test-models" / "samples" / "teacup" / "teacup.mdl"


@pytest.fixture(scope="module")
def backlog():
    return sd.load(BACKLOG)


@pytest.fixture(scope="module")
def vm(backlog):
    return sd.variance_matrix(backlog)


def test_control_loop_and_its_layer_are_identified(vm):
    outage, absence = vm["outage"], vm["absence wave"]
    for tr in (outage, absence):
        assert tr.loop == "B1" and tr.loop_name == "effort correction"
        assert tr.loop_layers == ("social",)
        assert tr.control_by == "human"
        assert tr.absorbed and 0 < tr.time_to_absorb < 40
        assert tr.damage["backlog"] > 0 and tr.damage["peak backlog"] > 0
    # the outage starts in the technical layer and is controlled only by people: a gap
    assert outage.origin == "technical" and outage.gap
    assert "technical layer" in outage.gap_reason
    assert absence.origin == "social" and not absence.gap
    # detection: the variable with the largest early response among those declared
    assert outage.detected_by == "Work Pressure" and outage.detection["Tool Health"] == 0
    assert outage.detected_at == pytest.approx(10.5)
    assert outage.start == 10 and outage.duration == 2
    assert [tr.name for tr in vm.gaps()] == ["outage"]


def test_frame_messages_and_figure(vm):
    df = vm.to_frame()
    assert list(df.index) == ["outage", "absence wave"]
    assert {"origin", "detected_by", "controlled_by_loop", "loop_layers", "control_by",
            "time_to_absorb", "gap", "change in backlog"} <= set(df.columns)
    assert df.loc["outage", "controlled_by_loop"] == "B1 effort correction"
    msgs = vm.messages()
    assert msgs[0].startswith("Joint-optimization gap: outage (technical)")
    assert vm.responses.shape == (len(vm.t), 2) and not vm.responses.flags.writeable
    fig = sd.dashboard.variance_chart(vm)
    names = {tr.name for tr in fig.data}
    assert {"originates", "detected", "controlled (loop layers)",
            "joint-optimization gap"} <= names
    with pytest.raises(UnknownNameError, match="Did you mean 'outage'"):
        vm["outag"]


def test_one_vectorized_ensemble(backlog, monkeypatch):
    calls = []
    real = matrix_module.simulate

    def spy(model, **kw):
        calls.append(kw["params"])
        return real(model, **kw)

    monkeypatch.setattr(matrix_module, "simulate", spy)
    sd.variance_matrix(backlog, loops=False)
    assert len(calls) == 1
    p = calls[0]
    np.testing.assert_array_equal(p["outage size"], [0, 1, 0])      # run 0 is the baseline
    np.testing.assert_array_equal(p["absence size"], [0, 0, 0.3])


def test_user_declared_variance_on_an_untagged_model():
    teacup = sd.load(TEACUP)
    draft = {"name": "cold draft", "inject": "Room Temperature", "magnitude": -20,
             "start": 5, "duration": 3, "detection": ["Teacup Temperature"]}
    vm = sd.variance_matrix(teacup, [draft], min_loop_length=1)
    tr = vm["cold draft"]
    assert tr.origin == "unassigned" and tr.detected_by == "Teacup Temperature"
    assert tr.loop is not None and tr.control_by == "unassigned" and not tr.gap
    assert tr.damage["Teacup Temperature"] < 0          # default KPIs: final value of stocks
    # without a loop of 3 or more variables, no balancing loop controls it: a gap
    assert sd.variance_matrix(teacup, [draft], horizon=20)["cold draft"].gap


def test_layers_adjacency_and_control():
    assert adjacent_layers("technical") == {"technical", "work system"}
    assert adjacent_layers("environment") >= {"technical", "work system", "social"}
    assert not near_origin("technical", ("environment",))
    assert near_origin("environment", ("social",))
    assert control_by(("technical",)) == "technical"
    assert control_by(("work system", "social")) == "human"
    assert control_by(("technical", "social")) == "technical and human"
    assert control_by(("environment",)) == "external"


def test_bad_variances(backlog):
    teacup = sd.load(TEACUP)
    with pytest.raises(ConfigError, match="declares no variances"):
        sd.variance_matrix(teacup)
    with pytest.raises(ConfigError, match="has no injection point"):
        sd.variance_matrix(backlog, [{"name": "x", "magnitude": 1}])
    with pytest.raises(ConfigError, match="has no injection point"):
        Variance("x", "", 1.0)
    with pytest.raises(ConfigError, match="'Backlog' is a stock .* not a constant"):
        sd.variance_matrix(backlog, [{"name": "x", "inject": "Backlog", "magnitude": 1}])
    with pytest.raises(UnknownNameError, match="no constant 'outage sise'.*'outage size'"):
        sd.variance_matrix(backlog, [{"name": "x", "inject": "outage sise", "magnitude": 1}])
    with pytest.raises(UnknownNameError, match="declares no variance 'outag'"):
        sd.variance_matrix(backlog, ["outag"])
    with pytest.raises(ConfigError, match="unknown key 'magnitud'.*'magnitude'"):
        sd.variance_matrix(backlog, [{"name": "x", "inject": "outage size", "magnitud": 1}])
    with pytest.raises(ConfigError, match="`layer` must be one of"):
        Variance("x", "outage size", 1.0, layer="tech")
    with pytest.raises(ConfigError, match="both as constant names"):
        Variance("x", "outage size", 1.0, start="outage time", duration=2)
    with pytest.raises(ConfigError, match="'outage' starts at 10, at or after the end of the "
                                          "horizon"):
        sd.variance_matrix(backlog, horizon=8)
    with pytest.raises(ConfigError, match="`tolerance` must be a fraction"):
        sd.variance_matrix(backlog, tolerance=5)
    with pytest.raises(ConfigError, match="leave them to the variances"):
        sd.variance_matrix(backlog, params={"outage size": 1})
    with pytest.raises(UnknownNameError, match="no variable 'Backlg'"):
        sd.variance_matrix(backlog, [{"name": "x", "inject": "outage size", "magnitude": 1,
                                      "detection": ["Backlg"]}])
