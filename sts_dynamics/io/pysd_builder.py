"""Build a :class:`~sts_dynamics.model.Model` from PySD's abstract model.

This is the only module that knows PySD's abstract syntax.  It translates each equation
into :mod:`sts_dynamics.expr` nodes, identifies each stock's inflows and outflows from its
INTEG expression, and rewrites stateful functions (SMOOTH, DELAY, TREND, INITIAL) into
explicit extra stocks and flows so that every solver integrates them and the loop analysis
sees them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from ..errors import ModelSyntaxError, UndefinedReferenceError, UnsupportedFeatureError
from ..expr import BUILTINS, Call, Expr, Lookup, Num, Op, Ref, references
from ..model import CONTROL_KEYS, Control, Model, Variable, identifier_of, key_of

__all__ = ["build_model", "SUPPORTED_FUNCTIONS"]

#: Vensim/XMILE functions the engine supports (documented in docs/functions.md).
SUPPORTED_FUNCTIONS = (
    "ABS EXP LN LOG SQRT POWER SIN COS TAN ARCSIN ARCCOS ARCTAN SINH COSH TANH MIN MAX INTEGER "
    "MODULO QUANTUM XIDZ ZIDZ IF_THEN_ELSE STEP RAMP PULSE PULSE_TRAIN INTEG SMOOTH SMOOTHI "
    "SMOOTH3 SMOOTH3I SMOOTH_N DELAY1 DELAY1I DELAY3 DELAY3I DELAY_N TREND INITIAL "
    "ACTIVE_INITIAL WITH_LOOKUP LOOKUP_EXTRAPOLATE LOOKUP_FORWARD LOOKUP_BACKWARD PI"
).split()

_ARITH = {"+": "+", "-": "-", "*": "*", "/": "/", "^": "^"}
_LOGIC = {":and:": "and", ":or:": "or", ":not:": "not", "=": "=", "<>": "<>", "<": "<",
          "<=": "<=", ">": ">", ">=": ">="}
_LOOKUP_CALLS = {"lookup_extrapolate": "extrapolate", "lookup_forward": "forward",
                 "lookup_backward": "backward", "lookup_invert": None}
_LOOKUP_TYPES = {"interpolate": "hold", "extrapolate": "extrapolate",
                 "hold_backward": "backward", "look_forward": "forward", "fixed": "hold"}
_RENAMED = {"xpulse": "xpulse", "xpulse_train": "xpulse_train", "xramp": "ramp"}
_UNSUPPORTED_STRUCTURES = {
    ae.DelayFixedStructure: "DELAY FIXED", ae.SampleIfTrueStructure: "SAMPLE IF TRUE",
    ae.ForecastStructure: "FORECAST", ae.DataStructure: "data variables (GET DATA)",
    ae.GetLookupsStructure: "GET LOOKUPS", ae.GetDataStructure: "GET DATA",
    ae.GetConstantsStructure: "GET CONSTANTS", ae.AllocateAvailableStructure: "ALLOCATE AVAILABLE",
    ae.AllocateByPriorityStructure: "ALLOCATE BY PRIORITY", ae.GameStructure: "GAME",
}
NA = -(2.0 ** 109)  # Vensim's :NA:


@dataclass
class _Element:
    name: str
    key: str
    kind: str  # "aux", "lookup"
    ast: Any
    units: str
    limits: tuple
    documentation: str


@dataclass
class _Builder:
    path: Path
    elements: dict[str, _Element]
    out: dict[str, Variable] = field(default_factory=dict)
    idents: set[str] = field(default_factory=set)
    lookup_like: set[str] = field(default_factory=set)
    owner: _Element | None = None
    counter: int = 0

    # -- helpers --------------------------------------------------------------------------
    def where(self) -> str:
        who = f"variable {self.owner.name!r}" if self.owner else "the model"
        return f"{who} in {self.path.name}"

    def unsupported(self, what: str) -> UnsupportedFeatureError:
        return UnsupportedFeatureError(
            f"{what} is not supported ({self.where()}). Supported functions: "
            "see docs/functions.md; rewrite the equation with those, or open an issue."
        )

    def ident(self, name: str) -> str:
        base = identifier_of(name)
        ident, n = base, 1
        while ident in self.idents:
            n += 1
            ident = f"{base}_{n}"
        self.idents.add(ident)
        return ident

    def add(self, var: Variable) -> None:
        self.out[var.key] = var

    def internal(self, label: str) -> tuple[str, str]:
        """Name and key of a new internal variable owned by the current element."""
        assert self.owner is not None
        self.counter += 1
        name = f"{self.owner.name} {label}"
        key = key_of(name)
        while key in self.out or key in self.elements:
            self.counter += 1
            name = f"{self.owner.name} {label} {self.counter}"
            key = key_of(name)
        return name, key

    # -- static evaluation (control values, delay orders) ----------------------------------
    def static_value(self, expr: Expr, seen: frozenset = frozenset()) -> float:
        if isinstance(expr, Num):
            return expr.value
        if isinstance(expr, Ref):
            if expr.name in seen or expr.name not in self.elements:
                raise ValueError(expr.name)
            el = self.elements[expr.name]
            saved, self.owner = self.owner, el
            try:
                sub = self.translate(el.ast, allow_state=False)
            finally:
                self.owner = saved
            return self.static_value(sub, seen | {expr.name})
        if isinstance(expr, Op):
            vals = [self.static_value(a, seen) for a in expr.args]
            if expr.op == "neg":
                return -vals[0]
            ops = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__,
                   "/": float.__truediv__, "^": float.__pow__}
            if expr.op in ops:
                return ops[expr.op](float(vals[0]), float(vals[1]))
        if isinstance(expr, Call) and expr.func == "step":
            return 0.0  # evaluated before the step (initialization)
        raise ValueError(type(expr).__name__)

    # -- translation ----------------------------------------------------------------------
    def translate(self, node: Any, *, allow_state: bool = True) -> Expr:  # noqa: C901
        if isinstance(node, bool):
            return Num(float(node))
        if isinstance(node, int | float | np.integer | np.floating):
            return Num(float(node))
        if isinstance(node, str):
            if node.strip().lower() in (":na:", "na"):
                return Num(NA)
            raise self.unsupported(f"the text value {node!r}")
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None:
                raise self.unsupported("subscripted references (arrays)")
            ref = key_of(node.reference)
            if ref == "time":
                return Ref("time")
            if ref not in self.elements:
                raise UndefinedReferenceError(
                    f"{self.where()} refers to {node.reference!r}, which the model does not "
                    "define. Define it, or correct the spelling."
                )
            return Ref(ref)
        if isinstance(node, ae.ArithmeticStructure):
            args = [self.translate(a, allow_state=allow_state) for a in node.arguments]
            ops = list(node.operators)
            if ops in (["negative"], ["-"]) and len(args) == 1:
                return Op("neg", (args[0],))
            if ops in (["positive"], ["+"]) and len(args) == 1:
                return args[0]
            expr = args[0]
            for op, arg in zip(ops, args[1:], strict=True):
                if op not in _ARITH:
                    raise self.unsupported(f"the operator {op!r}")
                if op == "^" and isinstance(expr, Num) and expr.value < 0:
                    # PySD folds the sign into the literal; Vensim reads -2^2 as -(2^2)
                    expr = Op("neg", (Op("^", (Num(-expr.value), arg)),))
                else:
                    expr = Op(_ARITH[op], (expr, arg))
            return expr
        if isinstance(node, ae.LogicStructure):
            args = [self.translate(a, allow_state=allow_state) for a in node.arguments]
            ops = [o.lower() for o in node.operators]
            if ops == [":not:"]:
                return Op("not", (args[0],))
            expr = args[0]
            for op, arg in zip(ops, args[1:], strict=True):
                if op not in _LOGIC:
                    raise self.unsupported(f"the operator {op!r}")
                expr = Op(_LOGIC[op], (expr, arg))
            return expr
        if isinstance(node, ae.CallStructure):
            return self.call(node, allow_state)
        if isinstance(node, ae.InlineLookupsStructure):
            xs, ys, mode = self.table(node.lookups)
            return Lookup(None, self.translate(node.argument, allow_state=allow_state), mode,
                          xs, ys)
        if isinstance(node, ae.LookupsStructure):
            raise self.unsupported("a lookup table used as a value")
        stateful = (ae.SmoothStructure, ae.SmoothNStructure, ae.DelayStructure,
                    ae.DelayNStructure, ae.TrendStructure, ae.InitialStructure)
        if isinstance(node, stateful):
            if not allow_state:
                raise ValueError("stateful")
            return self.stateful(node)
        if isinstance(node, ae.IntegStructure):
            raise self.unsupported("INTEG inside an expression (INTEG must be the whole equation)")
        for cls, label in _UNSUPPORTED_STRUCTURES.items():
            if isinstance(node, cls):
                raise self.unsupported(label)
        raise self.unsupported(f"the construct {type(node).__name__}")

    def table(self, lk: ae.LookupsStructure) -> tuple[tuple[float, ...], tuple[float, ...], str]:
        xs = tuple(float(x) for x in lk.x)
        ys = tuple(float(y) for y in lk.y)
        if len(xs) != len(ys) or not xs:
            raise ModelSyntaxError(f"the lookup table of {self.where()} has mismatched points")
        if any(b < a for a, b in zip(xs, xs[1:], strict=False)):
            raise ModelSyntaxError(
                f"the lookup table of {self.where()} has x values that are not increasing: {xs}"
            )
        return xs, ys, _LOOKUP_TYPES.get(getattr(lk, "type", "interpolate"), "hold")

    def call(self, node: ae.CallStructure, allow_state: bool) -> Expr:
        fname = node.function.reference if isinstance(node.function, ae.ReferenceStructure) \
            else str(node.function)
        low = key_of(fname)
        args = node.arguments
        if low in _LOOKUP_CALLS:
            mode = _LOOKUP_CALLS[low]
            if mode is None:
                raise self.unsupported("LOOKUP INVERT")
            table = args[0]
            if not isinstance(table, ae.ReferenceStructure) or key_of(table.reference) \
                    not in self.lookup_like:
                raise self.unsupported(f"{fname.upper()} with a first argument that is not a "
                                       "lookup table")
            return Lookup(key_of(table.reference),
                          self.translate(args[1], allow_state=allow_state), mode)
        if low in self.lookup_like:
            if len(args) != 1:
                raise ModelSyntaxError(f"lookup {fname!r} takes one argument ({self.where()})")
            return Lookup(low, self.translate(args[0], allow_state=allow_state), "hold")
        if low == "active_initial":
            raise ValueError("active_initial")  # handled at element level
        low = _RENAMED.get(low, low)
        if low not in BUILTINS:
            if low in self.elements:
                raise ModelSyntaxError(f"{self.where()} calls {fname!r}, which is not a lookup")
            raise self.unsupported(f"the function {fname.upper()}")
        if len(args) not in BUILTINS[low]:
            raise ModelSyntaxError(
                f"{fname.upper()} takes {' or '.join(map(str, BUILTINS[low]))} arguments, got "
                f"{len(args)} ({self.where()})"
            )
        return Call(low, tuple(self.translate(a, allow_state=allow_state) for a in args))

    def stateful(self, node: Any) -> Expr:
        if isinstance(node, ae.InitialStructure):
            name, key = self.internal("initial value")
            self.add(Variable(name, key, self.ident(name), "initial",
                              equation=self.translate(node.initial), owner=self.owner.key,
                              function="initial"))
            return Ref(key)
        if isinstance(node, ae.TrendStructure):
            inp = self.translate(node.input)
            avg = self.translate(node.average_time)
            init_trend = self.translate(node.initial_trend)
            sname, skey = self.internal("trend average")
            init = Op("/", (inp, Op("+", (Num(1.0), Op("*", (init_trend, avg))))))
            fname, fkey = self.internal("trend average change")
            self.add(Variable(fname, fkey, self.ident(fname), "flow",
                              equation=Op("/", (Op("-", (inp, Ref(skey))), avg)),
                              owner=self.owner.key, function="trend"))
            self.add(Variable(sname, skey, self.ident(sname), "stock", equation=Ref(fkey),
                              initial=init, inflows=(fkey,), owner=self.owner.key,
                              function="trend"))
            return Call("zidz", (Op("-", (inp, Ref(skey))),
                                 Op("*", (avg, Call("abs", (Ref(skey),))))))
        is_delay = isinstance(node, ae.DelayStructure | ae.DelayNStructure)
        inp = self.translate(node.input)
        tau = self.translate(node.delay_time if is_delay else node.smooth_time)
        init = self.translate(node.initial)
        order_expr = self.translate(node.order, allow_state=False) if not isinstance(
            node.order, int | float) else Num(float(node.order))
        try:
            order_f = self.static_value(order_expr)
        except (ValueError, ZeroDivisionError):
            raise self.unsupported("a DELAY N / SMOOTH N order that is not a constant") from None
        order = int(order_f)
        if order < 1 or not math.isfinite(order_f):
            raise ModelSyntaxError(f"the order of a delay or smooth must be >= 1, got {order_f} "
                                   f"({self.where()})")
        fn = ("delay" if is_delay else "smooth") + (
            "_n" if isinstance(node, ae.DelayNStructure | ae.SmoothNStructure) else str(order))
        stage_tau = Op("/", (tau, Num(float(order)))) if order > 1 else tau
        upstream: Expr = inp
        stage_key = ""
        for k in range(1, order + 1):
            label = "delay stage" if is_delay else "smooth stage"
            sname, stage_key = self.internal(f"{label} {k}" if order > 1 else label)
            fname, fkey = self.internal(f"{label} {k} rate" if order > 1 else f"{label} rate")
            if is_delay:
                # stage k holds material; its outflow is level / (tau / order)
                out_name, out_key = self.internal(f"{label} {k} outflow" if order > 1
                                                  else f"{label} outflow")
                self.add(Variable(fname, fkey, self.ident(fname), "flow", equation=upstream,
                                  owner=self.owner.key, function=fn))
                self.add(Variable(out_name, out_key, self.ident(out_name), "flow",
                                  equation=Op("/", (Ref(stage_key), stage_tau)),
                                  owner=self.owner.key, function=fn))
                self.add(Variable(sname, stage_key, self.ident(sname), "stock",
                                  equation=Op("-", (Ref(fkey), Ref(out_key))),
                                  initial=Op("*", (init, stage_tau)), inflows=(fkey,),
                                  outflows=(out_key,), owner=self.owner.key, function=fn))
                upstream = Ref(out_key)
            else:
                self.add(Variable(fname, fkey, self.ident(fname), "flow",
                                  equation=Op("/", (Op("-", (upstream, Ref(stage_key))),
                                                    stage_tau)),
                                  owner=self.owner.key, function=fn))
                self.add(Variable(sname, stage_key, self.ident(sname), "stock",
                                  equation=Ref(fkey), initial=init, inflows=(fkey,),
                                  owner=self.owner.key, function=fn))
                upstream = Ref(stage_key)
        return upstream

    # -- elements -------------------------------------------------------------------------
    def element(self, el: _Element) -> None:
        self.owner = el
        meta = dict(units=el.units, limits=el.limits, documentation=el.documentation)
        ident = self.ident(el.name)
        ast = el.ast
        if el.kind == "lookup":
            xs, ys, _mode = self.table(ast)
            self.add(Variable(el.name, el.key, ident, "lookup", lookup=(xs, ys), **meta))
            return
        if isinstance(ast, ae.InlineLookupsStructure) and el.key in self.lookup_like:
            xs, ys, _mode = self.table(ast.lookups)
            # an XMILE graphical function: callable as a lookup, and a value of its input
            self.add(Variable(el.name, el.key, ident, "auxiliary",
                              equation=Lookup(None, self.translate(ast.argument), _mode, xs, ys),
                              lookup=(xs, ys), **meta))
            return
        if isinstance(ast, ae.IntegStructure):
            initial = self.translate(ast.initial)
            flows_in, flows_out = [], []
            for sign, term in _split_terms(ast.flow):
                expr = self.translate(term)
                if isinstance(expr, Ref) and expr.name in self.elements:
                    (flows_in if sign > 0 else flows_out).append(expr.name)
                    continue
                fname, fkey = self.internal("inflow" if sign > 0 else "outflow")
                self.add(Variable(fname, fkey, self.ident(fname), "flow", equation=expr,
                                  owner=el.key, function="flow"))
                (flows_in if sign > 0 else flows_out).append(fkey)
            self.add(Variable(el.name, el.key, ident, "stock",
                              equation=_net(flows_in, flows_out), initial=initial,
                              inflows=tuple(flows_in), outflows=tuple(flows_out),
                              non_negative=bool(ast.non_negative), **meta))
            return
        if isinstance(ast, ae.CallStructure) and isinstance(ast.function, ae.ReferenceStructure) \
                and key_of(ast.function.reference) == "active_initial":
            if len(ast.arguments) != 2:
                raise ModelSyntaxError(f"ACTIVE INITIAL takes 2 arguments ({self.where()})")
            active = self.translate(ast.arguments[0])
            init = self.translate(ast.arguments[1])
            self.add(Variable(el.name, el.key, ident, "auxiliary", equation=active,
                              initial=init, **meta))
            return
        expr = self.translate(ast)
        folded = _fold(expr)
        kind = "auxiliary"
        if el.key in CONTROL_KEYS:
            kind = "control"
        elif isinstance(folded, Num):
            kind, expr = "constant", folded
        self.add(Variable(el.name, el.key, ident, kind, equation=expr, **meta))


def _split_terms(node: Any, sign: int = 1):
    """Split an INTEG rate into signed additive terms."""
    if isinstance(node, ae.ArithmeticStructure):
        ops = list(node.operators)
        if ops in (["negative"], ["-"]) and len(node.arguments) == 1:
            yield from _split_terms(node.arguments[0], -sign)
            return
        if ops and all(o in ("+", "-") for o in ops):
            yield from _split_terms(node.arguments[0], sign)
            for op, arg in zip(ops, node.arguments[1:], strict=True):
                yield from _split_terms(arg, sign if op == "+" else -sign)
            return
    if isinstance(node, int | float | np.integer | np.floating) and float(node) == 0.0:
        return
    yield sign, node


def _net(flows_in: list[str], flows_out: list[str]) -> Expr:
    expr: Expr | None = None
    for f in flows_in:
        expr = Ref(f) if expr is None else Op("+", (expr, Ref(f)))
    for f in flows_out:
        expr = Op("neg", (Ref(f),)) if expr is None else Op("-", (expr, Ref(f)))
    return expr if expr is not None else Num(0.0)


def _fold(expr: Expr) -> Expr:
    """Fold an expression made only of numbers and arithmetic into a number."""
    if isinstance(expr, Num):
        return expr
    if isinstance(expr, Op) and expr.op in ("+", "-", "*", "/", "^", "neg"):
        args = [_fold(a) for a in expr.args]
        if all(isinstance(a, Num) for a in args):
            v = [a.value for a in args]
            try:
                res = {"+": lambda: v[0] + v[1], "-": lambda: v[0] - v[1],
                       "*": lambda: v[0] * v[1], "/": lambda: v[0] / v[1],
                       "^": lambda: v[0] ** v[1], "neg": lambda: -v[0]}[expr.op]()
            except (ZeroDivisionError, OverflowError):
                return expr
            if isinstance(res, float) and math.isfinite(res):
                return Num(res)
    return expr


def build_model(abstract_model: Any, path: Path, name: str | None = None,
                metadata: dict | None = None) -> Model:
    """Translate a PySD ``AbstractModel`` into a :class:`Model`."""
    sections = abstract_model.sections
    main = [s for s in sections if s.name == "__main__"]
    if len(sections) != 1 or not main:
        macros = [s.name for s in sections if s.name != "__main__"]
        raise UnsupportedFeatureError(
            f"macros ({', '.join(macros)}) are not supported ({path.name}); inline them."
        )
    elements: dict[str, _Element] = {}
    for el in main[0].elements:
        if len(el.components) != 1:
            raise UnsupportedFeatureError(
                f"variable {el.name!r} in {path.name} has several subscripted definitions; "
                "subscripts (arrays) are not supported yet."
            )
        comp = el.components[0]
        subs = comp.subscripts[0] if comp.subscripts else []
        if subs:
            raise UnsupportedFeatureError(
                f"variable {el.name!r} in {path.name} is subscripted ({', '.join(subs)}); "
                "subscripts (arrays) are not supported yet."
            )
        if comp.type == "Data" or isinstance(comp.ast, ae.GetDataStructure | ae.DataStructure):
            what = "GET XLS DATA / GET DIRECT DATA" if isinstance(comp.ast, ae.GetDataStructure) \
                else "a data variable (:=)"
            raise UnsupportedFeatureError(
                f"variable {el.name!r} in {path.name} uses {what}; data variables are not "
                "supported. Give the series as a lookup table of Time, or as a TimeSeries "
                "parameter of simulate()."
            )
        key = key_of(el.name)
        if key in elements:
            raise ModelSyntaxError(f"variable {el.name!r} is defined twice in {path.name}")
        kind = "lookup" if comp.type == "Lookup" else "aux"
        units = "" if el.units is None else str(el.units)
        elements[key] = _Element(el.name, key, kind, comp.ast, units,
                                 tuple(el.limits) if el.limits else (None, None),
                                 el.documentation or "")
    b = _Builder(path, elements)
    b.lookup_like = {k for k, e in elements.items() if e.kind == "lookup"
                     or isinstance(e.ast, ae.InlineLookupsStructure)}
    for el in elements.values():
        b.element(el)
    # flows: variables named as inflows/outflows of stocks
    out = b.out
    for var in list(out.values()):
        if var.kind == "stock":
            for f in var.inflows + var.outflows:
                if out[f].kind == "auxiliary":  # a constant flow stays a settable constant
                    out[f] = replace(out[f], kind="flow")
    control = _control(b, path)
    for ck in CONTROL_KEYS:
        if ck in out and out[ck].kind == "control":
            out[ck] = replace(out[ck], equation=Num(getattr(control, ck)))
    model_name = name or path.stem
    return Model(model_name, out, control, source=str(path), metadata=metadata or {})


def _control(b: _Builder, path: Path) -> Control:
    vals = {}
    for ck, default in (("initial_time", None), ("final_time", None), ("time_step", None),
                        ("saveper", "time_step")):
        if ck not in b.out:
            if default is None:
                raise ModelSyntaxError(
                    f"{path.name} does not define {ck.upper().replace('_', ' ')}; every model "
                    "needs INITIAL TIME, FINAL TIME and TIME STEP."
                )
            vals[ck] = vals[default]
            continue
        expr = b.out[ck].equation
        try:
            vals[ck] = float(b.static_value(expr))
        except (ValueError, ZeroDivisionError):
            raise UnsupportedFeatureError(
                f"{ck.upper().replace('_', ' ')} in {path.name} must be a constant expression, "
                f"it uses {sorted(references(expr))}."
            ) from None
    if not vals["time_step"] > 0:
        raise ModelSyntaxError(f"TIME STEP in {path.name} must be > 0, got {vals['time_step']}")
    if vals["final_time"] < vals["initial_time"]:
        raise ModelSyntaxError(
            f"FINAL TIME ({vals['final_time']}) is before INITIAL TIME ({vals['initial_time']}) "
            f"in {path.name}"
        )
    if not vals["saveper"] > 0:
        vals["saveper"] = vals["time_step"]
    units = b.out["time_step"].units if "time_step" in b.out else ""
    return Control(vals["initial_time"], vals["final_time"], vals["time_step"],
                   vals["saveper"], units or "")
