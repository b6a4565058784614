"""Loop analysis: loops, polarity, names, partitions and Loops That Matter dominance."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.loops import LoopAnalysis, LoopWarning, find_loops, loop_dominance

HERE = Path(__file__).parent
BASS = HERE / "data" / "bass.mdl"
SMOOTH_LOOP = HERE / "data" / "smooth_loop.mdl"
SAMPLES = HERE / "test-models" / "samples"
SIR = SAMPLES / "SIR" / "SIR.mdl"


@pytest.fixture(scope="module")
def bass():
    return sd.load(BASS)


@pytest.fixture(scope="module")
def bass_dom(bass):
    return loop_dominance(sd.simulate(bass, method="euler"))


# -- Table 3 of Schoenberg, Davidsen & Eberlein (2020) -----------------------------------------
# The paper labels a score with the start of its interval; we label it with the end, so the
# paper's T = 9.5, 9.5625, 9.625 are our 9.5625, 9.625, 9.6875 (one dt = 0.0625 later).
TABLE3 = [  # paper T, R1 loop score, B1 loop score, R1 relative, B1 relative
    (9.5, 11.46, -9.958, 0.535, -0.465),
    (9.5625, 9806.0, -9358.0, 0.512, -0.488),
    (9.625, 10.41, -10.91, 0.488, -0.512),
]


@pytest.mark.parametrize("T, r1, b1, rel_r1, rel_b1", TABLE3)
def test_bass_table3(bass_dom, T, r1, b1, rel_r1, rel_b1):
    k = int(np.searchsorted(bass_dom.t, T + 0.0625))
    assert bass_dom.t[k] == pytest.approx(T + 0.0625)
    # published values have four significant digits
    assert bass_dom.score("R1")[k] == pytest.approx(r1, rel=5e-4)
    assert bass_dom.score("B1")[k] == pytest.approx(b1, rel=5e-4)
    assert bass_dom.relative("R1")[k] == pytest.approx(rel_r1, abs=5e-4)
    assert bass_dom.relative("B1")[k] == pytest.approx(rel_b1, abs=5e-4)


def test_bass_table3_ends(bass_dom):
    k1 = int(np.searchsorted(bass_dom.t, 1.0625))
    assert bass_dom.score("R1")[k1] == pytest.approx(1.0, abs=5e-4)
    assert bass_dom.score("B1")[k1] == pytest.approx(0.0, abs=5e-4)
    assert bass_dom.relative("B1")[-1] == pytest.approx(-1.0, abs=5e-4)
    assert bass_dom.relative("R1")[-1] == pytest.approx(0.0, abs=5e-4)


def test_bass_dominance_shift(bass_dom):
    assert bass_dom.method == "discrete"
    assert [p.loops for p in bass_dom.periods] == [("R1",), ("B1",)]
    (when, part, before, after), = bass_dom.shifts()
    assert when == pytest.approx(9.6875) and before == ("R1",) and after == ("B1",)
    assert bass_dom.dominant_at(5) == ("R1",) and bass_dom.dominant_at(12) == ("B1",)
    # relative scores of a partition: |.| sums to 1 wherever defined
    tot = np.abs(bass_dom.relative_scores).sum(axis=1)
    assert np.allclose(tot[1:], 1.0)
    assert np.isnan(bass_dom.relative_scores[0]).all()   # index 0 has no interval


def test_bass_loops_named_from_metadata(bass):
    loops = find_loops(bass)
    assert [(lp.id, lp.name, lp.polarity) for lp in loops] == [
        ("R1", "word of mouth", "R"), ("B1", "market saturation", "B")]
    r1 = loops["R1"]
    assert r1.variables[0] == "Adopters" and r1.length == 5
    assert r1.link_polarities == (1, 1, 1, 1, 1)
    assert loops["market saturation"].link_polarities[-1] == -1     # outflow of Potential
    assert loops["B1"].layers == ("social", "environment")
    assert len(loops.partitions) == 1
    assert set(loops.partitions[0].stocks) == {"Adopters", "Potential Adopters"}
    assert loops.polarity("adopting", "Potential Adopters") == -1
    df = loops.to_frame()
    assert list(df["id"]) == ["R1", "B1"]


def test_continuous_scores_for_adaptive_runs(bass):
    dom = loop_dominance(sd.simulate(bass))        # RK45 -> continuous form
    assert dom.method == "continuous"
    # the logistic inflection, where dominance shifts, is at ln(N - 1) / (c i) = 9.21
    (when, _, before, after), = dom.shifts()
    assert when == pytest.approx(np.log(1e6 - 1) / 1.5, abs=0.07)
    assert before == ("R1",) and after == ("B1",)


def test_sir_loops():
    loops = find_loops(sd.load(SIR))
    assert sorted((lp.polarity, lp.variables) for lp in loops) == [
        ("B", ("Infectious", "Recovering")), ("B", ("Susceptible", "Succumbing")),
        ("R", ("Infectious", "Succumbing"))]
    assert all(lp.name is None for lp in loops)


def test_isolated_loop_scores_one():
    m = sd.load(SAMPLES / "simple_harmonic_oscillator" / "simple_harmonic_oscillator.mdl")
    ctl = m.control
    sim = sd.simulate(m, method="euler", t_eval=np.arange(0, 5 + 1e-9, ctl.time_step))
    dom = loop_dominance(sim)
    (lp,) = dom.loops
    assert lp.polarity == "B"
    assert dom.score(lp.id)[1] == 0.0        # the stock has not moved yet: no change, score 0
    assert np.allclose(dom.score(lp.id)[2:], -1.0)


def test_unknown_polarity_when_sign_changes():
    loops = find_loops(sd.load(SAMPLES / "Roessler_Chaos" / "roessler_chaos.mdl"))
    (u,) = [lp for lp in loops if lp.polarity == "U"]
    assert u.variables == ("z", "dzdt") and u.link_polarities[0] == 0


def test_smooth_internals_collapse_into_composite_links():
    m = sd.load(SMOOTH_LOOP)
    sim = sd.simulate(m, method="euler")
    dom = loop_dominance(sim)
    loops = dom.loops
    assert len(loops) == 3                     # loops inside the smooths are not reported
    r1 = loops["R1"]
    assert r1.variables == ("Inventory", "shipments", "expected shipments", "production")
    assert "expected shipments smooth stage 3" in r1.stocks
    assert loops.graph.graph.edges["shipments", "expected_shipments"]["kind"] == "composite"
    assert ("shipments", "expected shipments") in dom.link_scores
    assert r1.crosses_boundary and not loops["B1"].crosses_boundary
    assert 0 < dom.boundary_share() < 1


def test_model_without_loops_gives_empty_valid_analysis():
    m = sd.load(HERE / "test-models" / "tests" / "smooth_and_stock" /
                "test_smooth_and_stock.mdl")
    dom = loop_dominance(sd.simulate(m))
    assert isinstance(dom, LoopAnalysis) and len(dom) == 0
    assert "no feedback loops" in dom.message
    assert dom.loop_scores.shape == (len(dom.t), 0)
    assert dom.periods == () and dom.table().empty and dom.to_frame().empty
    assert dom.share().empty


def test_truncation_warns_with_the_way_to_raise_the_cap():
    m = sd.load(SIR)
    with pytest.warns(LoopWarning, match=r"max_loops=\.\.\."):
        loops = find_loops(m, max_loops=2, method="all")
    assert len(loops) == 2 and loops.truncated
    with pytest.warns(LoopWarning, match=r"max_length=None"):
        loops = find_loops(m, max_length=1)
    assert len(loops) == 0 and loops.truncated


def test_documented_loop_that_does_not_exist_warns(tmp_path):
    shutil.copy(BASS, tmp_path / "bass.mdl")
    (tmp_path / "bass.meta.toml").write_text(
        '[[loop]]\nid = "R7"\nname = "ghost"\npolarity = "R"\n'
        'variables = ["Adopters", "market size"]\n'
        '[[loop]]\nid = "B1"\nname = "saturation"\npolarity = "R"\n'
        'variables = ["Potential Adopters", "probability of contact with potentials"]\n')
    m = sd.load(tmp_path / "bass.mdl")
    with pytest.warns(LoopWarning) as rec:
        loops = find_loops(m)
    text = " ".join(str(w.message) for w in rec)
    assert "R7 'ghost'" in text and "is not a feedback loop" in text
    assert "declared R but" in text
    assert loops["B1"].name == "saturation" and loops.ids == ("B1", "R1")


def test_ensemble_is_vectorized_over_runs(bass):
    rates = [80.0, 100.0, 120.0]
    ens = sd.simulate(bass, method="euler", params={"contact rate": rates})
    dom = loop_dominance(ens)
    assert dom.loop_scores.shape == (len(ens.t), 2, 3)
    single = loop_dominance(sd.simulate(bass, method="euler"))
    assert np.allclose(dom.loop_scores[2:, :, 1], single.loop_scores[2:], equal_nan=True)
    assert np.array_equal(dom.dominant[:, :, 1], single.dominant)
    assert [p.loops for p in dom.periods] == [("R1",), ("B1",)]     # from the median run
    assert dom.to_frame().shape[0] == len(ens.t) * 2 * 3
    assert not dom.loop_scores.flags.writeable


def test_to_frame_and_table(bass_dom):
    df = bass_dom.to_frame()
    assert list(df.columns) == ["time", "loop", "name", "polarity", "score", "relative",
                                "dominant"]
    tab = bass_dom.table()
    assert {"id", "name", "polarity", "length", "share", "variables"} <= set(tab.columns)
    assert tab["share"].sum() == pytest.approx(1.0)
    assert bass_dom.polarity_confidence()["R1"] == pytest.approx(1.0)
    assert bass_dom.link_score("adopting", "Adopters")[5] == pytest.approx(1.0)


def test_bad_input(bass, bass_dom):
    with pytest.raises(TypeError, match="`sim` must be a Simulation"):
        loop_dominance(bass)
    sim = sd.simulate(bass, method="euler")
    with pytest.raises(ValueError, match="`method` must be one of"):
        loop_dominance(sim, method="exact")
    with pytest.raises(ValueError, match="`threshold` must be in"):
        loop_dominance(sim, threshold=0)
    with pytest.raises(ValueError, match="`max_loops` must be a positive integer"):
        find_loops(bass, max_loops=0)
    with pytest.raises(ValueError, match="`loops` must come from"):
        loop_dominance(sim, find_loops(sd.load(SIR)))
    with pytest.raises(sd.UnknownNameError, match="no loop 'R9'.*R1, B1"):
        bass_dom.score("R9")
    with pytest.raises(sd.UnknownNameError, match="no dynamic link"):
        bass_dom.link_score("market size", "Adopters")


def test_inactive_link_polarity_is_probed_off_the_run():
    dom = loop_dominance(sd.simulate(sd.load(HERE / "data" / "inactive_branch.mdl")))
    r1, b1 = dom.loops["R1"], dom.loops["B1"]
    assert r1.variables == ("Backlog", "arrivals") and r1.link_polarities == (1, 1)
    assert b1.variables == ("Backlog", "completions")
    assert np.all(dom.score("R1")[1:] == 0)       # inactive all along: no share
    assert dom.share()["B1"] == pytest.approx(1.0)


def test_main_periods_remove_flicker():
    dom = loop_dominance(sd.simulate(sd.load(SMOOTH_LOOP)))
    assert len(dom.periods) > 10                  # the raw dominant sets flicker
    main = dom.main_periods()
    assert 1 < len(main) < 8 and all(len(p.loops) == 1 for p in main)
    assert main[0].loops == ("R1",) and main[-1].end == dom.t[-1]
