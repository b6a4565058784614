"""The strongest-path loop discovery (Eberlein & Schoenberg 2020) in ``find_loops``.

References come from outside the search: the paper's Figure 7 example, the exhaustive loop
set of Johnson's algorithm (networkx) with its Loops That Matter scores (which
tests/test_loops_pysimlin.py checks against pysimlin), and the closed-form count of the
cycles of a complete directed graph.
"""

from __future__ import annotations

import itertools
import math
import shutil
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import sts_dynamics as sd
from sts_dynamics.cli import main
from sts_dynamics.io import bundled_models
from sts_dynamics.loops import LoopWarning, causal_graph, find_loops, loop_dominance
from sts_dynamics.loops.strongest import search_points, strongest_loops

HERE = Path(__file__).parent
SAMPLES = HERE / "test-models" / "samples"
MANY = HERE / "data" / "loops" / "many_loops.mdl"
THRESHOLD = 0.05                     # a loop "matters" when some |relative score| reaches it


def many_loops_mdl(n: int = 8, ring: float = 0.5, weak: float = 0.0005,
                   seed: int = 2020) -> str:
    """``tests/data/loops/many_loops.mdl``: n stocks, each stock's inflow driven by every
    other stock, strongly by its predecessor on a ring (the planted loop through all n
    stocks and flows) and weakly by the rest: sum_k C(n, k) (k - 1)! loops (16,064 for
    n = 8), of which the ring is the longest."""
    rng = np.random.default_rng(seed)
    init = rng.uniform(0.5, 1.5, n).round(3)
    parts = ["{UTF-8}\n"]
    for i in range(1, n + 1):
        parts.append(f"Stock {i}= INTEG (\n\tinflow {i},\n\t\t{init[i - 1]})\n\t~\tunits\n"
                     "\t~\tA coupled stock.\n\t|\n\n")
    for i in range(1, n + 1):
        prev = n if i == 1 else i - 1
        others = " + ".join(f"Stock {j}" for j in range(1, n + 1) if j not in (i, prev))
        parts.append(f"inflow {i}=\n\tring gain*Stock {prev} + weak gain*({others})\n"
                     "\t~\tunits/Month\n\t~\t|\n\n")
    parts.append(f"ring gain=\n\t{ring}\n\t~\t1/Month\n\t~\tThe planted ring.\n\t|\n\n")
    parts.append(f"weak gain=\n\t{weak}\n\t~\t1/Month\n\t~\tEvery other coupling.\n\t|\n\n")
    parts.append("********************************************************\n\t.Control\n"
                 "********************************************************~\n"
                 "\t\tSimulation Control Parameters\n\t|\n\n")
    for name, value, unit, doc in [
            ("FINAL TIME ", "10", "Month", "The final time for the simulation."),
            ("INITIAL TIME ", "0", "Month", "The initial time for the simulation."),
            ("SAVEPER ", "TIME STEP", "Month [0,?]", "The frequency with which output is "
             "stored."),
            ("TIME STEP ", "0.125", "Month [0,?]", "The time step for the simulation.")]:
        parts.append(f"{name} = {value}\n\t~\t{unit}\n\t~\t{doc}\n\t|\n\n")
    return "".join(parts).rstrip("\n") + "\n"


def _euler(model):
    c = model.control
    n = int(round((c.final_time - c.initial_time) / c.time_step))
    t_eval = c.initial_time + c.time_step * np.arange(n + 1)
    return sd.simulate(model, method="euler", t_eval=t_eval)


def _ring_keys(model) -> tuple[str, ...]:
    keys = []
    for i in range(1, 9):
        keys += [model.resolve(f"Stock {i}"), model.resolve(f"inflow {i % 8 + 1}")]
    return tuple(keys)


# -- the published algorithm --------------------------------------------------------------------

FIG7 = [("a", "b", 10.0), ("a", "d", 100.0), ("b", "c", 10.0), ("c", "a", 10.0),
        ("d", "c", 0.1), ("d", "b", 100.0)]


def _fig7(starts: str) -> set[str]:
    names = "abcd"
    edges = [(names.index(u), names.index(v)) for u, v, _ in FIG7]
    scores = np.array([[w for *_, w in FIG7]])
    res = strongest_loops(4, edges, scores, [names.index(s) for s in starts])
    return {"".join(names[i] for i in c) for c in res.cycles}


def test_figure_7_of_the_paper():
    # From a, the strong path a -> d -> b -> c -> a sets the best products of b and c, so
    # a -> b (10 < 100 * 100) and d -> c (10 < 1e5) are pruned: the paper's example of a
    # loop (a -> b -> c -> a) the search misses from that start.
    assert _fig7("a") == {"adbc"}
    # Searching from every stock, each with fresh best products, finds all three loops.
    assert _fig7("abcd") == {"abc", "adc", "adbc"}
    assert _fig7("dcba") == _fig7("abcd")            # independent of the order of the stocks


def test_zero_and_nan_links_are_not_followed():
    edges = [(0, 1), (1, 0), (0, 2), (2, 0)]
    scores = np.array([[1.0, 1.0, 0.0, 2.0], [np.nan, np.nan, np.nan, np.nan]])
    res = strongest_loops(3, edges, scores, [0])
    assert res.cycles == [(0, 1)] and res.points == 1 and res.cut == 0


def test_the_expansion_budget_stops_a_lattice_of_ties():
    # layers of 4 nodes, every node linked to every node of the next layer, the last layer
    # back to the first node, all scores 1: equal products never prune, so the published
    # search would walk all 4**11 paths; the budget stops it, and it says so
    width, depth = 4, 12
    layers = [[0]] + [[1 + width * i + j for j in range(width)] for i in range(depth)]
    edges = [(a, b) for x, y in itertools.pairwise(layers) for a in x for b in y]
    edges += [(a, 0) for a in layers[-1]]
    res = strongest_loops(1 + width * depth, edges, np.ones((1, len(edges))), [0])
    assert res.cut == 1 and len(res.cycles) > 0


def test_search_points():
    assert np.array_equal(search_points(100, None), np.arange(100))
    pts = search_points(5000, None)
    assert len(pts) == 512 and pts[0] == 0 and pts[-1] == 4999
    assert len(search_points(5000, 1000)) == 8


# -- (a) it finds the loops that matter ---------------------------------------------------------

CASES = {
    "bass (Euler)": (HERE / "data" / "bass.mdl", "euler"),
    "bass (RK45)": (HERE / "data" / "bass.mdl", "RK45"),
    "SIR (Euler)": (SAMPLES / "SIR" / "SIR.mdl", "euler"),
    "teacup": (SAMPLES / "teacup" / "teacup.mdl", "RK45"),
    "oscillator": (SAMPLES / "simple_harmonic_oscillator" / "simple_harmonic_oscillator.mdl",
                   "RK45"),
    "Roessler": (SAMPLES / "Roessler_Chaos" / "roessler_chaos.mdl", "RK45"),
    "smooth_loop": (HERE / "data" / "smooth_loop.mdl", "RK45"),
    "alert_fidelity": ("alert_fidelity", "RK45"),
    "operator_skill": ("operator_skill", "RK45"),
    "sts_core": ("sts_core", "RK45"),
    "sts_core (Euler)": ("sts_core", "euler"),
}


def _without_declarations(src, tmp_path: Path):
    """The model without its ``[[loop]]`` declarations (documented loops are always kept by
    the search, which would hide what the search itself finds)."""
    path = Path(bundled_models()[src]) if isinstance(src, str) else Path(src)
    shutil.copy(path, tmp_path / path.name)
    return sd.load(tmp_path / path.name)


@pytest.mark.parametrize("case", list(CASES))
def test_finds_every_loop_that_matters(case, tmp_path):
    src, method = CASES[case]
    model = _without_declarations(src, tmp_path)
    sim = _euler(model) if method == "euler" else sd.simulate(model, method=method)
    full = loop_dominance(sim, find_loops(sim, method="all", max_loops=100_000))
    assert not full.loops.truncated and full.loops.search == "all"
    found = find_loops(sim, method="strongest")
    assert found.search == "strongest" and not found.truncated
    assert "stopped" not in found.message                  # the expansion budget never binds
    keys = {lp.keys for lp in found}
    every = {lp.keys for lp in full.loops}
    assert keys <= every                                   # only real loops
    peak = np.nanmax(np.abs(full.relative_scores), axis=0)
    matter = [(lp, p) for lp, p in zip(full.loops, peak, strict=True) if p >= THRESHOLD]
    missed = [(lp, p) for lp, p in matter if lp.keys not in keys]
    if not case.startswith("sts_core"):
        assert not missed, [lp.describe() for lp, _ in missed]
        return
    # sts_core: the search misses what the paper says it misses, a "sibling" of a loop it
    # finds, through the same stocks but a parallel path that is always a little weaker
    # (B73 of the exhaustive set: effective automation -> human alert volume -> triage load
    # -> workload pressure, at 97-99% of the product of the path through manual work)
    assert len(missed) <= 1 and len(matter) >= 20
    by_stocks = {}
    for lp, p in zip(full.loops, peak, strict=True):
        if lp.keys in keys:
            by_stocks.setdefault(frozenset(lp.stocks), []).append(p)
    for lp, p in missed:
        assert max(by_stocks.get(frozenset(lp.stocks), [0.0])) >= p, lp.describe()


def test_declared_loops_are_kept_and_named():
    model = sd.load("sts_core")
    sim = sd.simulate(model)
    every = find_loops(sim, method="all")
    found = find_loops(sim, method="strongest")
    named = {lp.id: lp.keys for lp in every if lp.name}
    assert len(named) == 13
    assert {lp.id: lp.keys for lp in found if lp.name} == named
    assert "documented loops it did not find were added" in found.message


# -- (b) many loops: a planted strong loop ------------------------------------------------------

@pytest.fixture(scope="module")
def many():
    model = sd.load(MANY)
    return model, sd.simulate(model)


def test_many_loops_model_is_the_generated_one():
    assert MANY.read_text(encoding="utf-8") == many_loops_mdl()


def test_many_loops_model_has_the_closed_form_number_of_loops(many):
    model, _ = many
    n = 8
    expected = sum(math.comb(n, k) * math.factorial(k - 1) for k in range(2, n + 1))
    assert expected == 16_064
    assert sum(1 for _ in nx.simple_cycles(causal_graph(model).dynamic)) == expected


def test_auto_finds_the_planted_loop_the_shortest_loops_miss(many):
    model, sim = many
    ring = _ring_keys(model)
    # the reference: every loop, enumerated; the planted ring explains over 90% of the run
    full = loop_dominance(sim, find_loops(sim, method="all", max_loops=20_000))
    assert len(full) == 16_064
    share = full.share()
    top = full.loops[share.index[share.argmax()]]
    assert top.keys == ring and share.max() > 0.9
    # the old behaviour: the 1,000 shortest loops, which leave the ring (16 variables) out
    with pytest.warns(LoopWarning, match="1000 shortest"):
        shortest = find_loops(sim, method="all")
    assert len(shortest) == 1000 and max(lp.length for lp in shortest) <= 10
    assert ring not in {lp.keys for lp in shortest}
    # auto: the strongest-path search, with a note saying so
    with pytest.warns(LoopWarning, match="strongest-path search .* found 1 loop that matters"):
        auto = find_loops(sim)
    assert auto.search == "strongest" and not auto.truncated
    assert ring in {lp.keys for lp in auto}
    dom = loop_dominance(sim, auto)
    ring_id = next(lp.id for lp in auto if lp.keys == ring)
    assert dom.share()[ring_id] > 0.9
    assert [p.loops for p in dom.periods] == [(ring_id,)]


def test_loop_dominance_searches_with_its_own_scores(many):
    model, sim = many
    with pytest.warns(LoopWarning, match="strongest-path search"):
        dom = loop_dominance(sim)
    assert dom.loops.search == "strongest" and dom.method == "continuous"
    assert _ring_keys(model) in {lp.keys for lp in dom.loops}
    esim = _euler(model)
    with pytest.warns(LoopWarning, match="strongest-path search"):
        edom = loop_dominance(esim)
    assert edom.method == "discrete" and _ring_keys(model) in {lp.keys for lp in edom.loops}
    # the scores the search computed are the ones loop_dominance reports
    again = loop_dominance(esim, edom.loops)
    assert np.array_equal(again.loop_scores, edom.loop_scores, equal_nan=True)


def test_max_length_bounds_the_search(many):
    _, sim = many
    loops = find_loops(sim, method="strongest", max_length=10)
    assert len(loops) and max(lp.length for lp in loops) <= 10


def test_a_declared_loop_found_by_the_search_is_named(tmp_path):
    shutil.copy(MANY, tmp_path / MANY.name)
    (tmp_path / "many_loops.meta.toml").write_text(
        '[[loop]]\nid = "R1"\nname = "planted ring"\npolarity = "R"\n'
        'variables = ["Stock 1", "Stock 2", "Stock 3", "Stock 4", "Stock 5", "Stock 6", '
        '"Stock 7", "Stock 8"]\n')
    model = sd.load(tmp_path / MANY.name)
    with pytest.warns(LoopWarning) as rec:
        loops = find_loops(model)
    text = " ".join(str(w.message) for w in rec)
    assert "strongest-path search" in text and "documented loop" not in text
    assert loops["planted ring"].keys == _ring_keys(model)
    assert loops["R1"].polarity == "R" and loops["R1"].length == 16


# -- (c) deterministic --------------------------------------------------------------------------

def test_the_loop_set_is_deterministic():
    runs = []
    for _ in range(2):
        model = sd.load(MANY)                      # a fresh model: nothing cached
        loops = find_loops(sd.simulate(model), method="strongest", max_length=12)
        runs.append([(lp.id, lp.keys, lp.polarity, lp.partition) for lp in loops])
    assert runs[0] == runs[1] and len(runs[0]) > 1
    # the union over the stocks does not depend on the order they are searched in
    rng = np.random.default_rng(7)
    n = 12
    edges = [(i, j) for i, j in itertools.permutations(range(n), 2) if rng.random() < 0.4]
    scores = rng.lognormal(0.0, 1.0, size=(5, len(edges)))
    a = strongest_loops(n, edges, scores, list(range(n)))
    b = strongest_loops(n, edges, scores, list(reversed(range(n))))
    assert a.cycles == b.cycles and len(a.cycles) > 10


def test_ensembles_are_searched_run_by_run():
    bass = sd.load(HERE / "data" / "bass.mdl")
    ens = sd.simulate(bass, method="euler", params={"contact rate": [80.0, 100.0, 120.0]})
    dom = loop_dominance(ens, loop_search="strongest")
    assert dom.loops.ids == ("R1", "B1") and dom.loop_scores.shape == (len(ens.t), 2, 3)
    assert "(time, run) points of the ensemble" in dom.loops.message


# -- (d) bad input ------------------------------------------------------------------------------

def test_bad_method():
    bass = sd.load(HERE / "data" / "bass.mdl")
    with pytest.raises(ValueError, match=r"`method` must be one of 'auto', 'all', 'strongest', "
                                         r"got 'bogus'"):
        find_loops(bass, method="bogus")
    with pytest.raises(ValueError, match="`method` must be one of"):
        loop_dominance(sd.simulate(bass), loop_search="bogus")


@pytest.mark.parametrize("path", [
    HERE / "test-models" / "tests" / "builtin_max" / "builtin_max.mdl",          # no stocks
    HERE / "test-models" / "tests" / "smooth_and_stock" / "test_smooth_and_stock.mdl",
])
def test_strongest_without_loops(path):
    model = sd.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoopWarning)
        loops = find_loops(model, method="strongest")
        dom = loop_dominance(sd.simulate(model), loop_search="strongest")
    assert len(loops) == 0 and "has no feedback loops" in loops.message
    assert len(dom) == 0 and "has no feedback loops" in dom.message


def test_strongest_at_equilibrium(tmp_path):
    path = tmp_path / "equilibrium.mdl"
    path.write_text(MANY.read_text(encoding="utf-8").replace("0.5\n", "0\n", 1)
                    .replace("0.0005\n", "0\n", 1))
    model = sd.load(path)                  # every inflow 0: the stocks never change
    loops = find_loops(model, method="strongest")
    assert len(loops) == 0 and "found no feedback loop whose links all change" in loops.message
    assert "method='all'" in loops.message


# -- command line and dashboards ----------------------------------------------------------------

def test_cli_loop_search(capsys):
    assert main(["loops", str(MANY)]) == 0
    cap = capsys.readouterr()
    assert "1 feedback loop found by the strongest-path search" in cap.out
    assert "warning:" in cap.err and "--loop-search all" in cap.err
    assert "Stock 1 -> inflow 2 -> Stock 2" in cap.out
    bass = str(HERE / "data" / "bass.mdl")
    assert main(["loops", bass, "--loop-search", "strongest", "--method", "euler"]) == 0
    cap = capsys.readouterr()
    assert "2 feedback loops found by the strongest-path search" in cap.out and cap.err == ""
    assert main(["loops", bass, "--loop-search", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --loop-search must be one of auto, all, strongest, got 'bogus'."


def test_dashboards_take_a_strongest_path_analysis(many):
    _, sim = many
    dom = loop_dominance(sim, find_loops(sim, method="strongest"))
    fig = sd.dashboard.loop_dominance(dom)
    assert len(fig.data) >= 1
    cld = sd.dashboard.loop_diagram(dom)
    assert len(cld.data) >= 1
