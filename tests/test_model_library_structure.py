"""Structure of the model library in models/: metadata, declared loops, layers, presets.

Uses only PySD (its Vensim translator and runtime) and networkx, not our engine, so it
checks the model files themselves.  Each declared loop must be a cycle of the dependency
graph (an edge x -> z when z's equation uses x, and flow -> stock for the stock's net flow),
and the product of its link signs must give the declared polarity.  A link's sign is the
sign of dz/dx, found by central differences of z's equation at every saved time of PySD
runs of the model (the default run and one run per declared variance); a link whose sign
changes, or is zero everywhere, fails the test.  For SMOOTH and DELAY outputs the link from
the input is positive and the link from the delay time is the opposite of the input's trend.
"""

from __future__ import annotations

import math
import re
import shutil
import tomllib
import warnings
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

pysd = pytest.importorskip("pysd")
from pysd.translators.structures import abstract_expressions as ae  # noqa: E402
from pysd.translators.vensim.vensim_file import VensimFile  # noqa: E402

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
MODELS = ["operator_skill", "situational_awareness", "alert_fidelity", "governance_lag",
          "sts_core"]
CONTROL = {"FINAL TIME", "INITIAL TIME", "SAVEPER", "TIME STEP"}
LAYERS = {"technical", "social", "work system", "environment"}
LAYER_RE = re.compile(r"\[layer: ([a-z ]+)\]")
REQUIRED_CORE_LOOPS = {
    "alert-fidelity trap": "R", "suppression spiral": "R", "automation complacency": "R",
    "skill atrophy under automation": "R", "capability trap": "R", "incident learning": "B",
    "practice from incidents": "B", "triage capacity": "B", "governance catch-up": "B",
}
# a constant's documentation names its source (a year, domain.md, the shared data), or says
# "assumption; calibrate", or marks it as a scenario setting or a sub-model's exogenous input
SOURCE_RE = re.compile(r"assumption|calibrate|\b(19|20)\d\d\b|domain\.md|scenario setting"
                       r"|normalisation|standard|calendar|shared data|run of sts_core", re.I)
STATEFUL = (ae.DelayStructure, ae.DelayNStructure, ae.SmoothStructure, ae.SmoothNStructure)


def key(name: str) -> str:
    """PySD's reference name: lower case, spaces as underscores."""
    return name.strip().lower().replace(" ", "_")


# ---------------------------------------------------------------------------------- parsing
@cache
def abstract_elements(model: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vf = VensimFile(MODELS_DIR / f"{model}.mdl")
        vf.parse()
        am = vf.get_abstract_model()
    assert len(am.sections) == 1, "no macros: one section only"
    return {e.name: e for e in am.sections[0].elements}


@cache
def meta(model: str) -> dict:
    return tomllib.loads((MODELS_DIR / f"{model}.meta.toml").read_text(encoding="utf-8"))


def ast_of(element):
    assert len(element.components) == 1, f"{element.name}: subscripts are not allowed"
    return element.components[0].ast


def references(node) -> set[str]:
    out: set[str] = set()

    def walk(n):
        if isinstance(n, ae.ReferenceStructure):
            out.add(n.reference)
        elif isinstance(n, ae.CallStructure):
            for a in n.arguments:
                walk(a)
        elif isinstance(n, (list, tuple)):
            for a in n:
                walk(a)
        elif hasattr(n, "__dataclass_fields__"):
            for f in n.__dataclass_fields__:
                walk(getattr(n, f))

    walk(node)
    return out


def is_constant(element) -> bool:
    return isinstance(ast_of(element), (int, float))


# ------------------------------------------------------------------- a small AST evaluator
def _pulse(t, start, width):
    return float(start <= t < start + max(width, 0.0)) if width > 0 else float(t == start)


FUNCS = {
    "min": lambda a, b: min(a, b), "max": lambda a, b: max(a, b), "abs": abs,
    "exp": math.exp, "ln": math.log, "sqrt": math.sqrt, "power": lambda a, b: a ** b,
    "log": lambda x, base: math.log(x) / math.log(base), "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "integer": lambda x: float(int(x)), "modulo": lambda a, b: a % b,
    "xidz": lambda a, b, x: x if b == 0 else a / b,
    "zidz": lambda a, b: 0.0 if b == 0 else a / b,
}

ARITHMETIC = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "^": lambda a, b: a ** b,
}
LOGIC = {
    ":AND:": lambda a, b: bool(a) and bool(b), ":OR:": lambda a, b: bool(a) or bool(b),
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b, "=": lambda a, b: a == b, "<>": lambda a, b: a != b,
}


def evaluate(node, env: dict) -> float:
    if isinstance(node, (int, float)):
        return float(node)
    if isinstance(node, ae.ReferenceStructure):
        return env[node.reference]
    if isinstance(node, ae.ArithmeticStructure):
        ops, args = node.operators, node.arguments
        if ops == ["negative"]:
            return -evaluate(args[0], env)
        if ops == ["positive"]:
            return evaluate(args[0], env)
        acc = evaluate(args[0], env)
        for op, arg in zip(ops, args[1:], strict=True):
            acc = ARITHMETIC[op](acc, evaluate(arg, env))
        return acc
    if isinstance(node, ae.LogicStructure):
        ops, args = node.operators, node.arguments
        if ops == [":NOT:"]:
            return float(not evaluate(args[0], env))
        acc = evaluate(args[0], env)
        for op, arg in zip(ops, args[1:], strict=True):
            acc = float(LOGIC[op](acc, evaluate(arg, env)))
        return acc
    if isinstance(node, ae.CallStructure):
        name = node.function.reference
        t = env["time"]
        if name == "if_then_else":
            c = evaluate(node.arguments[0], env)
            return evaluate(node.arguments[1] if c else node.arguments[2], env)
        args = [evaluate(a, env) for a in node.arguments]
        if name == "step":
            return args[0] if t >= args[1] else 0.0
        if name == "pulse":
            return _pulse(t, *args)
        if name == "ramp":
            slope, start = args[0], args[1]
            end = args[2] if len(args) > 2 else math.inf
            return slope * (min(t, end) - start) if t > start else 0.0
        return float(FUNCS[name](*args))
    raise NotImplementedError(f"cannot evaluate {type(node).__name__} inside an expression")


# ----------------------------------------------------------------------- signed dependency graph
def runs(model: str) -> list:
    """PySD runs: the default and one per declared variance (its inject at its magnitude)."""
    return _runs(model)


@cache
def _runs(model: str) -> tuple:
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"stslib_{model}_"))
    path = shutil.copy(MODELS_DIR / f"{model}.mdl", tmp)  # PySD writes a .py beside the file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pysd.read_vensim(str(path))
        variances = meta(model).get("variance", [])
        off = {v["inject"]: 0.0 for v in variances}  # PySD keeps params between runs: reset
        scenarios = [{}] + [{v["inject"]: v["magnitude"]} for v in variances]
        out = []
        for params in scenarios:
            df = m.run(params={**off, **params})
            out.append((params, df))
    return tuple(out)


def environments(model: str) -> list[list[dict]]:
    """Per run, one {reference: value} dict per saved time."""
    els = abstract_elements(model)
    out = []
    for _, df in runs(model):
        cols = {key(n): n for n in els if n in df.columns}
        values = {k: df[n].to_numpy(float).tolist() for k, n in cols.items()}
        run = []
        for i, t in enumerate(df.index.to_numpy(float).tolist()):
            env = {k: v[i] for k, v in values.items()}
            env["time"] = t
            run.append(env)
        out.append(run)
    return out


def link_sign(samples) -> int | None:
    """+1 / -1 when every nonzero sample has that sign; 0 when all are zero; None if mixed."""
    s = {int(np.sign(x)) for x in samples if x != 0}
    if not s:
        return 0
    return s.pop() if len(s) == 1 else None


def derivative_samples(expr, ref: str, envs: list) -> list[float]:
    out = []
    for env in envs:
        x = env[ref]
        h = 1e-5 * max(abs(x), 1e-4)
        lo, hi = dict(env), dict(env)
        lo[ref], hi[ref] = x - h, x + h
        try:
            f_hi, f_lo = evaluate(expr, hi), evaluate(expr, lo)
        except (ValueError, ZeroDivisionError, OverflowError):  # outside the domain
            continue
        d = f_hi - f_lo
        scale = 1e-11 * max(1.0, abs(f_hi), abs(f_lo))
        out.append(0.0 if abs(d) <= scale else d)
    return out


@cache
def signed_graph(model: str) -> nx.DiGraph:
    els = abstract_elements(model)
    names = {key(n): n for n in els if n not in CONTROL}
    per_run = environments(model)
    envs = [e for run in per_run for e in run]
    g = nx.DiGraph()
    g.add_nodes_from(names.values())
    for zname in names.values():
        tree = ast_of(els[zname])
        if isinstance(tree, ae.IntegStructure):
            expr, extra = tree.flow, {}
        elif isinstance(tree, STATEFUL):
            # output follows its input (+); a longer delay lowers the output of a rising input
            expr, extra = tree.input, {}
            delay = getattr(tree, "delay_time", None)
            if delay is None:
                delay = tree.smooth_time
            trend = link_sign(np.concatenate(
                [np.diff([evaluate(tree.input, e) for e in run]) for run in per_run]))
            for r in references(delay):
                extra[r] = -trend if trend else None
        elif isinstance(tree, ae.InitialStructure):
            continue
        else:
            expr, extra = tree, {}
        for r in references(expr):
            if r not in names:
                continue
            sign = link_sign(derivative_samples(expr, r, envs))
            g.add_edge(names[r], zname, sign=sign)
        for r, sign in extra.items():
            if r in names:
                g.add_edge(names[r], zname, sign=sign)
    return g


# ------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("model", MODELS)
def test_files_exist_and_parse(model):
    els = abstract_elements(model)
    assert CONTROL <= set(els)
    assert float(ast_of(els["FINAL TIME"])) == 156
    assert float(ast_of(els["TIME STEP"])) in (0.0625, 0.125)
    assert float(ast_of(els["SAVEPER"])) == 1
    assert els["FINAL TIME"].units.lower() == "week"


@pytest.mark.parametrize("model", MODELS)
def test_every_variable_has_layer_units_and_documentation(model):
    for name, e in abstract_elements(model).items():
        if name in CONTROL:
            continue
        tags = LAYER_RE.findall(e.documentation)
        assert len(tags) == 1 and tags[0] in LAYERS, f"{model}: {name!r} layer tag {tags}"
        assert e.units, f"{model}: {name!r} has no units"
        text = LAYER_RE.sub("", e.documentation).strip()
        assert len(text) > 10, f"{model}: {name!r} has no documentation"
        if is_constant(e):
            assert SOURCE_RE.search(text), \
                f"{model}: constant {name!r} states no source nor 'assumption; calibrate'"


@pytest.mark.parametrize("model", MODELS)
def test_only_supported_functions(model):
    allowed = set(FUNCS) | {"if_then_else", "step", "pulse", "ramp", "pulse_train"}
    allowed_nodes = (ae.ArithmeticStructure, ae.LogicStructure, ae.ReferenceStructure,
                     ae.CallStructure, ae.IntegStructure, ae.InitialStructure) + STATEFUL

    def walk(n, top):
        if isinstance(n, (int, float)):
            return
        assert isinstance(n, allowed_nodes), f"{model}: {type(n).__name__} is not supported"
        if isinstance(n, STATEFUL + (ae.IntegStructure,)):
            assert top, f"{model}: keep {type(n).__name__} as a whole equation"
        if isinstance(n, ae.CallStructure):
            assert n.function.reference in allowed, f"{model}: {n.function.reference}"
            for a in n.arguments:
                walk(a, False)
        elif isinstance(n, ae.ReferenceStructure):
            assert n.subscripts is None, f"{model}: subscripts are not allowed"
        elif isinstance(n, (ae.ArithmeticStructure, ae.LogicStructure)):
            for a in n.arguments:
                walk(a, False)
        else:
            for f in n.__dataclass_fields__:
                if f not in ("order", "non_negative"):
                    walk(getattr(n, f), False)

    for e in abstract_elements(model).values():
        walk(ast_of(e), True)


@pytest.mark.parametrize("model", MODELS)
def test_metadata_schema(model):
    md = meta(model)
    els = abstract_elements(model)
    assert isinstance(md["description"], str) and "\n" not in md["description"]
    assert md["time_unit"] == "Week"
    ids = [lp["id"] for lp in md.get("loop", [])]
    assert len(ids) == len(set(ids))
    for lp in md.get("loop", []):
        assert lp["polarity"] in ("R", "B") and lp["id"][0] == lp["polarity"]
        assert lp["name"] and lp["description"]
        for v in lp["variables"]:
            assert v in els, f"{model}: loop {lp['id']} names unknown variable {v!r}"
    for lv in md.get("lever", []):
        c = lv["constant"]
        assert c in els and is_constant(els[c]), f"{model}: lever constant {c!r}"
        assert lv["subsystem"] in ("technical", "social")
        lo, hi = lv["range"]
        assert lo <= float(ast_of(els[c])) <= hi, f"{model}: default of {c!r} outside range"
        assert lv.get("unit") and ("cost_per_unit" in lv or "note" in lv)
    for var in md.get("variance", []):
        assert var["inject"] in els and is_constant(els[var["inject"]])
        assert float(ast_of(els[var["inject"]])) == 0, "variances are off by default"
        assert var["layer"] in LAYERS
        assert var["magnitude"] > 0
        for d in var["detection"]:
            assert d in els, f"{model}: variance {var['name']!r} detection {d!r}"
        for k in ("start", "duration"):
            if k in var:
                assert var[k] in els and is_constant(els[var[k]])
    for kpi, v in md.get("kpis", {}).items():
        assert v in els, f"{model}: KPI {kpi!r} -> unknown variable {v!r}"


def test_core_declares_required_loops_and_levers():
    md = meta("sts_core")
    loops = {lp["name"]: lp["polarity"] for lp in md["loop"]}
    for name, pol in REQUIRED_CORE_LOOPS.items():
        assert loops.get(name) == pol, name
    levers = {lv["constant"] for lv in md["lever"]}
    assert {"automation level", "training hours", "alert tuning effort", "rule review interval",
            "governance review delay", "staffing"} <= levers
    els = abstract_elements("sts_core")
    for c in ("skill decay rate", "base fault rate"):
        assert is_constant(els[c])
    assert isinstance(ast_of(els["Cumulative Incidents"]), ae.IntegStructure)
    assert set(md["kpis"]) >= {"incidents per year", "time to resolve", "detection delay",
                                "skill", "awareness", "alert precision", "governance coverage"}


def test_submodel_loops_match_core():
    core = {lp["id"]: lp for lp in meta("sts_core")["loop"]}
    for model in MODELS[:-1]:
        for lp in meta(model).get("loop", []):
            assert lp["id"] in core, f"{model}: loop {lp['id']} is not in sts_core"
            assert lp["name"] == core[lp["id"]]["name"]
            assert lp["variables"] == core[lp["id"]]["variables"]
            assert lp["polarity"] == core[lp["id"]]["polarity"]


@pytest.mark.parametrize("model", MODELS[:-1])
def test_submodel_is_a_restriction_of_core(model):
    """A sub-model's equations are sts_core's; its other inputs are constants there."""
    core = abstract_elements("sts_core")
    for name, e in abstract_elements(model).items():
        if name in CONTROL:
            continue
        assert name in core, f"{model}: {name!r} is not in sts_core"
        if is_constant(e) and not is_constant(core[name]):
            assert "Exogenous" in e.documentation, f"{model}: {name!r} exogenous input"
            continue
        assert repr(ast_of(e)) == repr(ast_of(core[name])), f"{model}: {name!r} differs"


@pytest.mark.parametrize("model", MODELS)
def test_declared_loops_are_cycles_with_declared_polarity(model):
    g = signed_graph(model)
    for lp in meta(model).get("loop", []):
        vs = lp["variables"]
        assert len(vs) == len(set(vs)), f"{lp['id']}: a loop visits each variable once"
        assert nx.is_simple_path(g, vs) or len(vs) == 1, f"{model} {lp['id']}: not a path"
        assert g.has_edge(vs[-1], vs[0]), f"{model} {lp['id']}: {vs[-1]} -/-> {vs[0]}"
        signs = []
        for a, b in zip(vs, vs[1:] + vs[:1], strict=True):
            s = g.edges[a, b]["sign"]
            assert s in (1, -1), f"{model} {lp['id']}: sign of {a} -> {b} is {s}"
            signs.append(s)
        polarity = "R" if math.prod(signs) > 0 else "B"
        assert polarity == lp["polarity"], f"{model} {lp['id']} ({lp['name']}) is {polarity}"


@pytest.mark.parametrize("model", MODELS)
def test_runs_without_nan_and_stocks_in_range(model):
    els = abstract_elements(model)
    stocks = {n: e for n, e in els.items() if isinstance(ast_of(e), ae.IntegStructure)}
    for params, df in runs(model):
        assert not df.isna().any().any(), f"{model} {params}: NaN"
        for n, e in stocks.items():
            lo, hi = e.limits
            x = df[n].to_numpy(float)
            assert lo is None or x.min() >= lo - 1e-9, f"{model} {params}: {n} below {lo}"
            assert hi is None or x.max() <= hi + 1e-9, f"{model} {params}: {n} above {hi}"


def test_contexts_override_existing_constants():
    data = tomllib.loads((MODELS_DIR / "contexts.toml").read_text(encoding="utf-8"))
    els = abstract_elements("sts_core")
    mapping = data["mapping"]
    expected = {"cloud_infrastructure", "it_service_desk", "soc", "erp_implementation",
                "trading_platform", "fedramp_managed_cloud", "ot_it_convergence"}
    assert set(data["contexts"]) == expected
    for cid, ctx in data["contexts"].items():
        assert ctx["label"] and ctx["description"]
        assert ctx["coupling"] in mapping["coupling"]
        assert ctx["complexity"] in mapping["complexity"]
        over = ctx["overrides"]
        for name, value in over.items():
            assert name in els and is_constant(els[name]), f"{cid}: {name!r}"
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
        # the preset applies the documented mapping of its coupling and complexity
        for dim in ("coupling", "complexity"):
            for name, value in mapping[dim][ctx[dim]].items():
                assert name in els and is_constant(els[name]), f"mapping {dim}: {name!r}"
                assert over.get(name) == value, f"{cid}: {name!r} should follow its {dim}"
